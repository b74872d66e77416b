"""Reading prediction files without pickle and without letting a small file cost gigabytes.

``.npy`` arrays and the members of ``.npz`` archives are read by parsing their header first:
arrays of Python objects (which would need pickle) are refused, and the size the header
claims is checked against what the file can hold before any data is read (a ``.npz`` member
may expand at most 100-fold, or to 64 MiB). Tables (``.parquet``, ``.csv``) are read up to a
row bound. Every failure is a one-line :class:`~datacentric.exceptions.SchemaError` naming
the file.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl

from datacentric.exceptions import FileAccessError, SchemaError, format_items

__all__ = [
    "NPZ_KEYS",
    "fail",
    "id_list",
    "read_npy",
    "read_npz",
    "read_table",
    "reason",
    "texts",
]

#: ``.npz`` members may decompress to at most this many bytes, or this ratio of their size.
_NPZ_FLOOR_BYTES = 64 * 2**20
_NPZ_MAX_RATIO = 100
#: The arrays of a predictions ``.npz`` (``Predictions.save``).
NPZ_KEYS = ("sample_ids", "pred_probs", "embeddings", "classes")


def fail(source: str, what: str) -> SchemaError:
    """``SchemaError(f"{source}: {what}")``."""
    return SchemaError(f"{source}: {what}")


def _read_npy_stream(
    fh: IO[bytes], source: str, key: str, limit: int, *, header_only: bool = False
) -> np.ndarray:
    """One ``.npy`` stream: the header is checked (no objects, size bounded) before reading.

    ``header_only``: stop after the checks (the stream is left at the data); returns an
    empty array.
    """
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except Exception as exc:
        raise fail(source, f"{key} is not a readable .npy array ({reason(exc)}).") from None
    if dtype.hasobject:
        raise fail(
            source,
            f"{key} holds Python objects (dtype {dtype}), which would need pickle to load; "
            "datacentric never unpickles data. Save plain numeric/text arrays "
            "(Predictions.save does).",
        )
    if dtype.itemsize == 0 or dtype.fields is not None:
        raise fail(source, f"{key} has an unsupported dtype {dtype}; save a plain array.")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > limit:
        raise fail(
            source,
            f"{key} claims shape {shape} ({nbytes:,} bytes), more than the file can hold "
            f"(at most {limit:,} bytes). The file is corrupt or crafted; write it again.",
        )
    if header_only:
        return np.zeros(0, dtype=dtype)
    data = fh.read(nbytes)
    if len(data) < nbytes:
        raise fail(
            source,
            f"{key} is truncated ({len(data):,} of {nbytes:,} bytes of shape {shape}); "
            "write the file again.",
        )
    arr = np.frombuffer(data, dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def reason(exc: BaseException) -> str:
    """An exception as a short one-line reason for a message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def read_npz(
    path: str | Path, keys: Sequence[str] = NPZ_KEYS, *, what: str = "predictions"
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (those present) of a ``.npz`` file, read without pickle.

    Each member's header is checked before its data is read: Python-object arrays are refused
    (never unpickled) and a member may expand to at most 100 times its stored size (or
    64 MiB), so a small crafted file cannot cost gigabytes.

    Raises
    ------
    SchemaError
        The file is not a zip archive, is truncated, or a member is not a plain array;
        the message names the file.
    FileAccessError
        The file cannot be opened (permission denied, ...).
    """
    source = f"{what} file {str(path)!r}"
    try:
        zf = zipfile.ZipFile(path)
    except OSError as exc:
        raise FileAccessError(f"{source} cannot be read: {reason(exc)}.") from None
    except Exception as exc:
        raise fail(
            source,
            f"is not a valid .npz (zip) archive ({reason(exc)}). Write it with "
            "Predictions.save(path) or numpy.savez.",
        ) from None
    out: dict[str, np.ndarray] = {}
    with zf:
        members = {n[: -len(".npy")]: n for n in zf.namelist() if n.endswith(".npy")}
        for key in keys:
            if key not in members:
                continue
            info = zf.getinfo(members[key])
            limit = max(_NPZ_FLOOR_BYTES, _NPZ_MAX_RATIO * info.compress_size)
            try:
                with zf.open(info) as fh:
                    out[key] = _read_npy_stream(fh, source, key, limit)
            except SchemaError:
                raise
            except Exception as exc:  # zlib/CRC/truncation errors of the archive
                raise fail(
                    source, f"member {key} cannot be read ({reason(exc)}); write it again."
                ) from None
        if "pred_probs" not in out and "pred_probs" in keys:
            raise fail(
                source,
                f"has no 'pred_probs' array (it holds {format_items(sorted(members))}). "
                "A predictions .npz has sample_ids, pred_probs (N x K), embeddings and "
                "classes, as written by Predictions.save() and `datacentric scan`.",
            )
    return out


def read_npy(path: Path, source: str, *, mmap: bool = False) -> np.ndarray:
    """A ``.npy`` array, its header checked against the file size before reading.

    With ``mmap=True`` the data is not read but memory-mapped read-only
    (``np.load(path, mmap_mode="r")``): a 5 GB embeddings file costs memory only for the
    rows in use (see :mod:`datacentric._arrays`).
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            if not mmap:
                return _read_npy_stream(fh, source, "the array", size)
            _read_npy_stream(fh, source, "the array", size, header_only=True)
            offset = fh.tell()
    except OSError as exc:
        raise FileAccessError(f"{source} cannot be read: {reason(exc)}.") from None
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as exc:
        raise FileAccessError(f"{source} cannot be read: {reason(exc)}.") from None
    except Exception as exc:
        raise fail(source, f"the array cannot be mapped ({reason(exc)}).") from None
    if arr.nbytes > size - offset:  # np.load maps a short file without complaint
        raise fail(
            source,
            f"the array is truncated ({size - offset:,} of {arr.nbytes:,} bytes of shape "
            f"{arr.shape}); write the file again.",
        )
    return arr


def texts(arr: np.ndarray) -> list[str]:
    """The items of a text (or integer) array as ``str`` (bytes decoded as UTF-8)."""
    return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in arr.tolist()]


def id_list(arr: np.ndarray, source: str, key: str) -> list[str]:
    """Sample ids from a 1-D text or integer array (else a :class:`SchemaError`)."""
    if arr.ndim != 1 or arr.dtype.kind not in "USiu":
        raise fail(
            source,
            f"{key} must be a 1-D array of ids (text or integers), received dtype {arr.dtype} "
            f"and shape {arr.shape}.",
        )
    return texts(arr)


def read_table(path: Path, source: str, max_rows: int) -> pl.DataFrame:
    """A predictions table (``.parquet`` / ``.csv``), at most ``max_rows`` rows read."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise FileAccessError(f"{source} cannot be read: {reason(exc)}.") from None
    try:
        if path.suffix.lower() == ".parquet":
            lf = pl.scan_parquet(path, glob=False)
            names = lf.collect_schema().names()
            keep = [c for c in ("sample_id", "pred", "confidence") if c in names]
            return lf.select(keep or names[:1]).head(max_rows).collect()
        return pl.read_csv(
            path,
            schema_overrides={"sample_id": pl.Utf8, "pred": pl.Utf8},
            n_rows=max_rows,
            glob=False,
        )
    except Exception as exc:
        kind = "Parquet" if path.suffix.lower() == ".parquet" else "CSV"
        raise fail(
            source,
            f"is not a readable {kind} file ({reason(exc)}). Write a table with columns "
            "sample_id, pred[, confidence].",
        ) from None
