"""Lineage rows: one row per edited field of one sample (or one box), with why and by whom.

``annotation_id`` is null for a sample edit and names the box for a box edit (detection
datasets). Versions written before the column existed are read with it added, all null.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import polars as pl

__all__ = ["BASE_CHANGES_COLUMNS", "CHANGES_SCHEMA", "changes_frame", "empty_changes"]

CHANGES_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.Utf8(),
    "field": pl.Utf8(),
    "old": pl.Utf8(),
    "new": pl.Utf8(),
    "reason": pl.Utf8(),
    "source": pl.Utf8(),
    "iteration": pl.Int64(),
    "at": pl.Datetime("us", "UTC"),
    "annotation_id": pl.Utf8(),
}

#: The columns every version's ``changes.parquet`` has had since the first format.
BASE_CHANGES_COLUMNS = ("sample_id", "field", "old", "new", "reason", "source", "iteration", "at")


def empty_changes() -> pl.DataFrame:
    """An empty lineage table with the canonical schema.

    Examples
    --------
    >>> empty_changes().columns
    ['sample_id', 'field', 'old', 'new', 'reason', 'source', 'iteration', 'at', 'annotation_id']
    """
    return pl.DataFrame(schema=CHANGES_SCHEMA)


def changes_frame(
    sample_ids: Sequence[str] | pl.Series,
    field: str,
    old: Sequence[str | None] | pl.Series,
    new: Sequence[str | None] | pl.Series,
    *,
    reason: str | Sequence[str],
    source: str | Sequence[str],
    iteration: int | None = None,
    annotation_ids: Sequence[str] | pl.Series | None = None,
) -> pl.DataFrame:
    """Build lineage rows for one field; ``reason``/``source`` may be per-row sequences.

    ``annotation_ids`` names the box of each row for box edits (null for sample edits).

    Examples
    --------
    >>> f = changes_frame(["a"], "label", ["cat"], ["dog"], reason="label error", source="label")
    >>> f.select("sample_id", "old", "new").row(0)
    ('a', 'cat', 'dog')
    """
    n = len(sample_ids)
    now = datetime.now(timezone.utc)
    frame = pl.DataFrame(
        {
            "sample_id": pl.Series(sample_ids, dtype=pl.Utf8),
            "field": pl.Series([field] * n, dtype=pl.Utf8),
            "old": pl.Series(old, dtype=pl.Utf8),
            "new": pl.Series(new, dtype=pl.Utf8),
            "reason": pl.Series([reason] * n if isinstance(reason, str) else reason, dtype=pl.Utf8),
            "source": pl.Series([source] * n if isinstance(source, str) else source, dtype=pl.Utf8),
            "iteration": pl.Series([iteration] * n, dtype=pl.Int64),
            "at": pl.Series([now] * n, dtype=pl.Datetime("us", "UTC")),
            "annotation_id": pl.Series(
                [None] * n if annotation_ids is None else annotation_ids, dtype=pl.Utf8
            ),
        }
    )
    return frame
