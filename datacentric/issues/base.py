"""The `IssueFinder` base class and the IssueTable schema every finder returns."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import param_names, validate_params
from datacentric.exceptions import SchemaError

if TYPE_CHECKING:
    from datacentric.issues.context import ScanContext

__all__ = [
    "ISSUE_SCHEMA",
    "REQUIREMENTS",
    "IssueFinder",
    "concat_issue_tables",
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
#: ``boxes``: a detection dataset; ``predicted_boxes``: out-of-sample predicted boxes;
#: ``class_labels``: labels on samples or on boxes.
REQUIREMENTS = frozenset(
    {
        "labels",
        "pred_probs",
        "embeddings",
        "images",
        "annotators",
        "splits",
        "boxes",
        "predicted_boxes",
        "class_labels",
    }
)


def issue_table(
    issue_type: str,
    sample_ids: Sequence[str] | pl.Series,
    is_issue: Sequence[bool] | np.ndarray | pl.Series,
    severity: Sequence[float] | np.ndarray | pl.Series,
    detail: Sequence[str | None] | pl.Series,
    suggested_label: Sequence[str | None] | pl.Series | None = None,
    annotation_id: Sequence[str | None] | np.ndarray | pl.Series | None = None,
    **extra: Sequence[Any] | np.ndarray | pl.Series,
) -> pl.DataFrame:
    """Build an IssueTable: the common columns, then finder-specific ones.

    Severity is clipped to [0, 1] (higher is worse). Box-level finders pass
    ``annotation_id`` (the box a row is about; null for a row about no given box): it
    becomes a Utf8 column after ``detail``.

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
            "sample_id": _text(sample_ids, n),
            "issue_type": pl.repeat(issue_type, n, dtype=pl.Utf8, eager=True),
            "is_issue": pl.Series(np.asarray(is_issue, dtype=bool)),
            "severity": pl.Series(sev),
            "suggested_label": _text(suggested_label, n),
            "detail": _text(detail, n),
        }
    )
    if annotation_id is not None:
        frame = frame.with_columns(pl.Series("annotation_id", annotation_id, dtype=pl.Utf8))
    if extra:
        frame = frame.with_columns([pl.Series(name, v, strict=False) for name, v in extra.items()])
    return frame


def _text(values: Sequence[str | None] | pl.Series | None, n: int) -> pl.Series:
    """A text column of ``n`` rows: a Series as is (its buffers shared, not copied); no values,
    or only ``None``, as a column of nulls that takes no memory per row (most rows of
    ``detail`` and ``suggested_label`` are null: the rows that are not flagged)."""
    if isinstance(values, pl.Series):
        return values if values.dtype == pl.Utf8 else values.cast(pl.Utf8)
    if values is None or all(v is None for v in values):
        return pl.Series(dtype=pl.Utf8).extend_constant(None, n)
    return pl.Series(values, dtype=pl.Utf8)


def concat_issue_tables(
    tables: Sequence[pl.DataFrame], shared_ids: Sequence[pl.Series] = ()
) -> pl.DataFrame:
    """Stack finders' IssueTables into one table, without copying them.

    The result equals ``pl.concat(tables, how="diagonal_relaxed")`` (columns in order of
    first appearance, each of the common supertype; a column a table lacks is null in its
    rows), but it is laid out so that its memory stays the finders' own:

    - a ``sample_id`` column equal to one of ``shared_ids`` (the manifest's ids) is
      replaced by that Series, so the 16 or so tables of a scan share one copy of the ids;
    - a column a table lacks is a run of nulls that takes no memory per row;
    - every column is cut at the same row boundaries (one chunk per piece of a table), so
      that row-wise work on the result (``filter``, a Parquet write) goes piece by piece.
      With columns chunked differently polars first copies every column into one chunk:
      at 1 M images, 16 M rows and 27 columns, that copy was 3.3 GB.

    Examples
    --------
    >>> a = issue_table("dark", ["a", "b"], [True, False], [0.9, 0.1], ["too dark", None],
    ...                 value=[0.1, 0.5])
    >>> b = issue_table("label", ["a", "b"], [False, True], [0.2, 0.8], [None, "check"],
    ...                 predicted_label=["x", "y"])
    >>> t = concat_issue_tables([a, b])
    >>> t.equals(pl.concat([a, b], how="diagonal_relaxed"))
    True
    >>> {t[c].n_chunks() for c in t.columns}
    {2}
    """
    if not tables:
        return pl.DataFrame(schema=ISSUE_SCHEMA)
    schema = pl.concat([t.clear() for t in tables], how="diagonal_relaxed").schema
    pieces: list[pl.DataFrame] = []
    for table in tables:
        if "sample_id" in table.columns:
            ids = table.get_column("sample_id")
            same = next((s for s in shared_ids if s.dtype == ids.dtype and s.equals(ids)), None)
            if same is not None:
                table = table.with_columns(same.alias("sample_id"))
        for piece in _aligned_pieces(table):
            n = piece.height
            pieces.append(
                pl.DataFrame(
                    [
                        piece.get_column(c).cast(dtype)
                        if c in piece.columns
                        else pl.Series(c, dtype=dtype).extend_constant(None, n)
                        for c, dtype in schema.items()
                    ]
                )
            )
    return pl.concat(pieces, how="vertical", rechunk=False)


