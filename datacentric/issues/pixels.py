"""Near-identical images in pixel space, tolerant to small shifts, brightness and noise.

Embeddings of a classifier put *different* images of one class close together, so they
cannot tell a re-exported copy from a look-alike. Pixels can: a re-crop, a brightness
change or sensor noise leaves two copies almost perfectly correlated once aligned, while
two different images of one class are not. Each image is reduced to a 32×32 luma
thumbnail; candidate pairs are the nearest neighbours of 8×8 block means (mean-centred,
cosine); each candidate pair is then scored by the best correlation distance
``1 - corr`` over shifts of up to ``max_shift`` thumbnail pixels (brightness and
contrast drop out of a correlation).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
from PIL import Image

from datacentric.dataset import Dataset
from datacentric.issues._pairs import PAIR_SCHEMA
from datacentric.issues.knn import knn

__all__ = ["THUMB", "aligned_distance", "pixel_pairs", "thumbnails"]

THUMB = 32
_CHUNK = 2048  # candidate pairs scored per task (~8 MiB per image side)
_READ_CHUNK = 256  # images decoded per task


def thumbnails(
    ds: Dataset, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(thumbs, ok)``: (N, 32, 32) uint8 luma thumbnails and which images were readable.

    Examples
    --------
    >>> ds = Dataset.from_arrays(np.full((2, 64, 48), 200, np.uint8), [0, 0], ["a"])
    >>> t, ok = thumbnails(ds)
    >>> t.shape, bool(ok.all()), int(t.max())
    ((2, 32, 32), True, 200)
    """
    from datacentric.dataset.images import PathResolver

    n = len(ds)
    out = np.zeros((n, THUMB, THUMB), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    paths = ds.manifest["image"].to_list()
    resolver = PathResolver(ds.root) if ds.root is not None else None

    def run(start: int) -> int:
        """Thumbnails of rows ``[start, start + _READ_CHUNK)``, written in place."""
        stop = min(start + _READ_CHUNK, n)
        for i in range(start, stop):
            try:
                arr = ds._image(paths[i], "L", resolver=resolver)
            except Exception:  # unreadable: integrity reports it; here it matches nothing
                continue
            if arr.ndim == 3:
                arr = arr[:, :, 0]
            if arr.shape != (THUMB, THUMB):
                im = Image.fromarray(np.ascontiguousarray(arr))
                arr = np.asarray(im.resize((THUMB, THUMB), Image.Resampling.BOX), np.uint8)
            out[i] = arr
            ok[i] = True
        return stop - start

    starts = range(0, n, _READ_CHUNK)
    workers = 1 if n < 2 * _READ_CHUNK else min(8, os.cpu_count() or 1)
    if workers == 1:
        done: Iterator[int] = map(run, starts)
        for k in done:
            if progress is not None:
                progress(k)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL and numpy release the GIL
            for k in pool.map(run, starts):
                if progress is not None:
                    progress(k)
    return out, ok


def aligned_distance(a: np.ndarray, b: np.ndarray, max_shift: int = 2) -> np.ndarray:
    """Best ``1 - correlation`` of image pairs ``a[p]``, ``b[p]`` over shifts up to ``max_shift``.

    Parameters
    ----------
    a, b : array (P, H, W)
    max_shift : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((1, 32, 32)).astype(np.float32)
    >>> shifted = np.roll(x, 1, axis=2) * 0.9 + 10      # moved by a pixel, dimmer, offset
    >>> float(aligned_distance(x, shifted)[0]) < 0.05
    True
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    p, h, w = a.shape
    best = np.full(p, 2.0, dtype=np.float32)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            aa = a[:, max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)].reshape(p, -1)
            bb = b[:, max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)].reshape(p, -1)
            aa = aa - aa.mean(axis=1, keepdims=True)
            bb = bb - bb.mean(axis=1, keepdims=True)
            num = np.einsum("ij,ij->i", aa, bb)
            den = np.sqrt(np.einsum("ij,ij->i", aa, aa) * np.einsum("ij,ij->i", bb, bb))
            corr = np.divide(num, den, out=np.zeros_like(num), where=den > 1e-6)
            np.minimum(best, 1.0 - corr, out=best)
    return best


def pixel_pairs(
    thumbs: np.ndarray,
    ok: np.ndarray,
    *,
    threshold: float = 0.13,
    k: int = 5,
    max_shift: int = 2,
) -> pl.DataFrame:
    """Pairs ``i < j`` of near-identical images (``method="pixels"``).

    A candidate pair (``k`` nearest by coarse pixels) is kept when its aligned distance is
    below ``threshold`` × the median over images of the aligned distance to the closest
    candidate — the same relative rule as for embeddings. Flat images (no contrast at
    8×8, e.g. blank frames) take no part: they correlate with nothing, and their exact
    copies are found by ``exact_duplicate``.
    """
    schema = PAIR_SCHEMA
    blocks = thumbs.reshape(len(thumbs), 8, THUMB // 8, 8, THUMB // 8)
    coarse_all = blocks.mean(axis=(2, 4), dtype=np.float32).reshape(len(thumbs), -1)
    coarse_all -= coarse_all.mean(axis=1, keepdims=True)
    textured = np.abs(coarse_all).max(axis=1) > 0.5  # at least half a grey level of structure
    rows = np.flatnonzero(ok & textured)
    if rows.size < 2:
        return pl.DataFrame(schema=schema)
    # every row usually takes part: then no copy
    coarse = coarse_all if rows.size == len(coarse_all) else coarse_all[rows]
    del coarse_all
    graph = knn(coarse, k)
    del coarse
    m = len(rows)
    qi = np.repeat(np.arange(m, dtype=np.int64), graph.k)
    qj = graph.indices.ravel().astype(np.int64)
    del graph
    # the distinct pairs (lo, hi), sorted, as one int64 code each (lighter than unique rows),
    # computed in place: lo * m + hi
    lo = np.minimum(qi, qj)
    np.maximum(qi, qj, out=qj)
    del qi
    lo *= m
    lo += qj
    del qj
    codes = np.unique(lo)
    del lo
    cand = np.stack(np.divmod(codes, m), axis=1)
    del codes
    dist = np.empty(len(cand), dtype=np.float32)

    def score(s: int) -> None:
        c = rows[cand[s : s + _CHUNK]]  # thumbnails read in place, never copied whole
        dist[s : s + _CHUNK] = aligned_distance(thumbs[c[:, 0]], thumbs[c[:, 1]], max_shift)

    starts = range(0, len(cand), _CHUNK)
    workers = min(len(starts), os.cpu_count() or 1, 8)
    if workers <= 1:
        for s in starts:
            score(s)
    else:  # chunks are independent (numpy releases the GIL): the same numbers, every core
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(score, starts))
    nearest = np.full(m, np.inf, dtype=np.float32)
    np.minimum.at(nearest, cand[:, 0], dist)
    np.minimum.at(nearest, cand[:, 1], dist)
    radius = threshold * max(float(np.median(nearest[np.isfinite(nearest)])), 1e-6)
    keep = dist <= radius
    return pl.DataFrame(
        {
            "i": rows[cand[keep, 0]].astype(np.int64),
            "j": rows[cand[keep, 1]].astype(np.int64),
            "distance": np.maximum(dist[keep], 0.0).astype(np.float64),
            "method": ["pixels"] * int(keep.sum()),
            "radius": [radius] * int(keep.sum()),
        },
        schema=schema,
    )
