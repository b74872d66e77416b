"""Column roles of production batches and their validation against the reference.

A batch has the columns of the reference (metadata, input metrics, ``prediction``,
``confidence``) plus ``sample_id`` and ``timestamp``; ``label`` and ``embedding`` are optional;
``image`` (paths) may stand in for the image metrics, which are then computed. Every check
raises with what was wrong, what was received and the fix; nothing is dropped silently:

- a missing column, an extra column, a column of the wrong type: :class:`SchemaError`
  naming the columns (extra columns can be dropped on purpose with ``extra_columns="drop"``,
  which logs them);
- a null ``sample_id`` or ``timestamp``, a confidence outside [0, 1] or NaN, an infinite
  value (``inf``/``-inf``) in a numeric column: :class:`SchemaError` naming the column, the
  count and the first rows (an infinity is never binned or summed as a number);
- a file that is not readable Parquet/CSV: :class:`SchemaError` naming it;
- a ``sample_id`` twice in the batch: :class:`~datacentric.exceptions.DuplicateSampleIdError`;
- null or NaN metric values, null confidences and null predictions are kept: they mean
  "unknown", are stored, counted in the metric's missing bin and reported as
  ``missing_rate`` (which can alert). The reference follows the same rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import polars as pl

from datacentric._validation import Options, invalid_parameter, validate_call
from datacentric.exceptions import (
    DuplicateSampleIdError,
    InvalidParameterError,
    SchemaError,
    format_items,
)

__all__ = [
    "CONFIDENCE",
    "EMBEDDING",
    "IMAGE",
    "LABEL",
    "PREDICTION",
    "RESERVED",
    "SAMPLE_ID",
    "TIMESTAMP",
    "check_numbers",
    "column_kind",
    "expected_columns",
    "read_frame",
    "validate_batch",
    "validate_labels",
]

logger = logging.getLogger(__name__)

SAMPLE_ID, TIMESTAMP, PREDICTION, CONFIDENCE = "sample_id", "timestamp", "prediction", "confidence"
LABEL, IMAGE, EMBEDDING = "label", "image", "embedding"
#: Columns with a fixed role; every other reference column is metadata or an input metric.
RESERVED = (SAMPLE_ID, TIMESTAMP, PREDICTION, CONFIDENCE, LABEL, IMAGE, EMBEDDING)
_STORE_PREFIX = "__"


def column_kind(dtype: pl.DataType) -> str | None:
    """``"numeric"``, ``"string"``, ``"bool"``, ``"temporal"``, ``"vector"`` or None.

    Examples
    --------
    >>> column_kind(pl.Int32()), column_kind(pl.Categorical()), column_kind(pl.Struct({}))
    ('numeric', 'string', None)
    """
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.String, pl.Categorical, pl.Enum) or isinstance(
        dtype, (pl.Categorical, pl.Enum)
    ):
        return "string"
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_temporal():
        return "temporal"
    if isinstance(dtype, (pl.List, pl.Array)) and dtype.inner is not None:
        return "vector" if dtype.inner.is_numeric() else None
    return None


def read_frame(
    batch: pl.DataFrame | str | Path, what: str = "batch", owner: str = "Monitor.ingest"
) -> pl.DataFrame:
    """A batch as a polars frame: the frame itself, or a ``.parquet`` / ``.csv`` file.

    CSV timestamps are parsed (ISO 8601); ``sample_id`` is read as text. ``what`` is the
    parameter's name and ``owner`` its function (for the message of a value of another
    type: the parameter check; a missing or unreadable file is an error about the file).
    """
    if isinstance(batch, pl.DataFrame):
        return batch
    if not isinstance(batch, (str, PurePath)):
        raise invalid_parameter(
            owner,
            what,
            batch,
            "a polars DataFrame or the path of a .parquet or .csv file",
            fix="Pass the rows as a polars DataFrame, or write them to a .parquet or .csv file.",
        )
    path = Path(batch)
    if not path.is_file():
        raise InvalidParameterError(
            f"{what} file {str(path)!r} does not exist (resolved to {path.resolve()})."
        )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".csv"):
        kind = "Parquet" if suffix == ".parquet" else "CSV"
        try:
            if suffix == ".parquet":
                frame = pl.read_parquet(path, glob=False)
            else:
                overrides = {SAMPLE_ID: pl.String, PREDICTION: pl.String, LABEL: pl.String}
                frame = pl.read_csv(
                    path, schema_overrides=overrides, try_parse_dates=True, glob=False
                )
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise SchemaError(
                f"{what} file {str(path)!r} is not a readable {kind} file ({reason}). Write "
                f"the {what} again as a table with a header row."
            ) from None
        if frame.height == 0 and what != "labels":  # no late labels today is fine
            raise SchemaError(
                f"{what} file {str(path)!r} has no rows (columns {format_items(frame.columns)}"
                f"). Pass a {kind} file with a header row and at least one row."
            )
        return frame
    raise InvalidParameterError(
        f"{what} file must end in .parquet or .csv, received {path.name!r}. Convert it, or "
        "pass a polars DataFrame."
    )


def _rows_where(frame: pl.DataFrame, mask: pl.Expr) -> tuple[list[int], int]:
    """The first few row numbers where ``mask`` holds, and how many rows it holds in."""
    idx = frame.with_row_index("__row").filter(mask)["__row"]
    return [int(i) for i in idx.head(10)], idx.len()


def _first(rows: list[int], total: int) -> str:
    """``"rows 3, 7"``, or ``"rows 0, 1, ... (the first 10 of 37)"``."""
    shown = ", ".join(str(r) for r in rows)
    return f"rows {shown}" + (f" (the first {len(rows)} of {total})" if total > len(rows) else "")


#: What a batch column the reference does not have becomes (shared with ``Monitor``).
EXTRA_COLUMNS = [Options(str, ("error", "drop"))]


@validate_call({"extra_columns": EXTRA_COLUMNS})
def validate_batch(
    frame: pl.DataFrame,
    expected: Mapping[str, str],
    *,
    optional: Sequence[str] = (LABEL, EMBEDDING, IMAGE),
    computable: Sequence[str] = (),
    extra_columns: str = "error",
) -> pl.DataFrame:
    """Check a batch against the expected column kinds and return it with canonical types.

    Parameters
    ----------
    frame : polars.DataFrame
        The production rows.
    expected : mapping
        Column → kind (see :func:`column_kind`) that every batch must have.
    optional : sequence of str
        Columns a batch may have (checked when present).
    computable : sequence of str
        Expected columns that may be missing because they are computed from ``image``.
    extra_columns : {"error", "drop"}
        What to do with columns the reference does not know.

    Returns
    -------
    polars.DataFrame
        ``sample_id``/``prediction``/``label`` as text, ``timestamp`` as ``Datetime("us")``
        (time zones converted to UTC), metrics as ``Float64``.

    Raises
    ------
    SchemaError, DuplicateSampleIdError
        See the module docstring.

    Examples
    --------
    >>> import datetime as dt
    >>> frame = pl.DataFrame({"sample_id": ["a"], "timestamp": [dt.datetime(2024, 1, 1)],
    ...                       "prediction": ["cat"], "confidence": [0.9]})
    >>> expected = {"sample_id": "string", "timestamp": "temporal", "prediction": "string",
    ...             "confidence": "numeric", "brightness": "numeric"}
    >>> validate_batch(frame, expected)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: batch is missing column(s) 'brightness' ...
    """
    if frame.height == 0:
        raise SchemaError("batch has no rows. Pass a batch with at least one row.")
    cols = frame.columns
    bad_names = [c for c in cols if c.startswith(_STORE_PREFIX)]
    if bad_names:
        raise SchemaError(
            f"batch column names may not start with '__' (reserved for the store), received "
            f"{format_items(bad_names)}. Rename them."
        )
    missing = [c for c in expected if c not in cols and not (c in computable and IMAGE in cols)]
    if missing:
        hint = (
            " Image metrics can instead be computed from an 'image' column of file paths."
            if any(c in computable for c in missing)
            else ""
        )
        raise SchemaError(
            f"batch is missing column(s) {format_items(missing)} that the reference has. "
            f"Received columns: {format_items(cols)}. Add them (with nulls where unknown).{hint}"
        )
    extra = [c for c in cols if c not in expected and c not in optional]
    if extra and extra_columns == "error":
        raise SchemaError(
            f"batch has column(s) {format_items(extra)} that the reference does not have "
            f"(expected: {format_items(list(expected))}). Drop them, add them to the reference, "
            "or pass extra_columns='drop' to drop them on purpose (they are logged)."
        )
    if extra:
        logger.warning("monitor: dropping %d extra batch column(s): %s", len(extra), extra)
        frame = frame.drop(extra)
    wrong = []
    for col in frame.columns:
        want = expected.get(col) or {LABEL: "string", IMAGE: "string", EMBEDDING: "vector"}[col]
        got = column_kind(frame.schema[col])
        ok = got == want or (want == "string" and got in ("numeric", "bool") and col == SAMPLE_ID)
        if not ok:
            wrong.append(f"{col!r} should be {want}, received {frame.schema[col]}")
    if wrong:
        raise SchemaError(
            f"batch column(s) of the wrong type: {'; '.join(wrong)}. Cast them to the "
            "reference's types (timestamps as datetimes, e.g. pl.col('timestamp')."
            "str.to_datetime())."
        )
    out = _canonical(frame, expected)
    _check_values(out)
    return out


def _canonical(frame: pl.DataFrame, expected: Mapping[str, str]) -> pl.DataFrame:
    exprs: list[pl.Expr] = []
    for col, dtype in frame.schema.items():
        kind = column_kind(dtype)
        if col in (SAMPLE_ID, PREDICTION, LABEL, IMAGE):
            exprs.append(pl.col(col).cast(pl.String))
        elif col == TIMESTAMP:
            e = pl.col(col)
            if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
                e = e.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            exprs.append(e.cast(pl.Datetime("us")))
        elif kind == "numeric" and expected.get(col) == "numeric":
            exprs.append(pl.col(col).cast(pl.Float64))
        elif kind == "string":
            exprs.append(pl.col(col).cast(pl.String))
        else:
            exprs.append(pl.col(col))
    return frame.select(exprs)


def _check_values(frame: pl.DataFrame) -> None:
    for col in (SAMPLE_ID, TIMESTAMP):
        if col in frame.columns and frame[col].null_count():
            rows, n = _rows_where(frame, pl.col(col).is_null())
            raise SchemaError(
                f"batch column {col!r} has {n} null value(s), at rows "
                f"{format_items(rows, total=n)}. Every production row needs a {col}; fill or "
                "drop them."
            )
    check_numbers(frame, "batch")
    if SAMPLE_ID in frame.columns and frame[SAMPLE_ID].n_unique() < frame.height:
        dup = frame.filter(pl.col(SAMPLE_ID).is_duplicated())[SAMPLE_ID].unique(maintain_order=True)
        if dup.len():
            ids = dup.head(10).to_list()
            raise DuplicateSampleIdError(
                f"batch has {dup.len()} sample_id(s) on more than one row: "
                f"{format_items(ids, total=dup.len())}. "
                "Each production row needs its own sample_id; drop the repeated rows or give "
                "them new ids.",
                rows=ids,
            )


def check_numbers(frame: pl.DataFrame, what: str = "batch") -> None:
    """Refuse NaN or out-of-range confidences and infinite numbers, naming column and rows.

    ``confidence`` must be a probability in [0, 1] or null (unknown); every other numeric
    column may hold null or NaN (a missing value, counted in the metric's missing bin) but
    not ``inf``/``-inf``, which no bin or mean can hold honestly.

    Examples
    --------
    >>> check_numbers(pl.DataFrame({"x": [1.0, float("nan")], "confidence": [0.5, None]}))
    >>> check_numbers(pl.DataFrame({"x": [1.0, float("inf")]}))
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: batch column 'x' has 1 infinite value(s) ...
    """
    if CONFIDENCE in frame.columns and column_kind(frame.schema[CONFIDENCE]) == "numeric":
        c = pl.col(CONFIDENCE).cast(pl.Float64)
        bad = c.is_not_null() & (c.is_nan() | (c < 0) | (c > 1))
        n_bad = int(frame.select(bad.sum()).item())
        if n_bad:
            rows, _ = _rows_where(frame, bad)
            vals = frame[CONFIDENCE].gather(rows).to_list()
            raise SchemaError(
                f"{what} column 'confidence' must be a probability in [0, 1] (null if "
                f"unknown); {n_bad} value(s) are not: {format_items(vals)} at "
                f"{_first(rows, n_bad)}. Use the predicted class's softmax probability."
            )
    for col, dtype in frame.schema.items():
        if col == CONFIDENCE or not dtype.is_float():
            continue
        inf = pl.col(col).is_infinite()
        n_inf = int(frame.select(inf.sum()).item())
        if n_inf:
            rows, _ = _rows_where(frame, inf)
            vals = frame[col].gather(rows).to_list()
            raise SchemaError(
                f"{what} column {col!r} has {n_inf} infinite value(s) ({format_items(vals)}) "
                f"at {_first(rows, n_inf)}. Numbers must be finite: fix the computation, "
                "or write null (or NaN) where the value is unknown; it is then counted as "
                "missing."
            )


def validate_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """Late labels: ``sample_id`` and ``label`` as text, nothing null, each id once.

    ``label`` must be text (or integer class ids); a float column (where NaN would become
    the text ``"NaN"``) is refused, like a ``sample_id`` that is not text or integers.

    Raises
    ------
    SchemaError, DuplicateSampleIdError
        Naming the columns or rows.
    """
    missing = [c for c in (SAMPLE_ID, LABEL) if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"labels need columns 'sample_id' and 'label'; missing {format_items(missing)} "
            f"(received {format_items(frame.columns)})."
        )
    for col in (SAMPLE_ID, LABEL):
        dtype = frame.schema[col]
        if not (column_kind(dtype) == "string" or dtype.is_integer() or dtype == pl.Null):
            raise SchemaError(
                f"labels column {col!r} must be text (or integers), received {dtype}. A "
                "float column turns NaN into the label 'NaN' and 1 into '1.0'; write class "
                "names."
            )
    frame = frame.select(pl.col(SAMPLE_ID).cast(pl.String), pl.col(LABEL).cast(pl.String))
    nulls = frame.filter(pl.col(SAMPLE_ID).is_null() | pl.col(LABEL).is_null())
    if nulls.height:
        rows, _ = _rows_where(frame, pl.col(SAMPLE_ID).is_null() | pl.col(LABEL).is_null())
        raise SchemaError(
            f"labels have {nulls.height} row(s) with a null sample_id or label (at "
            f"{_first(rows, nulls.height)}), e.g. {format_items(nulls.head(5).rows())}. Drop "
            "rows whose label is unknown."
        )
    dup = frame.filter(pl.col(SAMPLE_ID).is_duplicated())[SAMPLE_ID].unique().sort()
    if dup.len():
        raise DuplicateSampleIdError(
            f"labels name {dup.len()} sample_id(s) more than once: "
            f"{format_items(dup.to_list())}. Give one label per sample.",
            rows=dup.to_list(),
        )
    return frame


def expected_columns(reference_schema: Mapping[str, Any]) -> dict[str, str]:
    """The columns (and kinds) every batch needs, from the reference's schema.

    Examples
    --------
    >>> expected_columns({"prediction": pl.String(), "label": pl.String(), "w": pl.Int64()})
    {'sample_id': 'string', 'timestamp': 'temporal', 'prediction': 'string', 'w': 'numeric'}
    """
    out = {SAMPLE_ID: "string", TIMESTAMP: "temporal"}
    for col, dtype in reference_schema.items():
        if col in (SAMPLE_ID, TIMESTAMP, LABEL, IMAGE, EMBEDDING):
            continue
        kind = column_kind(dtype)
        if kind is None or kind == "vector":
            raise SchemaError(
                f"reference column {col!r} has dtype {dtype}, which the monitor cannot store. "
                "Use numbers, text, booleans or dates (embeddings go in a column named "
                "'embedding')."
            )
        out[col] = kind
    return out
