"""Fix policies: what a scan may change on its own, and what goes to a person.

``fix(ds, scan, policy)`` applies the automatic edits — relabel confident label errors in
the training split, remove exact duplicate copies and leaked copies of evaluation
samples — each with lineage (reason, finder, score), commits them as a new dataset
version, and returns the review queue: every other flagged sample, one row each, ranked by
the expected value of a look and cut at the policy's review budget (the rest kept as
deferred; see :mod:`datacentric.loop.review_queue`). The review queue is what Label Studio
consumes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl

from datacentric._validation import Interval, Options, SequenceOf, validate_params
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.result import ScanResult
from datacentric.loop.review_queue import (
    Budget,
    effective_budget,
    queue_summary,
    rank_review_queue,
)

if TYPE_CHECKING:
    from datacentric.slices import SliceMetrics

__all__ = ["FixPolicy", "FixResult", "fix"]

REVIEW_COLUMNS = ["sample_id", "issue_type", "severity", "suggested_label", "detail"]


@dataclass(frozen=True)
class FixPolicy:
    """What ``fix`` may do without a person.

    Parameters
    ----------
    relabel_min_confidence : float in [0, 1]
        Relabel a ``label`` issue automatically when the out-of-sample model gives its
        suggested class at least this probability (default 0.9); below, it is queued.
    relabel_splits : tuple of str
        Splits whose labels may be changed automatically (default train only: the
        evaluation set is never edited by a model).
    max_relabel_fraction : float in [0, 1]
        Refuse to relabel more than this share of a split's rows in one iteration
        (default 0.25): beyond that the model, not the data, is the likelier culprit;
        the excess goes to review, most confident first kept.
    remove_exact_duplicates : bool
        Remove every copy but the kept one of an exact-duplicate cluster in the same split.
    remove_leaked : bool
        Remove copies of evaluation samples found in a less protected split.
    review_types : tuple of str or None
        Issue types queued for review when flagged and not fixed (None: all types).
    review_budget : int >= 0, "all" or None
        How many samples the review queue holds, best first (see
        :func:`~datacentric.loop.review_queue.rank_review_queue`): ``None`` (default) for
        ``min(300, 5 % of the dataset)``, at least 1; ``0`` to queue nothing; ``"all"`` for no
        bound. The samples past the budget are kept as deferred, not dropped.

    Examples
    --------
    >>> FixPolicy(review_budget=50).review_budget
    50
    >>> FixPolicy(review_budget="some")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: FixPolicy: parameter review_budget must be ...
    """

    relabel_min_confidence: float = 0.9
    relabel_splits: tuple[str, ...] = ("train",)
    max_relabel_fraction: float = 0.25
    remove_exact_duplicates: bool = True
    remove_leaked: bool = True
    review_types: tuple[str, ...] | None = None
    review_budget: Budget = None

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "relabel_min_confidence": [Interval(Real, 0, 1, closed="both")],
        "relabel_splits": [SequenceOf(str)],
        "max_relabel_fraction": [Interval(Real, 0, 1, closed="both")],
        "remove_exact_duplicates": ["boolean"],
        "remove_leaked": ["boolean"],
        "review_types": [SequenceOf(str), None],
        "review_budget": [Interval(Integral, 0, None, closed="left"), Options(str, ("all",)), None],
    }

    def __post_init__(self) -> None:
        validate_params(self)

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain values (for the experiment log)."""
        return asdict(self)


@dataclass
class FixResult:
    """What ``fix`` did.

    ``review`` is the queue (the ``queued`` rows of
    :func:`~datacentric.loop.review_queue.rank_review_queue`, best first), ``deferred`` the
    flagged samples past the budget, ``review_summary`` what the budget covers
    (:func:`~datacentric.loop.review_queue.queue_summary`).
    """

    dataset: Dataset
    version: int | None
    edits: pl.DataFrame
    review: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    deferred: pl.DataFrame = field(default_factory=pl.DataFrame)
    review_summary: dict[str, Any] = field(default_factory=dict)


