"""Image paths under a dataset root: containment, existence checks and capped decoding.

Every image datacentric reads goes through this module, under two rules:

- **Nothing outside the dataset root.** A manifest path must be relative and may not leave
  the root with ``..``; and its *real* path (symbolic links resolved, the ``images/`` folder
  included) must lie inside the root's real path. Checked when a dataset is loaded (every
  ``check_images`` mode) and again at every read, so a file swapped for a link after loading
  is refused too. ``allow_symlinks_outside`` (:mod:`datacentric.config`) lets links point
  elsewhere, for images kept on another mount.
- **No decompression bombs.** :func:`decode_image` reads the image header first (PIL opens
  lazily) and refuses more than ``max_image_pixels`` pixels *before* decoding, with
  :class:`~datacentric.exceptions.ImageTooLargeError`.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from datacentric._validation import Constraint, Options, validate_call
from datacentric.config import get_config
from datacentric.exceptions import (
    DatacentricError,
    ImageTooLargeError,
    InvalidDatasetError,
    MissingImageError,
    PathEscapeError,
    UnreadableImageError,
    format_items,
)

__all__ = [
    "ARRAY_PREFIX",
    "CHECK_IMAGES",
    "IMAGE_EXTENSIONS",
    "CheckImages",
    "ImageSize",
    "PathResolver",
    "check_image_paths",
    "check_paths_inside",
    "decode_image",
    "find_unreadable",
    "image_error_reason",
    "read_image",
    "read_image_bytes",
    "read_image_size",
    "resolve_image_path",
]

ARRAY_PREFIX = "array:"
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
CheckImages = Literal["none", "exists", "decode"]
#: What the ``check_images`` parameters accept (``Dataset.from_folder``, ``open``, ``add``).
CHECK_IMAGES = [Options(str, ("none", "exists", "decode"))]
_ALLOW_HINT = (
    "datacentric reads only files inside the dataset directory; copy the images into it, or, "
    "if you trust this dataset, allow links out with DATACENTRIC_ALLOW_SYMLINKS_OUTSIDE=1 (or "
    "datacentric.set_config(allow_symlinks_outside=True))."
)
# PIL's header parse is serialised so that its bomb warning can be silenced for our reads
# only (datacentric checks the size itself, against its own lower limit).
_OPEN_LOCK = threading.Lock()
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class ImageSize(Constraint):
    """A ``(height, width)`` pair of integers >= 1 whose area is at most ``max_image_pixels``.

    The size images are resized to: a bigger one would make every decoded image, however
    small its file, cost more than the pixel cap allows.

    Examples
    --------
    >>> c = ImageSize()
    >>> c.is_satisfied_by((32, 32)), c.is_satisfied_by((0, 32)), c.is_satisfied_by("32")
    (True, False, False)
    """

    def is_satisfied_by(self, value: object) -> bool:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            return False
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return False
        h, w = int(value[0]), int(value[1])
        return h >= 1 and w >= 1 and h * w <= int(get_config()["max_image_pixels"])

    def __str__(self) -> str:
        cap = int(get_config()["max_image_pixels"])
        return f"a (height, width) pair of integers >= 1 with at most {cap:,} pixels"

    def invalid_values(self) -> list[object]:
        return [(0, 8), (8,), (8.0, 8.0), (10**6, 10**6)]


# --------------------------------------------------------------------------- containment
def _escaping(paths: Sequence[str]) -> list[int]:
    """Indices of paths that are absolute or climb above the root with ``..`` (textually)."""
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


def _check_nul(sample_ids: Sequence[str], paths: Sequence[str]) -> None:
    """A path with a NUL character names no file (and makes the OS calls raise)."""
    bad = [i for i, p in enumerate(paths) if "\x00" in p]
    if bad:
        raise InvalidDatasetError(
            f"{len(bad)} image path(s) contain a NUL character, which no file name can: "
            f"{format_items([f'{sample_ids[i]} -> {paths[i]!r}' for i in bad])}. Fix the "
            "manifest.",
            rows=[sample_ids[i] for i in bad],
        )


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


class PathResolver:
    """Real paths of manifest paths under one root, each directory resolved once.

    A batch of reads shares one (``load_images`` makes one per call): a path then costs one
    ``lstat`` (is the file itself a link?) instead of one per path component. Make a new
    one for each batch, so that links swapped in since are seen.

    Examples
    --------
    >>> from pathlib import Path
    >>> r = PathResolver(Path("/"))
    >>> r.real("tmp/../tmp") == r.real("tmp")
    True
    """

    def __init__(self, root: Path) -> None:
        self.root = os.fspath(root)
        self.real_root = os.path.realpath(self.root)
        self._dirs: dict[str, str] = {}

    def real(self, rel: str) -> str:
        """The real path of ``root / rel`` (links resolved)."""
        head, name = os.path.split(os.path.join(self.root, rel))
        real_head = self._dirs.get(head)
        if real_head is None:
            real_head = self._dirs[head] = os.path.realpath(head)
        full = os.path.join(real_head, name)
        if name in ("", ".", "..") or os.path.islink(full):
            full = os.path.realpath(full)
        return full


def _link_message(named: Sequence[str], real_root: str) -> str:
    return (
        f"{len(named)} image path(s) resolve, through symbolic links, to files outside the "
        f"dataset root {real_root}: {format_items(list(named))}. {_ALLOW_HINT}"
    )


def check_paths_inside(
    root: Path, sample_ids: Sequence[str], paths: Sequence[str]
) -> list[str | None]:
    """Check that manifest paths stay inside ``root``, symbolic links resolved.

    Raises :class:`PathEscapeError` naming every offending sample (``sample -> path``):
    absolute paths, ``..`` leaving the root, and paths whose real path lies outside the
    root's real path (unless ``allow_symlinks_outside``). In-memory rows (``array:<i>``)
    are skipped. Costs one ``lstat`` per path plus one ``realpath`` per directory.

    Returns
    -------
    list of str or None
        The real path of each row (``None`` for in-memory rows).
    """
    _check_nul(sample_ids, paths)
    esc = _escaping(paths)
    if esc:
        named = [f"{sample_ids[i]} -> {paths[i]}" for i in esc]
        raise PathEscapeError(
            _escape_message(named, "image path"), rows=[sample_ids[i] for i in esc]
        )
    resolver = PathResolver(root)
    reals: list[str | None] = [
        None if p.startswith(ARRAY_PREFIX) else resolver.real(p) for p in paths
    ]
    if get_config()["allow_symlinks_outside"]:
        return reals
    out = [i for i, r in enumerate(reals) if r is not None and not _inside(r, resolver.real_root)]
    if out:
        named = [f"{sample_ids[i]} -> {paths[i]} (-> {reals[i]})" for i in out]
        raise PathEscapeError(
            _link_message(named, resolver.real_root), rows=[sample_ids[i] for i in out]
        )
    return reals


def _real_path(
    root: Path, rel: str, sample_id: str | None, resolver: PathResolver | None = None
) -> str:
    """The real path of one manifest path, after both containment checks."""
    who = f"{sample_id} -> {rel}" if sample_id is not None else rel
    _check_nul([sample_id or "image"], [rel])
    if _escaping([rel]):
        raise PathEscapeError(_escape_message([who], "image path"), rows=[sample_id or rel])
    resolver = resolver or PathResolver(root)
    real = resolver.real(rel)
    if not _inside(real, resolver.real_root) and not get_config()["allow_symlinks_outside"]:
        raise PathEscapeError(
            _link_message([f"{who} (-> {real})"], resolver.real_root), rows=[sample_id or rel]
        )
    return real


def resolve_image_path(root: Path, rel: str, *, sample_id: str | None = None) -> Path:
    """Return ``root / rel`` after checking that it, links resolved, stays inside ``root``.

    Use the returned path to *point* at an image (a URL, a FiftyOne ``filepath``); read
    images with :func:`read_image`.

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
    _real_path(root, rel, sample_id)
    return root / rel


