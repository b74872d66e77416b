"""Hostile image files written cheaply: huge pixel counts in a few kilobytes, truncations.

The PNGs are streamed row by row through ``zlib`` so that the test process never holds the
decoded image either.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["BIG_SIDE", "big_png", "truncated_png", "write_big_png"]

#: 12000 x 12000 = 144 million pixels (the issue's ~140 KB PNG that decodes to gigabytes).
BIG_SIDE = 12_000


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


@functools.lru_cache(maxsize=8)
def big_png(width: int = BIG_SIDE, height: int = BIG_SIDE, bit_depth: int = 8) -> bytes:
    """A black grayscale PNG of ``width`` x ``height`` (1- or 8-bit): tiny file, huge image."""
    row_bytes = (width * bit_depth + 7) // 8
    row = b"\x00" * (row_bytes + 1)  # filter byte 0 + zero pixels
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def write_big_png(path: Path, width: int = BIG_SIDE, height: int = BIG_SIDE, bits: int = 8) -> Path:
    """Write :func:`big_png` to ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(big_png(width, height, bits))
    return path


def truncated_png(size: int = 32, seed: int = 1) -> bytes:
    """The first half of a noise PNG: a valid header, then the data stops."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    data = buf.getvalue()
    return data[: len(data) // 2]