def _label_edits(
    ds: Dataset, scan: ScanResult, policy: FixPolicy
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(auto relabels, label issues left for review)."""
    if "label" not in scan.issue_types:
        empty = scan.issues.head(0)
        return empty, empty
    flagged = scan.flagged("label")
    ok = (
        pl.col("suggested_label").is_not_null()
        & (pl.col("predicted_prob") >= policy.relabel_min_confidence)
        & pl.col("split").is_in(list(policy.relabel_splits))
    )
    auto = flagged.filter(ok).sort("predicted_prob", descending=True)
    sizes = dict(ds.manifest.group_by("split").len().rows())
    kept = []
    for split, group in auto.group_by("split", maintain_order=True):
        cap = int(policy.max_relabel_fraction * sizes.get(str(split[0]), 0))
        kept.append(group.head(cap))
    auto = pl.concat(kept) if kept else auto.head(0)
    rest = flagged.join(auto.select("sample_id"), on="sample_id", how="anti")
    return auto, rest


def fix(
    ds: Dataset,
    scan: ScanResult,
    policy: FixPolicy | None = None,
    *,
    iteration: int | None = None,
    commit: bool = True,
    slice_metrics: SliceMetrics | None = None,
) -> FixResult:
    """Apply a policy's automatic edits to ``ds`` and build the review queue.

    Parameters
    ----------
    ds : Dataset
        The dataset that was scanned (same sample ids).
    scan : ScanResult
    policy : FixPolicy, optional
    iteration : int, optional
        Recorded in the lineage of every edit.
    commit : bool
        Commit the edits as a new version (needs a folder-backed dataset).
    slice_metrics : SliceMetrics, optional
        Slice metrics of the model the scan judged: samples of lagging slices rank higher in
        the review queue.

    Returns
    -------
    FixResult
        ``edits`` (sample_id, action, old, new, reason, source, score), ``review`` (the
        queue: flagged, not fixed, one row per sample, ranked, within the policy's
        ``review_budget``; joined with label, split and metadata), ``deferred`` (the rest),
        ``review_summary`` and the new ``version``.
    """
    policy = policy or FixPolicy()
    unknown = set(scan.samples["sample_id"].to_list()) - set(ds.sample_ids)
    if unknown:
        raise InvalidParameterError(
            f"fix: the scan names {len(unknown)} sample(s) not in this dataset (e.g. "
            f"{sorted(unknown)[:3]}); scan the dataset you are fixing."
        )
    edits: list[dict[str, Any]] = []
    relabel, _ = _label_edits(ds, scan, policy)
    remove: dict[str, dict[str, Any]] = {}
    if policy.remove_leaked and "leakage" in scan.issue_types:
        for r in scan.flagged("leakage").iter_rows(named=True):
            remove[r["sample_id"]] = {
                "reason": f"leak: {r['detail']}",
                "source": "leakage",
                "score": r["severity"],
            }
    if policy.remove_exact_duplicates and "exact_duplicate" in scan.issue_types:
        dup = scan.flagged("exact_duplicate").filter(~pl.col("keep"))
        for r in dup.iter_rows(named=True):
            remove.setdefault(
                r["sample_id"],
                {
                    "reason": f"exact duplicate of {r['duplicate_of']}: {r['detail']}",
                    "source": "exact_duplicate",
                    "score": r["severity"],
                },
            )
    relabel = relabel.filter(~pl.col("sample_id").is_in(list(remove)))
    if relabel.height:
        reasons = [
            f"label error (self-confidence {q:.3f}); model gives {s!r} {p:.3f}"
            for q, s, p in relabel.select(
                "label_quality", "suggested_label", "predicted_prob"
            ).rows()
        ]
        ds.relabel(
            relabel["sample_id"].to_list(),
            relabel["suggested_label"].to_list(),
            reason=reasons,
            source="label",
            iteration=iteration,
        )
        for r, reason in zip(relabel.iter_rows(named=True), reasons, strict=True):
            edits.append(
                {
                    "sample_id": r["sample_id"],
                    "action": "relabel",
                    "old": r["label"],
                    "new": r["suggested_label"],
                    "reason": reason,
                    "source": "label",
                    "score": r["severity"],
                }
            )
    if remove:
        ids = list(remove)
        ds.remove(
            ids,
            reason=[remove[i]["reason"] for i in ids],
            source=[remove[i]["source"] for i in ids],
            iteration=iteration,
        )
        labels = dict(scan.samples.select("sample_id", "label").rows())
        for i in ids:
            edits.append(
                {"sample_id": i, "action": "remove", "old": labels.get(i), "new": None, **remove[i]}
            )
    edit_frame = pl.DataFrame(
        edits,
        schema={
            "sample_id": pl.Utf8,
            "action": pl.Utf8,
            "old": pl.Utf8,
            "new": pl.Utf8,
            "reason": pl.Utf8,
            "source": pl.Utf8,
            "score": pl.Float64,
        },
    )
    fixed_ids = set(edit_frame["sample_id"].to_list())
    queue = scan.flagged(list(policy.review_types) if policy.review_types else None)
    queue = queue.filter(~pl.col("sample_id").is_in(list(fixed_ids)))
    if policy.remove_exact_duplicates and "keep" in queue.columns:
        # the kept copy of a removed exact duplicate needs no decision
        queue = queue.filter(~((pl.col("issue_type") == "exact_duplicate") & pl.col("keep")))
    if policy.review_types is None:
        # imbalance flags every sample of a rare class: a data-collection task, not a review
        queue = queue.filter(pl.col("issue_type") != "imbalance")
    keep_cols = [
        c
        for c in [*REVIEW_COLUMNS, "label_quality", "keep", "label", "split", *scan.samples.columns]
        if c in queue.columns
    ]
    ranked = rank_review_queue(
        queue.select(list(dict.fromkeys(keep_cols))),
        samples=scan.samples,
        slice_metrics=slice_metrics,
        budget=policy.review_budget,
        n_samples=scan.samples.height,
    )
    summary = queue_summary(ranked, effective_budget(policy.review_budget, scan.samples.height))
    version = None
    if commit and edit_frame.height:
        version = ds.commit(
            f"iteration {iteration}: auto-fix {int((edit_frame['action'] == 'relabel').sum())} "
            f"relabels, {int((edit_frame['action'] == 'remove').sum())} removals"
            if iteration is not None
            else "auto-fix from scan",
            meta={"policy": policy.to_dict(), "iteration": iteration},
        )
    counts = {
        "relabeled": int((edit_frame["action"] == "relabel").sum()),
        "removed": int((edit_frame["action"] == "remove").sum()),
        "queued_for_review": summary["queued"],
        "deferred_review": summary["deferred"],
    }
    return FixResult(
        ds,
        version if version is not None else ds.version,
        edit_frame,
        ranked.filter(pl.col("status") == "queued"),
        counts,
        deferred=ranked.filter(pl.col("status") == "deferred"),
        review_summary=summary,
    )
