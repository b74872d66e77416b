"""Hostile COCO files and YOLO folders: each refused with one line naming the file and entry.

Nothing is read past a limit (``annotations_max_bytes``, ``max_image_pixels``, the YAML
limits), nothing outside the dataset root is read, and no Python exception other than a
``DatacentricError`` escapes.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacentric import Dataset, config_context, get_config
from datacentric.exceptions import (
    DatacentricError,
    FileAccessError,
    ImageTooLargeError,
    InvalidAnnotationError,
    InvalidDatasetError,
    InvalidParameterError,
    LimitExceededError,
    MissingImageError,
    PathEscapeError,
    SchemaError,
)
from tests.dataset._detection import coco_doc, write_coco, write_yolo
from tests.hostile._files import billion_laughs
from tests.hostile._images import write_big_png


def _one_line(exc: pytest.ExceptionInfo[DatacentricError]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    return text


def _edit(fn: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = copy.deepcopy(coco_doc())
    fn(doc)
    return doc


def _set(section: str, i: int, key: str, value: object) -> Callable[[dict[str, Any]], object]:
    return lambda d: d[section][i].__setitem__(key, value)


# (name, document edit, error, text the message contains)
COCO_CASES: list[tuple[str, Callable[[dict[str, Any]], object], type[Exception], str]] = [
    ("image id as text", _set("images", 1, "id", "2"), InvalidAnnotationError,
     "images[1] (id '2'): id must be an integer, received '2' (str)"),
    ("image id as bool", _set("images", 0, "id", True), InvalidAnnotationError,
     "id must be an integer, received True (bool)"),
    ("annotation id as float", _set("annotations", 2, "id", 12.0), InvalidAnnotationError,
     "annotations[2] (id 12.0): id must be an integer"),
    ("category id missing", lambda d: d["categories"][1].pop("id"), InvalidAnnotationError,
     "categories[1]: id must be an integer, received None"),
    ("duplicate image id", _set("images", 3, "id", 1), InvalidAnnotationError,
     "images[3] (id 1): image id 1 is used twice (also images[0])"),
    ("duplicate file name", _set("images", 2, "file_name", "1.png"), InvalidAnnotationError,
     "images[2] (id 3): file_name '1.png' is listed twice"),
    ("duplicate category id", _set("categories", 1, "id", 7), InvalidAnnotationError,
     "category id 7 is used twice"),
    ("duplicate category name", _set("categories", 1, "name", "dog"), InvalidAnnotationError,
     "category name 'dog' is used twice"),
    ("duplicate annotation id", _set("annotations", 1, "id", 10), InvalidAnnotationError,
     "problem duplicate_id: '10 (row 0)"),
    ("file name climbing out", _set("images", 0, "file_name", "../../etc/passwd"),
     PathEscapeError, "images[0] (id 1): file_name '../../etc/passwd' leads outside"),
    ("absolute file name", _set("images", 0, "file_name", "/etc/passwd"), PathEscapeError,
     "leads outside the dataset root"),
    ("windows file name climbing out", _set("images", 0, "file_name", "..\\..\\x.png"),
     PathEscapeError, "leads outside the dataset root"),
    ("NUL in file name", _set("images", 0, "file_name", "a\x00.png"), InvalidAnnotationError,
     "file_name must be a non-empty string"),
    ("negative box", _set("annotations", 0, "bbox", [1, 1, -3, 2]), InvalidAnnotationError,
     "problem non_positive_size: '10 (row 0): w x h = -3.0 x 2.0'"),
    ("box whose area overflows", _set("annotations", 0, "bbox", [0, 0, 1e200, 1e200]),
     InvalidAnnotationError, "problem non_finite: '10 (row 0): x, y, w, h = 0.0, 0.0, 1e+200"),
    ("box of three numbers", _set("annotations", 0, "bbox", [1, 1, 3]), InvalidAnnotationError,
     "annotations[0] (id 10): bbox must be a list [x, y, w, h] of 4 numbers"),
    ("box of text", _set("annotations", 0, "bbox", ["1", 1, 3, 3]), InvalidAnnotationError,
     "bbox must be a number, received '1'"),
    ("box with a bool", _set("annotations", 0, "bbox", [True, 1, 3, 3]), InvalidAnnotationError,
     "bbox must be a number, received True"),
    ("unknown image", _set("annotations", 1, "image_id", 99), InvalidAnnotationError,
     "annotations[1] (id 11): image_id 99 is not among the images"),
    ("unknown category", _set("annotations", 1, "category_id", 99), InvalidAnnotationError,
     "category_id 99 is not among the categories"),
    ("iscrowd 2", _set("annotations", 1, "iscrowd", 2), InvalidAnnotationError,
     "iscrowd must be 0 or 1, received 2"),
    ("zero width image", _set("images", 0, "width", 0), InvalidAnnotationError,
     "width must be a positive integer, received 0"),
    ("empty category name", _set("categories", 0, "name", " "), InvalidAnnotationError,
     "name must be a non-empty string"),
    ("entry not an object", lambda d: d["images"].append([1, "x.png"]), SchemaError,
     "images[4] must be an object, received list"),
    ("images not a list", lambda d: d.__setitem__("images", {"id": 1}), SchemaError,
     "the key 'images' must be a list, received dict"),
    ("no categories key", lambda d: d.pop("categories"), SchemaError,
     "the key 'categories' must be a list, received nothing"),
    ("no categories", lambda d: d.__setitem__("categories", []), SchemaError,
     "'categories' is empty"),
    ("no images", lambda d: d.update(images=[], annotations=[]), SchemaError,
     "'images' is empty"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "error", "text"),
    [pytest.param(e, err, t, id=name) for name, e, err, t in COCO_CASES],
)
def test_hostile_coco_entry_is_one_line_naming_file_and_entry(
    tmp_path: Path, edit: Callable[[dict[str, Any]], object], error: type, text: str
) -> None:
    ann = write_coco(tmp_path, _edit(edit))
    with pytest.raises(error) as info:
        Dataset.from_coco(tmp_path, ann, images_dir="images")
    msg = _one_line(info)
    assert text in msg
    assert str(ann) in msg


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ('{"images": [{"id": 1, "width": NaN}]}', "non-finite number NaN"),
        ('{"images": [{"id": 1, "width": -Infinity}]}', "non-finite number -Infinity"),
        ('{"images": [{"id": 1, "width": 1e999}]}', "non-finite number 1e999"),
        ('{"images": [', "not valid JSON (Expecting value at line 1, column 13)"),
        ("[" * 100_000 + "]" * 100_000, "nest too deeply"),
        ("[1, 2]", "a COCO file is a JSON object"),
    ],
)
def test_malformed_coco_json_is_one_line(tmp_path: Path, raw: str, text: str) -> None:
    ann = tmp_path / "ann.json"
    ann.write_text(raw)
    with pytest.raises(SchemaError) as info:
        Dataset.from_coco(tmp_path, ann)
    msg = _one_line(info)
    assert text in msg and str(ann) in msg


def test_coco_json_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    ann = tmp_path / "ann.json"
    ann.write_bytes('{"categories": [{"id": 1, "name": "caf\u00e9"}]}'.encode("latin-1"))
    with pytest.raises(SchemaError, match="not UTF-8 text") as info:
        Dataset.from_coco(tmp_path, ann)
    _one_line(info)


def test_coco_file_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    size = ann.stat().st_size
    with config_context(annotations_max_bytes=100), pytest.raises(LimitExceededError) as info:
        Dataset.from_coco(tmp_path, ann, images_dir="images")
    msg = _one_line(info)
    assert f"{size:,} bytes" in msg and "annotations_max_bytes" in msg
    with config_context(annotations_max_bytes=size):
        assert len(Dataset.from_coco(tmp_path, ann, images_dir="images")) == 4


def test_coco_path_that_is_a_folder_or_missing_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError, match="not a regular file") as info:
        Dataset.from_coco(tmp_path, tmp_path)
    _one_line(info)
    with pytest.raises(FileAccessError, match="cannot read the COCO annotations") as info:
        Dataset.from_coco(tmp_path, tmp_path / "nope.json")
    _one_line(info)


def test_coco_images_dir_leaving_the_root_is_refused(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    with pytest.raises(InvalidParameterError, match=re.escape("images_dir '../x' leads outside")):
        Dataset.from_coco(tmp_path, ann, images_dir="../x")


def test_coco_image_linked_outside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    ann = write_coco(root)
    secret = tmp_path / "secret.png"
    os.replace(root / "images/2.png", secret)
    (root / "images/2.png").symlink_to(secret)
    with pytest.raises(PathEscapeError, match=re.escape("2 -> images/2.png")) as info:
        Dataset.from_coco(root, ann, images_dir="images")
    _one_line(info)


def test_coco_missing_image_file_is_one_line(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    (tmp_path / "images/4.png").unlink()
    with pytest.raises(MissingImageError, match=re.escape("4 -> images/4.png")) as info:
        Dataset.from_coco(tmp_path, ann, images_dir="images")
    _one_line(info)


# ------------------------------------------------------------------ YOLO
YOLO_LINES = [
    ("0 0.5 0.5 0.1 0.1 0.9", "received 6 values"),
    ("0 0.5 0.5 0.1 0.1 0.2 0.2 0.3", "Segmentation polygons"),
    ("1.5 0.5 0.5 0.1 0.1", "the class '1.5' is not an integer index"),
    ("-1 0.5 0.5 0.1 0.1", "class index -1 is outside 0..1"),
    ("2 0.5 0.5 0.1 0.1", "class index 2 is outside 0..1"),
    ("0 nan 0.5 0.1 0.1", "must be finite numbers"),
    ("0 0.5 0.5 inf 0.1", "must be finite numbers"),
    ("0 0.5 0.5 1e999 0.1", "must be finite numbers"),
    ("0 0.5 0.5 0x1 0.1", "must be numbers"),
    ("0 0.5 0.5 0 0.1", "width and height must be above 0"),
    ("0 0.5 0.5 0.1 -0.1", "width and height must be above 0"),
]


@pytest.mark.parametrize(("line", "text"), YOLO_LINES)
def test_hostile_yolo_line_is_one_line_naming_file_and_line(
    tmp_path: Path, line: str, text: str
) -> None:
    root = write_yolo(tmp_path, labels={"train/a.txt": f"0 0.5 0.5 0.2 0.2\n\n{line}\n"})
    with pytest.raises(InvalidAnnotationError) as info:
        Dataset.from_yolo(root)
    msg = _one_line(info)
    assert text in msg
    assert f"{root / 'labels/train/a.txt'}:3" in msg


def test_yolo_label_file_without_image_is_refused(tmp_path: Path) -> None:
    root = write_yolo(tmp_path, labels={"train/zz.txt": "0 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(
        InvalidAnnotationError, match=r"have no image in images/: 'labels/train/zz.txt'"
    ):
        Dataset.from_yolo(root)


def test_yolo_label_file_over_the_limit_or_not_utf8(tmp_path: Path) -> None:
    root = write_yolo(tmp_path, labels={"train/a.txt": "0 0.5 0.5 0.1 0.1\n" * 20})
    with config_context(annotations_max_bytes=50), pytest.raises(LimitExceededError) as info:
        Dataset.from_yolo(root)
    assert "labels/train/a.txt: 360 bytes of YOLO labels" in _one_line(info)
    (root / "labels/train/a.txt").write_bytes(b"0 0.5 0.5 0.1 0.1 \xe9\n")
    with pytest.raises(SchemaError, match="not UTF-8 text") as info2:
        Dataset.from_yolo(root)
    _one_line(info2)


def test_yolo_label_file_linked_outside_is_refused(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "root", labels={})
    secret = tmp_path / "secret.txt"
    secret.write_text("0 0.5 0.5 0.1 0.1\n")
    (root / "labels/train").mkdir(parents=True)
    (root / "labels/train/a.txt").symlink_to(secret)
    with pytest.raises(PathEscapeError, match="label file") as info:
        Dataset.from_yolo(root)
    _one_line(info)


def test_yolo_image_linked_outside_or_a_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "root")
    secret = tmp_path / "secret.png"
    os.replace(root / "images/train/b.png", secret)
    (root / "images/train/b.png").symlink_to(secret)
    with pytest.raises(PathEscapeError, match=re.escape("train/b.png")) as info:
        Dataset.from_yolo(root)
    _one_line(info)
    (root / "images/train/b.png").unlink()
    write_big_png(root / "images/train/b.png")
    with pytest.raises(ImageTooLargeError, match="max_image_pixels") as info2:
        Dataset.from_yolo(root)
    _one_line(info2)


@pytest.mark.parametrize(
    ("names", "error", "text"),
    [
        ("names: cat\n", SchemaError, "'names' must be a non-empty list"),
        ("names: []\n", SchemaError, "'names' must be a non-empty list"),
        ("names: {0: a, 2: b}\n", SchemaError, "must map the class indices 0..1"),
        ("names: [a, 1]\n", SchemaError, "'names' must be a non-empty list"),
        (billion_laughs(slices=False), LimitExceededError, "data.yaml"),
        ("names: !!python/object/apply:os.system [echo hi]\n", SchemaError, "data.yaml"),
    ],
)
def test_hostile_data_yaml_is_one_line(tmp_path: Path, names: str, error: type, text: str) -> None:
    root = write_yolo(tmp_path, names=names)
    with pytest.raises(error) as info:
        Dataset.from_yolo(root)
    assert text in _one_line(info)


def test_yolo_folder_without_images_or_classes_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidDatasetError, match="has no images/ folder") as info:
        Dataset.from_yolo(tmp_path)
    _one_line(info)
    root = write_yolo(tmp_path / "y")
    (root / "data.yaml").unlink()
    with pytest.raises(SchemaError, match="no classes found") as info2:
        Dataset.from_yolo(root)
    _one_line(info2)


def test_two_images_sharing_a_label_file_are_refused(tmp_path: Path) -> None:
    root = write_yolo(tmp_path)
    (root / "images/train/a.jpg").write_bytes((root / "images/train/a.png").read_bytes())
    with pytest.raises(InvalidDatasetError, match="share one label file name"):
        Dataset.from_yolo(root)


# ------------------------------------------------------------------ the setting
@pytest.mark.parametrize(("raw", "shown"), [("big", "'big'"), ("0", "0"), ("-3", "-3")])
def test_bad_annotations_max_bytes_from_the_environment_is_one_line(
    monkeypatch: pytest.MonkeyPatch, raw: str, shown: str
) -> None:
    monkeypatch.setenv("DATACENTRIC_ANNOTATIONS_MAX_BYTES", raw)
    with pytest.raises(InvalidParameterError) as info:
        get_config()
    msg = _one_line(info)
    assert "'annotations_max_bytes'" in msg and shown in msg


def test_hostile_files_never_raise_anything_but_datacentric_errors(tmp_path: Path) -> None:
    """A sweep of type confusions through every COCO section."""
    doc = coco_doc()
    odd: list[object] = [None, "x", 1.5, [], {}, True, -1, 2**70]
    for section in ("images", "annotations", "categories"):
        for key in list(doc[section][0]):
            for value in odd:
                bad = copy.deepcopy(doc)
                bad[section][0][key] = value
                ann = tmp_path / "ann.json"
                ann.write_text(json.dumps(bad))
                try:
                    Dataset.from_coco(tmp_path, ann, images_dir="images", check_images="none")
                except DatacentricError as exc:
                    assert "\n" not in str(exc)


# ------------------------------------------------------------------ parameters
def test_loader_parameters_are_declared_and_checked(tmp_path: Path) -> None:
    from datacentric.testing import check_parameter_constraints

    ann = write_coco(tmp_path)
    # check_images: another type, an unknown option; split: the same
    assert check_parameter_constraints(Dataset.from_coco, {"root": tmp_path, "ann_json": ann}) == 4
    root = write_yolo(tmp_path / "y")
    assert check_parameter_constraints(Dataset.from_yolo, {"root": root}) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"task": "segmentation"}, InvalidParameterError, "task must be 'classification' or"),
        ({"task": "classification", "class_ids": [1]}, SchemaError, "belong to detection"),
        ({"task": "detection", "class_ids": [1, 1]}, SchemaError, "2 unique integers"),
        ({"task": "detection", "class_ids": ["1", 2]}, SchemaError, "2 unique integers"),
        ({"task": "detection", "class_ids": [True, 2]}, SchemaError, "2 unique integers"),
        ({"task": "detection", "supercategories": ["x"]}, SchemaError, "1 supercategories for 2"),
    ],
)
def test_dataset_detection_arguments_are_one_line(
    kwargs: dict[str, Any], error: type, text: str
) -> None:
    import polars as pl

    m = pl.DataFrame({"sample_id": ["a"], "image": ["a.png"], "label": [None]})
    with pytest.raises(error) as info:
        Dataset(m, ["cat", "dog"], **kwargs)
    assert text in _one_line(info)


def test_box_edit_arguments_are_one_line(tmp_path: Path) -> None:
    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images")
    with pytest.raises(InvalidParameterError, match="could not read them as numbers") as info:
        ds.move_boxes(["10"], [("a", 1, 2, 3)], reason="r")
    _one_line(info)
    with pytest.raises(InvalidParameterError, match="expected 1 or 2 values, got 3") as info:
        ds.remove_boxes(["10", "11"], reason=["a", "b", "c"])
    _one_line(info)
    with pytest.raises(SchemaError, match="lack column") as info2:
        ds.add_boxes({"sample_id": ["1"], "label": ["cat"]}, reason="r")
    _one_line(info2)
    assert ds.pending_changes.height == 0


def test_export_to_a_path_under_a_file_is_one_line(tmp_path: Path) -> None:
    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FileAccessError) as info:
        ds.to_yolo(blocker / "out")
    _one_line(info)
    with pytest.raises(FileAccessError) as info:
        ds.to_coco(blocker / "out.json")
    _one_line(info)


def test_a_damaged_detection_version_is_one_store_error(tmp_path: Path) -> None:
    from datacentric import VersionStore
    from datacentric.exceptions import StoreError

    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images")
    ds.commit("v1")
    vdir = VersionStore(tmp_path).version_dir(1)
    meta = json.loads((vdir / "meta.json").read_text())
    for bad in ({"task": "segmentation"}, {"class_ids": "7"}, {"n_annotations": None}):
        (vdir / "meta.json").write_text(json.dumps({**meta, **bad}))
        with pytest.raises(StoreError, match=r"meta\.json is corrupt") as info:
            Dataset.open(tmp_path)
        _one_line(info)
    (vdir / "meta.json").write_text(json.dumps(meta))
    (vdir / "annotations.parquet").unlink()
    with pytest.raises(StoreError, match=r"annotations\.parquet is missing") as info:
        Dataset.open(tmp_path)
    _one_line(info)


def test_a_folder_with_a_bad_annotations_parquet_is_one_line(tmp_path: Path) -> None:
    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images")
    ds.to_folder(tmp_path / "copy")
    path = tmp_path / "copy" / "annotations.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(SchemaError, match="could not read the annotations") as info:
        Dataset.from_folder(tmp_path / "copy")
    _one_line(info)
    secret = tmp_path / "secret.parquet"
    ds.annotations.write_parquet(secret)  # type: ignore[union-attr]
    path.unlink()
    path.symlink_to(secret)
    with pytest.raises(PathEscapeError, match="annotations file") as info2:
        Dataset.from_folder(tmp_path / "copy")
    _one_line(info2)