def _aligned_pieces(table: pl.DataFrame) -> list[pl.DataFrame]:
    """``table`` cut (zero-copy slices) at every chunk boundary of any of its columns, so
    that in each piece every column is one chunk."""
    cuts = {0, table.height}
    for s in table.get_columns():
        if s.n_chunks() > 1:
            at = 0
            for chunk in s.get_chunks():
                at += len(chunk)
                cuts.add(at)
    bounds = sorted(cuts)
    if len(bounds) <= 2:
        return [table]
    return [table.slice(a, b - a) for a, b in itertools.pairwise(bounds) if b > a]


class IssueFinder:
    """Base of every issue finder: one class per issue type, one file per class.

    A subclass declares on itself ``name`` (the ``issue_type`` it reports), ``requires``
    (a subset of :data:`REQUIREMENTS`), a one-line ``description``, its parameters as
    keyword arguments of ``__init__`` stored unchanged under the same names (scikit-learn
    style, so :meth:`get_params` works), and what each parameter accepts in
    ``_parameter_constraints`` (see :mod:`datacentric._validation`: ``Interval``,
    ``Options``, types, ``None``, ``"boolean"`` ...). The parameters are checked against
    the declaration when ``__init__`` returns — in one place, with one message form — so
    ``__init__`` only stores them. ``find(ctx)`` returns an IssueTable with one row per
    sample it examined; it must not mutate the context or keep state between calls.

    Examples
    --------
    >>> from numbers import Real
    >>> from datacentric._validation import Interval
    >>> class AlwaysFine(IssueFinder):
    ...     name = "always_fine"
    ...     requires = frozenset({"labels"})
    ...     description = "Flags nothing."
    ...     _parameter_constraints = {"level": [Interval(Real, 0, 1)]}
    ...     def __init__(self, level=0.5):
    ...         self.level = level
    ...     def find(self, ctx):
    ...         ids = ctx.dataset.sample_ids
    ...         return issue_table(self.name, ids, [False] * len(ids), [0.0] * len(ids),
    ...                            [None] * len(ids))
    >>> AlwaysFine().get_params()
    {'level': 0.5}
    >>> AlwaysFine(level=2)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: AlwaysFine: parameter level must be a ...
    """

    name: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    description: ClassVar[str] = ""
    #: Extra issue types a finder reports besides ``name`` (e.g. image_quality's sub-types).
    reports: ClassVar[tuple[str, ...]] = ()
    #: What each ``__init__`` parameter accepts: ``{name: [constraint, ...]}``, valid when
    #: one constraint is met. Every parameter needs an entry (``check_issue_finder``).
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make the subclass's own ``__init__`` check the parameters when it returns."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_validates_params", False):
            setattr(cls, "__init__", _validating(init))  # noqa: B010 (mypy: no method assign)

    #: When a scan leaves images that cannot be read out of the model, every finder sees
    #: the readable rows only, except those with ``all_rows = True`` (integrity), which see
    #: every row and report the others.
    all_rows: ClassVar[bool] = False

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Return the IssueTable for the samples of ``ctx.dataset``."""
        raise NotImplementedError

    @classmethod
    def _param_names(cls) -> list[str]:
        return param_names(cls)

    def get_params(self) -> dict[str, Any]:
        """The finder's parameters, as passed to ``__init__``."""
        return {k: getattr(self, k) for k in self._param_names()}

    def validate_params(self) -> None:
        """Check the parameters against ``_parameter_constraints``.

        Runs when ``__init__`` returns; ``scan`` runs it again, in case an attribute was
        changed after construction. Raises
        :class:`~datacentric.exceptions.InvalidParameterError` naming the parameter.
        """
        validate_params(self)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

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


def _validating(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a finder's ``__init__``: validate once the outermost ``__init__`` returns.

    A subclass ``__init__`` that calls ``super().__init__()`` is wrapped too; only the
    wrapper of the instance's own class validates, after every attribute is set.
    """

    @functools.wraps(init)
    def __init__(self: IssueFinder, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        init(self, *args, **kwargs)
        if type(self).__init__ is __init__:
            self.validate_params()

    __init__._validates_params = True  # type: ignore[attr-defined]
    return __init__
