"""Decide a label per sample from Label Studio annotations — pure: no server, no dataset.

:func:`decide` is the middle step of a pull (fetch → decide → apply): it takes the
annotations read from the server, the samples' current labels and the journal of what
earlier pulls applied, and returns one decision per sample with new annotations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from datacentric.issues.agreement import majority_vote

__all__ = ["DECISION_SCHEMA", "Decisions", "decide"]

DECISION_SCHEMA: dict[str, Any] = {
    "sample_id": pl.Utf8,
    "task_id": pl.Int64,
    "old": pl.Utf8,
    "decided": pl.Utf8,
    "votes": pl.Int64,
    "n_annotations": pl.Int64,
    "annotators": pl.Utf8,
    "annotator_ids": pl.Utf8,
    "annotation_ids": pl.Utf8,
    "status": pl.Utf8,
}
"""Columns of :attr:`Decisions.table`."""


@dataclass(frozen=True)
class Decisions:
    """What :func:`decide` concluded.

    Attributes
    ----------
    table : polars.DataFrame
        One row per sample with new annotations (:data:`DECISION_SCHEMA`); ``status`` is
        ``relabeled`` (the majority chose another class), ``confirmed`` (it kept the
        label), ``tie`` (no majority: the label is kept) or ``unknown_label`` (the majority
        chose a class the dataset does not have: nothing is changed).
    already_applied : int
        Samples whose annotations were all applied by an earlier pull (no row).
    applied : dict
        annotation id (str) → ``updated_at`` of every annotation behind the rows, for the
        journal once the decisions are committed.
    """

    table: pl.DataFrame
    already_applied: int
    applied: dict[str, str]

    @property
    def relabeled(self) -> pl.DataFrame:
        """The rows that change a label."""
        return self.table.filter(pl.col("status") == "relabeled")


def decide(
    annotations: pl.DataFrame,
    labels: Mapping[str, str | None],
    classes: Sequence[str],
    applied: Mapping[str, str] | None = None,
) -> Decisions:
    """Majority vote of each sample's annotations, skipping what was applied before.

    Parameters
    ----------
    annotations : polars.DataFrame
        Usable annotations (``task_id, annotation_id, sample_id, annotator, annotator_id,
        label, updated_at``, as :func:`~datacentric.integrations.labelstudio.annotations_frame`
        returns).
    labels : mapping
        sample_id → current label.
    classes : sequence of str
        The dataset's classes; a majority for another class is ``unknown_label``.
    applied : mapping, optional
        The journal: annotation id (str) → ``updated_at`` when a pull applied it. A sample
        none of whose annotations is new or changed since is skipped; otherwise it is decided
        again from all its annotations.

    Examples
    --------
    >>> ann = pl.DataFrame({"task_id": [1, 1, 1, 2, 2], "annotation_id": [10, 11, 12, 13, 14],
    ...     "sample_id": ["a", "a", "a", "b", "b"], "annotator": ["x", "y", "z", "x", "y"],
    ...     "annotator_id": [1, 2, 3, 1, 2], "label": ["dog", "dog", "cat", "cat", "dog"],
    ...     "updated_at": ["t"] * 5})
    >>> d = decide(ann, {"a": "cat", "b": "cat"}, ["cat", "dog"])
    >>> d.table.select("sample_id", "decided", "votes", "annotators", "status").rows()
    [('a', 'dog', 2, 'x,y', 'relabeled'), ('b', None, 0, 'x,y', 'tie')]
    >>> decide(ann, {"a": "cat", "b": "cat"}, ["cat", "dog"], d.applied).already_applied
    2
    """
    done = applied or {}
    by_sample: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in annotations.iter_rows(named=True):
        by_sample[row["sample_id"]].append(row)
    rows: list[dict[str, Any]] = []
    n_done = 0
    newly: dict[str, str] = {}
    for sid, anns in by_sample.items():
        if all(done.get(str(r["annotation_id"])) == r["updated_at"] for r in anns):
            n_done += 1
            continue
        rows.append(_decision(sid, anns, labels.get(sid), classes))
        newly |= {str(r["annotation_id"]): r["updated_at"] for r in anns}
    return Decisions(pl.DataFrame(rows, schema=DECISION_SCHEMA), n_done, newly)


def _decision(
    sid: str, anns: list[dict[str, Any]], current: str | None, classes: Sequence[str]
) -> dict[str, Any]:
    votes = [r["label"] for r in anns]
    decided = majority_vote(votes)
    if decided is None:
        status = "tie"
    elif decided not in classes:
        status = "unknown_label"
    elif decided == current:
        status = "confirmed"
    else:
        status = "relabeled"
    chose = [r for r in anns if r["label"] == decided]
    return {
        "sample_id": sid,
        "task_id": anns[0]["task_id"],
        "old": current,
        "decided": decided,
        "votes": len(chose),
        "n_annotations": len(anns),
        "annotators": ",".join(sorted({r["annotator"] for r in chose or anns})),
        "annotator_ids": ",".join(str(i) for i in sorted({r["annotator_id"] for r in chose})),
        "annotation_ids": ",".join(str(r["annotation_id"]) for r in anns),
        "status": status,
    }
