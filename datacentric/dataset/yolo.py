"""YOLO (Ultralytics / Darknet text labels) in and out.

Layout of a YOLO dataset folder ``ROOT``::

    ROOT/images/<rel>.<ext>      the images (any depth; "train/", "val/", "test/" first
                                 folders give the split, else "train")
    ROOT/labels/<rel>.txt        one line per box: ``class cx cy w h``, the class an index
                                 into the classes, the box centre and size divided by the
                                 image width/height (in [0, 1] for a box inside the image)
    ROOT/data.yaml               ``names:`` the classes (a list, or {index: name}); or
    ROOT/classes.txt             one class per line, in index order

An image without a label file, or with an empty one, has no boxes. ``sample_id`` is
``<rel>.<ext>`` (the path under ``images/``); box ``k`` (0-based, blank lines skipped) of
an image has ``annotation_id`` ``"<sample_id>#<k>"``. Image sizes come from the image
headers (never decoded) and are kept in the manifest's ``width``/``height`` columns.

Round trip: :func:`write_yolo` writes every image's label file (empty when it has no
boxes), ``classes.txt`` and ``data.yaml``, copies the images, and writes each number with
Python's shortest exact ``repr``; boxes read back equal the written ones within 1e-6 pixel
after denormalisation (the only loss is floating-point rounding of ``x / W``, far below
1e-6 pixel for any image up to 10^6 pixels wide). Class order and indices are preserved.

Untrusted input: label files over ``annotations_max_bytes`` are refused unread; a line
that is not five numbers, a class index that is not an integer in range, a non-finite or
non-positive size, label files without an image and image links leading outside the
root are one-line errors naming the file and line.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._io import atomic_write_text, os_errors_as
from datacentric.dataset._formats import read_bounded_text, sizes_for
from datacentric.dataset._schema import IMAGE, LABEL, SAMPLE_ID, SPLIT, VALID_SPLITS
from datacentric.dataset.annotations import ANNOTATION_ID, BOX_COLUMNS
from datacentric.dataset.images import (
    IMAGE_EXTENSIONS,
    PathResolver,
    read_image_size,
    resolve_image_path,
)
from datacentric.exceptions import (
    InvalidAnnotationError,
    InvalidDatasetError,
    SchemaError,
    format_items,
)

__all__ = ["YoloData", "read_yolo", "write_yolo"]

IMAGES_DIR = "images"
LABELS_DIR = "labels"


class YoloData:
    """What :func:`read_yolo` found."""

    def __init__(self, manifest: pl.DataFrame, annotations: pl.DataFrame, classes: list[str]):
        self.manifest = manifest
        self.annotations = annotations
        self.classes = classes


def _yaml_names(path: Path) -> list[str]:
    from datacentric._yaml import load_yaml_file

    doc = load_yaml_file(path, what="YOLO data.yaml")
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))) or any(isinstance(k, bool) for k in keys):
            raise SchemaError(
                f"{path}: names must map the class indices 0..{len(keys) - 1} to names, "
                f"received the keys {format_items(keys)}. Fix the file."
            )
        names = [names[k] for k in keys]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SchemaError(
            f"{path}: 'names' must be a non-empty list of class names (or {{index: name}}), "
            f"received {names!r:.80}. Fix the file, or write classes.txt."
        )
    return names


def _classes(root: Path, classes: Sequence[str] | None) -> list[str]:
    if classes is not None:
        return [str(c) for c in classes]
    from datacentric.dataset.loaders import _check_inside, read_classes_file

    for name in ("data.yaml", "dataset.yaml"):
        path = root / name
        if path.is_file():
            _check_inside(root, path, "YOLO data.yaml")
            return _yaml_names(path)
    found = read_classes_file(root)
    if found:
        return found
    raise SchemaError(
        f"{root}: no classes found. A YOLO dataset names its classes in data.yaml ('names:') "
        "or classes.txt (one per line, in index order); or pass classes=[...]."
    )


def _walk(top: Path, suffixes: set[str] | None) -> list[str]:
    """Files under ``top`` (relative posix paths, sorted), hidden ones skipped."""
    out: list[str] = []
    if not top.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if suffixes is None or Path(name).suffix.lower() in suffixes:
                out.append(Path(dirpath, name).relative_to(top).as_posix())
    return sorted(out)


def _parse_line(line: str, where: str, n_classes: int) -> tuple[int, list[float]]:
    parts = line.split()
    if len(parts) != 5:
        raise InvalidAnnotationError(
            f"{where}: a box line is 'class cx cy w h' (5 values), received {len(parts)} "
            f"values {line.strip()[:80]!r}. Segmentation polygons and scores are not read; "
            "fix the line.",
            rows=[where],
        )
    try:
        cls = int(parts[0])
    except ValueError:
        raise InvalidAnnotationError(
            f"{where}: the class {parts[0][:40]!r} is not an integer index. Fix the line.",
            rows=[where],
        ) from None
    if not 0 <= cls < n_classes:
        raise InvalidAnnotationError(
            f"{where}: class index {cls} is outside 0..{n_classes - 1} (the classes). Fix "
            "the line or the class list.",
            rows=[where],
        )
    try:
        values = [float(p) for p in parts[1:]]
    except ValueError:
        raise InvalidAnnotationError(
            f"{where}: cx cy w h must be numbers, received {' '.join(parts[1:])[:80]!r}.",
            rows=[where],
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise InvalidAnnotationError(
            f"{where}: cx cy w h must be finite numbers, received {' '.join(parts[1:])[:80]!r}.",
            rows=[where],
        )
    if values[2] <= 0 or values[3] <= 0:
        raise InvalidAnnotationError(
            f"{where}: the box width and height must be above 0, received w={parts[3]} "
            f"h={parts[4]}. Remove or redraw the box.",
            rows=[where],
        )
    return cls, values


def read_yolo(root: str | Path, classes: Sequence[str] | None = None) -> YoloData:
    """Read a YOLO dataset folder (see the module doc).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "images").mkdir(); (d / "labels").mkdir()
    >>> Image.new("L", (10, 20)).save(d / "images" / "a.png")
    >>> _ = (d / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.1\\n")
    >>> read_yolo(d, classes=["cat"]).annotations.row(0)
    ('a.png#0', 'a.png', 'cat', 4.0, 9.0, 2.0, 2.0)
    """
    root = Path(root)
    if not (root / IMAGES_DIR).is_dir():
        raise InvalidDatasetError(
            f"{root} is not a YOLO dataset folder: it has no {IMAGES_DIR}/ folder. Expected "
            f"{root}/{IMAGES_DIR}/... with the images and {root}/{LABELS_DIR}/... with one .txt "
            "per image."
        )
    names = _classes(root, classes)
    images = _walk(root / IMAGES_DIR, set(IMAGE_EXTENSIONS))
    if not images:
        raise InvalidDatasetError(
            f"{root}/{IMAGES_DIR} holds no images ({sorted(IMAGE_EXTENSIONS)})."
        )
    stems = {str(Path(rel).with_suffix("")): rel for rel in images}
    labels = _walk(root / LABELS_DIR, {".txt"})
    orphans = [f"{LABELS_DIR}/{t}" for t in labels if str(Path(t).with_suffix("")) not in stems]
    if orphans:
        raise InvalidAnnotationError(
            f"{root}: {len(orphans)} label file(s) have no image in {IMAGES_DIR}/: "
            f"{format_items(orphans)}. Add the images or remove the label files.",
            rows=orphans,
        )
    by_stem: dict[str, list[str]] = {}
    for rel in images:
        by_stem.setdefault(str(Path(rel).with_suffix("")), []).append(rel)
    twins = [v for v in by_stem.values() if len(v) > 1]
    if twins:
        raise InvalidDatasetError(
            f"{root}: images {format_items(twins[0])} share one label file name; YOLO needs one "
            "label file per image. Rename one of them."
        )
    resolver = PathResolver(root)
    rows: dict[str, list[Any]] = {c: [] for c in (ANNOTATION_ID, SAMPLE_ID, LABEL, *BOX_COLUMNS)}
    splits, widths, heights = [], [], []
    for rel in images:
        first = rel.split("/", 1)[0]
        splits.append(first if "/" in rel and first in VALID_SPLITS else "train")
        w, h = read_image_size(root, f"{IMAGES_DIR}/{rel}", sample_id=rel, resolver=resolver)
        widths.append(w)
        heights.append(h)
        label_file = root / LABELS_DIR / Path(rel).with_suffix(".txt")
        if not label_file.exists():
            continue
        from datacentric.dataset.loaders import _check_inside

        _check_inside(root, label_file, "label file")
        text = read_bounded_text(label_file, "YOLO labels")
        k = 0
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            cls, (cx, cy, bw, bh) = _parse_line(line, f"{label_file}:{lineno}", len(names))
            box = ((cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h)
            for col, value in zip(
                (ANNOTATION_ID, SAMPLE_ID, LABEL, *BOX_COLUMNS),
                (f"{rel}#{k}", rel, names[cls], *box),
                strict=True,
            ):
                rows[col].append(value)
            k += 1
    manifest = pl.DataFrame(
        {
            SAMPLE_ID: images,
            IMAGE: [f"{IMAGES_DIR}/{rel}" for rel in images],
            LABEL: pl.Series([None] * len(images), dtype=pl.Utf8),
            SPLIT: splits,
            "width": pl.Series(widths, dtype=pl.Int64),
            "height": pl.Series(heights, dtype=pl.Int64),
        }
    )
    boxes = pl.DataFrame(
        {
            **{c: pl.Series(rows[c], dtype=pl.Utf8) for c in (ANNOTATION_ID, SAMPLE_ID, LABEL)},
            **{c: pl.Series(rows[c], dtype=pl.Float64) for c in BOX_COLUMNS},
        }
    )
    return YoloData(manifest, boxes, names)


def _target(rel: str, split: str) -> str:
    """Where an image goes under ``images/``: its path there; a val/test image not already
    in a split folder goes under ``<split>/`` (so that reading it back gives its split)."""
    inner = rel[len(IMAGES_DIR) + 1 :] if rel.startswith(IMAGES_DIR + "/") else rel
    first = inner.split("/", 1)[0]
    if split == "train" or ("/" in inner and first in VALID_SPLITS):
        return inner
    return f"{split}/{inner}"


def write_yolo(ds: Any, out: str | Path) -> Path:
    """Write a detection dataset as a YOLO folder at ``out`` (see the module doc).

    Images are copied (read inside the dataset root, links resolved); a val or test image
    whose path under ``images/`` does not start with a split folder is put under
    ``<split>/``.
    """
    if ds.annotations is None:
        raise SchemaError(
            "to_yolo: this is a classification dataset (no boxes); YOLO labels are for "
            "detection datasets (Dataset.from_coco, Dataset.from_yolo)."
        )
    if ds.root is None:
        raise SchemaError("to_yolo: the images live in memory; save them with ds.to_folder first.")
    out = Path(out)
    manifest = ds.manifest
    widths, heights = sizes_for(ds.root, manifest, ds._arrays, "to_yolo")
    index = {c: i for i, c in enumerate(ds.classes)}
    per_sample: dict[str, list[tuple[str, float, float, float, float]]] = {}
    for sid, label, x, y, w, h in ds.annotations.select(SAMPLE_ID, LABEL, *BOX_COLUMNS).rows():
        per_sample.setdefault(sid, []).append((label, x, y, w, h))
    targets = [
        _target(rel, split)
        for rel, split in zip(manifest[IMAGE].to_list(), manifest[SPLIT].to_list(), strict=True)
    ]
    dup = pl.Series(targets).is_duplicated()
    if dup.any():
        raise InvalidDatasetError(
            f"to_yolo: two samples would be written to the same image file: "
            f"{format_items(pl.Series(targets).filter(dup).unique().to_list())}."
        )
    for sid, rel, target, width, height in zip(
        manifest[SAMPLE_ID].to_list(),
        manifest[IMAGE].to_list(),
        targets,
        widths,
        heights,
        strict=True,
    ):
        src = resolve_image_path(ds.root, rel, sample_id=sid)
        dst = out / IMAGES_DIR / target
        real = os.path.realpath(src)
        if not (dst.exists() and os.path.samefile(real, dst)):  # writing into the dataset
            with os_errors_as(dst, "write"):
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(real, dst)
        lines = [
            f"{index[label]} {(x + w / 2) / width!r} {(y + h / 2) / height!r} "
            f"{w / width!r} {h / height!r}"
            for label, x, y, w, h in per_sample.get(sid, [])
        ]
        text = "".join(line + "\n" for line in lines)
        atomic_write_text(out / LABELS_DIR / Path(target).with_suffix(".txt"), text)
    atomic_write_text(out / "classes.txt", "".join(c + "\n" for c in ds.classes))
    names = ", ".join(json.dumps(c) for c in ds.classes)
    atomic_write_text(
        out / "data.yaml",
        f"path: .\ntrain: {IMAGES_DIR}/train\nval: {IMAGES_DIR}/val\nnc: {len(ds.classes)}\n"
        f"names: [{names}]\n",
    )
    return out
