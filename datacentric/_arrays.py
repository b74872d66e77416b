"""Large arrays without loading them: memory-mapped ``.npy`` files read chunk by chunk.

An embeddings file of 10 M × 128 float32 is 5 GB. Opened with
``np.load(path, mmap_mode="r")`` it costs no memory until rows are touched; every touched
page then counts in the process's resident set until it is unmapped. The helpers here
read such an array in row chunks and drop the pages of each chunk from the process after
use (``madvise(MADV_DONTNEED)`` on a *read-only* map: the pages stay in the OS page
cache), so a full pass costs one chunk of memory, not the file.

Scattered rows are another matter: the kernel maps a whole page-cache folio (up to 2 MiB
on ext4 with large folios) at each fault, so gathering a few thousand scattered rows
through the map makes most of a file resident at once. :func:`take_rows` therefore reads
the rows of a read-only map with ``pread`` from the mapped file (checked to be the same
inode), which costs only the rows read.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
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


def _mapped_file(x: np.ndarray) -> tuple[str, int] | None:
    """``(path, byte position of x's first row)`` when ``x`` is a view of a read-only
    ``np.memmap`` whose rows are contiguous and whose file on disk is still the mapped one
    (same device and inode, per ``/proc/self/maps``); else ``None``."""
    mm = read_only_map(x)
    if mm is None or x.ndim == 0 or x.shape[0] == 0:
        return None
    root: Any = x
    while not isinstance(root, np.memmap):
        root = root.base
    name, offset = getattr(root, "filename", None), getattr(root, "offset", None)
    if not isinstance(name, (str, os.PathLike)) or not isinstance(offset, int):
        return None
    path = os.fspath(name)
    if not isinstance(path, str):
        return None
    if x.ndim > 1 and not x[0].flags.c_contiguous:
        return None
    try:
        addr = np.frombuffer(mm, np.uint8).ctypes.data
        st = os.stat(path)
        with open("/proc/self/maps", encoding="ascii", errors="replace") as fh:
            for line in fh:
                span, _perms, _off, dev, inode = line.split()[:5]
                lo, hi = (int(v, 16) for v in span.split("-"))
                if lo <= addr < hi:
                    major, minor = (int(v, 16) for v in dev.split(":"))
                    if (int(inode), major, minor) != (
                        st.st_ino,
                        os.major(st.st_dev),
                        os.minor(st.st_dev),
                    ):
                        return None  # the file was replaced since it was mapped
                    break
            else:
                return None
    except (OSError, ValueError):  # not Linux, a closed map, a vanished file
        return None
    start = offset - offset % mmap.ALLOCATIONGRANULARITY  # where np.memmap's map begins
    return path, start + (int(x.__array_interface__["data"][0]) - addr)


def _pread(fd: int, buf: memoryview, pos: int, path: str) -> None:
    while len(buf):
        n = os.preadv(fd, [buf], pos)
        if n <= 0:
            raise OSError(f"{path} ended at byte {pos}: it was truncated while mapped")
        buf, pos = buf[n:], pos + n


#: Rows closer than this many bytes are read in one ``pread`` (one system call costs
#: about as much as copying this many bytes) ...
_SPAN_GAP_BYTES = 16_384
#: ... within aligned blocks of the file of this many bytes (the most one read buffers).
_SPAN_MAX_BYTES = 1 << 20


def _pread_rows(x: np.ndarray, rows: np.ndarray, path: str, pos: int) -> np.ndarray:
    """``x[rows]`` read from the file: rows close together (within :data:`_SPAN_GAP_BYTES`,
    in ascending runs of ``rows`` and one :data:`_SPAN_MAX_BYTES` block of the file) are
    read in one span."""
    out = np.empty((rows.shape[0], *x.shape[1:]), dtype=x.dtype)
    row_bytes = x.itemsize * math.prod(x.shape[1:])
    stride = int(x.strides[0])
    flat = out.reshape(-1).view(np.uint8).data
    if rows.shape[0] == 0 or row_bytes == 0:
        return out
    r = rows.astype(np.int64, copy=False)
    contiguous = stride == row_bytes
    gap = max(1, _SPAN_GAP_BYTES // row_bytes) if contiguous else 1
    d = np.diff(r)
    block = r // max(1, _SPAN_MAX_BYTES // row_bytes)
    cut = (
        np.flatnonzero((d <= 0) | (d > gap) | (np.diff(block) != 0)) + 1
        if contiguous
        else np.arange(1, r.shape[0])
    )
    fd = os.open(path, os.O_RDONLY)
    try:
        for a, b in zip([0, *cut.tolist()], [*cut.tolist(), r.shape[0]], strict=True):
            lo, hi = int(r[a]), int(r[b - 1])
            if hi - lo == b - a - 1:  # consecutive rows: straight into the output
                _pread(fd, flat[a * row_bytes : b * row_bytes], pos + lo * stride, path)
            else:
                span = np.empty((hi - lo + 1) * row_bytes, np.uint8)
                _pread(fd, span.data, pos + lo * stride, path)
                out[a:b] = span.view(x.dtype).reshape(-1, *x.shape[1:])[r[a:b] - lo]
    finally:
        os.close(fd)
    return out


def take_rows(x: np.ndarray, rows: np.ndarray, size: int = 8_192) -> np.ndarray:
    """``x[rows]`` for row indices (best sorted), costing only the rows read.

    For a read-only memory map the rows are read from its file with ``pread`` (see the
    module's note on large folios); where that is not possible (not Linux, a replaced
    file, non-contiguous rows) they are gathered through the map ``size`` rows at a time,
    its pages released after each step.

    Examples
    --------
    >>> take_rows(np.arange(10).reshape(5, 2), np.array([0, 3]), size=1).tolist()
    [[0, 1], [6, 7]]
    """
    if read_only_map(x) is None:
        return np.asarray(x[rows])
    rows = np.asarray(rows)
    if rows.ndim == 1 and rows.dtype.kind in "iu" and rows.shape[0]:
        n = x.shape[0]
        if int(rows.min()) < -n or int(rows.max()) >= n:
            raise IndexError(f"row index out of range for {n} rows")
        found = _mapped_file(x)
        if found is not None:
            return _pread_rows(x, np.where(rows < 0, rows + n, rows), *found)
    out = np.empty((rows.shape[0], *x.shape[1:]), dtype=x.dtype)
    for a in range(0, rows.shape[0], size):
        out[a : a + size] = x[rows[a : a + size]]
        release_pages(x)
    return out
