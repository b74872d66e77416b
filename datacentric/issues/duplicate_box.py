"""Duplicate boxes: two boxes of one class on one object (IoU above a threshold)."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import Interval
from datacentric.issues._objectlab import suggesting_box
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

    With predicted boxes, a flagged row also says how many objects the detector sees
    there: ``suggested_score`` is the confidence of the detector's box of the kept box
    (the predicted box of its class with the largest IoU × score, when that IoU is above
    0.5), ``rival_score`` the highest confidence of any other predicted box of the class
    overlapping the flagged box (IoU above 0.5; 0 when none). A confident box on the kept
    one and no confident rival on the copy is the detector's evidence of one object, which
    :class:`~datacentric.loop.BoxFixPolicy` acts on; both are null without predictions.

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
    >>> t.select(pl.col("suggested_score").round(3), "rival_score").rows()  # one object
    [(0.997, 0.0)]
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
        suggested, rival = _detector_evidence(boxes, ctx.predicted_boxes, of, is_issue)
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
            suggested_score=pl.Series(suggested, dtype=pl.Float64),
            rival_score=pl.Series(rival, dtype=pl.Float64),
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


def _detector_evidence(
    boxes: pl.DataFrame, predicted: pl.DataFrame | None, of: np.ndarray, is_issue: np.ndarray
) -> tuple[list[float | None], list[float | None]]:
    """Per box: ``suggested_score`` (the confidence of the detector's box of the box it
    repeats) and ``rival_score`` (the best confidence of another predicted box on it);
    null for unflagged boxes, and both null without predicted boxes."""
    n = boxes.height
    suggested: list[float | None] = [None] * n
    rival: list[float | None] = [None] * n
    if predicted is None or predicted.height == 0 or not is_issue.any():
        return suggested, rival
    preds = {
        key: (xyxy(g), g["score"].to_numpy().astype(np.float64))
        for key, g in predicted.partition_by("sample_id", "label", as_dict=True).items()
    }
    coords = xyxy(boxes)
    sids, labels = boxes["sample_id"].to_list(), boxes["label"].to_list()
    for r in np.flatnonzero(is_issue).tolist():
        rival[r] = 0.0
        p = preds.get((sids[r], labels[r]))
        if p is None:
            continue
        p_box, p_score = p
        kept = coords[of[r] : of[r] + 1]
        j = int(suggesting_box(kept, p_box, p_score, np.arange(len(p_score)))[0])
        own = -1
        if j >= 0 and box_iou(kept, p_box[j : j + 1])[0, 0] > 0.5:
            suggested[r] = float(p_score[j])
            own = j
        on_copy = box_iou(coords[r : r + 1], p_box)[0] > 0.5
        if own >= 0:  # the kept box's own detection is not a rival
            on_copy[own] = False
        rival[r] = float(p_score[on_copy].max()) if on_copy.any() else 0.0
    return suggested, rival
