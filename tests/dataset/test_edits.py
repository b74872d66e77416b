"""Editing a dataset: relabel, remove, add, pending lineage, and saving in-memory data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import CHANGES_SCHEMA, Dataset, VersionStore
from datacentric.exceptions import (
    DatacentricError,
    InvalidDatasetError,
    InvalidParameterError,
    MissingImageError,
    PathEscapeError,
    StoreError,
    UnknownLabelError,
)

Maker = Callable[..., Path]


def _snapshot(ds: Dataset) -> tuple[pl.DataFrame, int]:
    return ds.manifest.clone(), ds.pending_changes.height


def _unchanged(ds: Dataset, before: tuple[pl.DataFrame, int]) -> None:
    assert ds.manifest.equals(before[0])
    assert ds.pending_changes.height == before[1]


# --------------------------------------------------------------------- relabel
def test_relabel_records_lineage(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    start = datetime.now(timezone.utc)
    out = ds.relabel(["s1", "s4"], "dog", reason="label error", source="label_issues", iteration=2)
    assert out is ds
    assert ds.manifest["label"].to_list() == ["dog", "dog", "cat", "dog"]
    ch = ds.pending_changes
    assert ch.schema == pl.Schema(CHANGES_SCHEMA)
    assert ch.select(
        "sample_id", "field", "old", "new", "reason", "source", "iteration"
    ).rows() == [
        ("s1", "label", "cat", "dog", "label error", "label_issues", 2),
        ("s4", "label", None, "dog", "label error", "label_issues", 2),
    ]
    at = ch["at"].to_list()
    assert all(start - timedelta(seconds=1) <= t <= datetime.now(timezone.utc) for t in at)


def test_relabel_per_sample_labels_reasons_sources(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    ds.relabel(
        ["s2", "s3"],
        ["cat", "dog"],
        reason=["r2", "r3"],
        source=["annotator:ann1", "annotator:ann2"],
    )
    assert ds.manifest["label"].to_list() == ["cat", "cat", "dog", None]
    assert ds.pending_changes.select("sample_id", "old", "new", "reason", "source").rows() == [
        ("s2", "dog", "cat", "r2", "annotator:ann1"),
        ("s3", "cat", "dog", "r3", "annotator:ann2"),
    ]
    assert ds.pending_changes["iteration"].to_list() == [None, None]


def test_relabel_to_none_unlabels(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    ds.relabel(["s2"], None, reason="ambiguous")
    assert ds.manifest["label"].to_list() == ["cat", None, "cat", None]
    assert ds.pending_changes.select("old", "new", "source").row(0) == ("dog", None, "manual")


def test_noop_relabels_record_nothing(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    before = ds.manifest.clone()
    ds.relabel(["s1", "s3"], "cat", reason="confirm")
    ds.relabel(["s4"], None, reason="still unlabeled")
    assert ds.manifest.equals(before)
    assert ds.pending_changes.height == 0
    assert "uncommitted" not in repr(ds)


def test_partly_noop_relabel_keeps_reasons_aligned(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    ds.relabel(["s1", "s2", "s3"], ["cat", "cat", "dog"], reason=["a", "b", "c"], source="x")
    assert ds.pending_changes.select("sample_id", "old", "new", "reason").rows() == [
        ("s2", "dog", "cat", "b"),
        ("s3", "cat", "dog", "c"),
    ]


def test_relabel_unknown_sample_id(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    with pytest.raises(InvalidDatasetError) as info:
        ds.relabel(["s1", "nope", "also-nope"], "dog", reason="r")
    assert "'nope', 'also-nope'" in str(info.value)
    assert info.value.rows == ["nope", "also-nope"]
    assert isinstance(info.value, ValueError)
    _unchanged(ds, before)


def test_relabel_unknown_label(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    with pytest.raises(UnknownLabelError) as info:
        ds.relabel(["s1", "s2"], ["dog", "zebra"], reason="r")
    msg = str(info.value)
    assert "'zebra'" in msg
    assert "['cat', 'dog']" in msg
    _unchanged(ds, before)


def test_relabel_duplicate_ids_in_one_call(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    with pytest.raises(InvalidParameterError) as info:
        ds.relabel(["s1", "s2", "s1"], ["dog", "cat", "cat"], reason="r")
    assert "'s1'" in str(info.value)
    assert "'s2'" not in str(info.value)
    _unchanged(ds, before)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"labels": ["dog"]}, r"got 2 sample ids but 1 labels"),
        ({"labels": "dog", "reason": ["a", "b", "c"]}, r"reason: expected 1 or 2 values, got 3"),
        ({"labels": "dog", "source": ["a"]}, r"source: expected 1 or 2 values, got 1"),
    ],
)
def test_relabel_length_mismatch(small_dir: Path, kwargs: dict, pattern: str) -> None:
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    args: dict = {"reason": "r"}
    args.update(kwargs)
    with pytest.raises(InvalidParameterError, match=pattern):
        ds.relabel(["s1", "s2"], **args)
    _unchanged(ds, before)


def test_relabel_twice_before_commit_records_both_steps(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    ds.relabel(["s1"], "dog", reason="first")
    ds.relabel(["s1"], None, reason="second")
    assert ds.pending_changes.select("old", "new", "reason").rows() == [
        ("cat", "dog", "first"),
        ("dog", None, "second"),
    ]
    assert "2 uncommitted changes" in repr(ds)
    assert ds.summary()["uncommitted_changes"] == 2


# --------------------------------------------------------------------- remove
def test_remove_records_lineage(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    ds.remove(["s3", "s1"], reason="duplicate", source="exact_duplicates", iteration=1)
    assert ds.sample_ids == ["s2", "s4"]
    assert ds.pending_changes.select(
        "sample_id", "field", "old", "new", "reason", "source", "iteration"
    ).rows() == [
        ("s3", "sample", "img/3.png", None, "duplicate", "exact_duplicates", 1),
        ("s1", "sample", "img/1.png", None, "duplicate", "exact_duplicates", 1),
    ]


def test_remove_per_sample_reasons(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    ds.remove(["s1", "s2"], reason=["blurry", "dark"], source=["q1", "q2"])
    assert ds.pending_changes.select("sample_id", "reason", "source").rows() == [
        ("s1", "blurry", "q1"),
        ("s2", "dark", "q2"),
    ]


def test_remove_errors(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    with pytest.raises(InvalidDatasetError, match="'ghost'"):
        ds.remove(["s1", "ghost"], reason="r")
    with pytest.raises(InvalidParameterError, match="'s2'"):
        ds.remove(["s2", "s2"], reason="r")
    with pytest.raises(InvalidParameterError, match="remove all 4 samples"):
        ds.remove(["s1", "s2", "s3", "s4"], reason="r")
    _unchanged(ds, before)


def test_remove_reason_length_mismatch_changes_nothing(small_dir: Path) -> None:
    # One reason per sample or one for all: a wrong count is a parameter error, and the
    # samples must not be removed without their lineage rows.
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    with pytest.raises(InvalidParameterError):
        ds.remove(["s1", "s2"], reason=["only one"])
    _unchanged(ds, before)


# --------------------------------------------------------------------- add
def test_add_rows(small_dir: Path, png: Maker) -> None:
    png(small_dir / "new" / "5.png")
    png(small_dir / "new" / "6.png")
    ds = Dataset.from_folder(small_dir)
    ds.add(
        {
            "sample_id": ["s5", "s6"],
            "image": ["new/5.png", "new/6.png"],
            "label": ["dog", None],
            "scanner": ["c", "c"],
        },
        reason="new batch",
        source="collector",
        iteration=3,
    )
    assert ds.sample_ids == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert ds.manifest.filter(pl.col("sample_id") == "s5").row(0) == (
        "s5",
        "new/5.png",
        "dog",
        "train",
        "c",
    )
    assert ds.pending_changes.select(
        "sample_id", "field", "old", "new", "reason", "source", "iteration"
    ).rows() == [
        ("s5", "sample", None, "new/5.png", "new batch", "collector", 3),
        ("s6", "sample", None, "new/6.png", "new batch", "collector", 3),
    ]


def test_add_without_metadata_columns_fills_null(small_dir: Path, png: Maker) -> None:
    png(small_dir / "new" / "5.png")
    ds = Dataset.from_folder(small_dir)
    ds.add(
        pl.DataFrame({"sample_id": ["s5"], "image": ["new/5.png"], "label": ["cat"]}),
        reason="r",
    )
    assert ds.manifest["scanner"].to_list() == ["a", "b", "a", "b", None]


def test_add_image_must_exist(small_dir: Path, png: Maker) -> None:
    png(small_dir / "new" / "5.png")
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    with pytest.raises(MissingImageError) as info:
        ds.add(
            {"sample_id": ["s5", "s6"], "image": ["new/5.png", "new/6.png"], "label": ["cat"] * 2},
            reason="r",
        )
    assert "s6 -> new/6.png" in str(info.value)
    assert info.value.rows == ["s6"]
    _unchanged(ds, before)


def test_add_id_clash(small_dir: Path, png: Maker) -> None:
    png(small_dir / "new" / "5.png")
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    with pytest.raises(InvalidDatasetError) as info:
        ds.add({"sample_id": ["s2"], "image": ["new/5.png"], "label": ["cat"]}, reason="r")
    assert "'s2'" in str(info.value)
    assert "already exist" in str(info.value)
    assert info.value.rows == ["s2"]
    _unchanged(ds, before)


def test_add_bad_rows(small_dir: Path, png: Maker) -> None:
    png(small_dir / "new" / "5.png")
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    with pytest.raises(UnknownLabelError, match="'bird'"):
        ds.add({"sample_id": ["s5"], "image": ["new/5.png"], "label": ["bird"]}, reason="r")
    with pytest.raises(PathEscapeError, match=r"s5 -> \.\./5\.png"):
        ds.add({"sample_id": ["s5"], "image": ["../5.png"], "label": ["cat"]}, reason="r")
    _unchanged(ds, before)


def test_add_to_in_memory_dataset() -> None:
    ds = Dataset.from_arrays(np.zeros((2, 2, 2)), [0, 0], ["a"])
    with pytest.raises(StoreError, match="to_folder"):
        ds.add({"sample_id": ["x"], "image": ["x.png"], "label": ["a"]}, reason="r")


# --------------------------------------------------------------------- pending + commit
def test_pending_changes_accumulate_in_order(small_dir: Path, png: Maker) -> None:
    png(small_dir / "new" / "5.png")
    ds = Dataset.from_folder(small_dir)
    assert ds.pending_changes.height == 0
    assert ds.pending_changes.schema == pl.Schema(CHANGES_SCHEMA)
    ds.relabel(["s1"], "dog", reason="r1")
    ds.remove(["s2"], reason="r2")
    ds.add({"sample_id": ["s5"], "image": ["new/5.png"], "label": ["cat"]}, reason="r3")
    assert ds.pending_changes.select("sample_id", "field", "reason").rows() == [
        ("s1", "label", "r1"),
        ("s2", "sample", "r2"),
        ("s5", "sample", "r3"),
    ]
    v = ds.commit("three edits")
    assert v == 1
    assert ds.pending_changes.height == 0
    assert ds.changes().select("sample_id", "field", "reason").rows() == [
        ("s1", "label", "r1"),
        ("s2", "sample", "r2"),
        ("s5", "sample", "r3"),
    ]


def test_in_memory_dataset_cannot_commit_but_to_folder_can(tmp_path: Path) -> None:
    imgs = np.stack([np.full((3, 3), v, np.uint8) for v in (10, 20, 30)])
    ds = Dataset.from_arrays(imgs, ["a", "b", "a"], ["a", "b"], metadata={"site": ["x", "y", "z"]})
    ds.relabel(["1"], "a", reason="r")
    with pytest.raises(StoreError, match="to_folder"):
        ds.commit("nope")
    assert not (tmp_path / "out").exists()
    saved = ds.to_folder(tmp_path / "out")
    assert saved.root == tmp_path / "out"
    assert (tmp_path / "out" / "manifest.parquet").is_file()
    assert (tmp_path / "out" / "classes.txt").read_text().split() == ["a", "b"]
    assert saved.commit("initial") == 1
    back = Dataset.open(tmp_path / "out")
    assert back.version == 1
    assert back.classes == ["a", "b"]
    assert back.manifest.select("sample_id", "label", "site").rows() == [
        ("0", "a", "x"),
        ("1", "a", "y"),
        ("2", "a", "z"),
    ]
    np.testing.assert_array_equal(back.load_images()[..., 0], imgs)
    # and the reloaded folder reads the same
    assert Dataset.from_folder(tmp_path / "out").manifest.equals(saved.manifest)


def test_to_folder_keeps_distinct_images_for_similar_ids(tmp_path: Path) -> None:
    # "a/b" and "a_b" must not be written to the same file (the second would overwrite).
    imgs = np.stack([np.full((2, 2), 10, np.uint8), np.full((2, 2), 200, np.uint8)])
    ds = Dataset.from_arrays(imgs, [0, 0], ["a"], sample_ids=["a/b", "a_b"])
    saved = ds.to_folder(tmp_path)
    assert saved.manifest["image"].n_unique() == 2
    np.testing.assert_array_equal(saved.load_images()[..., 0], imgs)


def test_commit_meta_and_message(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    before = _snapshot(ds)
    for bad in ("", "   "):
        with pytest.raises(
            InvalidParameterError,
            match=rf"^Dataset\.commit: parameter message must be a string with text other than "
            rf"whitespace; received '{bad}' \(str\)\. Say what changed and why",
        ):
            ds.commit(bad)
    assert not VersionStore(small_dir).exists()
    _unchanged(ds, before)
    assert ds.commit("  initial  ", meta={"who": "test"}) == 1
    info = VersionStore(small_dir).info(1)
    assert info.message == "initial"
    assert info.extra == {"who": "test"}


def test_errors_are_datacentric_errors(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    for call in (
        lambda: ds.relabel(["x"], "cat", reason="r"),
        lambda: ds.relabel(["s1"], "x", reason="r"),
        lambda: ds.remove(["x"], reason="r"),
        lambda: ds.commit(""),
    ):
        with pytest.raises(DatacentricError) as info:
            call()
        assert isinstance(info.value, ValueError)


def test_annotate_records_lineage_only(tmp_path) -> None:
    import numpy as np
    import pytest

    from datacentric import Dataset
    from datacentric.exceptions import InvalidDatasetError, InvalidParameterError

    ds = Dataset.from_arrays(np.zeros((3, 2, 2), np.uint8), [0, 1, 0], ["a", "b"])
    ds = ds.to_folder(tmp_path / "d")
    ds.commit("v1")
    before = ds.manifest
    ds.annotate(
        ["0", "2"], "review", ["confirmed_issue", "not_an_issue"], reason="looked", source="eve"
    )
    assert ds.manifest.equals(before)  # no column changed
    ds.commit("verdicts")
    rows = ds.lineage("2")
    assert rows.select("field", "new", "source").rows() == [("review", "not_an_issue", "eve")]
    with pytest.raises(InvalidParameterError, match="is a manifest column"):
        ds.annotate(["0"], "label", "b", reason="x")
    with pytest.raises(InvalidDatasetError, match="not in the dataset"):
        ds.annotate(["9"], "review", "confirmed_issue", reason="x")
    with pytest.raises(InvalidParameterError, match="Nothing was recorded"):
        ds.annotate(["0", "1"], "review", ["a"], reason="x")