@validate_call({"check": CHECK_IMAGES})
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
        ``"none"`` checks only that paths stay inside ``root`` (symbolic links resolved:
        see :func:`check_paths_inside`); ``"exists"`` also that each file exists;
        ``"decode"`` also fully decodes each image (slow, catches truncation and images
        over ``max_image_pixels``).
    """
    reals = check_paths_inside(root, sample_ids, paths)
    if check == "none":
        return
    odd = [i for i, r in enumerate(reals) if r is not None and not os.path.isfile(r)]
    missing = [i for i in odd if not os.path.exists(reals[i] or "")]
    special = sorted(set(odd) - set(missing))
    if special:  # a folder, pipe or device: reading a pipe would block
        named = [f"{sample_ids[i]} -> {paths[i]}" for i in special]
        raise UnreadableImageError(
            f"{len(special)} image path(s) named by the manifest are not regular files (a "
            f"folder, pipe or device): {format_items(named)}. Point them at image files, or "
            "remove those rows (ds.remove(...)).",
            rows=[sample_ids[i] for i in special],
        )
    if missing:
        named = [f"{sample_ids[i]} -> {paths[i]}" for i in missing]
        raise MissingImageError(
            f"{len(missing)} image file(s) named by the manifest do not exist under {root}: "
            f"{format_items(named)}. Restore the files, fix the paths, or remove those rows "
            "(ds.remove(...)).",
            rows=[sample_ids[i] for i in missing],
        )
    if check == "decode":
        bad = find_unreadable(root, sample_ids, paths)
        if bad:
            reasons = [f"{sid} -> {rel} ({reason})" for sid, rel, reason in bad]
            large = all(reason.startswith("too large") for _, _, reason in bad)
            cls = ImageTooLargeError if large else UnreadableImageError
            raise cls(
                f"{len(bad)} image file(s) could not be decoded: {format_items(reasons, 5)}. "
                "Re-export or remove those images.",
                rows=[sid for sid, _, _ in bad],
            )


# --------------------------------------------------------------------------- decoding
def _too_large(shown: object, width: int, height: int, cap: int) -> ImageTooLargeError:
    n = width * height
    return ImageTooLargeError(
        f"image file {shown} is {width}x{height} = {n:,} pixels, above the limit of {cap:,} "
        "pixels (max_image_pixels); it is refused before decoding because a small file can "
        "decompress to gigabytes. If you trust it, raise the limit: "
        f"DATACENTRIC_MAX_IMAGE_PIXELS={n} or datacentric.set_config(max_image_pixels={n}).",
        rows=[str(shown)],
    )


def _pil_refused(shown: object, exc: Exception, cap: int) -> ImageTooLargeError:
    """PIL refused the image in its header (above twice ``PIL.Image.MAX_IMAGE_PIXELS``)."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    n = int(found.group(1)) if found else None
    count = f"has {n:,} pixels" if n is not None else "has more pixels than PIL accepts"
    pil = 2 * int(Image.MAX_IMAGE_PIXELS or 0)
    if n is not None and n <= cap:  # the user raised our limit past PIL's
        return ImageTooLargeError(
            f"image file {shown} {count}, above PIL's own limit of {pil:,} pixels; "
            f"datacentric's max_image_pixels ({cap:,}) allows it, so raise "
            f"PIL.Image.MAX_IMAGE_PIXELS to at least {n // 2 + 1} as well if you trust it.",
            rows=[str(shown)],
        )
    need = f"={n}" if n is not None else ""
    return ImageTooLargeError(
        f"image file {shown} {count}, above the limit of {cap:,} pixels (max_image_pixels); it "
        "is refused before decoding because a small file can decompress to gigabytes. If you "
        f"trust it, raise the limit: DATACENTRIC_MAX_IMAGE_PIXELS{need} (and, above {pil:,} "
        "pixels, PIL.Image.MAX_IMAGE_PIXELS too).",
        rows=[str(shown)],
    )


