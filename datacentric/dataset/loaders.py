"""Reading a dataset directory: a manifest file, or the ImageFolder layout."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from datacentric.dataset._schema import IMAGE, LABEL, SAMPLE_ID, SPLIT, VALID_SPLITS
from datacentric.dataset.images import IMAGE_EXTENSIONS
from datacentric.exceptions import (
    EmptyDatasetError,
    InvalidDatasetError,
    SchemaError,
    format_items,
)

__all__ = ["read_classes_file", "read_folder", "read_manifest_file"]

MANIFEST_NAMES = ("manifest.parquet", "manifest.csv")
CLASSES_FILE = "classes.txt"


def read_manifest_file(path: Path) -> pl.DataFrame:
    """Read ``manifest.parquet`` or ``manifest.csv`` (core columns read as text)."""
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path, glob=False)
        return pl.read_csv(
            path,
            glob=False,
            schema_overrides={SAMPLE_ID: pl.Utf8, IMAGE: pl.Utf8, LABEL: pl.Utf8, SPLIT: pl.Utf8},
            infer_schema_length=10_000,
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SchemaError(
            f"could not read the manifest {path}: {exc}. It must be a CSV with a header row "
            "or a Parquet file with columns sample_id, image, label[, split, ...]."
        ) from exc


def read_classes_file(root: Path) -> list[str] | None:
    """Classes from ``root/classes.txt`` (one per line, in order), if the file exists."""
    path = root / CLASSES_FILE
    if not path.is_file():
        return None
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _list_image_folder(root: Path) -> pl.DataFrame:
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise EmptyDatasetError(
            f"{root} has neither a manifest ({' or '.join(MANIFEST_NAMES)}) nor class "
            "sub-directories. Use DIR/manifest.csv with image paths relative to DIR, or the "
            "ImageFolder layout DIR/<class>/<image> (optionally DIR/<split>/<class>/<image>)."
        )
    split_layout = all(p.name in VALID_SPLITS for p in subdirs)
    groups = (
        [
            (s.name, c)
            for s in subdirs
            for c in sorted(s.iterdir())
            if c.is_dir() and not c.name.startswith(".")
        ]
        if split_layout
        else [("train", c) for c in subdirs]
    )
    if split_layout:
        loose = sorted(
            f.relative_to(root).as_posix()
            for s in subdirs
            for f in s.iterdir()
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
        )
        if loose:
            raise InvalidDatasetError(
                f"{len(loose)} image(s) sit directly in a split folder of {root}, outside any "
                f"class folder: {format_items(loose)}. In the layout DIR/<split>/<class>/<image> "
                "each image must be inside its class folder; move them there.",
                rows=loose,
            )
    ids: list[str] = []
    labels: list[str] = []
    splits: list[str] = []
    not_images: list[str] = []
    for split, class_dir in groups:
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue  # .DS_Store and friends: documented, not data
                rel = Path(dirpath, name).relative_to(root).as_posix()
                if Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                    not_images.append(rel)
                    continue
                ids.append(rel)
                labels.append(class_dir.name)
                splits.append(split)
    if not_images:
        raise InvalidDatasetError(
            f"{len(not_images)} file(s) in the class folders of {root} are not images "
            f"(by extension): {format_items(not_images)}. Accepted extensions are "
            f"{sorted(IMAGE_EXTENSIONS)}; move other files out of the class folders.",
            rows=not_images,
        )
    if not ids:
        raise EmptyDatasetError(
            f"the class folders of {root} contain no images; received folders "
            f"{format_items([c.relative_to(root).as_posix() for _, c in groups])}."
        )
    return pl.DataFrame(
        {SAMPLE_ID: ids, IMAGE: ids, LABEL: labels, SPLIT: splits},
        schema={SAMPLE_ID: pl.Utf8, IMAGE: pl.Utf8, LABEL: pl.Utf8, SPLIT: pl.Utf8},
    )


def read_folder(root: Path) -> tuple[pl.DataFrame, list[str] | None, str]:
    """Read a dataset directory; returns ``(manifest, classes or None, source)``.

    ``classes`` comes from ``classes.txt`` when present, from the class folder names in
    the ImageFolder layout, and is ``None`` (to be inferred) otherwise.
    """
    if not root.is_dir():
        raise InvalidDatasetError(
            f"dataset directory {root} does not exist or is not a directory. Pass the folder "
            "that holds manifest.csv/manifest.parquet or the class sub-folders."
        )
    for name in MANIFEST_NAMES:
        path = root / name
        if path.is_file():
            return read_manifest_file(path), read_classes_file(root), str(path)
    manifest = _list_image_folder(root)
    classes = read_classes_file(root) or sorted(manifest[LABEL].unique().to_list())
    return manifest, classes, f"ImageFolder {root}"
