"""Saved views of the review dataset: worst issues, one per issue type, one per worst slice,
and the loop's review queue."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from datacentric.integrations.fiftyone.records import Records, issue_field, issue_tag

__all__ = [
    "REVIEW_QUEUE_VIEW",
    "WORST_ISSUES_VIEW",
    "issue_view_name",
    "save_views",
    "slice_view_name",
]

WORST_ISSUES_VIEW = "worst-issues"
MOST_MISTAKEN_VIEW = "most-mistaken"
REVIEW_QUEUE_VIEW = "review-queue"
_ISSUE_PREFIX = "issue-"
_SLICE_PREFIX = "slice-"


def issue_view_name(issue_type: str) -> str:
    """Saved-view name of one issue type.

    Examples
    --------
    >>> issue_view_name("near_duplicate")
    'issue-near-duplicate'
    """
    return _ISSUE_PREFIX + _slug(issue_type)


def slice_view_name(slice_name: str) -> str:
    """Saved-view name of one slice (FiftyOne view names are URL slugs).

    Examples
    --------
    >>> slice_view_name("vendor=vendor_c & scanner=scanner_b")
    'slice-vendor-vendor-c-scanner-scanner-b'
    """
    return _SLICE_PREFIX + _slug(slice_name)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _owned(name: str) -> bool:
    return name in (WORST_ISSUES_VIEW, MOST_MISTAKEN_VIEW, REVIEW_QUEUE_VIEW) or name.startswith(
        (_ISSUE_PREFIX, _SLICE_PREFIX)
    )


def save_views(fds: Any, records: Records, review_queue: Sequence[str] | None = None) -> list[str]:
    """Write the saved views of ``records`` into ``fds``; drop the stale ones datacentric owns.

    Views: ``worst-issues`` (every flagged sample, worst first), ``issue-<type>`` per flagged
    issue type (sorted by that type's severity), ``slice-<name>`` per worst slice (sorted
    by the sample's worst severity, then lowest confidence), ``most-mistaken`` when
    FiftyOne Brain computed mistakenness, and ``review-queue`` (the ``review_queue`` sample
    ids in their order: the loop's bounded, ranked queue) when given.
    """
    from fiftyone import ViewField as F

    views: dict[str, tuple[Any, str]] = {
        WORST_ISSUES_VIEW: (
            fds.match(F("n_issues") > 0).sort_by("max_severity", reverse=True),
            "Every flagged sample, worst first (max severity over its issues).",
        )
    }
    boxes = records.boxes
    for t in records.flagged_types:
        on = None
        if boxes is not None and t in boxes.gt_issue_types:
            on = "ground_truth"
        elif boxes is not None and t in boxes.pred_issue_types:
            on = "predictions"
        if on is None:
            views[issue_view_name(t)] = (
                fds.match_tags(issue_tag(t)).sort_by(issue_field(t), reverse=True),
                f"Samples flagged as {t}, most severe first.",
            )
        else:  # box issues: only the flagged boxes of that field are shown
            views[issue_view_name(t)] = (
                fds.filter_labels(on, F("tags").contains(issue_tag(t))).sort_by(
                    issue_field(t), reverse=True
                ),
                f"Boxes flagged as {t} ({on}), most severe sample first.",
            )
    for w in records.worst_slices:
        order = [("max_severity", -1)]
        if boxes is None:
            order.append(("predictions.confidence", 1))
        views[slice_view_name(w.name)] = (
            fds.match(F("worst_slices").contains(w.name)).sort_by(order),
            f"Slice {w.name}: {w.metric} {w.accuracy:.3f} on {w.n} samples; worst issues first.",
        )
    if "mistakenness" in fds.get_field_schema():
        views[MOST_MISTAKEN_VIEW] = (
            fds.exists("mistakenness").sort_by("mistakenness", reverse=True),
            "FiftyOne Brain mistakenness of the ground truth given our predictions.",
        )
    if review_queue:
        views[REVIEW_QUEUE_VIEW] = (
            fds.select_by("sample_id", list(review_queue), ordered=True),
            f"The data loop's review queue: {len(review_queue)} samples, highest priority first.",
        )
    for stale in [v for v in fds.list_saved_views() if _owned(v) and v not in views]:
        fds.delete_saved_view(stale)
    for name, (view, description) in views.items():
        fds.save_view(name, view, description=description, overwrite=True)
    return list(views)
