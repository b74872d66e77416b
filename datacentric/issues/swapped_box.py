"""Swapped boxes: ObjectLab's swap score of each given box (the class is wrong)."""

from __future__ import annotations

import numpy as np
import polars as pl

from datacentric.issues._objectlab import (
    ConfidentObjectLabFinder,
    confident_scores,
    flag,
    fmt_box,
    objectlab_scores,
    suggested_box_columns,
    suggested_scores,
)
from datacentric.issues.base import issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["SwappedBoxFinder"]

#: cleanlab's SWAP_THRESHOLD_FACTOR (find_label_issues)
FACTOR = 0.8


@register_finder
class SwappedBoxFinder(ConfidentObjectLabFinder):
    """Given boxes with the wrong class, scored by ObjectLab against predicted boxes.

    One row per given box (``annotation_id``): ``severity`` is 1 − cleanlab's swap score
    (:func:`cleanlab.object_detection.rank.compute_swap_box_scores`); a box is flagged
    when the score is at most ``threshold``. ``suggested_label`` is the class of the
    predicted box with the largest IoU x score with it (null when none overlaps, or when it
    is the box's own class; ``suggested_score`` its confidence, ``suggested_x ..
    suggested_h`` the box); ``image_label_quality`` cleanlab's score of the image.
    Detection datasets with ``predicted_boxes`` only.

    Parameters
    ----------
    threshold : float in [0, 1] or None
        Flag boxes whose ObjectLab score is at most this (default 0.5). ``None``: cleanlab's
        own rule in ``find_label_issues`` (score at most 0.8 × a quarter of the average
        precision of the box's class over IoU 0.5..0.95), much stricter: on the detection
        demo with near-perfect predictions it flags no badly located box.
    confident_score : float in (0, 1) or None
        The detector confidence from which a predicted box counts as a confident object
        (cleanlab's ``high_probability_threshold``; ``None``: its 0.95). Lower it for a
        detector whose scores rarely reach 0.95.

    Examples
    --------
    >>> from datacentric.testing import make_detection_check_context
    >>> t = SwappedBoxFinder().find(make_detection_check_context()).filter(pl.col("is_issue"))
    >>> t.select("annotation_id", "suggested_label").rows()  # box "b3" was relabelled
    [('b3', 'c2')]
    """

    name = "swapped_box"
    description = "Boxes with the wrong class (ObjectLab, against predicted boxes)."

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Score every given box."""
        s = objectlab_scores(ctx)
        scores = confident_scores(ctx, "swap", self.confident_score)
        g = s.given
        is_issue = flag(ctx, scores, g["label"], FACTOR, self.threshold)
        score = np.where(np.isnan(scores), 1.0, scores)
        pred_labels = s.predicted["label"].to_list()
        suggested = [
            pred_labels[m] if bad and m >= 0 and pred_labels[m] != lab else None
            for bad, m, lab in zip(is_issue, s.given_match.tolist(), g["label"], strict=True)
        ]
        detail = [
            f"Box {fmt_box(x, y, w, h)} labelled {lab!r} looks like another class (ObjectLab "
            f"score {sc:.3f})" + (f"; the model sees {sug!r}." if sug else ".")
            + " Check its class."
            if bad
            else None
            for bad, sc, lab, sug, x, y, w, h in zip(
                is_issue, score, g["label"], suggested, g["x"], g["y"], g["w"], g["h"],
                strict=True,
            )
        ]  # fmt: skip
        return issue_table(
            self.name,
            g["sample_id"],
            is_issue,
            1.0 - score,
            detail,
            suggested_label=suggested,
            annotation_id=g["annotation_id"],
            box_score=score,
            suggested_score=pl.Series(
                suggested_scores(s.predicted, s.given_match, [x is not None for x in suggested]),
                dtype=pl.Float64,
            ),
            **suggested_box_columns(
                s.predicted,
                np.where([x is not None for x in suggested], s.given_match, -1),
            ),
            image_label_quality=[s.image_quality[x] for x in g["sample_id"].to_list()],
        )
