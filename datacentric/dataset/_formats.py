"""Shared pieces of the annotation formats (COCO, YOLO): bounded reads and id rules."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from datacentric.config import get_config
from datacentric.dataset._schema import SAMPLE_ID
from datacentric.dataset.annotations import image_sizes
from datacentric.exceptions import (
    FileAccessError,
    InvalidDatasetError,
    LimitExceededError,
    SchemaError,
    format_items,
)

__all__ = ["as_int_ids", "read_bounded_text", "sizes_for"]


def read_bounded_text(path: Path, what: str) -> str:
    """The UTF-8 text of an annotation file, refused unread above ``annotations_max_bytes``.

    A path that is not a regular file (a folder, a pipe that would block) is refused too.

    Examples
    --------
    >>> import tempfile, datacentric as dc
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_text("0 0.5 0.5 0.1 0.1")
    >>> with dc.config_context(annotations_max_bytes=4):
    ...     read_bounded_text(p, "YOLO labels")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.LimitExceededError: ...: 17 bytes of YOLO labels, more than ...
    """
    limit = int(get_config()["annotations_max_bytes"])
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise FileAccessError(
                f"{path}: the {what} file is not a regular file (a folder, pipe or device). "
                "Pass the path of the file."
            )
        if info.st_size > limit:
            raise LimitExceededError(
                f"{path}: {info.st_size:,} bytes of {what}, more than the limit of {limit:,} "
                "(setting annotations_max_bytes). If you trust the file, raise it: "
                f"DATACENTRIC_ANNOTATIONS_MAX_BYTES={info.st_size} or "
                f"datacentric.set_config(annotations_max_bytes={info.st_size})."
            )
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise FileAccessError(
            f"{path}: cannot read the {what} ({exc.strerror or exc}). Check the path and its "
            "permissions."
        ) from None
    if len(data) > limit:  # grew since the stat
        raise LimitExceededError(
            f"{path}: more than {limit:,} bytes of {what} (setting annotations_max_bytes)."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"{path}: the {what} are not UTF-8 text (byte {exc.start}: {exc.reason}). Save the "
            "file as UTF-8."
        ) from None


def as_int_ids(ids: Sequence[str]) -> list[int]:
    """The ids as COCO integers when every one is a canonical integer, else 1..N in order.

    Examples
    --------
    >>> as_int_ids(["7", "3"]), as_int_ids(["7", "a/b.png"]), as_int_ids(["007"])
    ([7, 3], [1, 2], [1])
    """
    out: list[int] = []
    for s in ids:
        try:
            number = int(s)
        except ValueError:
            return list(range(1, len(ids) + 1))
        if str(number) != s:
            return list(range(1, len(ids) + 1))
        out.append(number)
    return out


def sizes_for(
    root: Path | None, manifest: pl.DataFrame, arrays: Sequence[object] | None, what: str
) -> tuple[list[int], list[int]]:
    """Image ``(widths, heights)`` in manifest order: the manifest's ``width``/``height``
    columns where set, else read from the image headers (never decoded)."""
    n = manifest.height
    widths: list[int | None] = (
        manifest["width"].cast(pl.Int64, strict=False).to_list()
        if "width" in manifest.columns
        else [None] * n
    )
    heights: list[int | None] = (
        manifest["height"].cast(pl.Int64, strict=False).to_list()
        if "height" in manifest.columns
        else [None] * n
    )
    todo = [i for i in range(n) if widths[i] is None or heights[i] is None]
    if todo:
        read = image_sizes(root, manifest[todo], arrays)
        bad = read.filter(pl.col("width").is_null())
        if bad.height:
            named = [f"{sid} ({why})" for sid, why in bad.select(SAMPLE_ID, "reason").rows()]
            raise InvalidDatasetError(
                f"{what}: the size of {bad.height} image(s) could not be read from their "
                f"headers: {format_items(named, 3)}. Fix or remove those samples.",
                rows=bad[SAMPLE_ID].to_list(),
            )
        for i, (w, h) in zip(todo, read.select("width", "height").rows(), strict=True):
            widths[i], heights[i] = w, h
    return [int(w or 0) for w in widths], [int(h or 0) for h in heights]
