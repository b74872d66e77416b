"""COCO instances in and out: known boxes, exact round trips both ways."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from tests.dataset._detection import SIZES, coco_doc, write_coco, write_yolo


def test_from_coco_reads_known_boxes_classes_and_sizes(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    ds = Dataset.from_coco(tmp_path, ann, images_dir="images", split="val")
    assert ds.task == "detection"
    assert ds.classes == ["dog", "cat"]  # file order is class order
    assert ds.class_ids == [7, 2] and ds.supercategories == ["animal", "pet"]
    m = ds.manifest
    assert m.select("sample_id", "image", "split", "width", "height").rows() == [
        (str(i), f"images/{i}.png", "val", w, h) for i, (w, h) in SIZES.items()
    ]
    assert m["label"].null_count() == 4
    assert ds.annotations is not None
    cols = ("annotation_id", "sample_id", "label", "x", "y", "w", "h")
    assert ds.annotations.select(*cols).rows() == [
        ("10", "1", "dog", 1.5, 2.25, 10.125, 3.0),
        ("11", "1", "cat", 0.0, 0.0, 40.0, 30.0),
        ("12", "2", "dog", 3.3, 4.4, 5.5, 6.6),
        ("3", "4", "cat", 60.0, 40.0, 4.0, 8.0),
    ]  # fmt: skip
    assert ds.annotations["iscrowd"].to_list() == [0, 1, 0, 0]


def test_coco_round_trip_is_exact_through_a_committed_version(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    Dataset.from_coco(tmp_path, ann, images_dir="images").commit("import")
    out = Dataset.open(tmp_path).to_coco(tmp_path / "out.json", images_dir="images")
    assert json.loads(out.read_text()) == coco_doc()  # image 3 (no boxes) included


def test_coco_export_then_import_gives_the_same_dataset(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    ds = Dataset.from_coco(tmp_path, ann, images_dir="images")
    ds.relabel_boxes(["12"], "cat", reason="r").remove_boxes(["3"], reason="r")
    ds.to_coco(tmp_path / "again.json", images_dir="images")
    back = Dataset.from_coco(tmp_path, tmp_path / "again.json", images_dir="images")
    assert back.manifest.equals(ds.manifest)
    assert back.annotations is not None and ds.annotations is not None
    assert back.annotations.equals(ds.annotations)
    assert (back.classes, back.class_ids) == (ds.classes, ds.class_ids)


def test_a_file_without_optional_keys_gets_coco_defaults(tmp_path: Path) -> None:
    doc = coco_doc()
    for a in doc["annotations"]:
        del a["area"], a["iscrowd"]
    for c in doc["categories"]:
        del c["supercategory"]
    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path, doc), images_dir="images")
    assert ds.supercategories is None
    out = json.loads(ds.to_coco(tmp_path / "o.json", images_dir="images").read_text())
    assert [a["area"] for a in out["annotations"]] == [10.125 * 3.0, 1200.0, 5.5 * 6.6, 32.0]
    assert {a["iscrowd"] for a in out["annotations"]} == {0}
    assert out["categories"] == [{"id": 7, "name": "dog"}, {"id": 2, "name": "cat"}]


def test_yolo_dataset_to_coco_numbers_ids_and_reads_sizes_from_headers(tmp_path: Path) -> None:
    ds = Dataset.from_yolo(write_yolo(tmp_path / "y"))
    out = json.loads(ds.to_coco(tmp_path / "o.json").read_text())
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in out["images"]] == [
        (1, "images/train/a.png", 40, 30),
        (2, "images/train/b.png", 20, 50),
        (3, "images/val/c.png", 10, 10),
    ]
    assert out["categories"] == [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]
    assert [(a["id"], a["image_id"], a["category_id"]) for a in out["annotations"]] == [
        (1, 1, 2),
        (2, 1, 1),
    ]
    assert out["annotations"][0]["bbox"] == pytest.approx([15.0, 7.5, 10.0, 15.0], abs=1e-9)


def test_to_coco_refuses_an_image_outside_images_dir(tmp_path: Path) -> None:
    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images")
    with pytest.raises(InvalidParameterError, match="not under images_dir 'pics'"):
        ds.to_coco(tmp_path / "o.json", images_dir="pics")


def test_to_coco_of_a_classification_dataset_is_refused(small_dir: Path) -> None:
    with pytest.raises(SchemaError, match="classification dataset"):
        Dataset.from_folder(small_dir).to_coco(small_dir / "o.json")


def test_from_coco_checks_the_split_parameter(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="split"):
        Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images", split="dev")


def test_manifest_of_coco_dataset_is_polars_with_size_columns(tmp_path: Path) -> None:
    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images")
    assert ds.manifest.schema["width"] == pl.Int64
    assert ds.metadata_columns == ["width", "height"]
