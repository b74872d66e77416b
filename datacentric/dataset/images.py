"""Image paths under a dataset root: safe resolution, existence checks and decoding."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from datacentric.exceptions import (
    InvalidParameterError,
    MissingImageError,
    PathEscapeError,
    UnreadableImageError,
    format_items,
)

__all__ = [
    "ARRAY_PREFIX",
    "IMAGE_EXTENSIONS",
    "CheckImages",
    "check_image_paths",
    "decode_image",
    "resolve_image_path",
]

ARRAY_PREFIX = "array:"
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
CheckImages = Literal["none", "exists", "decode"]
_CHECK_OPTIONS = ("none", "exists", "decode")


def resolve_image_path(root: Path, rel: str) -> Path:
    """Return ``root / rel`` after checking that it stays inside ``root``.

    Examples
    --------
    >>> from pathlib import Path
    >>> resolve_image_path(Path("/data"), "cats/1.png").as_posix()
    '/data/cats/1.png'
    >>> resolve_image_path(Path("/data"), "../etc/passwd")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.PathEscapeError: ...
    """
    bad = _escaping([rel])
    if bad:
        raise PathEscapeError(_escape_message([rel], "image path"), rows=[rel])
    return root / rel


def _escaping(paths: Sequence[str]) -> list[int]:
    out = []
    for i, p in enumerate(paths):
        norm = p.replace("\\", "/")
        if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
            out.append(i)
            continue
        depth = 0
        for part in norm.split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    out.append(i)
                    break
            elif part not in ("", "."):
                depth += 1
    return out


def _escape_message(paths: Sequence[object], what: str) -> str:
    return (
        f"{len(paths)} {what}(s) point outside the dataset root: {format_items(list(paths))}. "
        "Image paths must be relative to the dataset directory and may not use '..' to "
        "leave it or be absolute; move the images under the directory and fix the manifest."
    )


def check_image_paths(
    root: Path,
    sample_ids: Sequence[str],
    paths: Sequence[str],
    check: CheckImages = "exists",
) -> None:
    """Check every image path of a manifest; raise naming all offending samples.

    Parameters
    ----------
    root : Path
        Dataset root the paths are relative to.
    sample_ids, paths : sequence of str
        Parallel sequences from the manifest.
    check : {"none", "exists", "decode"}
        ``"none"`` checks only that paths stay inside ``root``; ``"exists"`` also that each
        file exists; ``"decode"`` also fully decodes each image (slow, catches truncation).
    """
    if check not in _CHECK_OPTIONS:
        raise InvalidParameterError(
            f"check_images must be one of {list(_CHECK_OPTIONS)}, received {check!r}."
        )
    esc = _escaping(paths)
    if esc:
        named = [f"{sample_ids[i]} -> {paths[i]}" for i in esc]
        raise PathEscapeError(
            _escape_message(named, "image path"), rows=[sample_ids[i] for i in esc]
        )
    if check == "none":
        return
    root_s = str(root)
    missing = [
        i
        for i, p in enumerate(paths)
        if not p.startswith(ARRAY_PREFIX) and not os.path.isfile(os.path.join(root_s, p))
    ]
    if missing:
        named = [f"{sample_ids[i]} -> {paths[i]}" for i in missing]
        raise MissingImageError(
            f"{len(missing)} image file(s) named by the manifest do not exist under {root}: "
            f"{format_items(named)}. Restore the files, fix the paths, or remove those rows "
            "(ds.remove(...)).",
            rows=[sample_ids[i] for i in missing],
        )
    if check == "decode":
        bad: list[str] = []
        reasons: list[str] = []
        for sid, p in zip(sample_ids, paths, strict=True):
            if p.startswith(ARRAY_PREFIX):
                continue
            try:
                decode_image(root / p)
            except UnreadableImageError as exc:
                bad.append(sid)
                reasons.append(f"{sid} -> {p} ({exc.__cause__ or exc})")
        if bad:
            raise UnreadableImageError(
                f"{len(bad)} image file(s) could not be decoded: {format_items(reasons, 5)}. "
                "Re-export or remove those images.",
                rows=bad,
            )


def decode_image(path: Path, mode: str | None = None) -> np.ndarray:
    """Decode one image file fully into a ``uint8`` array (H, W) or (H, W, C).

    Truncated and corrupt files raise :class:`UnreadableImageError` naming the file.
    """
    try:
        with Image.open(path) as opened:
            opened.load()
            im: Image.Image = opened
            if mode is not None and im.mode != mode:
                im = im.convert(mode)
            elif im.mode not in ("L", "RGB", "RGBA"):
                im = im.convert("RGB")
            return np.asarray(im, dtype=np.uint8)
    except FileNotFoundError as exc:
        raise MissingImageError(f"image file {path} does not exist.", rows=[str(path)]) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImageError(
            f"image file {path} could not be decoded ({exc}); it is corrupt, truncated or not "
            "an image. Re-export it or remove the sample.",
            rows=[str(path)],
        ) from exc
