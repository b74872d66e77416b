"""The `IssueFinder` base class and the IssueTable schema every finder returns."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from datacentric.exceptions import InvalidParameterError, SchemaError

if TYPE_CHECKING:
    from datacentric.issues.context import ScanContext

__all__ = [
    "ISSUE_SCHEMA",
    "REQUIREMENTS",
    "IssueFinder",
    "issue_table",
]

ISSUE_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.Utf8(),
    "issue_type": pl.Utf8(),
    "is_issue": pl.Boolean(),
    "severity": pl.Float64(),
    "suggested_label": pl.Utf8(),
    "detail": pl.Utf8(),
}

#: What a finder may require; ``scan`` skips a finder whose requirement is absent.
REQUIREMENTS = frozenset({"labels", "pred_probs", "embeddings", "images", "annotators", "splits"})


def issue_table(
    issue_type: str,
    sample_ids: Sequence[str] | pl.Series,
    is_issue: Sequence[bool] | np.ndarray | pl.Series,
    severity: Sequence[float] | np.ndarray | pl.Series,
    detail: Sequence[str | None] | pl.Series,
    suggested_label: Sequence[str | None] | pl.Series | None = None,
    **extra: Sequence[Any] | np.ndarray | pl.Series,
) -> pl.DataFrame:
    """Build an IssueTable: the common columns, then finder-specific ones.

    Severity is clipped to [0, 1] (higher is worse).

    Examples
    --------
    >>> t = issue_table("dark", ["a", "b"], [True, False], [0.9, 0.1], ["too dark", None])
    >>> t.columns
    ['sample_id', 'issue_type', 'is_issue', 'severity', 'suggested_label', 'detail']
    """
    n = len(sample_ids)
    sev = np.clip(np.asarray(severity, dtype=np.float64), 0.0, 1.0)
    frame = pl.DataFrame(
        {
            "sample_id": pl.Series(sample_ids, dtype=pl.Utf8),
            "issue_type": pl.Series([issue_type] * n, dtype=pl.Utf8),
            "is_issue": pl.Series(np.asarray(is_issue, dtype=bool)),
            "severity": pl.Series(sev),
            "suggested_label": pl.Series(
                [None] * n if suggested_label is None else suggested_label, dtype=pl.Utf8
            ),
            "detail": pl.Series(detail, dtype=pl.Utf8),
        }
    )
    if extra:
        frame = frame.with_columns([pl.Series(name, v, strict=False) for name, v in extra.items()])
    return frame


class IssueFinder:
    """Base of every issue finder: one class per issue type, one file per class.

    A subclass declares on itself ``name`` (the ``issue_type`` it reports), ``requires``
    (a subset of :data:`REQUIREMENTS`), a one-line ``description``, and its parameters
    as keyword arguments of ``__init__`` stored under the same names (scikit-learn
    style, so :meth:`get_params` works). ``find(ctx)`` returns an IssueTable with one row
    per sample it examined; it must not mutate the context or keep state between calls.

    Examples
    --------
    >>> class AlwaysFine(IssueFinder):
    ...     name = "always_fine"
    ...     requires = frozenset({"labels"})
    ...     description = "Flags nothing."
    ...     def find(self, ctx):
    ...         ids = ctx.dataset.sample_ids
    ...         return issue_table(self.name, ids, [False] * len(ids), [0.0] * len(ids),
    ...                            [None] * len(ids))
    >>> AlwaysFine().get_params()
    {}
    """

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    description: ClassVar[str] = ""
    #: Extra issue types a finder reports besides ``name`` (e.g. image_quality's sub-types).
    reports: ClassVar[tuple[str, ...]] = ()
    #: When a scan leaves images that cannot be read out of the model, every finder sees
    #: the readable rows only, except those with ``all_rows = True`` (integrity), which see
    #: every row and report the others.
    all_rows: ClassVar[bool] = False

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Return the IssueTable for the samples of ``ctx.dataset``."""
        raise NotImplementedError

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """The finder's parameters, as passed to ``__init__``."""
        return {k: getattr(self, k) for k in self._param_names()}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # helpers for subclasses --------------------------------------------------
    @staticmethod
    def check_range(name: str, value: float, low: float, high: float, *, finder: str) -> float:
        """Raise :class:`InvalidParameterError` unless ``low <= value <= high``."""
        if not (isinstance(value, (int, float)) and low <= float(value) <= high):
            raise InvalidParameterError(
                f"{finder}: parameter {name} must be a number in [{low}, {high}], received "
                f"{value!r}."
            )
        return float(value)

    def check_output(self, table: pl.DataFrame) -> pl.DataFrame:
        """Check a finder's output against the IssueTable schema."""
        missing = [c for c in ISSUE_SCHEMA if c not in table.columns]
        if missing:
            raise SchemaError(f"finder {self.name!r} returned a table without columns {missing}.")
        wrong = [
            f"{c} is {table.schema[c]}, expected {t}"
            for c, t in ISSUE_SCHEMA.items()
            if table.schema[c] != t
        ]
        if wrong:
            raise SchemaError(f"finder {self.name!r} returned wrong column types: {wrong}.")
        return table