def _open_header(fh: IO[bytes], shown: object) -> Image.Image:
    """``Image.open`` (lazy: the header only) with the pixel cap checked on its size."""
    cap = int(get_config()["max_image_pixels"])
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fh)
    except Image.DecompressionBombError as exc:  # PIL's own, higher limit: it knows the count
        raise _pil_refused(shown, exc, cap) from exc
    width, height = im.size
    if width * height > cap:
        im.close()
        raise _too_large(shown, width, height, cap)
    return im


def _decode_open(fh: IO[bytes], shown: object, mode: str | None) -> np.ndarray:
    with _open_header(fh, shown) as opened:
        opened.load()
        im: Image.Image = opened
        if mode is not None and im.mode != mode:
            im = im.convert(mode)
        elif im.mode not in ("L", "RGB", "RGBA"):
            im = im.convert("RGB")
        return np.asarray(im, dtype=np.uint8)


def _open_regular(path: str | os.PathLike[str], shown: object) -> IO[bytes]:
    """Open a regular file for reading without following a final symbolic link (or
    blocking on a pipe)."""
    try:
        fh = open(path, "rb", opener=lambda p, _flags: os.open(p, _OPEN_FLAGS))  # noqa: SIM115
    except FileNotFoundError as exc:
        raise MissingImageError(f"image file {shown} does not exist.", rows=[str(shown)]) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the checked file became a symbolic link since
            raise PathEscapeError(
                f"image file {shown} became a symbolic link while being read; {_ALLOW_HINT}",
                rows=[str(shown)],
            ) from None
        raise UnreadableImageError(
            f"image file {shown} cannot be opened ({exc.strerror or exc}). Check its "
            "permissions, or remove the sample.",
            rows=[str(shown)],
        ) from None
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise UnreadableImageError(
            f"image file {shown} is not a regular file (a folder, pipe or device). Replace it "
            "with an image file, or remove the sample.",
            rows=[str(shown)],
        )
    return fh


