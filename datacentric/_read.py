"""Reading back files datacentric wrote: a damaged, foreign or crafted one gets one line.

Saved scans, slice metrics, the experiment log, export manifests and review journals are read
through these helpers. Whatever the file holds (not JSON or Parquet at all, truncated, the
wrong kind of file, fields of the wrong type, nesting deep enough to overflow the stack, a
Parquet file whose few kilobytes stand for millions of rows), the reader raises
:class:`~datacentric.exceptions.SchemaError` with one line: the file, what was expected,
what was found and how to get a good file. The structure is checked before anything uses
it, so no later step fails with ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from datacentric.exceptions import FileAccessError, SchemaError, format_items

__all__ = [
    "check_fields",
    "check_frame",
    "check_parquet_rows",
    "describe",
    "parquet_metadata",
    "parse_json",
    "read_json",
    "read_parquet",
]

# A Parquet file may hold at most this many rows, plus _ROWS_PER_BYTE per byte of file: a
# real table costs at least a few bits per row, while run-length encoding lets a few
# kilobytes stand for millions of identical rows (gigabytes once read).
_ROWS_FLOOR = 1_000_000
_ROWS_PER_BYTE = 4
# polars reports some malformed files with a PanicException, a BaseException
_READ_ERRORS: tuple[type[BaseException], ...] = (Exception, pl.exceptions.PanicException)


def describe(value: object) -> str:
    """A short, safe description of an untrusted value (never a full ``repr`` of a container).

    Examples
    --------
    >>> describe("x" * 60)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (60 chars)"
    >>> describe([[1, 2]] * 1000), describe(3), describe({}), describe(None)
    ('a list', '3', 'a dict', 'None')
    """
    if value is None or isinstance(value, (bool, int, float)):
        text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge int"
        return text if len(text) <= 40 else f"{text[:37]}... ({type(value).__name__})"
    if isinstance(value, str):
        return repr(value) if len(value) <= 50 else f"{value[:50]!r}... ({len(value):,} chars)"
    kind = type(value).__name__
    if kind == "Tensor":
        shape = tuple(getattr(value, "shape", ()))
        return f"a tensor of shape {list(shape)} and dtype {getattr(value, 'dtype', '?')}"
    return f"an {kind}" if kind[:1].lower() in "aeiou" else f"a {kind}"


def _one_line(text: object, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def parse_json(text: str, source: str, *, what: str, fix: str) -> Any:
    """``json.loads(text)``, every failure a one-line SchemaError naming ``source``.

    Examples
    --------
    >>> parse_json('{"a": 1}', "x.json", what="a test file", fix="")
    {'a': 1}
    >>> parse_json('{"a": ', "x.json", what="a test file", fix="Write it again.")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: x.json: not valid JSON (expected a test file): ...
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"{source}: not valid JSON (expected {what}): {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}{' (the file is truncated)' if exc.pos >= len(text) else ''}. {fix}"
        ) from None
    except RecursionError:
        raise SchemaError(
            f"{source}: the JSON nests too deeply to read (expected {what}). {fix}"
        ) from None


