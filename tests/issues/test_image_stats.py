"""compute_image_stats: every column on crafted images with known answers, and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image, ImageFilter

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.context import ScanContext
from datacentric.issues.image_stats import IMAGE_STATS_SCHEMA, compute_image_stats


def _stats(*images: np.ndarray) -> pl.DataFrame:
    ds = Dataset.from_arrays(list(images), ["a"] * len(images), classes=["a"])
    return compute_image_stats(ds)


def _row(image: np.ndarray) -> dict:
    return _stats(image).row(0, named=True)


def checkerboard(cell: int = 16, size: int = 64) -> np.ndarray:
    yy, xx = np.indices((size, size))
    return (((yy // cell + xx // cell) % 2) * 255).astype(np.uint8)


def blurred(img: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))


def smooth_pattern(seed: int, size: int = 64) -> np.ndarray:
    """A smooth random RGB image (low-frequency structure, like a photo)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def test_schema_order_and_one_row_per_sample() -> None:
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (8 + i, 12, 3), dtype=np.uint8) for i in range(5)]
    ds = Dataset.from_arrays(imgs, ["a"] * 5, classes=["a"], sample_ids=list("edcba"))
    stats = compute_image_stats(ds)
    assert stats.schema == pl.Schema(IMAGE_STATS_SCHEMA)
    assert stats["sample_id"].to_list() == list("edcba")
    assert stats["height"].to_list() == [8, 9, 10, 11, 12]
    assert stats["width"].to_list() == [12] * 5
    assert stats["readable"].all() and stats["error"].null_count() == 5


def test_black_and_white_brightness() -> None:
    stats = _stats(np.zeros((16, 16, 3), np.uint8), np.full((16, 16, 3), 255, np.uint8))
    black, white = stats.rows(named=True)
    assert black["brightness_p99"] == 0.0 and black["brightness_mean"] == 0.0
    assert white["brightness_p1"] == 1.0 and white["brightness_mean"] == 1.0


def test_perceived_brightness_uses_cleanvision_weights() -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    assert _row(red)["brightness_mean"] == pytest.approx(np.sqrt(0.241))
    gray = np.full((8, 8), 51, np.uint8)  # 1-channel: value / 255
    assert _row(gray)["brightness_p99"] == pytest.approx(0.2)


def test_brightness_percentiles() -> None:
    img = np.zeros((10, 10), np.uint8)
    img[:5] = 255  # half black, half white
    row = _row(img)
    assert row["brightness_p1"] == 0.0 and row["brightness_p99"] == 1.0
    assert row["brightness_mean"] == pytest.approx(0.5)
    assert row["contrast"] == pytest.approx(0.5)


def test_entropy_uniform_is_zero_noise_is_high() -> None:
    rng = np.random.default_rng(1)
    uniform, noise = np.full((32, 32), 128, np.uint8), rng.integers(0, 256, (64, 64), np.uint8)
    stats = _stats(uniform, noise)
    assert stats["entropy"][0] == 0.0
    assert stats["entropy"][1] > 0.9
    two = np.zeros((8, 8), np.uint8)
    two[:4] = 200
    assert _row(two)["entropy"] == pytest.approx(1 / 8)  # 1 bit of 8


def test_blurred_checkerboard_is_blurrier_than_sharp() -> None:
    sharp = checkerboard()
    stats = _stats(sharp, blurred(sharp, 1.0), blurred(sharp, 3.0))
    b = stats["blurriness"].to_list()
    assert b[0] < 0.05 < b[1] < 0.7 < b[2] <= 1.0
    # a blurred edge of Gaussian width s scores about exp(-1 / s**2)
    square = np.zeros((64, 64), np.uint8)
    square[16:48, 16:48] = 255
    b_sq = _stats(blurred(square, 1.0), blurred(square, 3.0))["blurriness"].to_list()
    assert b_sq == pytest.approx([np.exp(-1.0), np.exp(-1 / 9)], abs=0.05)


