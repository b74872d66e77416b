"""Per-image statistics shared by the image-based finders (quality, exact duplicates).

:func:`compute_image_stats` decodes every image once and measures it. The definitions
follow CleanVision where it has one (brightness, entropy, aspect ratio); every formula is
written out in the function's docstring. Unreadable images keep their row, with
``readable=False``, the reason in ``error`` and nulls elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from PIL import Image
from scipy.fft import dctn

from datacentric._validation import Interval, validate_call
from datacentric.dataset.images import PathResolver, decode_image, image_error_reason
from datacentric.exceptions import MissingImageError

if TYPE_CHECKING:
    from datacentric.dataset import Dataset

__all__ = [
    "BLUR_MAX_SIDE",
    "GRAY_TOLERANCE",
    "IMAGE_STATS_SCHEMA",
    "compute_file_image_stats",
    "compute_image_stats",
]

#: Images are shrunk (never enlarged) to this longer side before measuring blur.
BLUR_MAX_SIDE = 64
#: A pixel is gray when its channels differ by at most this many levels (of 255).
GRAY_TOLERANCE = 8
#: An RGB image is grayscale when at most this fraction of pixels is not gray.
GRAY_MAX_COLOUR_FRACTION = 0.01
_CHUNK = 256
_BATCH_MAX_PIXELS = 128 * 128  # larger images are measured one at a time
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_PERCEIVED = np.array([0.241, 0.691, 0.068])

IMAGE_STATS_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.Utf8(),
    "readable": pl.Boolean(),
    "error": pl.Utf8(),
    "width": pl.Int64(),
    "height": pl.Int64(),
    "channels": pl.Int64(),
    "is_grayscale": pl.Boolean(),
    "brightness_p99": pl.Float64(),
    "brightness_p1": pl.Float64(),
    "brightness_mean": pl.Float64(),
    "contrast": pl.Float64(),
    "blurriness": pl.Float64(),
    "entropy": pl.Float64(),
    "aspect_ratio": pl.Float64(),
    "pixel_hash": pl.Utf8(),
    "phash": pl.UInt64(),
}
_MEASURED = list(IMAGE_STATS_SCHEMA)[3:]


class _BadShapeError(ValueError):
    """The decoded array is not an image (H, W) or (H, W, C) with C in 1..4."""


@functools.lru_cache(maxsize=256)
def _resize_matrix(n_in: int, n_out: int, method: Image.Resampling) -> np.ndarray:
    """PIL's 1-D resampling as an (n_out, n_in) matrix (resizing is linear in mode F)."""
    if n_in == n_out:
        return np.eye(n_in, dtype=np.float32)
    eye = Image.fromarray(np.eye(n_in, dtype=np.float32), mode="F")
    return np.asarray(eye.resize((n_in, n_out), method), dtype=np.float32)


def _resize(g: np.ndarray, h: int, w: int, method: Image.Resampling) -> np.ndarray:
    """Resize a stack (N, H, W) of float32 images to (N, h, w) exactly as PIL would."""
    if g.shape[1] != h:
        g = np.matmul(_resize_matrix(g.shape[1], h, method), g)
    if g.shape[2] != w:
        g = np.matmul(g, _resize_matrix(g.shape[2], w, method).T)
    return g


