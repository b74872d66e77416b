"""Differences between two manifests (or two box tables), as one long table."""

from __future__ import annotations

import polars as pl

__all__ = ["DIFF_SCHEMA", "diff_annotations", "diff_manifests"]

DIFF_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.Utf8(),
    "change": pl.Utf8(),
    "field": pl.Utf8(),
    "old": pl.Utf8(),
    "new": pl.Utf8(),
}


def diff_manifests(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Compare two manifests by ``sample_id``.

    Returns one row per added sample (``change="added"``), removed sample
    (``"removed"``) and changed field of a kept sample (``"modified"``, with the field
    and its old and new values as text). Columns present in only one manifest are
    reported as modified for every kept sample where the value is not null.

    Examples
    --------
    >>> import polars as pl
    >>> a = pl.DataFrame({"sample_id": ["1", "2"], "label": ["x", "y"]})
    >>> b = pl.DataFrame({"sample_id": ["2", "3"], "label": ["x", "x"]})
    >>> for row in diff_manifests(a, b).rows():
    ...     print(row)
    ('3', 'added', None, None, None)
    ('1', 'removed', None, None, None)
    ('2', 'modified', 'label', 'y', 'x')
    """
    return _diff(old, new, "sample_id")


def diff_annotations(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Compare two box tables by ``annotation_id``, as :func:`diff_manifests` compares
    manifests (the first column is ``annotation_id``).

    Examples
    --------
    >>> a = pl.DataFrame({"annotation_id": ["1", "2"], "label": ["x", "y"], "w": [1.0, 2.0]})
    >>> b = pl.DataFrame({"annotation_id": ["2", "3"], "label": ["y", "x"], "w": [2.5, 1.0]})
    >>> for row in diff_annotations(a, b).rows():
    ...     print(row)
    ('3', 'added', None, None, None)
    ('1', 'removed', None, None, None)
    ('2', 'modified', 'w', '2.0', '2.5')
    """
    out = _diff(old, new, "annotation_id")
    return out.rename({"sample_id": "annotation_id"})


def _diff(old: pl.DataFrame, new: pl.DataFrame, key: str) -> pl.DataFrame:
    added = new.join(old.select(key), on=key, how="anti").select(key)
    removed = old.join(new.select(key), on=key, how="anti").select(key)
    fields = [c for c in dict.fromkeys([*old.columns, *new.columns]) if c != key]
    o = old.select(key, *[pl.col(c).cast(pl.Utf8) for c in fields if c in old.columns])
    n = new.select(key, *[pl.col(c).cast(pl.Utf8) for c in fields if c in new.columns])
    o = o.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in fields if c not in o.columns])
    n = n.with_columns([pl.lit(None, pl.Utf8).alias(c) for c in fields if c not in n.columns])
    both = o.join(n, on=key, how="inner", suffix="__new")
    parts = [
        both.filter(pl.col(c).ne_missing(pl.col(f"{c}__new"))).select(
            pl.col(key).alias("sample_id"),
            pl.lit("modified").alias("change"),
            pl.lit(c).alias("field"),
            pl.col(c).alias("old"),
            pl.col(f"{c}__new").alias("new"),
        )
        for c in fields
    ]

    def whole(frame: pl.DataFrame, change: str) -> pl.DataFrame:
        return frame.select(
            pl.col(key).cast(pl.Utf8).alias("sample_id"),
            pl.lit(change).alias("change"),
            pl.lit(None, pl.Utf8).alias("field"),
            pl.lit(None, pl.Utf8).alias("old"),
            pl.lit(None, pl.Utf8).alias("new"),
        )

    out = pl.concat(
        [whole(added, "added"), whole(removed, "removed"), *parts], how="vertical_relaxed"
    )
    return out.cast(DIFF_SCHEMA)  # type: ignore[arg-type]