def read_json(path: str | Path, *, what: str, fix: str) -> Any:
    """Read and parse a JSON file (UTF-8); SchemaError / FileAccessError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileAccessError(
            f"{path}: cannot read {what} ({exc.strerror or exc}). Check the path and its "
            "permissions."
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}), so not {what}. {fix}"
        ) from None
    return parse_json(text, str(path), what=what, fix=fix)


def _polars_error(path: Path, what: str, fix: str, exc: BaseException) -> SchemaError:
    return SchemaError(
        f"{path}: cannot be read as Parquet (expected {what}): {_one_line(exc)}. The file is "
        f"not a Parquet file, or it is truncated or damaged. {fix}"
    )


def parquet_metadata(path: str | Path, *, what: str, fix: str) -> dict[str, str]:
    """The key/value metadata of a Parquet file (SchemaError when it is not Parquet)."""
    path = Path(path)
    try:
        return dict(pl.read_parquet_metadata(path))
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot read {what} ({exc.strerror or exc}).") from None
    except _READ_ERRORS as exc:
        raise _polars_error(path, what, fix, exc) from None


def check_parquet_rows(path: Path, rows: int, size: int, *, what: str, fix: str) -> None:
    """Refuse a Parquet file of ``size`` bytes that claims ``rows`` rows, more than a real
    table of that size holds (run-length encoding lets a few kilobytes stand for millions of
    identical rows: gigabytes once read). Call it before reading the file.

    Examples
    --------
    >>> check_parquet_rows(Path("t.parquet"), 10, 100, what="a table", fix="")
    >>> check_parquet_rows(Path("t.parquet"), 10**9, 100, what="a table", fix="Write it again.")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: t.parquet: claims 1,000,000,000 rows in 100 bytes, ...
    """
    most = _ROWS_FLOOR + _ROWS_PER_BYTE * size
    if rows > most:
        raise SchemaError(
            f"{path}: claims {rows:,} rows in {size:,} bytes, more than a real {what} holds "
            f"(at most {most:,} for this size; a crafted file can make a few bytes stand for "
            f"gigabytes). {fix}"
        )


def read_parquet(
    path: str | Path, *, what: str, fix: str, columns: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """Read a Parquet table after checking its row count, then its columns' kinds.

    ``columns`` maps required column names to a kind: ``"string"``, ``"int"``,
    ``"number"``, ``"bool"`` or ``"any"`` (see :func:`check_frame`).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        rows = int(pl.scan_parquet(path, glob=False).select(pl.len()).collect().item())
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot read {what} ({exc.strerror or exc}).") from None
    except _READ_ERRORS as exc:
        raise _polars_error(path, what, fix, exc) from None
    check_parquet_rows(path, rows, size, what=what, fix=fix)
    try:
        frame = pl.read_parquet(path, glob=False)
    except _READ_ERRORS as exc:
        raise _polars_error(path, what, fix, exc) from None
    if columns:
        check_frame(frame, columns, str(path), what=what, fix=fix)
    return frame


def _kind_ok(dtype: pl.DataType, kind: str) -> bool:
    if kind == "any" or dtype == pl.Null:
        return True
    if kind == "string":
        return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))
    if kind == "int":
        return dtype.is_integer()
    if kind == "number":
        return dtype.is_numeric()
    if kind == "bool":
        return dtype == pl.Boolean
    raise ValueError(f"unknown column kind {kind!r}")  # pragma: no cover - a caller's mistake


def check_frame(
    frame: pl.DataFrame, columns: Mapping[str, str], source: str, *, what: str, fix: str
) -> pl.DataFrame:
    """Check that ``frame`` has ``columns`` (name → kind); SchemaError naming ``source``.

    Examples
    --------
    >>> check_frame(pl.DataFrame({"a": [1]}), {"a": "string"}, "t.parquet", what="a t", fix="")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: t.parquet: column 'a' has dtype Int64, expected ...
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{source}: lacks the column(s) {format_items(missing)} of {what} (it has "
            f"{format_items(frame.columns, limit=8)}). {fix}"
        )
    for name, kind in columns.items():
        if not _kind_ok(frame.schema[name], kind):
            raise SchemaError(
                f"{source}: column {name!r} has dtype {frame.schema[name]}, expected {kind} "
                f"values in {what}. {fix}"
            )
    return frame


_CHECKS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "finite": lambda v: (
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
    "any": lambda v: True,
}
_NAMES = {"int": "an integer", "number": "a number", "finite": "a finite number", "str": "text"}


def check_fields(
    obj: Any,
    spec: Mapping[str, str],
    source: str,
    *,
    what: str,
    fix: str,
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Check a JSON object's fields against ``spec`` (name → ``"int|null"``-style kinds).

    Fields not in ``spec`` are left alone; ``required`` ones must be present. Returns the
    object (a dict).

    Examples
    --------
    >>> check_fields({"n": 1}, {"n": "int"}, "f.json", what="a test", fix="", required=["n"])
    {'n': 1}
    >>> check_fields({"n": "1"}, {"n": "int|null"}, "f.json", what="a test", fix="Fix it.")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: f.json: field 'n' is '1', expected an integer or null ...
    """
    if not isinstance(obj, dict):
        raise SchemaError(
            f"{source}: holds {describe(obj)}, not a JSON object (expected {what}). {fix}"
        )
    absent = [k for k in required if k not in obj]
    if absent:
        raise SchemaError(
            f"{source}: lacks the field(s) {format_items(absent)} of {what} (it has "
            f"{format_items([str(k) for k in obj], limit=8) or 'none'}). {fix}"
        )
    for name, kinds in spec.items():
        if name not in obj:
            continue
        options = kinds.split("|")
        if not any(_CHECKS[k](obj[name]) for k in options):
            expected = " or ".join(_NAMES.get(k, f"a {k}" if k != "null" else k) for k in options)
            raise SchemaError(
                f"{source}: field {name!r} is {describe(obj[name])}, expected {expected} "
                f"(in {what}). {fix}"
            )
    return obj