def _decode_file(real: str | os.PathLike[str], shown: object, mode: str | None) -> np.ndarray:
    try:
        with _open_regular(real, shown) as fh:
            return _decode_open(fh, shown, mode)
    except DatacentricError:  # already says which file and why (and is a ValueError)
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        why = "not an image format PIL can read" if isinstance(exc, UnidentifiedImageError) else exc
        raise UnreadableImageError(
            f"image file {shown} could not be decoded ({why}); it is corrupt, truncated or not "
            "an image. Re-export it or remove the sample.",
            rows=[str(shown)],
        ) from exc


def decode_image(path: Path, mode: str | None = None) -> np.ndarray:
    """Decode one image file fully into a ``uint8`` array (H, W) or (H, W, C).

    The header is read first: more than ``max_image_pixels`` pixels raises
    :class:`ImageTooLargeError` before any pixel is decoded. Truncated and corrupt files
    raise :class:`UnreadableImageError` naming the file. ``path`` is not checked against a
    dataset root: read manifest images with :func:`read_image`.

    Examples
    --------
    >>> import tempfile, datacentric as dc
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "big.png"
    >>> Image.new("L", (300, 200)).save(p)
    >>> decode_image(p).shape
    (200, 300)
    >>> with dc.config_context(max_image_pixels=10_000):
    ...     decode_image(p)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.ImageTooLargeError: image file ... is 300x200 = 60,000 pixels, ...
    """
    return _decode_file(os.path.realpath(path), path, mode)


def read_image(
    root: Path,
    rel: str,
    mode: str | None = None,
    *,
    sample_id: str | None = None,
    resolver: PathResolver | None = None,
) -> np.ndarray:
    """Decode the manifest image ``rel`` under ``root``, checking containment first.

    The path is resolved again at this read (:class:`PathEscapeError` if it now leads
    outside the root) and the resolved file is opened without following links; then it is
    decoded as :func:`decode_image` does, with the pixel cap. ``resolver``: a
    :class:`PathResolver` of ``root`` shared by a batch of reads.
    """
    real = _real_path(root, rel, sample_id, resolver)
    return _decode_file(real, root / rel, mode)


def read_image_bytes(root: Path, rel: str, *, sample_id: str | None = None) -> bytes:
    """The raw bytes of the manifest image ``rel`` (not decoded), checking containment first.

    For sending a file elsewhere (a data URI): the same checks as :func:`read_image`
    (inside the root, links resolved, a regular file), without decoding.
    """
    real = _real_path(root, rel, sample_id)
    with _open_regular(real, root / rel) as fh:
        return fh.read()