def test_blurriness_ignores_contrast_and_large_images_are_shrunk() -> None:
    sharp = checkerboard()
    faint = (sharp // 8 + 100).astype(np.uint8)  # same edges, 1/8 of the contrast
    b_sharp, b_faint = _stats(sharp, faint)["blurriness"].to_list()
    assert abs(b_sharp - b_faint) < 0.05
    big = np.zeros((256, 320), np.uint8)  # shrunk to 51x64 px: still sharp edges
    big[64:192, 64:192] = 255
    row = _row(big)
    assert (row["width"], row["height"]) == (320, 256)
    assert row["blurriness"] < 0.1
    assert _row(blurred(big, 12.0))["blurriness"] > 0.7  # 12 px at 320 is 2.4 px at 64
    assert _row(np.full((9, 9), 7, np.uint8))["blurriness"] == 1.0  # no edges at all


def test_grayscale_detection() -> None:
    rng = np.random.default_rng(2)
    g = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    rgb_gray = np.repeat(g[..., None], 3, axis=2)
    near_gray = rgb_gray.copy()
    near_gray[..., 2] = np.clip(near_gray[..., 2].astype(int) + 3, 0, 255)  # within tolerance
    colour = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    stats = _stats(g, rgb_gray, near_gray, colour)
    assert stats["is_grayscale"].to_list() == [True, True, True, False]
    assert stats["channels"].to_list() == [1, 3, 3, 3]


def test_aspect_ratio_and_alpha_channels() -> None:
    row = _row(np.full((1, 10, 3), 100, np.uint8))
    assert (row["width"], row["height"], row["aspect_ratio"]) == (10, 1, 10.0)
    rgba = np.zeros((4, 8, 4), np.uint8)
    rgba[..., 3] = 255
    rgba_row = _row(rgba)
    assert rgba_row["channels"] == 4 and rgba_row["aspect_ratio"] == 2.0
    assert rgba_row["brightness_p99"] == 0.0  # alpha ignored
    la = np.zeros((4, 4, 2), np.uint8)
    la[..., 0] = 255
    assert _row(la)["brightness_mean"] == 1.0 and _row(la)["is_grayscale"]


def test_pixel_hash_equal_for_equal_pixels_even_across_file_formats(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    (tmp_path / "img").mkdir()
    Image.fromarray(img).save(tmp_path / "img/a.png")
    Image.fromarray(img).save(tmp_path / "img/b.bmp")
    Image.fromarray(img).save(tmp_path / "img/c.png", compress_level=0)
    other = img.copy()
    other[0, 0, 0] ^= 1
    Image.fromarray(other).save(tmp_path / "img/d.png")
    files = ["img/a.png", "img/b.bmp", "img/c.png", "img/d.png"]
    assert (tmp_path / files[0]).read_bytes() != (tmp_path / files[2]).read_bytes()
    m = pl.DataFrame({"sample_id": list("abcd"), "image": files, "label": ["x"] * 4})
    stats = compute_image_stats(Dataset(m, ["x"], tmp_path))
    h = stats["pixel_hash"].to_list()
    assert h[0] == h[1] == h[2] != h[3]
    assert len(h[0]) == 32  # 128-bit hex
    in_memory = _stats(img, img.copy(), img.reshape(10, 40, 3))["pixel_hash"].to_list()
    assert in_memory[0] == in_memory[1] == h[0] != in_memory[2]  # shape is part of the hash


def test_phash_close_for_brightened_copy_far_for_unrelated() -> None:
    img = smooth_pattern(0)
    brighter = np.clip(img.astype(np.float64) * 1.1 + 5, 0, 255).astype(np.uint8)
    stats = _stats(img, brighter, smooth_pattern(1), smooth_pattern(2))
    assert stats.schema["phash"] == pl.UInt64
    p = stats["phash"].to_list()
    assert hamming(p[0], p[1]) <= 6
    assert hamming(p[0], p[2]) >= 20 and hamming(p[0], p[3]) >= 20


def test_phash_matches_reference_dct_hash() -> None:
    from scipy.fft import dctn

    img = smooth_pattern(5, size=48)
    luma = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    small = np.asarray(
        Image.fromarray(luma, mode="F").resize((32, 32), Image.Resampling.LANCZOS), np.float64
    )
    low = dctn(small, type=2)[:8, :8].ravel()
    expected = int("".join("1" if x else "0" for x in low > np.median(low)), 2)
    assert _row(img)["phash"] == expected


def test_unreadable_files_keep_their_row(tmp_path: Path, noise_png: bytes) -> None:
    (tmp_path / "img").mkdir()
    Image.new("RGB", (6, 4), (10, 20, 30)).save(tmp_path / "img/ok.png")
    (tmp_path / "img/corrupt.png").write_bytes(b"this is not an image")
    (tmp_path / "img/trunc.png").write_bytes(noise_png[: len(noise_png) // 2])
    files = ["img/ok.png", "img/corrupt.png", "img/missing.png", "img/trunc.png"]
    m = pl.DataFrame({"sample_id": ["s1", "s2", "s3", "s4"], "image": files, "label": ["x"] * 4})
    stats = compute_image_stats(Dataset(m, ["x"], tmp_path))
    assert stats.height == 4 and stats["sample_id"].to_list() == ["s1", "s2", "s3", "s4"]
    assert stats["readable"].to_list() == [True, False, False, False]
    err = stats["error"].to_list()
    assert err[0] is None
    assert err[1].startswith("corrupt: img/corrupt.png")
    assert err[2].startswith("missing file: img/missing.png")
    assert err[3].startswith("truncated: img/trunc.png")
    bad = stats.filter(~pl.col("readable")).drop("sample_id", "readable", "error")
    assert all(bad[c].null_count() == 3 for c in bad.columns)
    assert stats.row(0, named=True)["width"] == 6


def test_non_image_array_is_unreadable_not_raised() -> None:
    stats = _stats(np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), np.uint8))
    assert stats["readable"].to_list() == [False, True]
    assert stats["error"][0].startswith("not an image")


def test_threads_chunks_and_progress_give_the_same_table() -> None:
    rng = np.random.default_rng(4)
    imgs = [rng.integers(0, 256, (8, 8 + i % 3, 3), dtype=np.uint8) for i in range(700)]
    ds = Dataset.from_arrays(imgs, ["a"] * 700, classes=["a"])
    serial = compute_image_stats(ds, workers=1)
    assert serial["width"].to_list() == [8 + i % 3 for i in range(700)]
    assert serial.equals(compute_image_stats(ds, workers=3))
    assert serial.equals(compute_image_stats(ds, progress=True))


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_workers(workers: object) -> None:
    ds = Dataset.from_arrays(np.zeros((1, 2, 2), np.uint8), ["a"], classes=["a"])
    with pytest.raises(InvalidParameterError, match="workers"):
        compute_image_stats(ds, workers=workers)  # type: ignore[arg-type]


def test_scan_context_caches_image_stats() -> None:
    ds = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), ["a", "a"], classes=["a"])
    ctx = ScanContext(ds)
    assert ctx.image_stats is ctx.image_stats
    assert ctx.image_stats.height == 2
