"""Duplicate boxes: two boxes of one class on one object (IoU above a threshold)."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import Interval
from datacentric.issues.base import IssueFinder, issue_table
from datacentric.issues.boxes import box_iou, given_boxes, xyxy
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["DuplicateBoxFinder"]


@register_finder
class DuplicateBoxFinder(IssueFinder):
    """Boxes that repeat an earlier box of the same image and class; one row per box.

    Within each image, a box whose IoU with an **earlier** box (table order) of the same
    class is above ``iou_threshold`` is flagged, suggesting its removal; ``duplicate_of``
    names the earlier box, ``severity`` is the IoU. The first box of a pair is not
    flagged (which of two near-equal boxes is the copy cannot be told from the boxes).
    Detection datasets only; no predictions needed.

    Parameters
    ----------
    iou_threshold : float in (0, 1)
        Boxes overlapping more than this are duplicates (default 0.7).

    Examples
    --------
    >>> from datacentric.testing import make_detection_check_context
    >>> t = DuplicateBoxFinder().find(make_detection_check_context()).filter(pl.col("is_issue"))
    >>> t.select("annotation_id", "duplicate_of").rows()
    [('d0', 'b0')]
    """

    name = "duplicate_box"
    requires = frozenset({"boxes"})
    description = "Two boxes of one class on one object (IoU above a threshold)."
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "iou_threshold": [Interval(Real, 0, 1, closed="neither")]
    }

    def __init__(self, iou_threshold: float = 0.7) -> None:
        self.iou_threshold = iou_threshold

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Compare the boxes of each image, class by class."""
        boxes = (
            given_boxes(ctx.dataset)
            .select("annotation_id", "sample_id", "label", "x", "y", "w", "h")
            .with_row_index("_r")
        )
        n = boxes.height
        best = np.zeros(n)
        of = np.full(n, -1, dtype=np.int64)
        for group in boxes.partition_by("sample_id", "label"):
            if group.height < 2:
                continue
            rows = group["_r"].to_numpy().astype(np.int64)
            iou = np.tril(box_iou(xyxy(group), xyxy(group)), k=-1)  # earlier boxes only
            arg = iou.argmax(axis=1)
            best[rows] = iou[np.arange(len(rows)), arg]
            of[rows] = np.where(best[rows] > 0, rows[arg], -1)
        is_issue = best > self.iou_threshold
        ids = boxes["annotation_id"].to_list()
        dup_of = [ids[o] if bad else None for bad, o in zip(is_issue, of.tolist(), strict=True)]
        return issue_table(
            self.name,
            boxes["sample_id"],
            is_issue,
            np.where(is_issue, best, 0.0),
            [
                f"Repeats box {o!r} of the same class {lab!r} (IoU {b:.2f}). Remove one of them."
                if o is not None
                else None
                for o, lab, b in zip(dup_of, boxes["label"], best, strict=True)
            ],
            annotation_id=boxes["annotation_id"],
            duplicate_of=pl.Series(dup_of, dtype=pl.Utf8),
            iou=best,
        )
