"""YOLO folders in and out: known boxes, round trips within 1e-6 pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datacentric import Dataset
from tests.dataset._detection import write_coco, write_yolo

COLS = ("annotation_id", "sample_id", "label", "x", "y", "w", "h")


def test_from_yolo_reads_known_boxes_splits_and_sizes(tmp_path: Path) -> None:
    ds = Dataset.from_yolo(write_yolo(tmp_path))
    assert ds.classes == ["car", "person"]
    assert ds.manifest.select("sample_id", "image", "split", "width", "height").rows() == [
        ("train/a.png", "images/train/a.png", "train", 40, 30),
        ("train/b.png", "images/train/b.png", "train", 20, 50),
        ("val/c.png", "images/val/c.png", "val", 10, 10),
    ]
    assert ds.annotations is not None
    rows = ds.annotations.select(*COLS).rows()
    assert [r[:3] for r in rows] == [
        ("train/a.png#0", "train/a.png", "person"),
        ("train/a.png#1", "train/a.png", "car"),
    ]
    np.testing.assert_allclose([r[3:] for r in rows], [[15, 7.5, 10, 15], [0, 0, 8, 12]], atol=1e-9)


@pytest.mark.parametrize(
    "names",
    ["names: {0: car, 1: person}\n", None],
)
def test_classes_from_a_yaml_mapping_or_classes_txt(tmp_path: Path, names: str | None) -> None:
    root = write_yolo(tmp_path, names=names or "")
    if names is None:
        (root / "data.yaml").unlink()
        (root / "classes.txt").write_text("car\nperson\n")
    assert Dataset.from_yolo(root).classes == ["car", "person"]


def test_yolo_round_trip_within_a_millionth_of_a_pixel(tmp_path: Path) -> None:
    ds = Dataset.from_yolo(write_yolo(tmp_path / "y"))
    out = ds.to_yolo(tmp_path / "out")
    assert (out / "labels/train/b.txt").read_text() == ""  # an image without boxes
    assert (out / "labels/val/c.txt").read_text() == ""
    back = Dataset.from_yolo(out)
    assert back.classes == ds.classes
    assert back.manifest.equals(ds.manifest)
    assert back.annotations is not None and ds.annotations is not None
    assert back.annotations.select(*COLS[:3]).equals(ds.annotations.select(*COLS[:3]))
    diff = (
        back.annotations.select("x", "y", "w", "h").to_numpy()
        - ds.annotations.select("x", "y", "w", "h").to_numpy()
    )
    assert np.abs(diff).max() <= 1e-6


def test_coco_to_yolo_to_coco_keeps_every_box_within_a_millionth(tmp_path: Path) -> None:
    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images", split="train")
    ds.to_yolo(tmp_path / "y")
    lines = (tmp_path / "y/labels/1.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["0", "1"]  # class indices in class order
    back = Dataset.from_yolo(tmp_path / "y")
    assert back.classes == ["dog", "cat"]
    assert back.manifest["sample_id"].to_list() == ["1.png", "2.png", "3.png", "4.png"]
    assert back.annotations is not None and ds.annotations is not None
    assert back.annotations["label"].to_list() == ds.annotations["label"].to_list()
    got = back.annotations.select("x", "y", "w", "h").to_numpy()
    want = ds.annotations.select("x", "y", "w", "h").to_numpy()
    assert np.abs(got - want).max() <= 1e-6


def test_val_images_outside_a_split_folder_go_under_it(tmp_path: Path) -> None:
    ds = Dataset.from_coco(tmp_path, write_coco(tmp_path), images_dir="images", split="val")
    out = ds.to_yolo(tmp_path / "y")
    assert (out / "images/val/1.png").is_file() and (out / "labels/val/1.txt").is_file()
    assert set(Dataset.from_yolo(out).manifest["split"]) == {"val"}


def test_data_yaml_written_by_to_yolo_is_read_back(tmp_path: Path) -> None:
    ds = Dataset.from_yolo(write_yolo(tmp_path / "y", names='names: ["a: b", "c\\"d"]\n'))
    out = ds.to_yolo(tmp_path / "out")
    (out / "classes.txt").unlink()
    assert Dataset.from_yolo(out).classes == ["a: b", 'c"d']
