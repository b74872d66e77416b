"""COCO JSON (object detection "instances") in and out.

Reading (:func:`read_coco`) keeps, per image: ``id`` (the ``sample_id``, as text),
``file_name`` (the ``image``, under ``images_dir``), ``width``, ``height`` (manifest columns);
per annotation: ``id`` (the ``annotation_id``, as text), ``image_id``, ``category_id`` (the
``label``: the category's name), ``bbox`` ``[x, y, w, h]`` in pixels, and ``area``,
``iscrowd`` and ``score`` when present (extra columns); per category: ``id`` (kept as the
dataset's ``class_ids``, in file order, which is the class order), ``name``, and
``supercategory`` when present. Segmentation, keypoints, ``info`` and ``licenses`` are
not kept.

Writing (:func:`write_coco`) gives back exactly these keys, so a file that has them
round-trips exactly: the same images, annotations and categories, with the same ids,
names, order and numbers. Ids that are not integers (a dataset from YOLO) are numbered
1..N in table order; ``area`` defaults to ``w * h`` and ``iscrowd`` to 0.

The file is untrusted: larger than ``annotations_max_bytes`` is refused unread;
``NaN``/``Infinity`` (and numbers that overflow to infinity), ids that are not integers,
duplicate image/category ids, duplicate file names, file names that lead outside the
dataset root, and annotations naming unknown images or categories are one-line errors
naming the file and the entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._io import atomic_write_text
from datacentric.dataset._formats import as_int_ids, read_bounded_text, sizes_for
from datacentric.dataset._schema import IMAGE, LABEL, SAMPLE_ID, SPLIT
from datacentric.dataset.annotations import ANNOTATION_ID, BOX_COLUMNS
from datacentric.dataset.images import _escaping
from datacentric.exceptions import (
    InvalidAnnotationError,
    InvalidParameterError,
    PathEscapeError,
    SchemaError,
)

__all__ = ["CocoData", "read_coco", "write_coco"]


class _NonFiniteError(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _NonFiniteError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFiniteError(text)
    return value


def load_json(path: Path, what: str = "COCO annotations") -> Any:
    """Parse a JSON file: bounded size, finite numbers only, one-line errors naming it."""
    text = read_bounded_text(path, what)
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NonFiniteError as exc:
        raise SchemaError(
            f"{path}: the {what} contain the non-finite number {str(exc)[:40]}; JSON numbers "
            "must be finite. Fix the file."
        ) from None
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{path}: the {what} are not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}). Fix the file."
        ) from None
    except RecursionError:
        raise SchemaError(
            f"{path}: the {what} nest too deeply to be read; a COCO file is a few levels deep."
        ) from None


class CocoData:
    """What :func:`read_coco` found: the tables and the category details."""

    def __init__(
        self,
        manifest: pl.DataFrame,
        annotations: pl.DataFrame,
        classes: list[str],
        class_ids: list[int],
        supercategories: list[str] | None,
    ) -> None:
        self.manifest = manifest
        self.annotations = annotations
        self.classes = classes
        self.class_ids = class_ids
        self.supercategories = supercategories


def _entry(path: Path, section: str, i: int, entry: object) -> str:
    ident = entry.get("id") if isinstance(entry, dict) else None
    shown = f" (id {ident!r:.40})" if ident is not None else ""
    return f"{path}: {section}[{i}]{shown}"


def _require_int(value: object, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAnnotationError(
            f"{where}: {key} must be an integer, received {value!r:.60} "
            f"({type(value).__name__}). COCO ids are integers; fix the file.",
            rows=[where],
        )
    if not -(2**63) <= value < 2**63:
        raise InvalidAnnotationError(
            f"{where}: {key} {value} does not fit in 64 bits. Fix the file.", rows=[where]
        )
    return value


def _number(value: object, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidAnnotationError(
            f"{where}: {key} must be a number, received {value!r:.60}. Fix the file.",
            rows=[where],
        )
    return float(value)


def _list(doc: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise SchemaError(
            f"{path}: the key {key!r} must be a list, received "
            f"{'nothing' if value is None else type(value).__name__}. A COCO instances file "
            "has lists 'images', 'annotations' and 'categories'."
        )
    return value


def _dicts(items: list[Any], section: str, path: Path) -> None:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise SchemaError(
                f"{path}: {section}[{i}] must be an object, received {type(item).__name__}. "
                "Fix the file."
            )


def _categories(items: list[Any], path: Path) -> tuple[list[str], list[int], list[str] | None]:
    _dicts(items, "categories", path)
    if not items:
        raise SchemaError(f"{path}: 'categories' is empty; a COCO file needs its categories.")
    names: list[str] = []
    ids: list[int] = []
    sups: list[str] = []
    seen_ids: dict[int, int] = {}
    seen_names: dict[str, int] = {}
    for i, cat in enumerate(items):
        where = _entry(path, "categories", i, cat)
        cid = _require_int(cat.get("id"), where, "id")
        name = cat.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidAnnotationError(
                f"{where}: name must be a non-empty string, received {name!r:.60}.", rows=[where]
            )
        if cid in seen_ids:
            raise InvalidAnnotationError(
                f"{where}: category id {cid} is used twice (also categories[{seen_ids[cid]}]). "
                "Give each category its own id.",
                rows=[where],
            )
        if name in seen_names:
            raise InvalidAnnotationError(
                f"{where}: category name {name!r} is used twice (also categories"
                f"[{seen_names[name]}]). Give each category its own name.",
                rows=[where],
            )
        seen_ids[cid], seen_names[name] = i, i
        sup = cat.get("supercategory")
        if sup is not None and not isinstance(sup, str):
            raise InvalidAnnotationError(
                f"{where}: supercategory must be a string, received {sup!r:.60}.", rows=[where]
            )
        ids.append(cid)
        names.append(name)
        sups.append(sup if isinstance(sup, str) else "")
    has_sup = any("supercategory" in c for c in items)
    return names, ids, sups if has_sup else None


def _image_path(images_dir: str, file_name: str) -> str:
    prefix = images_dir.strip("/")
    return file_name if prefix in ("", ".") else f"{prefix}/{file_name}"


def _images(
    items: list[Any], path: Path, images_dir: str, split: str
) -> tuple[pl.DataFrame, dict[int, str]]:
    _dicts(items, "images", path)
    ids: list[str] = []
    files: list[str] = []
    widths: list[int | None] = []
    heights: list[int | None] = []
    by_id: dict[int, int] = {}
    by_file: dict[str, int] = {}
    for i, img in enumerate(items):
        where = _entry(path, "images", i, img)
        iid = _require_int(img.get("id"), where, "id")
        name = img.get("file_name")
        if not isinstance(name, str) or not name or "\x00" in name:
            raise InvalidAnnotationError(
                f"{where}: file_name must be a non-empty string, received {name!r:.60}.",
                rows=[where],
            )
        rel = _image_path(images_dir, name)
        if _escaping([name, rel]):
            raise PathEscapeError(
                f"{where}: file_name {name!r:.80} leads outside the dataset root (absolute, or "
                "'..' past it). File names must be relative to the images folder inside the "
                "dataset.",
                rows=[str(iid)],
            )
        if iid in by_id:
            raise InvalidAnnotationError(
                f"{where}: image id {iid} is used twice (also images[{by_id[iid]}]). Give each "
                "image its own id.",
                rows=[where],
            )
        if rel in by_file:
            raise InvalidAnnotationError(
                f"{where}: file_name {name!r:.80} is listed twice (also images[{by_file[rel]}]). "
                "List each image once.",
                rows=[where],
            )
        by_id[iid], by_file[rel] = i, i
        size: list[int | None] = []
        for key in ("width", "height"):
            value = img.get(key)
            if value is not None and (_require_int(value, where, key) <= 0):
                raise InvalidAnnotationError(
                    f"{where}: {key} must be a positive integer, received {value}.", rows=[where]
                )
            size.append(value)
        ids.append(str(iid))
        files.append(rel)
        widths.append(size[0])
        heights.append(size[1])
    if not ids:
        raise SchemaError(f"{path}: 'images' is empty; a dataset needs at least one image.")
    manifest = pl.DataFrame(
        {
            SAMPLE_ID: ids,
            IMAGE: files,
            LABEL: pl.Series([None] * len(ids), dtype=pl.Utf8),
            SPLIT: [split] * len(ids),
            "width": pl.Series(widths, dtype=pl.Int64),
            "height": pl.Series(heights, dtype=pl.Int64),
        }
    )
    return manifest, {int(s): s for s in ids}


def _annotations(
    items: list[Any], path: Path, images: dict[int, str], cats: dict[int, str]
) -> pl.DataFrame:
    _dicts(items, "annotations", path)
    cols: dict[str, list[Any]] = {c: [] for c in (ANNOTATION_ID, SAMPLE_ID, LABEL, *BOX_COLUMNS)}
    extra: dict[str, list[Any]] = {"area": [], "iscrowd": [], "score": []}
    for i, ann in enumerate(items):
        where = _entry(path, "annotations", i, ann)
        aid = _require_int(ann.get("id"), where, "id")
        image_id = _require_int(ann.get("image_id"), where, "image_id")
        cat_id = _require_int(ann.get("category_id"), where, "category_id")
        if image_id not in images:
            raise InvalidAnnotationError(
                f"{where}: image_id {image_id} is not among the images. Fix the file.",
                rows=[str(aid)],
            )
        if cat_id not in cats:
            raise InvalidAnnotationError(
                f"{where}: category_id {cat_id} is not among the categories. Fix the file.",
                rows=[str(aid)],
            )
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise InvalidAnnotationError(
                f"{where}: bbox must be a list [x, y, w, h] of 4 numbers, received {bbox!r:.80}.",
                rows=[str(aid)],
            )
        box = [_number(v, where, "bbox") for v in bbox]
        for col, value in zip(
            (ANNOTATION_ID, SAMPLE_ID, LABEL, *BOX_COLUMNS),
            (str(aid), images[image_id], cats[cat_id], *box),
            strict=True,
        ):
            cols[col].append(value)
        area, crowd, score = ann.get("area"), ann.get("iscrowd"), ann.get("score")
        extra["area"].append(None if area is None else _number(area, where, "area"))
        if crowd is not None and _require_int(crowd, where, "iscrowd") not in (0, 1):
            raise InvalidAnnotationError(
                f"{where}: iscrowd must be 0 or 1, received {crowd}.", rows=[str(aid)]
            )
        extra["iscrowd"].append(crowd)
        extra["score"].append(None if score is None else _number(score, where, "score"))
    frame = pl.DataFrame(
        {
            **{c: pl.Series(cols[c], dtype=pl.Utf8) for c in (ANNOTATION_ID, SAMPLE_ID, LABEL)},
            **{c: pl.Series(cols[c], dtype=pl.Float64) for c in BOX_COLUMNS},
        }
    )
    types = {"area": pl.Float64, "iscrowd": pl.Int64, "score": pl.Float64}
    present = [c for c in ("area", "iscrowd", "score") if any(v is not None for v in extra[c])]
    return frame.with_columns(pl.Series(c, extra[c], dtype=types[c]) for c in present)


def read_coco(path: str | Path, *, images_dir: str = ".", split: str = "train") -> CocoData:
    """Read a COCO instances file into a manifest, a box table and the categories.

    Examples
    --------
    >>> import json, tempfile
    >>> p = Path(tempfile.mkdtemp()) / "ann.json"
    >>> _ = p.write_text(json.dumps({
    ...     "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6}],
    ...     "annotations": [{"id": 5, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]}],
    ...     "categories": [{"id": 3, "name": "cat"}]}))
    >>> data = read_coco(p)
    >>> data.annotations.row(0), data.class_ids
    (('5', '1', 'cat', 1.0, 2.0, 3.0, 4.0), [3])
    """
    path = Path(path)
    if _escaping([images_dir]):
        raise InvalidParameterError(
            f"read_coco: images_dir {images_dir!r} leads outside the dataset root; pass a "
            "folder relative to it (e.g. 'images')."
        )
    doc = load_json(path)
    if not isinstance(doc, dict):
        raise SchemaError(
            f"{path}: a COCO file is a JSON object with 'images', 'annotations' and "
            f"'categories', received a {type(doc).__name__}."
        )
    classes, class_ids, sups = _categories(_list(doc, "categories", path), path)
    manifest, images = _images(_list(doc, "images", path), path, images_dir, split)
    boxes = _annotations(
        _list(doc, "annotations", path), path, images, dict(zip(class_ids, classes, strict=True))
    )
    return CocoData(manifest, boxes, classes, class_ids, sups)


def coco_document(
    manifest: pl.DataFrame,
    annotations: pl.DataFrame,
    classes: Sequence[str],
    class_ids: Sequence[int] | None,
    supercategories: Sequence[str] | None,
    sizes: tuple[list[int], list[int]],
    images_dir: str = ".",
) -> dict[str, Any]:
    """The COCO instances document of a detection dataset's tables (see the module doc)."""
    prefix = images_dir.strip("/")
    prefix = "" if prefix in ("", ".") else prefix + "/"
    sample_ids = manifest[SAMPLE_ID].to_list()
    image_ids = as_int_ids(sample_ids)
    images = []
    for sid, rel, iid, w, h in zip(
        sample_ids, manifest[IMAGE].to_list(), image_ids, *sizes, strict=True
    ):
        if prefix and not rel.startswith(prefix):
            raise InvalidParameterError(
                f"to_coco: image {rel!r} of sample {sid!r} is not under images_dir "
                f"{images_dir!r}; pass the folder all images are under (or '.')."
            )
        images.append({"id": iid, "file_name": rel[len(prefix) :], "width": w, "height": h})
    cat_ids = list(class_ids) if class_ids is not None else list(range(1, len(classes) + 1))
    categories: list[dict[str, Any]] = []
    for i, (cid, name) in enumerate(zip(cat_ids, classes, strict=True)):
        cat: dict[str, Any] = {"id": cid, "name": name}
        if supercategories is not None:
            cat["supercategory"] = supercategories[i]
        categories.append(cat)
    by_sample = dict(zip(sample_ids, image_ids, strict=True))
    by_class = dict(zip(classes, cat_ids, strict=True))
    ann_ids = as_int_ids(annotations[ANNOTATION_ID].to_list())
    cols = annotations.columns
    anns = []
    for aid, row in zip(ann_ids, annotations.iter_rows(named=True), strict=True):
        box = [float(row[c]) for c in BOX_COLUMNS]
        area = row.get("area") if "area" in cols else None
        crowd = row.get("iscrowd") if "iscrowd" in cols else None
        ann: dict[str, Any] = {
            "id": aid,
            "image_id": by_sample[row[SAMPLE_ID]],
            "category_id": by_class[row[LABEL]],
            "bbox": box,
            "area": float(area) if area is not None else box[2] * box[3],
            "iscrowd": int(crowd) if crowd is not None else 0,
        }
        if "score" in cols and row["score"] is not None:
            ann["score"] = float(row["score"])
        anns.append(ann)
    return {"images": images, "annotations": anns, "categories": categories}


def write_coco(ds: Any, path: str | Path, *, images_dir: str = ".") -> Path:
    """Write a detection dataset as a COCO instances file (atomically); returns the path.

    Image sizes come from the manifest's ``width``/``height`` columns, else from the image
    headers.
    """
    if ds.annotations is None:
        raise SchemaError(
            "to_coco: this is a classification dataset (no boxes); COCO instances are for "
            "detection datasets (Dataset.from_coco, Dataset.from_yolo)."
        )
    sizes = sizes_for(ds.root, ds.manifest, ds._arrays, "to_coco")
    doc = coco_document(
        ds.manifest,
        ds.annotations,
        ds.classes,
        ds.class_ids,
        ds.supercategories,
        sizes,
        images_dir,
    )
    return atomic_write_text(Path(path), json.dumps(doc, allow_nan=False))
