"""``Dataset.iter_batches``: batches decoded on the fly, in a given or shuffled order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError


@pytest.fixture
def folder(tmp_path: Path) -> Dataset:
    rng = np.random.default_rng(0)
    rels = []
    for i in range(7):
        rel = f"img/{i}.png"
        (tmp_path / "img").mkdir(exist_ok=True)
        size = (6, 5) if i % 2 else (4, 4)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / rel)
        rels.append(rel)
    manifest = pl.DataFrame(
        {"sample_id": [f"s{i}" for i in range(7)], "image": rels, "label": ["a"] * 7}
    )
    return Dataset(manifest, ["a"], root=tmp_path)


def test_batches_in_manifest_order_equal_load_images(folder: Dataset) -> None:
    got = list(folder.iter_batches(3, size=(4, 4), mode="L"))
    assert [ids for ids, _ in got] == [["s0", "s1", "s2"], ["s3", "s4", "s5"], ["s6"]]
    whole = folder.load_images(size=(4, 4), mode="L")
    assert np.array_equal(np.concatenate([b for _, b in got]), whole)
    assert whole.shape == (7, 4, 4, 1) and whole.dtype == np.uint8


def test_given_order_with_repeats(folder: Dataset) -> None:
    ids = ("s6", "s0", "s6")
    ((got_ids, batch),) = folder.iter_batches(8, sample_ids=ids, size=(4, 4))
    assert got_ids == list(ids)
    assert np.array_equal(batch, folder.load_images(list(ids), size=(4, 4)))


def test_shuffle_seed_is_a_seeded_permutation(folder: Dataset) -> None:
    def order(seed: int) -> list[str]:
        return [s for ids, _ in folder.iter_batches(2, size=(4, 4), shuffle_seed=seed) for s in ids]

    expected = [folder.sample_ids[i] for i in np.random.default_rng(5).permutation(7)]
    assert order(5) == expected == order(5)
    assert order(6) != expected and sorted(order(6)) == folder.sample_ids


def test_ids_are_checked_before_anything_is_decoded(folder: Dataset) -> None:
    with pytest.raises(InvalidDatasetError, match=r"unknown sample_id\(s\): 'nope'") as info:
        folder.iter_batches(2, sample_ids=["s1", "nope"])  # raised at the call, not lazily
    assert "ds.sample_ids" in str(info.value)


def test_in_memory_and_empty() -> None:
    ds = Dataset.from_arrays(np.arange(32, dtype=np.uint8).reshape(2, 4, 4), [0, 0], ["a"])
    ((ids, batch),) = ds.iter_batches(mode="RGB")
    assert ids == ["0", "1"] and batch.shape == (2, 4, 4, 3)
    assert list(ds.filter(pl.col("sample_id") == "x").iter_batches()) == []


def test_iter_images_is_iter_batches(folder: Dataset) -> None:
    a = [(i, b.tolist()) for i, b in folder.iter_images(4, size=(4, 4))]
    b = [(i, b.tolist()) for i, b in folder.iter_batches(4, size=(4, 4))]
    assert a == b


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"size": (0, 4)}, "size"),
        ({"size": 4}, "size"),
        ({"mode": "CMYK"}, "mode"),
        ({"sample_ids": "s1"}, "sample_ids"),
        ({"shuffle_seed": -1}, "shuffle_seed"),
    ],
)
def test_bad_arguments(folder: Dataset, kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        folder.iter_batches(**kwargs)  # type: ignore[arg-type]
    msg = str(info.value)
    assert msg.startswith(f"Dataset.iter_batches: parameter {name} must be") and "\n" not in msg
