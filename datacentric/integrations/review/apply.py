"""Apply reviewer decisions to a dataset: relabels and verdicts → one new version with lineage.

The last step of a pull that reads *decisions* (a relabel and/or a verdict per reviewed
sample): the FiftyOne pull (:func:`~datacentric.integrations.fiftyone.from_fiftyone`) and the
simulated reviewer (:func:`~datacentric.integrations.review.simulate_review`) both end here,
so a simulated review is applied exactly as a real one: the same relabels, the same lineage
rows, the same idempotency, the same :class:`AppliedReview` result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from datacentric.dataset import Dataset
from datacentric.integrations.review.results import PullResult

__all__ = ["DECISIONS_SCHEMA", "REVIEW_FIELD", "AppliedReview", "applied_before", "apply_review"]

REVIEW_FIELD = "review"
"""The lineage field of a verdict (``confirmed_issue`` / ``not_an_issue``)."""

DECISIONS_SCHEMA: dict[str, Any] = {
    "sample_id": pl.Utf8,
    "verdict": pl.Utf8,
    "relabel": pl.Utf8,
    "how": pl.Utf8,
    "issues": pl.Utf8,
}
"""One row per reviewed sample: ``verdict`` (or null), ``relabel`` the new label (or null),
``how`` the relabel came (``tag``, ``edit``, ``answer``), ``issues`` the flagged issue types."""


@dataclass(frozen=True, kw_only=True)
class AppliedReview(PullResult):
    """What a pull of reviewer decisions applied (the shared review fields, plus the edits).

    Attributes
    ----------
    backend, target : str
        Where the decisions came from (``"fiftyone"`` and the FiftyOne dataset name,
        ``"simulated"`` and the reviewer, ...).
    version : int or None
        The committed dataset version, or ``None`` when there was nothing new.
    applied : int
        Relabels plus verdicts recorded now.
    already_applied : int
        Decisions an earlier pull from the same source already recorded (skipped).
    relabels : polars.DataFrame
        ``sample_id, old, new, how`` — applied now.
    verdicts : polars.DataFrame
        ``sample_id, verdict, issues`` — recorded now.
    not_in_dataset : list of str
        Reviewed sample ids no longer in the dataset (skipped).
    source : str
        The lineage ``source`` of the rows.
    box_edits : polars.DataFrame or None
        Detection datasets: the box lineage rows recorded now, ``annotation_id,
        sample_id, field, old, new`` (``field``: ``box`` added/removed, ``bbox`` moved,
        ``label`` relabelled, ``review`` a label tag).
    skipped : list of str
        Boxes left alone, each with the reason.
    n_read : int or None
        Samples read back from the review tool (``None``: the backend does not say).
    incremental : bool
        Whether only the samples changed since the last pull were read.
    seconds : float
    """

    relabels: pl.DataFrame = field(repr=False)
    verdicts: pl.DataFrame = field(repr=False)
    not_in_dataset: list[str] = field(default_factory=list)
    source: str = ""
    box_edits: pl.DataFrame | None = field(default=None, repr=False)
    skipped: list[str] = field(default_factory=list)
    n_read: int | None = None
    incremental: bool = False

    def __repr__(self) -> str:
        where = f"version {self.version}" if self.version is not None else "nothing to commit"
        if self.box_edits is not None:
            return (
                f"PullResult({where}: {self.box_edits.height} box edits, "
                f"{self.verdicts.height} verdicts, {self.already_applied} already applied, "
                f"{len(self.skipped)} skipped)"
            )
        return (
            f"PullResult({where}: {self.relabels.height} relabels, {self.verdicts.height} "
            f"verdicts, {self.already_applied} already applied)"
        )


_RELABELS = {"sample_id": pl.Utf8, "old": pl.Utf8, "new": pl.Utf8, "how": pl.Utf8}
_VERDICTS = {"sample_id": pl.Utf8, "verdict": pl.Utf8, "issues": pl.Utf8}


def applied_before(
    ds: Dataset, source_prefix: str
) -> tuple[set[tuple[str, str | None]], dict[str, str | None]]:
    """What earlier pulls whose lineage ``source`` starts with ``source_prefix`` recorded:
    ``(sample_id, label)`` of every relabel, and each sample's latest review verdict."""
    labels: set[tuple[str, str | None]] = set()
    verdicts: dict[str, str | None] = {}
    for version in sorted(ds.history()["version"].to_list()):
        ch = ds.changes(version).filter(pl.col("source").str.starts_with(source_prefix))
        labels.update(ch.filter(pl.col("field") == "label").select("sample_id", "new").iter_rows())
        rows = ch.filter(pl.col("field") == REVIEW_FIELD)
        if "annotation_id" in rows.columns:  # box tags are not sample verdicts
            rows = rows.filter(pl.col("annotation_id").is_null())
        verdicts.update(rows.select("sample_id", "new").iter_rows())
    return labels, verdicts


