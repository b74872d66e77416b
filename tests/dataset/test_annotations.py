"""The detection data model: the box table, its load checks, versions and box edits."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset, VersionStore
from datacentric.dataset.annotations import (
    LOAD_PROBLEMS,
    annotation_problems,
    normalize_annotations,
)
from datacentric.exceptions import (
    InvalidAnnotationError,
    InvalidParameterError,
    SchemaError,
    StoreError,
)
from tests.conftest import make_dataset_dir, write_png

BOXES = {
    "annotation_id": ["b1", "b2", "b3"],
    "sample_id": ["s1", "s1", "s2"],
    "label": ["cat", "dog", "cat"],
    "x": [0.0, 2.0, 1.0],
    "y": [0.0, 2.0, 1.0],
    "w": [4.0, 3.0, 2.0],
    "h": [4.0, 3.0, 2.0],
}


def _detection(root: Path, boxes: dict | None = None) -> Dataset:
    make_dataset_dir(
        root,
        {"sample_id": ["s1", "s2", "s3"], "image": ["i/1.png", "i/2.png", "i/3.png"],
         "label": [None, None, None]},
    )  # fmt: skip
    for i, size in enumerate([(8, 6), (5, 5), (4, 4)], start=1):
        write_png(root / f"i/{i}.png", size=size)
    manifest = pl.read_csv(root / "manifest.csv", schema_overrides={"label": pl.Utf8})
    return Dataset(manifest, ["cat", "dog"], root, annotations=pl.DataFrame(boxes or BOXES))


# ------------------------------------------------------------------ the table and its checks
def test_classification_dataset_has_no_annotations_and_unchanged_version_files(
    small_dir: Path,
) -> None:
    ds = Dataset.from_folder(small_dir)
    assert ds.task == "classification" and ds.annotations is None
    ds.commit("first")
    vdir = VersionStore(small_dir).version_dir(1)
    assert sorted(p.name for p in vdir.iterdir()) == [
        "changes.parquet", "manifest.parquet", "meta.json"
    ]  # fmt: skip
    meta = json.loads((vdir / "meta.json").read_text())
    assert not {"task", "n_annotations", "annotations_sha256", "class_ids"} & set(meta)


def test_detection_dataset_casts_and_keeps_extra_columns(tmp_path: Path) -> None:
    boxes = {**BOXES, "x": [0, 2, 1], "score": [0.9, 0.5, 0.1], "note": ["a", "b", "c"],
             "row": [7, 8, 9], "width": [1, 1, 1]}  # fmt: skip
    ds = _detection(tmp_path / "d", boxes)
    a = ds.annotations
    assert ds.task == "detection"
    assert a is not None
    assert a.columns[:7] == ["annotation_id", "sample_id", "label", "x", "y", "w", "h"]
    assert a.schema["x"] == pl.Float64 and a.schema["score"] == pl.Float64
    assert a["note"].to_list() == ["a", "b", "c"]
    assert "3 boxes" in repr(ds)
    assert ds.summary()["boxes_per_class"] == {"cat": 2, "dog": 1}


@pytest.mark.parametrize(
    ("change", "problem", "named"),
    [
        ({"annotation_id": ["b1", "b1", "b3"]}, "duplicate_id", "b1 (row 0)"),
        ({"x": [0.0, math.nan, 1.0]}, "non_finite", "b2 (row 1)"),
        ({"w": [4.0, 3.0, math.inf]}, "non_finite", "b3 (row 2)"),
        ({"w": [0.0, 3.0, 2.0]}, "non_positive_size", "b1 (row 0): w x h = 0.0 x 4.0"),
        ({"h": [4.0, -1.0, 2.0]}, "non_positive_size", "b2 (row 1)"),
        ({"label": ["cat", "bird", "cat"]}, "unknown_class", "label 'bird' is not a class"),
        ({"sample_id": ["s1", "s1", "zz"]}, "unknown_sample", "b3 (row 2)"),
        ({"label": ["cat", None, "cat"]}, "missing_value", "b2 (row 1): empty label"),
    ],
)
def test_load_errors_are_one_line_naming_the_box(
    tmp_path: Path, change: dict, problem: str, named: str
) -> None:
    with pytest.raises(InvalidAnnotationError) as info:
        _detection(tmp_path / "d", {**BOXES, **change})
    message = str(info.value)
    assert "\n" not in message
    assert f"problem {problem}" in message and named in message


def test_missing_box_column_is_a_schema_error(tmp_path: Path) -> None:
    boxes = {k: v for k, v in BOXES.items() if k != "h"}
    with pytest.raises(SchemaError, match=r"lack column\(s\) \['h'\]"):
        _detection(tmp_path / "d", boxes)


def test_detection_manifest_label_must_be_empty(tmp_path: Path) -> None:
    m = pl.DataFrame({"sample_id": ["a"], "image": ["a.png"], "label": ["cat"]})
    with pytest.raises(SchemaError, match="label must be empty; 1 sample"):
        Dataset(m, ["cat"], task="detection")


def test_annotation_problems_returns_every_bad_row_with_a_reason() -> None:
    boxes = normalize_annotations(pl.DataFrame(BOXES), ["cat", "dog"], ["s1", "s2"])
    bad = boxes.with_columns(
        pl.Series("w", [0.0, 3.0, 2.0]), pl.Series("label", ["cat", "dog", "eel"])
    )
    found = annotation_problems(bad, ["cat", "dog"], ["s1", "s2"])
    assert found.select("annotation_id", "problem").rows() == [
        ("b1", "non_positive_size"),
        ("b3", "unknown_class"),
    ]
    assert set(found["problem"]) <= set(LOAD_PROBLEMS)


def test_box_problems_reads_sizes_from_headers_and_flags_boxes_outside(tmp_path: Path) -> None:
    # s1 is 8x6: b1 (0,0,4,4) inside, b2 (2,2,3,3) inside; s2 is 5x5: b3 (1,1,2,2) inside
    boxes = {**BOXES, "x": [0.0, 6.0, -0.5], "h": [4.0, 3.0, 2.0]}
    ds = _detection(tmp_path / "d", boxes)
    found = ds.box_problems()
    assert found.select("annotation_id", "problem").rows() == [
        ("b2", "outside_image"),
        ("b3", "outside_image"),
    ]
    assert "reaches outside the 8 x 6 image" in found["reason"][0]
    sizes = ds.image_sizes()
    assert sizes.select("sample_id", "width", "height").rows() == [
        ("s1", 8, 6), ("s2", 5, 5), ("s3", 4, 4)
    ]  # fmt: skip
    assert ds.box_problems(geometry=False).height == 0


def test_box_problems_skips_an_unreadable_image(tmp_path: Path) -> None:
    ds = _detection(tmp_path / "d", {**BOXES, "x": [0.0, 60.0, 1.0]})
    (tmp_path / "d/i/1.png").write_bytes(b"not an image")
    sizes = ds.image_sizes()
    assert sizes["width"].to_list() == [None, 5, 4]
    assert "could not be read" in sizes["reason"][0]
    assert ds.box_problems().height == 0


# ------------------------------------------------------------------ versions
def test_commit_and_open_round_trip_boxes_and_meta(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ds = _detection(root)
    ds.class_ids = [5, 9]
    assert ds.commit("boxes") == 1
    vdir = VersionStore(root).version_dir(1)
    meta = json.loads((vdir / "meta.json").read_text())
    assert meta["task"] == "detection" and meta["n_annotations"] == 3
    assert meta["class_ids"] == [5, 9]
    back = Dataset.open(root)
    assert back.task == "detection" and back.class_ids == [5, 9]
    assert back.annotations is not None and ds.annotations is not None
    assert back.annotations.equals(ds.annotations)


def test_a_modified_annotations_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _detection(root).commit("boxes")
    path = VersionStore(root).version_dir(1) / "annotations.parquet"
    pl.DataFrame(BOXES).head(1).write_parquet(path)
    with pytest.raises(StoreError, match="does not match the hash"):
        Dataset.open(root)


def test_old_changes_without_annotation_id_stay_readable(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    ds.relabel(["s1"], ["dog"], reason="typo")
    ds.commit("first")
    path = VersionStore(small_dir).version_dir(1) / "changes.parquet"
    pl.read_parquet(path).drop("annotation_id").write_parquet(path)  # a pre-detection version
    changes = Dataset.open(small_dir).changes()
    assert changes["annotation_id"].to_list() == [None]
    assert changes["new"].to_list() == ["dog"]


def test_filter_view_keeps_only_its_samples_boxes(tmp_path: Path) -> None:
    ds = _detection(tmp_path / "d")
    view = ds.filter(pl.col("sample_id") == "s2")
    assert view.annotations is not None
    assert view.annotations["annotation_id"].to_list() == ["b3"]


def test_to_folder_and_from_folder_keep_the_boxes(tmp_path: Path) -> None:
    ds = _detection(tmp_path / "d")
    out = ds.to_folder(tmp_path / "copy")
    again = Dataset.from_folder(tmp_path / "copy")
    assert again.task == "detection" and out.task == "detection"
    assert again.annotations is not None and ds.annotations is not None
    assert again.annotations.equals(ds.annotations)


# ------------------------------------------------------------------ box edits
def test_box_edits_commit_one_version_with_lineage_per_annotation(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ds = _detection(root)
    ds.commit("boxes")
    ds.relabel_boxes(["b1"], "dog", reason="swapped", source="reviewer")
    ds.move_boxes(["b2"], np.array([[1.0, 1.0, 2.0, 2.0]]), reason="badly located")
    ds.add_boxes(
        {"sample_id": ["s3"], "label": ["cat"], "x": [0.5], "y": [0.5], "w": [1.0], "h": [1.0]},
        reason="overlooked",
    )
    ds.remove_boxes(["b3"], reason="duplicate")
    assert ds.commit("fix boxes") == 2
    back = Dataset.open(root)
    assert back.annotations is not None
    rows = back.annotations.select("annotation_id", "label", "x", "y", "w", "h").rows()
    assert rows == [
        ("b1", "dog", 0.0, 0.0, 4.0, 4.0),
        ("b2", "dog", 1.0, 1.0, 2.0, 2.0),
        ("1", "cat", 0.5, 0.5, 1.0, 1.0),
    ]
    ch = back.changes().select("annotation_id", "sample_id", "field", "old", "new", "reason")
    assert ch.rows() == [
        ("b1", "s1", "label", "cat", "dog", "swapped"),
        ("b2", "s1", "bbox", "[2.0, 2.0, 3.0, 3.0]", "[1.0, 1.0, 2.0, 2.0]", "badly located"),
        ("1", "s3", "box", None,
         '{"label": "cat", "x": 0.5, "y": 0.5, "w": 1.0, "h": 1.0}', "overlooked"),
        ("b3", "s2", "box", '{"label": "cat", "x": 1.0, "y": 1.0, "w": 2.0, "h": 2.0}', None,
         "duplicate"),
    ]  # fmt: skip
    assert Dataset.open(root, version=1).annotations.height == 3  # type: ignore[union-attr]
    ds.move_boxes(["b2"], [(0.0, 0.0, 1.0, 1.0)], reason="again")
    ds.commit("move again")
    diff = back.diff_boxes(1, 2)
    assert diff.rows() == [
        ("1", "added", None, None, None),
        ("b3", "removed", None, None, None),
        ("b1", "modified", "label", "cat", "dog"),
        ("b2", "modified", "x", "2.0", "1.0"),
        ("b2", "modified", "y", "2.0", "1.0"),
        ("b2", "modified", "w", "3.0", "2.0"),
        ("b2", "modified", "h", "3.0", "2.0"),
    ]
    history = back.annotation_lineage("b2").select("version", "field", "new", "reason")
    assert history.rows() == [
        (2, "bbox", "[1.0, 1.0, 2.0, 2.0]", "badly located"),
        (3, "bbox", "[0.0, 0.0, 1.0, 1.0]", "again"),
    ]


def test_new_box_ids_continue_the_integer_numbering(tmp_path: Path) -> None:
    ds = _detection(tmp_path / "d", {**BOXES, "annotation_id": ["7", "x", "41"]})
    new = {"sample_id": ["s3", "s3"], "label": ["cat", "dog"], "x": [0.0, 1.0],
           "y": [0.0, 1.0], "w": [1.0, 1.0], "h": [1.0, 1.0]}  # fmt: skip
    ds.add_boxes(new, reason="r")
    assert ds.annotations is not None
    assert ds.annotations["annotation_id"].to_list()[-2:] == ["42", "43"]


def test_move_clears_coco_area_so_export_uses_the_new_size(tmp_path: Path) -> None:
    ds = _detection(tmp_path / "d", {**BOXES, "area": [16.0, 9.0, 4.0]})
    ds.move_boxes(["b2"], [(0, 0, 1, 2)], reason="r")
    assert ds.annotations is not None
    assert ds.annotations["area"].to_list() == [16.0, None, 4.0]


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda d: d.relabel_boxes(["b1"], "eel", reason="r"), InvalidAnnotationError,
         "unknown_class"),
        (lambda d: d.move_boxes(["b1"], [(0, 0, 0, 1)], reason="r"), InvalidAnnotationError,
         "non_positive_size"),
        (lambda d: d.move_boxes(["b1"], [(0, 0, math.nan, 1)], reason="r"),
         InvalidAnnotationError, "non_finite"),
        (lambda d: d.move_boxes(["b1", "b2"], [(0, 0, 1, 1)], reason="r"),
         InvalidParameterError, r"shape \(2, 4\)"),
        (lambda d: d.remove_boxes(["nope"], reason="r"), InvalidAnnotationError,
         "not in the dataset: 'nope'"),
        (lambda d: d.remove_boxes(["b1", "b1"], reason="r"), InvalidParameterError,
         "duplicated id"),
        (lambda d: d.remove_boxes("b1", reason="r"), InvalidParameterError, "received the string"),
        (lambda d: d.add_boxes({"annotation_id": ["b1"], "sample_id": ["s1"], "label": ["cat"],
                                "x": [0.0], "y": [0.0], "w": [1.0], "h": [1.0]}, reason="r"),
         InvalidAnnotationError, "already exist: 'b1'"),
        (lambda d: d.add_boxes({"sample_id": ["zz"], "label": ["cat"], "x": [0.0], "y": [0.0],
                                "w": [1.0], "h": [1.0]}, reason="r"),
         InvalidAnnotationError, "unknown_sample"),
        (lambda d: d.relabel(["s1"], ["cat"], reason="r"), SchemaError, "relabel_boxes"),
    ],
)  # fmt: skip
def test_a_bad_box_edit_changes_nothing(tmp_path: Path, edit, error, match) -> None:  # type: ignore[no-untyped-def]
    ds = _detection(tmp_path / "d")
    before = ds.annotations
    with pytest.raises(error, match=match):
        edit(ds)
    assert ds.annotations is not None and before is not None
    assert ds.annotations.equals(before)
    assert ds.pending_changes.height == 0


def test_removing_a_sample_removes_its_boxes_with_lineage(tmp_path: Path) -> None:
    ds = _detection(tmp_path / "d")
    ds.remove(["s1"], reason="blurry")
    assert ds.annotations is not None
    assert ds.annotations["annotation_id"].to_list() == ["b3"]
    ch = ds.pending_changes.select("annotation_id", "field", "reason")
    assert ch.rows() == [
        ("b1", "box", "blurry"),
        ("b2", "box", "blurry"),
        (None, "sample", "blurry"),
    ]


def test_box_edits_on_a_classification_dataset_are_refused() -> None:
    ds = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 1], ["a", "b"])
    with pytest.raises(SchemaError, match="classification dataset and has no boxes"):
        ds.remove_boxes(["1"], reason="r")


def test_a_commit_failing_while_writing_the_boxes_leaves_head_and_no_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacentric.exceptions import FileAccessError

    root = tmp_path / "d"
    ds = _detection(root)
    ds.commit("boxes")
    ds.remove_boxes(["b1"], reason="r")
    real_write = pl.DataFrame.write_parquet

    def failing(self: pl.DataFrame, file: object, *args: object, **kwargs: object) -> None:
        if str(file).endswith("annotations.parquet"):
            raise OSError(28, "No space left on device")
        real_write(self, file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_parquet", failing)
    with pytest.raises(FileAccessError, match="No space left on device"):
        ds.commit("fails")
    monkeypatch.undo()
    store = VersionStore(root)
    assert store.head() == 1
    assert sorted(p.name for p in (root / ".datacentric/versions").iterdir()) == ["0001"]
    assert Dataset.open(root).annotations.height == 3  # type: ignore[union-attr]
