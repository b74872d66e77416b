"""A review queue a team can work through: ranked by the expected value of a look, bounded.

Every flagged sample that the fix policy did not fix is a *candidate*. Each gets one row
(its issues merged) and a priority::

    priority = p_wrong × slice_weight

``p_wrong`` — the probability that a person looking at it finds something to change:

* ``label``: ``1 - label_quality`` (one minus the out-of-sample probability of the given
  label); the finder's ``severity`` when that column is missing.
* ``annotator_disagreement``: its ``severity`` (one minus the consensus quality: already
  a probability).
* every other type: ``prior × severity``, with the per-type prior of :data:`P_WRONG_PRIOR`
  (the share of that type's flags expected to be real problems; a stated judgement, not a
  calibration: e.g. 0.9 for a leaked copy, 0.3 for an image-quality flag). Most finders put
  ``severity`` at 0.5 on their threshold and 1 far past it, so a flag just past the
  threshold counts half its prior.
* the copy a duplicate cluster keeps (``exact_duplicate`` or ``near_duplicate`` with
  ``keep`` true): 0 — the decision is about its other copies, which carry the flag.
* several issues on one sample: ``1 - Π(1 - p_i)`` (at least one of them is real,
  taking them as independent).

``slice_weight`` — how much the sample's slices lag: ``1 + max(0, e_s - e)`` over the slices
``s`` the sample belongs to, where ``e_s`` is the slice's error rate (1 - accuracy; on a
detection dataset 1 - mAP@0.5) and ``e``
the overall one, from the slice metrics of the model the scan judged (slices marked
``low_support`` are left out); 1 without metrics. A sample of a slice that errs 12 points more
often than overall weighs 1.12.

The first ``budget`` samples by priority (ties: sample id) are ``queued``; the rest are kept
as ``deferred`` (nothing is dropped; the next iteration's scan ranks them again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from numbers import Integral
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options, validate_call
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices.metrics import OVERALL
from datacentric.slices.spec import SliceSpec

if TYPE_CHECKING:
    from datacentric.slices import SliceMetrics

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BUDGET_CAP",
    "DEFAULT_BUDGET_SHARE",
    "P_WRONG_PRIOR",
    "default_review_budget",
    "effective_budget",
    "queue_summary",
    "rank_review_queue",
    "review_line",
]

#: The default budget is the smaller of this many samples ...
DEFAULT_BUDGET_CAP = 300
#: ... and this share of the dataset (at least 1).
DEFAULT_BUDGET_SHARE = 0.05

#: Per-type prior probability that a flag of that type is a real problem (``p_wrong =
#: prior × severity``). ``label`` and ``annotator_disagreement`` use their own probabilities
#: instead; types not listed get :data:`_OTHER_PRIOR`.
P_WRONG_PRIOR: Mapping[str, float] = {
    "integrity": 1.0,
    "leakage": 0.9,
    "exact_duplicate": 0.9,
    "near_duplicate": 0.5,
    "label_inconsistency": 0.5,  # one of two conflicting labels is wrong
    "outlier": 0.3,
    "dark": 0.3,
    "bright": 0.3,
    "blurry": 0.3,
    "low_information": 0.3,
    "odd_size": 0.3,
    "odd_aspect_ratio": 0.3,
    "grayscale": 0.3,
    "imbalance": 0.1,  # a data-collection task rather than a review
    "box_geometry": 1.0,  # a box reaching outside its image is wrong as drawn
    "duplicate_box": 0.9,
    "swapped_box": 0.8,
    "badly_located_box": 0.8,
    "overlooked_box": 0.8,
}
_OTHER_PRIOR = 0.3
_OWN_PROBABILITY = ("annotator_disagreement",)
_DUPLICATE_TYPES = ("exact_duplicate", "near_duplicate")

Budget = int | Literal["all"] | None

_FIRST = ("rank", "sample_id", "status", "priority", "p_wrong", "slice_weight", "worst_slice")
_MERGED = ("issue_type", "issue_types", "severity", "suggested_label", "detail")
# per-issue columns of a scan that mean nothing once a sample's issues are merged
_PER_ISSUE = (
    "is_issue",
    "label_quality",
    "predicted_prob",
    "predicted_label",
    "value",
    "threshold",
    "keep",
    "duplicate_of",
    "cluster_id",
)


def default_review_budget(n_samples: int) -> int:
    """The default review budget of a dataset of ``n_samples``: ``min(300, 5 %)``, at least 1.

    Examples
    --------
    >>> default_review_budget(1704), default_review_budget(100_000), default_review_budget(10)
    (85, 300, 1)
    """
    return max(1, min(DEFAULT_BUDGET_CAP, int(n_samples * DEFAULT_BUDGET_SHARE)))


def effective_budget(budget: Budget, n_samples: int) -> int | Literal["all"]:
    """The budget a policy's ``review_budget`` means for a dataset of ``n_samples``.

    Examples
    --------
    >>> effective_budget(None, 1704), effective_budget(20, 1704), effective_budget("all", 9)
    (85, 20, 'all')
    """
    return default_review_budget(n_samples) if budget is None else budget


def _p_wrong(issues: pl.DataFrame, priors: Mapping[str, float]) -> pl.Expr:
    """``p_wrong`` of each issue row (see the module docstring), in [0, 1]."""
    sev = pl.col("severity").cast(pl.Float64).fill_null(0.0).fill_nan(0.0)
    prior = (
        pl.col("issue_type")
        .cast(pl.Utf8)
        .replace_strict(dict(priors), default=_OTHER_PRIOR, return_dtype=pl.Float64)
    )
    own = pl.col("issue_type").is_in(list(_OWN_PROBABILITY))
    expr = pl.when(own).then(sev).otherwise(prior * sev)
    if "label_quality" in issues.columns:
        quality = pl.col("label_quality").cast(pl.Float64)
        expr = (
            pl.when((pl.col("issue_type") == "label") & quality.is_not_null() & ~quality.is_nan())
            .then(1.0 - quality)
            .when(pl.col("issue_type") == "label")
            .then(sev)
            .otherwise(expr)
        )
    else:
        expr = pl.when(pl.col("issue_type") == "label").then(sev).otherwise(expr)
    if "keep" in issues.columns:  # the kept copy of a duplicate cluster: its partners decide
        kept = pl.col("issue_type").is_in(list(_DUPLICATE_TYPES)) & pl.col("keep").fill_null(False)
        expr = pl.when(kept).then(0.0).otherwise(expr)
    return expr.clip(0.0, 1.0)


def _slice_weights(
    samples: pl.DataFrame, metrics: SliceMetrics | None
) -> tuple[pl.Series, pl.Series]:
    """``(slice_weight, worst_slice)`` for each row of ``samples`` (see the module docstring)."""
    n = samples.height
    ones = pl.Series("slice_weight", [1.0] * n, dtype=pl.Float64)
    none = pl.Series("worst_slice", [None] * n, dtype=pl.Utf8)
    if metrics is None or n == 0:
        return ones, none
    # classification: accuracy; detection: mAP@0.5 (1 - it stands for the error rate)
    have = set(metrics.table["metric"].unique().to_list())
    headline = "accuracy" if "accuracy" in have or "map50" not in have else "map50"
    acc = metrics.table.filter(pl.col("metric") == headline)
    overall = acc.filter(pl.col("slice") == OVERALL)["value"]
    if overall.len() == 0 or overall[0] is None:
        return ones, none
    definitions = metrics.meta.get("slices") or {}
    gaps = []  # (gap, name), worst first
    for name, value, low in acc.select("slice", "value", "low_support").rows():
        if name == OVERALL or value is None or low or name not in definitions:
            continue
        gap = float(overall[0]) - float(value)  # = slice error rate - overall error rate
        if gap > 0:
            gaps.append((gap, str(name)))
    gap_of = np.zeros(n)
    worst = np.full(n, None, dtype=object)
    weighed = np.zeros(n, dtype=bool)
    for gap, name in sorted(gaps, key=lambda g: (-g[0], g[1])):  # the worst slice first
        try:
            spec = SliceSpec.from_dict(definitions[name], source=f"slice {name!r} of the metrics")
            if not set(spec.columns) <= set(samples.columns):
                continue  # a slice on columns these samples lack (e.g. `pred`): no weight
            pieces = spec.expand(samples)
        except (SchemaError, InvalidParameterError) as exc:  # a weight, not worth a failed loop
            log.warning("review queue: slice %r gives no weight (%s)", name, exc)
            continue
        for piece in pieces:
            first = piece.mask(samples).to_numpy().astype(bool) & ~weighed
            gap_of[first], worst[first], weighed[first] = gap, name, True
    return (
        pl.Series("slice_weight", 1.0 + gap_of, dtype=pl.Float64),
        pl.Series("worst_slice", worst.tolist(), dtype=pl.Utf8),
    )


@validate_call(
    {
        "issues": [pl.DataFrame],
        "budget": [Interval(Integral, 0, None, closed="left"), Options(str, ("all",)), None],
        "n_samples": [Interval(Integral, 0, None, closed="left"), None],
        "priors": [Mapping, None],
    }
)
def rank_review_queue(
    issues: pl.DataFrame,
    *,
    samples: pl.DataFrame | None = None,
    slice_metrics: SliceMetrics | None = None,
    budget: Budget = None,
    n_samples: int | None = None,
    priors: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """Rank the samples to review by ``p_wrong × slice_weight`` and cut at the budget.

    Parameters
    ----------
    issues : polars.DataFrame
        The flagged issue rows to review: ``sample_id, issue_type, severity`` and optionally
        ``suggested_label, detail, label_quality`` and sample columns (label, split,
        metadata); several rows per sample are merged.
    samples : polars.DataFrame, optional
        ``sample_id`` and the columns the slices use (default: those in ``issues``).
    slice_metrics : SliceMetrics, optional
        The slice metrics of the model the scan judged (accuracy per slice and the slice
        definitions in ``meta["slices"]``); without them every slice weight is 1.
    budget : int >= 0, "all" or None
        How many samples to queue: ``None`` for :func:`default_review_budget` of
        ``n_samples``, ``0`` for none (everything deferred), ``"all"`` for no bound.
    n_samples : int, optional
        Samples in the dataset, for the default budget (default: the samples in ``issues``).
    priors : mapping, optional
        Per-type priors replacing those of :data:`P_WRONG_PRIOR` (others are kept).

    Returns
    -------
    polars.DataFrame
        One row per sample, best first: ``rank`` (1 = look first), ``sample_id``,
        ``status`` (``queued`` or ``deferred``), ``priority``, ``p_wrong``,
        ``slice_weight``, ``worst_slice`` (the lagging slice that set the weight, or null),
        ``issue_type`` (the issue with the highest ``p_wrong``), ``issue_types`` (all of
        them, in that order), ``severity`` (the highest), ``suggested_label``, ``detail``,
        then the sample columns of ``issues``.

    Examples
    --------
    >>> issues = pl.DataFrame({
    ...     "sample_id": ["a", "b", "b", "c"],
    ...     "issue_type": ["label", "dark", "blurry", "outlier"],
    ...     "severity": [0.9, 1.0, 0.5, 0.6],
    ...     "label_quality": [0.2, None, None, None],
    ... })
    >>> q = rank_review_queue(issues, budget=2)
    >>> q.select("rank", "sample_id", "status", "p_wrong", "issue_types").rows()
    [(1, 'a', 'queued', 0.8, ['label']), (2, 'b', 'queued', 0.405, ['dark', 'blurry']),
     (3, 'c', 'deferred', 0.18, ['outlier'])]
    >>> queue_summary(q)["coverage"]
    0.8700361010830325
    """
    table = {**P_WRONG_PRIOR, **(priors or {})}
    missing = [c for c in ("sample_id", "issue_type", "severity") if c not in issues.columns]
    if missing:
        raise SchemaError(
            f"rank_review_queue: the issues need columns {missing}; received {issues.columns}. "
            "Pass flagged rows of a scan (ScanResult.flagged())."
        )
    rows = issues.with_columns(
        pl.col("sample_id").cast(pl.Utf8),
        pl.col("issue_type").cast(pl.Utf8),
        pl.col("severity").cast(pl.Float64),
        *(
            pl.lit(None, dtype=pl.Utf8).alias(c)
            for c in ("suggested_label", "detail")
            if c not in issues.columns
        ),
    )
    rows = rows.with_columns(_p_wrong(rows, table).alias("p_wrong")).sort(
        ["sample_id", "p_wrong", "issue_type"], descending=[False, True, False]
    )
    extra = [c for c in rows.columns if c not in (*_MERGED, *_PER_ISSUE, "sample_id", "p_wrong")]
    merged = rows.group_by("sample_id", maintain_order=True).agg(
        pl.when(pl.len() == 1)
        .then(pl.col("p_wrong").first())
        .otherwise(1.0 - (1.0 - pl.col("p_wrong")).product())
        .alias("p_wrong"),
        pl.col("issue_type").first(),
        pl.col("issue_type").unique(maintain_order=True).alias("issue_types"),
        pl.col("severity").max(),
        pl.col("suggested_label").cast(pl.Utf8).drop_nulls().first(),
        pl.col("detail").cast(pl.Utf8).drop_nulls().unique(maintain_order=True).str.join(" "),
        *(pl.col(c).first() for c in extra),
    )
    frame = samples if samples is not None else merged
    if "sample_id" not in frame.columns:
        raise SchemaError(
            f"rank_review_queue: samples need a 'sample_id' column; received {frame.columns}."
        )
    frame = merged.select("sample_id").join(
        frame.with_columns(pl.col("sample_id").cast(pl.Utf8)).unique("sample_id", keep="first"),
        on="sample_id",
        how="left",
    )
    weight, worst = _slice_weights(frame, slice_metrics)
    merged = merged.with_columns(weight, worst).with_columns(
        (pl.col("p_wrong") * pl.col("slice_weight")).alias("priority")
    )
    merged = merged.sort(["priority", "sample_id"], descending=[True, False])
    limit = effective_budget(budget, merged.height if n_samples is None else n_samples)
    cut = merged.height if limit == "all" else int(limit)
    merged = merged.with_columns(
        pl.int_range(1, merged.height + 1, dtype=pl.Int64).alias("rank"),
        pl.when(pl.int_range(0, merged.height) < cut)
        .then(pl.lit("queued"))
        .otherwise(pl.lit("deferred"))
        .alias("status"),
    )
    return merged.select(*_FIRST, *_MERGED, *extra)


def queue_summary(ranked: pl.DataFrame, budget: int | str | None = None) -> dict[str, Any]:
    """What the budget covers, from a :func:`rank_review_queue` table (queued and deferred).

    Returns
    -------
    dict
        ``queued``, ``candidates`` (flagged samples left for a person), ``deferred``,
        ``budget`` (as given: the :func:`effective_budget`, an int or ``"all"``),
        ``expected_errors`` (sum of ``p_wrong`` over the candidates), ``expected_errors_queued``
        and ``coverage`` (their ratio; 1.0 when there is nothing to review).

    Examples
    --------
    >>> t = pl.DataFrame({"status": ["queued", "deferred"], "p_wrong": [0.75, 0.25]})
    >>> queue_summary(t, 1)
    {'queued': 1, 'candidates': 2, 'deferred': 1, 'budget': 1, 'expected_errors': 1.0, \
'expected_errors_queued': 0.75, 'coverage': 0.75}
    """
    queued = ranked.filter(pl.col("status") == "queued")
    total = float(ranked["p_wrong"].sum()) if ranked.height else 0.0
    got = float(queued["p_wrong"].sum()) if queued.height else 0.0
    return {
        "queued": queued.height,
        "candidates": ranked.height,
        "deferred": ranked.height - queued.height,
        "budget": budget,
        "expected_errors": total,
        "expected_errors_queued": got,
        "coverage": got / total if total > 0 else 1.0,
    }


def review_line(summary: Mapping[str, Any]) -> str:
    """One sentence on what the review budget covers (the CLI and the loop report print it).

    Examples
    --------
    >>> review_line({"queued": 85, "candidates": 1417, "deferred": 1332, "budget": 85,
    ...              "expected_errors": 140.0, "expected_errors_queued": 70.0, "coverage": 0.5})
    'queued 85 of 1,417 flagged samples for review (budget 85); the queue covers 50.0% of the \
expected errors (70.0 of 140.0), 1,332 deferred'
    """
    if not summary or not summary.get("candidates"):
        return "nothing left to review"
    budget = summary.get("budget")
    return (
        f"queued {summary['queued']:,} of {summary['candidates']:,} flagged samples for review "
        f"({f'budget {budget:,}' if isinstance(budget, int) else 'no budget'}); the queue covers "
        f"{summary['coverage']:.1%} of the expected errors "
        f"({summary['expected_errors_queued']:.1f} of {summary['expected_errors']:.1f}), "
        f"{summary['deferred']:,} deferred"
    )