def _blurriness(g: np.ndarray) -> np.ndarray:
    """``exp(-2 r)``, r = mean(Laplacian²) / mean(|gradient|²) on a <= 64-px luma stack."""
    _, h, w = g.shape
    if max(h, w) > BLUR_MAX_SIDE:
        scale = BLUR_MAX_SIDE / max(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        g = _resize(g, *size, Image.Resampling.BOX)
    p = np.pad(g, ((0, 0), (1, 1), (1, 1)), mode="edge")
    lap = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4.0 * g
    gx = np.diff(g, axis=2)
    gy = np.diff(g, axis=1)
    grad = np.zeros(len(g), dtype=np.float64)
    if gx.shape[2]:
        grad += np.mean(gx * gx, axis=(1, 2), dtype=np.float64)
    if gy.shape[1]:
        grad += np.mean(gy * gy, axis=(1, 2), dtype=np.float64)
    ratio = np.mean(lap * lap, axis=(1, 2), dtype=np.float64) / np.maximum(grad, 1e-12)
    return np.where(grad <= 1e-12, 1.0, np.exp(-2.0 * ratio))  # no gradient: nothing in focus


def _phash(g: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hashes of a luma stack: 32x32 Lanczos, DCT-II, 8x8 > median."""
    small = _resize(g, 32, 32, Image.Resampling.LANCZOS).astype(np.float64)
    low = dctn(small, type=2, axes=(1, 2))[:, :8, :8].reshape(len(g), 64)
    bits = low > np.median(low, axis=1, keepdims=True)
    return np.ascontiguousarray(np.packbits(bits, axis=1)).view(">u8").ravel().astype(np.uint64)


def _canonical(arr: np.ndarray) -> np.ndarray:
    """A decoded image as ``uint8`` (H, W) or (H, W, C), C in 2..4; else raise."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] > 4) or 0 in arr.shape:
        raise _BadShapeError(f"unsupported array shape {arr.shape}; expected (H, W) or (H, W, C)")
    return arr if arr.dtype == np.uint8 else np.clip(arr, 0, 255).astype(np.uint8)


def _measure(stack: np.ndarray) -> list[tuple[Any, ...]]:
    """The measured columns (``width`` .. ``phash``) of a stack of same-shape images."""
    n, h, w = stack.shape[:3]
    channels = 1 if stack.ndim == 3 else int(stack.shape[3])
    if channels <= 2:  # L, or L + alpha
        gray_u8 = stack if stack.ndim == 3 else stack[..., 0]
        gray = gray_u8.astype(np.float32)
        bright = gray_u8 / 255.0
        is_gray = np.ones(n, dtype=bool)
    else:
        rgb8 = stack[..., :3]
        rgb = rgb8.astype(np.float32)
        sq = np.square(rgb8, dtype=np.float64)
        bright = np.sqrt(sq @ _PERCEIVED) / 255.0
        gray = rgb @ _LUMA
        gray_u8 = np.rint(gray).astype(np.uint8)
        r, g, b = rgb8[..., 0], rgb8[..., 1], rgb8[..., 2]
        spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
        colour = np.count_nonzero(spread > GRAY_TOLERANCE, axis=(1, 2))
        is_gray = colour <= GRAY_MAX_COLOUR_FRACTION * h * w
    flat = bright.reshape(n, -1)
    # rounding removes float noise (white must be exactly 1.0, as the weights sum to 1)
    p1, p99 = np.clip(np.round(np.percentile(flat, [1.0, 99.0], axis=1), 12), 0.0, 1.0)
    mean = np.clip(np.round(flat.mean(axis=1, dtype=np.float64), 12), 0.0, 1.0)
    offsets = 256 * np.arange(n, dtype=np.int64)[:, None]
    hist = np.bincount((gray_u8.reshape(n, -1) + offsets).ravel(), minlength=256 * n)
    prob = hist.reshape(n, 256) / float(h * w)
    entropy = -(prob * np.log2(np.where(prob > 0, prob, 1.0))).sum(axis=1) / 8.0
    contrast = gray.reshape(n, -1).std(axis=1, dtype=np.float64) / 255.0
    blur = _blurriness(gray)
    phash = _phash(gray)
    shape = f"{stack.shape[1:]}|{stack.dtype.str}|".encode()
    rows = []
    for i in range(n):
        digest = hashlib.blake2b(shape, digest_size=16)
        digest.update(np.ascontiguousarray(stack[i]).tobytes())
        rows.append(
            (
                w,
                h,
                channels,
                bool(is_gray[i]),
                float(p99[i]),
                float(p1[i]),
                float(mean[i]),
                float(contrast[i]),
                float(blur[i]),
                max(0.0, float(entropy[i])),
                w / h,
                digest.hexdigest(),
                int(phash[i]),
            )
        )
    return rows


Reader = Callable[[str], np.ndarray]


def _decode(read: Reader, path: str) -> np.ndarray | str:
    """The canonical pixels of one manifest image, or why they cannot be had; never raises.

    The reasons are :func:`~datacentric.dataset.images.image_error_reason`'s (missing,
    outside the dataset, too large, truncated, corrupt), plus ``not an image`` for arrays
    of another shape.
    """
    try:
        return _canonical(read(path))
    except _BadShapeError as exc:
        return f"not an image: {path} has an {exc}"
    except Exception as exc:  # one bad image must not stop a scan of 100k others
        return image_error_reason(exc, path)


def _run_chunk(read: Reader, paths: list[str]) -> list[tuple[Any, ...]]:
    """Rows ``(readable, error, *measured)`` for some paths; small images batched by shape."""
    out: list[tuple[Any, ...]] = [()] * len(paths)
    groups: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
    for i, path in enumerate(paths):
        arr = _decode(read, path)
        if isinstance(arr, str):
            out[i] = (False, arr, *([None] * len(_MEASURED)))
        elif arr.shape[0] * arr.shape[1] > _BATCH_MAX_PIXELS:
            out[i] = (True, None, *_measure(arr[None])[0])
        else:
            groups.setdefault(arr.shape, []).append((i, arr))
    for members in groups.values():
        stack = np.stack([a for _, a in members])
        for (i, _), row in zip(members, _measure(stack), strict=True):
            out[i] = (True, None, *row)
    return out


def _chunks(paths: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(paths), size):
        yield paths[start : start + size]


@validate_call(
    {"progress": ["boolean"], "workers": [Interval(Integral, 1, None, closed="left"), None]}
)
def compute_image_stats(
    ds: Dataset, *, progress: bool = False, workers: int | None = None
) -> pl.DataFrame:
    """Decode every image once and measure it; one row per sample, in manifest order.

    Parameters
    ----------
    ds : Dataset
        The dataset whose images are measured (files under ``ds.root`` or in-memory arrays).
    progress : bool
        Show a ``rich`` progress bar.
    workers : int, optional
        Threads decoding in parallel (PIL and numpy release the GIL); default
        ``min(8, cpu count)``, and 1 for fewer than 512 images. ``1`` runs serially.

    Returns
    -------
    polars.DataFrame
        Columns (see :data:`IMAGE_STATS_SCHEMA`), all measured on the decoded pixels:

        - ``sample_id``; ``readable`` (bool); ``error``: null when readable, else
          ``"missing file: ..."``, ``"corrupt: ..."``, ``"truncated: ..."``,
          ``"too large: ..."`` (over ``max_image_pixels``, refused before decoding),
          ``"outside the dataset: ..."`` (a link leading out of the root), ``"unreadable:
          ..."`` or ``"not an image: ..."``. Unreadable rows have nulls in every column
          below.
        - ``width``, ``height``, ``channels`` (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA;
          alpha is ignored by every statistic).
        - ``is_grayscale``: 1-2 channels, or RGB where at most 1% of pixels have a channel
          spread (max - min) above :data:`GRAY_TOLERANCE` = 8 levels.
        - ``brightness_p99``, ``brightness_p1``, ``brightness_mean``: percentiles (linear
          interpolation) and mean of CleanVision's per-pixel perceived brightness
          ``sqrt(0.241 R² + 0.691 G² + 0.068 B²) / 255`` (gray images: ``value / 255``).
        - ``contrast``: standard deviation of the luma ``0.299 R + 0.587 G + 0.114 B``
          divided by 255, in [0, 0.5].
        - ``blurriness`` in [0, 1], higher is blurrier: the luma is shrunk (box filter,
          never enlarged) to a longer side of at most :data:`BLUR_MAX_SIDE` = 64 px;
          ``r = mean(L²) / (mean(dx²) + mean(dy²))`` with ``L`` the 4-neighbour Laplacian
          (edges replicated) and ``dx, dy`` forward differences; ``blurriness = exp(-2 r)``
          (1 when the image has no gradient at all). The ratio ignores contrast, so dark
          or faint images are not called blurry; for an edge blurred by a Gaussian of
          ``s`` pixels ``r ≈ 1 / (2 s²)``, so ``blurriness ≈ exp(-1 / s²)``: 0.37 at 1 px,
          0.78 at 2 px, about 0.02 for a sharp step, 0 for noise.
        - ``entropy``: Shannon entropy (bits) of the 256-bin histogram of the rounded luma,
          divided by ``log2(256) = 8``, in [0, 1].
        - ``aspect_ratio``: ``width / height``.
        - ``pixel_hash``: hex BLAKE2b-128 of the decoded array's shape, dtype and bytes
          (identical pixels hash equal whatever the file encoding).
        - ``phash``: 64-bit DCT perceptual hash (``UInt64``): the luma resized to 32x32
          (Lanczos), 2-D DCT-II, the top-left 8x8 coefficients compared with their median,
          bits packed row-major, most significant first. Compare with the Hamming distance.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric.dataset import Dataset
    >>> imgs = np.zeros((2, 16, 16, 3), np.uint8)
    >>> imgs[1] = 255
    >>> ds = Dataset.from_arrays(imgs, ["a", "a"], classes=["a"])
    >>> stats = compute_image_stats(ds)
    >>> stats.select("sample_id", "readable", "width", "is_grayscale", "brightness_p99").rows()
    [('0', True, 16, True, 0.0), ('1', True, 16, True, 1.0)]
    >>> stats["pixel_hash"][0] == stats["pixel_hash"][1]
    False
    """
    resolver = PathResolver(ds.root) if ds.root is not None else None
    return _stats(
        ds.manifest["sample_id"].to_list(),
        ds.manifest["image"].to_list(),
        lambda path: ds._image(path, None, resolver=resolver),
        progress=progress,
        workers=workers,
    )


@validate_call(
    {"progress": ["boolean"], "workers": [Interval(Integral, 1, None, closed="left"), None]}
)
def compute_file_image_stats(
    paths: Sequence[str | None],
    root: str | Path | None = None,
    *,
    progress: bool = False,
    workers: int | None = None,
) -> pl.DataFrame:
    """:func:`compute_image_stats` of image files named directly, not by a dataset.

    For production batches, whose ``image`` column holds absolute paths or paths relative
    to ``root`` (default: the current directory): each file is read with the same pixel cap
    (:func:`~datacentric.dataset.images.decode_image`), but is not confined to a dataset
    root. ``sample_id`` is the row number as text.
    """
    base = Path(root) if root is not None else Path.cwd()

    def read(path: str) -> np.ndarray:
        if not path:
            raise MissingImageError("the image path is empty.")
        return decode_image(base / path)

    return _stats(
        [str(i) for i in range(len(paths))],
        ["" if p is None else str(p) for p in paths],
        read,
        progress=progress,
        workers=workers,
    )


def _stats(
    ids: list[str], paths: list[str], read: Reader, *, progress: bool, workers: int | None
) -> pl.DataFrame:
    n = len(paths)
    if workers is None:
        workers = 1 if n < 2 * _CHUNK else min(8, os.cpu_count() or 1)

    run_chunk = functools.partial(_run_chunk, read)
    # Each chunk's rows become a small typed frame at once, so that the Python tuples of
    # only a few chunks are alive at a time (not one per image of the whole dataset).
    frames: list[pl.DataFrame] = []
    starts = range(0, n, _CHUNK)
    with _progress_bar(progress, n) as advance:
        if workers == 1:
            for start in starts:
                frames.append(
                    _frame(ids[start : start + _CHUNK], run_chunk(paths[start : start + _CHUNK]))
                )
                advance(len(frames[-1]))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for start, part in zip(
                    starts, pool.map(run_chunk, _chunks(paths, _CHUNK)), strict=True
                ):
                    frames.append(_frame(ids[start : start + _CHUNK], part))
                    advance(len(part))
    if not frames:
        return _frame([], [])
    return pl.concat(frames, rechunk=True)


def _frame(ids: list[str], rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """The statistics frame of some rows (``ids`` and their ``(readable, error, ...)``)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * (len(IMAGE_STATS_SCHEMA) - 1)
    data = {"sample_id": pl.Series("sample_id", ids, dtype=pl.Utf8)}
    for name, values in zip(list(IMAGE_STATS_SCHEMA)[1:], columns, strict=True):
        data[name] = pl.Series(name, list(values), dtype=IMAGE_STATS_SCHEMA[name])
    return pl.DataFrame(data)


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(k)``: a ``rich`` progress bar when enabled, else a no-op."""
    if not enabled:
        yield lambda k: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("image statistics", total=total)
        yield lambda k: bar.advance(task, k)
