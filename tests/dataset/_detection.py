"""Tiny detection fixtures on disk: a COCO file and a YOLO folder with known boxes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import write_png

__all__ = ["SIZES", "coco_doc", "write_coco", "write_yolo"]

#: (width, height) of images 1..4; image 3 has no boxes.
SIZES = {1: (40, 30), 2: (20, 50), 3: (33, 17), 4: (64, 48)}


def coco_doc() -> dict[str, Any]:
    """A COCO instances document: 4 images (one without boxes), 2 categories with
    non-consecutive ids listed out of id order, fractional boxes, area and iscrowd."""
    return {
        "images": [
            {"id": i, "file_name": f"{i}.png", "width": w, "height": h}
            for i, (w, h) in SIZES.items()
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 7, "bbox": [1.5, 2.25, 10.125, 3.0],
             "area": 30.375, "iscrowd": 0},
            {"id": 11, "image_id": 1, "category_id": 2, "bbox": [0.0, 0.0, 40.0, 30.0],
             "area": 1100.5, "iscrowd": 1},
            {"id": 12, "image_id": 2, "category_id": 7, "bbox": [3.3, 4.4, 5.5, 6.6],
             "area": 36.3, "iscrowd": 0},
            {"id": 3, "image_id": 4, "category_id": 2, "bbox": [60.0, 40.0, 4.0, 8.0],
             "area": 32.0, "iscrowd": 0},
        ],
        "categories": [
            {"id": 7, "name": "dog", "supercategory": "animal"},
            {"id": 2, "name": "cat", "supercategory": "pet"},
        ],
    }  # fmt: skip


def write_coco(root: Path, doc: dict[str, Any] | None = None, images_dir: str = "images") -> Path:
    """Write the images of ``coco_doc()`` under ``root/images_dir`` and the JSON at
    ``root/ann.json`` (``doc`` replaces the JSON); returns the JSON path."""
    for i, (w, h) in SIZES.items():
        write_png(root / images_dir / f"{i}.png", value=i * 40, size=(w, h))
    path = root / "ann.json"
    path.write_text(json.dumps(coco_doc() if doc is None else doc))
    return path


def write_yolo(root: Path, labels: dict[str, str] | None = None, names: str | None = None) -> Path:
    """A YOLO folder: images train/a.png (40x30), train/b.png (20x50, no label file),
    val/c.png (10x10, empty label file); classes in data.yaml. ``labels`` replaces the
    label files (``{relative path under labels/: text}``)."""
    write_png(root / "images/train/a.png", size=(40, 30))
    write_png(root / "images/train/b.png", size=(20, 50))
    write_png(root / "images/val/c.png", size=(10, 10))
    files = (
        {"train/a.txt": "1 0.5 0.5 0.25 0.5\n0 0.1 0.2 0.2 0.4\n", "val/c.txt": ""}
        if labels is None
        else labels
    )
    for rel, text in files.items():
        (root / "labels" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "labels" / rel).write_text(text)
    (root / "data.yaml").write_text(names if names is not None else "names: [car, person]\n")
    return root
