"""Streaming images through training and prediction: same bits, exact statistics, bounded memory.

- The recipes decode training images batch by batch (``ManifestImages.batches``) instead of
  all at once; with the old normalisation statistics they give *bit for bit* the
  predictions recorded with the code before streaming (``data/stream_baseline.npz``): same
  sample order per epoch, same augmentation draws, same batches.
- The normalisation statistics are now exact (integer histograms): the old float32 running
  sum stopped growing at 2**24 and got the mean of tens of thousands of images wrong.
- Peak memory of fit + predict does not grow with the number of images (a child process).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

torch = pytest.importorskip("torch")

from datacentric import config_context  # noqa: E402
from datacentric.dataset import Dataset  # noqa: E402
from datacentric.exceptions import MissingImageError, UnreadableImageError  # noqa: E402
from datacentric.train import SmallCNNRecipe, data  # noqa: E402
from tests.hostile._child import run_child  # noqa: E402
from tests.train import _stream_runs  # noqa: E402
from tests.train._stream_memory import SIDE, write_images  # noqa: E402

MIB = 1024**2


def _old_stats(
    images: data.ManifestImages, *, batch_size: int = 256, std_floor: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """The statistics as computed before streaming: every image in one float32 array."""
    arr = images.ds.load_images(images.sample_ids, size=images.size, mode=images.mode)
    scaled = arr.astype(np.float32) / 255.0
    return scaled.mean(axis=(0, 1, 2)), np.maximum(scaled.std(axis=(0, 1, 2)), std_floor)


# ---------------------------------------------------------------- bit identity
def test_streamed_training_is_bit_identical_to_the_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _stream_runs.environment()
    made = {p: _stream_runs.recorded_environment(np.load(p)) for p in _stream_runs.baselines()}
    same = [p for p, where in made.items() if where == env]
    if not same:
        pytest.skip(f"recorded on {list(made.values())}, running on {env}: the bits depend on both")
    recorded = np.load(same[0])
    monkeypatch.setattr(data, "channel_stats", _old_stats)
    now = _stream_runs.runs(tmp_path)
    assert sorted(now) == sorted(k for k in recorded.files if not k.startswith("env_"))
    for name, arr in now.items():
        assert np.array_equal(arr, recorded[name]), name


def test_exact_statistics_change_little(tmp_path: Path) -> None:
    """The exact statistics differ from the old ones by float32 rounding only (small sets)."""
    ds = _stream_runs.make_folder(tmp_path)
    images = data.ManifestImages(ds, size=(16, 16), mode="RGB")
    old_mean, old_std = _old_stats(images)
    mean, std = data.channel_stats(images)
    np.testing.assert_allclose(mean, old_mean, rtol=1e-6)
    np.testing.assert_allclose(std, old_std, rtol=1e-5)


# ---------------------------------------------------------------- statistics
class _Constant:
    """A stand-in for ManifestImages: ``n`` batches of one constant image batch."""

    def __init__(self, batch: np.ndarray, n: int) -> None:
        self.batch, self.n = batch, n

    def batches(self, order: object = None, *, batch_size: int, prefetch: int = 1):
        for _ in range(self.n):
            yield self.batch


def test_statistics_are_exact_past_float32_range() -> None:
    """20 M pixels per channel (the old float32 running sum stalls past 2**24)."""
    batch = np.full((1000, 32, 32, 3), 200, np.uint8)
    batch[::2, :, :, 1] = 0  # channel 1: half 0, half 200
    mean, std = data.channel_stats(_Constant(batch, 20), std_floor=1e-3)  # type: ignore[arg-type]
    assert mean.dtype == np.float32 and std.dtype == np.float32
    assert mean.tolist() == np.float32([200 / 255, 100 / 255, 200 / 255]).tolist()
    assert std.tolist() == np.float32([1e-3, 100 / 255, 1e-3]).tolist()
    # the formula used before: far off for this many pixels
    scaled = np.concatenate([batch] * 20).astype(np.float32) / 255.0
    assert abs(float(scaled.mean(axis=(0, 1, 2))[0]) - 200 / 255) > 0.03  # 0.819 for 0.784


def test_statistics_match_a_float64_reference() -> None:
    rng = np.random.default_rng(0)
    arrays = rng.integers(0, 256, size=(37, 9, 11, 3), dtype=np.uint8)
    ds = Dataset.from_arrays(arrays, [0] * 37, ["a"])
    mean, std = data.channel_stats(data.ManifestImages(ds), batch_size=5)
    ref = arrays.reshape(-1, 3).astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(0), rtol=1e-7)
    np.testing.assert_allclose(std, ref.std(0), rtol=1e-7)


# ---------------------------------------------------------------- the torch dataset
def test_manifest_images_is_a_torch_dataset(tmp_path: Path) -> None:
    ds = _stream_runs.make_folder(tmp_path, n=11)
    images = data.ManifestImages(ds, size=(8, 8), mode="RGB")
    loader = torch.utils.data.DataLoader(images, batch_size=4, shuffle=False)
    got = torch.cat(list(loader)).numpy()
    assert np.array_equal(got, ds.load_images(size=(8, 8), mode="RGB"))
    order = [3, 3, 10, 0, 5]
    batches = list(images.batches(order, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert np.array_equal(np.concatenate(batches), np.stack([images[i] for i in order]))


def test_prefetched_batches_raise_the_bad_image_when_reached(tmp_path: Path) -> None:
    ds = _stream_runs.make_folder(tmp_path, n=12)
    bad = ds.manifest["image"][9]
    (tmp_path / bad).write_bytes(b"not a png")
    images = data.ManifestImages(ds, size=(8, 8), mode="RGB")
    seen = []
    with pytest.raises(UnreadableImageError, match=bad.split("/")[-1]) as info:
        for batch in images.batches(batch_size=3, prefetch=2):
            seen.append(len(batch))
    assert seen == [3, 3, 3]  # the batches before the bad one came through
    assert "\n" not in str(info.value)
    # a consumer that stops early does not leave the decoding thread running
    stream = images.batches(batch_size=3, prefetch=1)
    next(stream)
    stream.close()


def test_fit_error_on_a_bad_image_names_it(tmp_path: Path) -> None:
    ds = _stream_runs.make_folder(tmp_path, n=12)
    bad = ds.manifest["image"][5]
    (tmp_path / bad).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(UnreadableImageError, match=bad.split("/")[-1]):
        SmallCNNRecipe(image_size=8, epochs=1, width=2, embedding_dim=2).fit(ds)


# ---------------------------------------------------------------- bounded memory
def _peak(n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        write_images(Path(tmp), n)
        # a fixed mmap threshold: glibc's sliding one makes the peak jitter by a few
        # batch-sized buffers, which would blur the comparison
        child = run_child(
            f"from tests.train._stream_memory import main; main({tmp!r})",
            timeout=300,
            env={"MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONPATH": str(Path.cwd())},
        )
    assert child.returncode == 0, child.stderr[-2000:]
    return child.peak_rss


def test_fit_and_predict_memory_does_not_grow_with_the_number_of_images() -> None:
    """1 epoch + predict on 2,000 and on 8,000 images of 64x64: the same peak.

    The 6,000 extra images are 70 MiB decoded (uint8), and training used to hold them all
    plus a float32 copy (another 281 MiB); streamed, only the outputs (a few bytes per
    image) and the manifest grow. Bound: a third of the extra decoded uint8 images alone.
    """
    small, large = _peak(2000), _peak(8000)
    decoded_extra = 6000 * SIDE * SIDE * 3
    assert large - small < decoded_extra / 3, (small / MIB, large / MIB)


def test_decoded_training_images_are_cached_when_they_fit(tmp_path: Path) -> None:
    ds = _stream_runs.make_folder(tmp_path, n=30)
    plain = data.ManifestImages(ds, size=(8, 8), mode="RGB")
    expected = np.stack([plain[i] for i in range(len(plain))])
    assert not plain.caching
    cached = data.ManifestImages(ds, size=(8, 8), mode="RGB", cache_bytes=30 * 8 * 8 * 3)
    assert cached.caching and cached.n_cached == 0
    first = np.concatenate(list(cached.batches(np.arange(29, -1, -1), batch_size=7)))
    assert np.array_equal(first, expected[::-1]) and cached.n_cached == 30
    for path in (tmp_path / "images").rglob("*.png"):
        path.unlink()  # a second pass reads no file
    order = np.random.default_rng(0).permutation(30)
    again = np.concatenate(list(cached.batches(order, batch_size=4)))
    assert np.array_equal(again, expected[order])
    with pytest.raises(MissingImageError):
        plain[0]
    # one byte short of the decoded set, or an unknown size: decoded on every pass
    assert not data.ManifestImages(ds, size=(8, 8), mode="RGB", cache_bytes=5759).caching
    assert not data.ManifestImages(ds, mode="RGB", cache_bytes=1 << 30).caching


def test_training_is_the_same_with_and_without_the_cache(tmp_path: Path) -> None:
    ds = _stream_runs.make_folder(tmp_path, n=30)
    recipe = SmallCNNRecipe(image_size=8, epochs=2, batch_size=8, width=2, embedding_dim=2)
    with config_context(train_cache_bytes=0):
        a = recipe.clone().fit(ds, seed=3).predict(ds)
    b = recipe.clone().fit(ds, seed=3).predict(ds)  # the default: a 1 GiB cache
    assert np.array_equal(a.pred_probs, b.pred_probs)
    assert np.array_equal(a.embeddings, b.embeddings)


def test_fit_is_deterministic_and_predict_streams_every_row(tmp_path: Path) -> None:
    ds = _stream_runs.make_folder(tmp_path, n=30)
    recipe = SmallCNNRecipe(image_size=8, epochs=2, batch_size=8, width=2, embedding_dim=2)
    a = recipe.fit(ds, seed=1).predict(ds, batch_size=7)
    b = recipe.clone().fit(ds, seed=1).predict(ds, batch_size=7)
    assert np.array_equal(a.pred_probs, b.pred_probs)
    assert np.array_equal(a.embeddings, b.embeddings)
    # another batching of the same images: the same up to float32 rounding in the kernels
    c = recipe.predict(ds, batch_size=30)
    np.testing.assert_allclose(c.pred_probs, a.pred_probs, rtol=1e-5)
    assert a.pred_probs.dtype == np.float64 and a.embeddings.dtype == np.float32
    empty = recipe.predict(ds.filter(pl.col("sample_id") == "none"))
    assert empty.pred_probs.shape == (0, 3)
