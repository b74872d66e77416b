"""Overlooked boxes: objects the model finds that no given box covers (ObjectLab)."""

from __future__ import annotations

import numpy as np
import polars as pl

from datacentric.issues._objectlab import (
    ConfidentObjectLabFinder,
    confident_scores,
    flag,
    fmt_box,
    objectlab_scores,
)
from datacentric.issues.base import issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["OverlookedBoxFinder"]

#: cleanlab's OVERLOOKED_THRESHOLD_FACTOR (find_label_issues)
FACTOR = 0.8


@register_finder
class OverlookedBoxFinder(ConfidentObjectLabFinder):
    """Objects without a box: confident predicted boxes that no given box matches.

    One row per **predicted** box (``prediction_id``; ``annotation_id`` is null, there is
    no given box): ``severity`` is 1 − cleanlab's overlooked score
    (:func:`cleanlab.object_detection.rank.compute_overlooked_box_scores`); a box is
    flagged when the score is at most ``threshold``. The suggested box is the predicted one
    (``suggested_x .. suggested_h``, ``suggested_label``). Detection datasets with
    ``predicted_boxes`` only.

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
    >>> t = OverlookedBoxFinder().find(make_detection_check_context()).filter(pl.col("is_issue"))
    >>> t.select("sample_id", "suggested_label").rows()  # the box removed from image "4"
    [('4', 'c1')]
    """

    name = "overlooked_box"
    description = "Objects the model finds that have no box (ObjectLab)."

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Score every predicted box."""
        s = objectlab_scores(ctx)
        scores = confident_scores(ctx, "overlooked", self.confident_score)
        p = s.predicted
        is_issue = flag(ctx, scores, p["label"], FACTOR, self.threshold)
        score = np.where(np.isnan(scores), 1.0, scores)
        detail = [
            f"The model finds a {lab!r} at {fmt_box(x, y, w, h)} (confidence {conf:.2f}) "
            f"that no box covers (ObjectLab score {sc:.3f}). Add the box."
            if bad
            else None
            for bad, sc, lab, conf, x, y, w, h in zip(
                is_issue, score, p["label"], p["score"], p["x"], p["y"], p["w"], p["h"],
                strict=True,
            )
        ]  # fmt: skip
        return issue_table(
            self.name,
            p["sample_id"],
            is_issue,
            1.0 - score,
            detail,
            suggested_label=[
                lab if bad else None for bad, lab in zip(is_issue, p["label"], strict=True)
            ],
            annotation_id=[None] * p.height,
            prediction_id=p["prediction_id"],
            box_score=score,
            image_label_quality=[s.image_quality[x] for x in p["sample_id"].to_list()],
            suggested_score=p["score"],
            suggested_x=p["x"],
            suggested_y=p["y"],
            suggested_w=p["w"],
            suggested_h=p["h"],
        )