def read_image_size(
    root: Path, rel: str, *, sample_id: str | None = None, resolver: PathResolver | None = None
) -> tuple[int, int]:
    """``(width, height)`` of the manifest image ``rel`` from its header, never decoded.

    The same checks as :func:`read_image` (inside the root, links resolved, a regular file,
    at most ``max_image_pixels`` pixels); only the header is read, so this costs a few
    kilobytes per image whatever its size.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> Image.new("L", (30, 20)).save(d / "a.png")
    >>> read_image_size(d, "a.png")
    (30, 20)
    """
    real = _real_path(root, rel, sample_id, resolver)
    shown = root / rel
    try:
        with _open_regular(real, shown) as fh, _open_header(fh, shown) as im:
            width, height = im.size
            return int(width), int(height)
    except DatacentricError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        why = "not an image format PIL can read" if isinstance(exc, UnidentifiedImageError) else exc
        raise UnreadableImageError(
            f"image file {shown} could not be read ({why}); it is corrupt or not an image. "
            "Re-export it or remove the sample.",
            rows=[str(shown)],
        ) from exc


# --------------------------------------------------------------------------- pre-pass
def image_error_reason(exc: BaseException, path: str) -> str:
    """A short reason why the image ``path`` cannot be used, from the error reading it.

    The text starts with its kind (``missing file``, ``outside the dataset``, ``too
    large``, ``truncated``, ``corrupt``, ``unreadable``); the integrity finder reports it
    and a scan's exclusion list repeats it.

    Examples
    --------
    >>> image_error_reason(MissingImageError("gone"), "img/1.png")
    'missing file: img/1.png does not exist'
    """
    if isinstance(exc, MissingImageError):
        return f"missing file: {path} does not exist"
    if isinstance(exc, PathEscapeError):
        return f"outside the dataset: {exc}"
    if isinstance(exc, ImageTooLargeError):
        return f"too large: {exc}"
    if isinstance(exc, UnreadableImageError):
        cause = exc.__cause__
        if cause is None:  # not a decoding failure: permissions, not a regular file
            return f"unreadable: {exc}"
        if isinstance(cause, UnidentifiedImageError):
            return f"corrupt: {path} could not be decoded (not an image format PIL can read)"
        kind = "truncated" if "truncat" in str(cause).lower() else "corrupt"
        return f"{kind}: {path} could not be decoded ({cause})"
    return f"unreadable: {path} ({type(exc).__name__}: {exc})"


def _probe(root: Path, sid: str, rel: str, resolver: PathResolver) -> str | None:
    try:
        read_image(root, rel, sample_id=sid, resolver=resolver)
    except Exception as exc:  # one bad image must not stop a pass over 100k others
        return image_error_reason(exc, rel)
    return None


def find_unreadable(
    root: Path,
    sample_ids: Sequence[str],
    paths: Sequence[str],
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[str, str, str]]:
    """``(sample_id, path, reason)`` of every file image that cannot be used.

    Each image is read through :func:`read_image` (containment, pixel cap, full decode)
    and dropped at once: the pass streams, holding one image per worker thread. In-memory
    rows (``array:<i>``) are skipped.

    Parameters
    ----------
    workers : int, optional
        Threads (PIL releases the GIL while decoding); default ``min(8, cpus)``, and 1 for
        fewer than 512 images.
    progress : callable, optional
        Called with the number of images done, every 256 images.
    """
    rows = [
        (sid, rel)
        for sid, rel in zip(sample_ids, paths, strict=True)
        if not rel.startswith(ARRAY_PREFIX)
    ]
    if workers is None:
        workers = 1 if len(rows) < 512 else min(8, os.cpu_count() or 1)
    out: list[tuple[str, str, str]] = []

    def chunk(part: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        found = []
        resolver = PathResolver(root)
        for sid, rel in part:
            reason = _probe(root, sid, rel, resolver)
            if reason is not None:
                found.append((sid, rel, reason))
        return found

    parts = [rows[i : i + 256] for i in range(0, len(rows), 256)]
    if workers <= 1:
        results = map(chunk, parts)
        for part, found in zip(parts, results, strict=True):
            out.extend(found)
            if progress is not None:
                progress(len(part))
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part, found in zip(parts, pool.map(chunk, parts), strict=True):
            out.extend(found)
            if progress is not None:
                progress(len(part))
    return out
