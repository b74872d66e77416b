"""Large arrays without loading them: memory-mapped ``.npy`` files read chunk by chunk.

An embeddings file of 10 M × 128 float32 is 5 GB. Opened with
``np.load(path, mmap_mode="r")`` it costs no memory until rows are touched; every touched
page then counts in the process's resident set until it is unmapped. The helpers here
read such an array in row chunks and drop the pages of each chunk from the process after
use (``madvise(MADV_DONTNEED)`` on a *read-only* map: the pages stay in the OS page
cache), so a full pass costs one chunk of memory, not the file.

Scattered rows are another matter: the kernel maps a whole page-cache folio (up to 2 MiB
on ext4 with large folios) at each fault, so gathering a few thousand scattered rows
through the map in one step made most of a 46 MB file resident. :func:`take_rows`
therefore gathers sorted rows in steps that each span at most :data:`STEP_BYTES` of the
file and releases just that span after each step.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "CHUNK_ROWS",
    "STEP_BYTES",
    "finite_rows",
    "iter_rows",
    "read_only_map",
    "release_pages",
    "take_rows",
]

#: Rows per chunk of a pass over a large array.
CHUNK_ROWS = 65_536
#: The most of a memory-mapped file one step of :func:`take_rows` spans (so at most this
#: plus two page-cache folios are resident at once).
STEP_BYTES = 4 * 2**20


def read_only_map(x: Any) -> mmap.mmap | None:
    """The read-only memory map under ``x`` (a ``np.memmap`` opened with mode ``"r"`` or a
    view of one), else ``None``.

    Examples
    --------
    >>> read_only_map(np.zeros(3)) is None
    True
    """
    for _ in range(64):
        if x is None:
            return None
        if isinstance(x, np.memmap):
            mm = getattr(x, "_mmap", None)
            return mm if getattr(x, "mode", None) == "r" and isinstance(mm, mmap.mmap) else None
        x = getattr(x, "base", None)
    return None


def release_pages(x: Any) -> None:
    """Drop the pages of a read-only memory map under ``x`` from this process's memory.

    They stay in the OS page cache and are read back on the next access, so only the
    resident set size changes. A no-op for in-memory arrays and for writable or
    copy-on-write maps (whose pages may hold changes).
    """
    mm = read_only_map(x)
    if mm is not None and hasattr(mmap, "MADV_DONTNEED"):
        with contextlib.suppress(OSError, ValueError):  # a closed map
            mm.madvise(mmap.MADV_DONTNEED)


def iter_rows(x: np.ndarray, size: int = CHUNK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, x[start:start + size])`` for consecutive row chunks; the pages of a
    read-only map are released once the caller has moved on to the next chunk."""
    for start in range(0, x.shape[0], size):
        yield start, x[start : start + size]
        release_pages(x)


def finite_rows(x: np.ndarray, size: int = CHUNK_ROWS) -> np.ndarray:
    """Per row of a 2-D array, whether every value is finite (computed chunk by chunk).

    Examples
    --------
    >>> finite_rows(np.array([[1.0, 2.0], [np.nan, 0.0]])).tolist()
    [True, False]
    """
    out = np.ones(x.shape[0], dtype=bool)
    if x.dtype.kind not in "fc":
        return out
    for start, part in iter_rows(x, size):
        out[start : start + part.shape[0]] = np.isfinite(part).all(axis=tuple(range(1, x.ndim)))
    return out


def _release_span(mm: mmap.mmap, start: int, stop: int) -> None:
    """Drop the pages of bytes ``start:stop`` of a read-only map from this process."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return
    start = max(0, start - start % mmap.PAGESIZE)
    stop = min(len(mm), stop)
    if stop > start:
        with contextlib.suppress(OSError, ValueError):  # a closed map
            mm.madvise(mmap.MADV_DONTNEED, start, stop - start)


def take_rows(x: np.ndarray, rows: np.ndarray, size: int = 8_192) -> np.ndarray:
    """``x[rows]`` for row indices, gathered in steps from a read-only memory map.

    Sorted (non-negative) rows are gathered in steps of at most ``size`` rows spanning at
    most :data:`STEP_BYTES` of the file, each step's span released afterwards; other rows
    in steps of ``size`` rows, the whole map released after each. An in-memory array is
    indexed directly.

    Examples
    --------
    >>> take_rows(np.arange(10).reshape(5, 2), np.array([0, 3]), size=1).tolist()
    [[0, 1], [6, 7]]
    """
    mm = read_only_map(x)
    if mm is None:
        return np.asarray(x[rows])
    rows = np.asarray(rows)
    out = np.empty((rows.shape[0], *x.shape[1:]), dtype=x.dtype)
    n = rows.shape[0]
    if n == 0:
        return out
    stride = int(x.strides[0]) if x.ndim else 0
    ordered = (
        rows.ndim == 1
        and rows.dtype.kind in "iu"
        and stride > 0
        and int(rows[0]) >= 0
        and bool(np.all(rows[1:] >= rows[:-1]))
    )
    if not ordered:
        for a in range(0, n, size):
            out[a : a + size] = x[rows[a : a + size]]
            release_pages(x)
        return out
    try:
        first = int(x.__array_interface__["data"][0]) - np.frombuffer(mm, np.uint8).ctypes.data
    except ValueError:  # a closed map: let numpy say so
        return np.asarray(x[rows])
    block = rows // max(1, STEP_BYTES // stride)
    cuts = set((np.flatnonzero(block[1:] != block[:-1]) + 1).tolist()) | set(range(size, n, size))
    bounds = [0, *sorted(cuts), n]
    for a, b in itertools.pairwise(bounds):
        out[a:b] = x[rows[a:b]]
        _release_span(mm, first + int(rows[a]) * stride, first + (int(rows[b - 1]) + 1) * stride)
    return out
