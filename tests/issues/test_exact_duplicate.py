"""ExactDuplicateFinder: pixel-identical groups, the kept copy, labels and splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from datacentric.dataset import Dataset
from datacentric.issues.base import ISSUE_SCHEMA
from datacentric.issues.context import ScanContext
from datacentric.issues.exact_duplicate import ExactDuplicateFinder
from datacentric.issues.registry import REGISTRY


def img(seed: int, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def find(
    images: list[np.ndarray],
    labels: list[str | None] | None = None,
    split: str | list[str] = "train",
) -> pl.DataFrame:
    ids = [f"d{i}" for i in range(len(images))]
    labels = labels if labels is not None else ["a"] * len(images)
    ds = Dataset.from_arrays(images, labels, classes=["a", "b"], sample_ids=ids, split=split)
    return ExactDuplicateFinder().find(ScanContext(ds))


def test_identical_arrays_share_a_cluster_and_the_first_is_kept() -> None:
    a, b = img(0), img(1)
    t = find([b, a, img(2), a.copy(), b.copy(), a.copy()])
    assert t.schema["cluster_id"] == pl.Int64 and t.schema["cluster_size"] == pl.Int64
    for col, dtype in ISSUE_SCHEMA.items():
        assert t.schema[col] == dtype
    assert t["sample_id"].to_list() == [f"d{i}" for i in range(6)]
    assert t["cluster_id"].to_list() == [0, 1, None, 1, 0, 1]  # numbered by first appearance
    assert t["cluster_size"].to_list() == [2, 3, 1, 3, 2, 3]
    assert t["is_issue"].to_list() == [True, True, False, True, True, True]
    assert t["keep"].to_list() == [True, True, True, False, False, False]
    assert t["duplicate_of"].to_list() == [None, None, None, "d1", "d0", "d1"]
    assert t["severity"].to_list() == [0.5, 0.5, 0.0, 1.0, 1.0, 1.0]
    assert t["issue_type"].unique().to_list() == ["exact_duplicate"]
    assert t["detail"][2] is None
    assert t["detail"][3] == (
        "Exact duplicate of d1 (pixel-identical; 3 copies in cluster 1). Keep one."
    )
    assert t["detail"][1].startswith("Kept copy of cluster 1 (3 pixel-identical copies: d1, d3")


def test_one_changed_pixel_is_not_a_duplicate() -> None:
    a = img(0)
    b = a.copy()
    b[3, 3, 1] ^= 1
    t = find([a, b])
    assert not t["is_issue"].any() and t["cluster_id"].null_count() == 2


def test_different_labels_are_called_out() -> None:
    a = img(3)
    t = find([a, img(4), a.copy()], labels=["a", "a", "b"])
    detail = t["detail"][2]
    assert "Exact duplicate of d0" in detail
    assert "labelled differently: 'b' here vs 'a' on d0" in detail
    assert "The copies are labelled differently: a, b." in t["detail"][0]
    unlabeled = find([a, a.copy()], labels=["a", None])
    assert "'unlabeled' here vs 'a'" in unlabeled["detail"][1]


def test_copies_across_splits_mention_leakage() -> None:
    a = img(5)
    t = find([a, a.copy(), img(6)], split=["train", "test", "test"])
    assert "span splits train, test (leakage)" in t["detail"][1]
    assert "span splits" in t["detail"][0]


def test_same_pixels_in_different_files_are_duplicates(tmp_path: Path) -> None:
    a = img(7)
    (tmp_path / "img").mkdir()
    Image.fromarray(a).save(tmp_path / "img/x.png")
    Image.fromarray(a).save(tmp_path / "img/y.bmp")
    Image.fromarray(img(8)).save(tmp_path / "img/z.png")
    (tmp_path / "img/bad.png").write_bytes(b"\x89PNG broken")
    m = pl.DataFrame(
        {
            "sample_id": ["x", "bad", "y", "z"],
            "image": ["img/x.png", "img/bad.png", "img/y.bmp", "img/z.png"],
            "label": ["a", "a", "a", "a"],
        }
    )
    t = ExactDuplicateFinder().find(ScanContext(Dataset(m, ["a"], tmp_path)))
    assert t["sample_id"].to_list() == ["x", "y", "z"]  # unreadable: no row
    assert t["cluster_id"].to_list() == [0, 0, None]
    assert t["duplicate_of"].to_list() == [None, "x", None]


def test_all_unreadable_gives_an_empty_table(tmp_path: Path) -> None:
    m = pl.DataFrame({"sample_id": ["s"], "image": ["nope.png"], "label": ["a"]})
    t = ExactDuplicateFinder().find(ScanContext(Dataset(m, ["a"], tmp_path)))
    assert t.height == 0
    assert {"cluster_id", "cluster_size", "keep", "duplicate_of", *ISSUE_SCHEMA} <= set(t.columns)


def test_declaration() -> None:
    assert REGISTRY.get("exact_duplicate") is ExactDuplicateFinder
    assert ExactDuplicateFinder.requires == frozenset({"images"})
    assert ExactDuplicateFinder().get_params() == {}
