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
    """Boxes that repeat a box of the same image and class; one row per box.

    Within each image, the boxes of one class are ranked, and a box whose IoU with a box
    ranked **before** it is above ``iou_threshold`` is flagged, suggesting its removal;
    ``duplicate_of`` names that box (the one it overlaps most), ``severity`` is the IoU.
    Which box of a pair is the copy cannot be told from the boxes alone, so the ranking
    uses the detector when the scan has predicted boxes: the box that overlaps a
    predicted box of its class more (its best IoU with one) is kept, and ties (no
    prediction of that class in the image, or equal overlaps) go to table order, the
    earlier box kept. ``kept_by`` says which rule chose. Detection datasets only;
    predicted boxes are used when given, never required.

    Parameters
    ----------
    iou_threshold : float in (0, 1)
        Boxes overlapping more than this are duplicates (default 0.7).

    Examples
    --------
    >>> from datacentric.testing import make_detection_check_context
    >>> t = DuplicateBoxFinder().find(make_detection_check_context()).filter(pl.col("is_issue"))
    >>> t.select("annotation_id", "duplicate_of", "kept_by").rows()
    [('d0', 'b0', 'prediction')]
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
        match = _prediction_match(boxes, ctx.predicted_boxes)
        best = np.zeros(n)
        of = np.full(n, -1, dtype=np.int64)
        by_prediction = np.zeros(n, dtype=bool)
        for group in boxes.partition_by("sample_id", "label"):
            if group.height < 2:
                continue
            rows = group["_r"].to_numpy().astype(np.int64)
            m = match[rows]
            # j ranks before i: it matches a prediction better, or equally and comes first
            before = (m[None, :] > m[:, None]) | (
                (m[None, :] == m[:, None]) & (rows[None, :] < rows[:, None])
            )
            iou = np.where(before, box_iou(xyxy(group), xyxy(group)), 0.0)
            arg = iou.argmax(axis=1)
            best[rows] = iou[np.arange(len(rows)), arg]
            of[rows] = np.where(best[rows] > 0, rows[arg], -1)
            by_prediction[rows] = m[arg] != m
        is_issue = best > self.iou_threshold
        ids = boxes["annotation_id"].to_list()
        dup_of = [ids[o] if bad else None for bad, o in zip(is_issue, of.tolist(), strict=True)]
        kept_by = [
            ("prediction" if p else "table order") if bad else None
            for bad, p in zip(is_issue, by_prediction, strict=True)
        ]
        return issue_table(
            self.name,
            boxes["sample_id"],
            is_issue,
            np.where(is_issue, best, 0.0),
            [
                None
                if o is None
                else f"Repeats box {o!r} of the same class {lab!r} (IoU {b:.2f}); remove it"
                + (
                    f" (box {o!r} overlaps the detector's box more: {match[r]:.2f} vs "
                    f"{match[of[r]]:.2f})."
                    if k == "prediction"
                    else f" or box {o!r}."
                )
                for r, (o, lab, b, k) in enumerate(
                    zip(dup_of, boxes["label"], best, kept_by, strict=True)
                )
            ],
            annotation_id=boxes["annotation_id"],
            duplicate_of=pl.Series(dup_of, dtype=pl.Utf8),
            iou=best,
            kept_by=pl.Series(kept_by, dtype=pl.Utf8),
        )


def _prediction_match(boxes: pl.DataFrame, predicted: pl.DataFrame | None) -> np.ndarray:
    """Each box's best IoU with a predicted box of its image and class (0 without one)."""
    out = np.zeros(boxes.height)
    if predicted is None or predicted.height == 0:
        return out
    preds = {
        key: xyxy(g)
        for key, g in predicted.partition_by("sample_id", "label", as_dict=True).items()
    }
    for key, group in boxes.partition_by("sample_id", "label", as_dict=True).items():
        p = preds.get(key)
        if p is not None:
            out[group["_r"].to_numpy()] = box_iou(xyxy(group), p).max(axis=1)
    return out