def apply_review(
    ds: Dataset,
    decisions: pl.DataFrame,
    *,
    backend: str,
    target: str,
    source: str,
    source_prefix: str,
    relabel_reason: Callable[[str, str, str], str],
    verdict_reason: Callable[[str, str], str],
    commit: bool = True,
    message: str | None = None,
    default_message: Callable[[int, int], str],
    meta: dict[str, Any] | None = None,
    started: float | None = None,
) -> AppliedReview:
    """Relabel and record the verdicts of ``decisions`` (:data:`DECISIONS_SCHEMA`) on ``ds``.

    A relabel that an earlier pull from the same ``source_prefix`` recorded (same sample and
    label), or to the label the sample has, is skipped; so is a verdict equal to the sample's
    latest recorded one. Samples not in ``ds`` are skipped and listed. With ``commit`` the
    edits become one new version (``message`` or the ``default_message``, ``meta``); otherwise
    they stay pending on ``ds``.

    Parameters
    ----------
    relabel_reason : callable
        ``(how, new, issues) -> str``, the lineage ``reason`` of a relabel.
    verdict_reason : callable
        ``(verdict, issues) -> str``, the lineage ``reason`` of a verdict.
    default_message : callable
        ``(n_relabels, n_verdicts) -> str``, the commit message when ``message`` is ``None``.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> root = tempfile.mkdtemp()
    >>> ds = Dataset.from_arrays(np.zeros((2, 4, 4)), ["a", "a"], classes=["a", "b"])
    >>> ds = ds.to_folder(root)
    >>> ds.commit("initial")
    1
    >>> d = pl.DataFrame({"sample_id": ["1"], "verdict": [None], "relabel": ["b"],
    ...                   "how": ["answer"], "issues": ["label"]}, schema=DECISIONS_SCHEMA)
    >>> r = apply_review(ds, d, backend="memory", target="t", source="me", source_prefix="me",
    ...                  relabel_reason=lambda how, new, issues: f"set to {new}",
    ...                  verdict_reason=lambda v, issues: v,
    ...                  default_message=lambda n_relabels, n_verdicts: "review")
    >>> r.relabels.rows(), ds.lineage("1")["source"].to_list()[-1]
    ([('1', 'a', 'b', 'answer')], 'me')
    """
    t0 = time.perf_counter() if started is None else started
    if decisions.height == 0:  # nothing reviewed (e.g. an incremental pull with nothing new)
        return AppliedReview(
            backend=backend,
            target=target,
            version=None,
            applied=0,
            already_applied=0,
            seconds=time.perf_counter() - t0,
            relabels=pl.DataFrame(schema=_RELABELS),
            verdicts=pl.DataFrame(schema=_VERDICTS),
            source=source,
        )
    known = set(ds.sample_ids)
    missing = decisions.filter(~pl.col("sample_id").is_in(list(known)))["sample_id"].to_list()
    decisions = decisions.filter(pl.col("sample_id").is_in(list(known)))
    done_labels, last_verdict = applied_before(ds, source_prefix)
    current = dict(ds.manifest.select("sample_id", "label").iter_rows())
    skipped = 0
    relabel_rows: list[tuple[str, str | None, str, str, str]] = []
    verdict_rows: list[tuple[str, str, str]] = []
    for sid, verdict, new, how, issues in decisions.select(list(DECISIONS_SCHEMA)).iter_rows():
        if new is not None:
            if (sid, new) in done_labels or current[sid] == new:
                skipped += 1
            else:
                relabel_rows.append((sid, current[sid], new, how, issues))
        if verdict is not None:
            if last_verdict.get(sid) == verdict:
                skipped += 1
            else:
                verdict_rows.append((sid, verdict, issues))
    if relabel_rows:
        ds.relabel(
            [r[0] for r in relabel_rows],
            [r[2] for r in relabel_rows],
            reason=[relabel_reason(r[3], r[2], r[4]) for r in relabel_rows],
            source=source,
        )
    if verdict_rows:
        # A verdict changes no manifest column; it is a lineage row of its own field.
        ds.annotate(
            [r[0] for r in verdict_rows],
            REVIEW_FIELD,
            [r[1] for r in verdict_rows],
            old=[r[2] or None for r in verdict_rows],
            reason=[verdict_reason(r[1], r[2]) for r in verdict_rows],
            source=source,
        )
    version = None
    if commit and (relabel_rows or verdict_rows):
        version = ds.commit(
            message or default_message(len(relabel_rows), len(verdict_rows)), meta=meta or {}
        )
    return AppliedReview(
        backend=backend,
        target=target,
        version=version,
        applied=len(relabel_rows) + len(verdict_rows),
        already_applied=skipped,
        seconds=time.perf_counter() - t0,
        relabels=pl.DataFrame([r[:4] for r in relabel_rows], schema=_RELABELS, orient="row"),
        verdicts=pl.DataFrame(verdict_rows, schema=_VERDICTS, orient="row"),
        not_in_dataset=missing,
        source=source,
    )
