"""Large arrays without loading them: memory-mapped ``.npy`` files read chunk by chunk.

An embeddings file of 10 M × 128 float32 is 5 GB. Opened with
``np.load(path, mmap_mode="r")`` it costs no memory until rows are touched; every touched
page then counts in the process's resident set until it is unmapped. The helpers here
read such an array in row chunks and drop the pages of each chunk from the process after
use (``madvise(MADV_DONTNEED)`` on a *read-only* map: the pages stay in the OS page
cache), so a full pass costs one chunk of memory, not the file.
"""

from __future__ import annotations

import contextlib
import mmap
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "CHUNK_ROWS",
    "finite_rows",
    "iter_rows",
    "read_only_map",
    "release_pages",
    "take_rows",
]

#: Rows per chunk of a pass over a large array.
CHUNK_ROWS = 65_536


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


def take_rows(x: np.ndarray, rows: np.ndarray, size: int = 8_192) -> np.ndarray:
    """``x[rows]`` for sorted row indices, gathered ``size`` rows at a time so that at most
    ``size`` pages of a read-only map are resident at once (scattered rows touch one page
    each).

    Examples
    --------
    >>> take_rows(np.arange(10).reshape(5, 2), np.array([0, 3]), size=1).tolist()
    [[0, 1], [6, 7]]
    """
    if read_only_map(x) is None:
        return np.asarray(x[rows])
    out = np.empty((rows.shape[0], *x.shape[1:]), dtype=x.dtype)
    for a in range(0, rows.shape[0], size):
        out[a : a + size] = x[rows[a : a + size]]
        release_pages(x)
    return out
