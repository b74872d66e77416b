"""Reading a dataset directory: a manifest file, or the ImageFolder layout."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from datacentric.config import get_config
from datacentric.dataset._schema import IMAGE, LABEL, SAMPLE_ID, SPLIT, VALID_SPLITS
from datacentric.dataset.images import IMAGE_EXTENSIONS, _inside
from datacentric.exceptions import (
    EmptyDatasetError,
    InvalidDatasetError,
    PathEscapeError,
    SchemaError,
    format_items,
)

__all__ = [
    "ANNOTATIONS_FILE",
    "read_annotations_file",
    "read_classes_file",
    "read_folder",
    "read_manifest_file",
]

MANIFEST_NAMES = ("manifest.parquet", "manifest.csv")
CLASSES_FILE = "classes.txt"
ANNOTATIONS_FILE = "annotations.parquet"


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, shortened (polars errors span several lines)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _utf8_problem(path: Path) -> str | None:
    """Where ``path`` first stops being UTF-8 (``"byte 0xe9 at line 2"``), streaming."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 16):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    bad = chunk[exc.start : exc.start + 1].hex()
                    return f"byte 0x{bad} at line {line + chunk[: exc.start].count(10)}"
                line += chunk.count(10)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return f"an incomplete character at the end (line {line})"
    except OSError:
        return None
    return None


def _check_inside(root: Path, path: Path, what: str) -> None:
    """Refuse a dataset file (manifest, classes.txt) that links outside the dataset root."""
    if get_config()["allow_symlinks_outside"]:
        return
    real_root, real = os.path.realpath(root), os.path.realpath(path)
    if not _inside(real, real_root):
        raise PathEscapeError(
            f"the {what} {path} is a symbolic link to {real}, outside the dataset root "
            f"{real_root}. datacentric reads only files inside the dataset directory; copy the "
            "file into it, or, if you trust this dataset, allow links out with "
            "DATACENTRIC_ALLOW_SYMLINKS_OUTSIDE=1.",
            rows=[str(path)],
        )


def read_manifest_file(path: Path) -> pl.DataFrame:
    """Read ``manifest.parquet`` or ``manifest.csv`` (core columns read as text).

    A CSV must be UTF-8 (a byte-order mark is fine); anything unreadable raises
    :class:`SchemaError` naming the file, on one line.
    """
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path, glob=False)
        frame = pl.read_csv(
            path,
            glob=False,
            schema_overrides={SAMPLE_ID: pl.Utf8, IMAGE: pl.Utf8, LABEL: pl.Utf8, SPLIT: pl.Utf8},
            infer_schema_length=10_000,
        )
        # polars decodes a header that is not UTF-8 lossily (U+FFFD, NULs from UTF-16)
        if any("\ufffd" in c or "\x00" in c for c in frame.columns):
            raise ValueError("the header row is not UTF-8")
        return frame
    except (pl.exceptions.PolarsError, OSError, ValueError, TypeError) as exc:
        where = _utf8_problem(path) if path.suffix != ".parquet" else None
        if where is not None:
            raise SchemaError(
                f"could not read the manifest {path}: it is not UTF-8 text ({where}; Latin-1 "
                "or UTF-16, say). Save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
            ) from exc
        raise SchemaError(
            f"could not read the manifest {path}: {_one_line(exc)}. It must be a CSV with a "
            "header row or a Parquet file with columns sample_id, image, label[, split, ...]."
        ) from exc


def read_classes_file(root: Path) -> list[str] | None:
    """Classes from ``root/classes.txt`` (one per line, in order, UTF-8), if the file exists."""
    path = root / CLASSES_FILE
    if not path.is_file():
        return None
    _check_inside(root, path, "classes file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"could not read the classes file {path}: it is not UTF-8 text (byte "
            f"0x{exc.object[exc.start : exc.start + 1].hex()} at offset {exc.start}). Save it "
            "as UTF-8, one class name per line."
        ) from None
    except OSError as exc:
        raise SchemaError(
            f"could not read the classes file {path}: {exc.strerror or exc}."
        ) from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_annotations_file(root: Path) -> pl.DataFrame | None:
    """The boxes in ``root/annotations.parquet`` (a detection dataset folder), if present."""
    path = root / ANNOTATIONS_FILE
    if not path.is_file():
        return None
    _check_inside(root, path, "annotations file")
    try:
        return pl.read_parquet(path, glob=False)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise SchemaError(
            f"could not read the annotations {path}: {_one_line(exc)}. It must be a Parquet "
            "file with columns annotation_id, sample_id, label, x, y, w, h."
        ) from exc


def _list_image_folder(root: Path) -> pl.DataFrame:
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for sub in subdirs:  # a class folder linked elsewhere would list (and read) outside files
        _check_inside(root, sub, "folder")
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
    for _, class_dir in groups:
        _check_inside(root, class_dir, "folder")
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
            _check_inside(root, path, "manifest")
            return read_manifest_file(path), read_classes_file(root), str(path)
    manifest = _list_image_folder(root)
    classes = read_classes_file(root) or sorted(manifest[LABEL].unique().to_list())
    return manifest, classes, f"ImageFolder {root}"
