"""Badly located boxes: ObjectLab's badly located score of each given box."""

from __future__ import annotations

import numpy as np
import polars as pl

from datacentric.issues._objectlab import (
    ObjectLabFinder,
    flag,
    fmt_box,
    objectlab_scores,
    suggested_box_columns,
    suggested_scores,
)
from datacentric.issues.base import issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["BadlyLocatedBoxFinder"]

#: cleanlab's BADLOC_THRESHOLD_FACTOR (find_label_issues)
FACTOR = 0.8


@register_finder
class BadlyLocatedBoxFinder(ObjectLabFinder):
    """Given boxes whose edges are off, scored by ObjectLab against predicted boxes.

    One row per given box (``annotation_id``): ``severity`` is 1 − cleanlab's badly
    located score (:func:`cleanlab.object_detection.rank.compute_badloc_box_scores`);
    a box is flagged when the score is at most ``threshold``. ``suggested_x ..
    suggested_h`` hold the predicted box with the largest IoU x score with it, the
    detector's most confident box where it is (null when none overlaps;
    ``suggested_score`` its confidence, on flagged rows); ``image_label_quality`` cleanlab's
    score of the whole image (lower is worse). Detection datasets with ``predicted_boxes``
    only.

    Parameters
    ----------
    threshold : float in [0, 1] or None
        Flag boxes whose ObjectLab score is at most this (default 0.5). ``None``: cleanlab's
        own rule in ``find_label_issues`` (score at most 0.8 × a quarter of the average
        precision of the box's class over IoU 0.5..0.95), much stricter: on the detection
        demo with near-perfect predictions it flags no badly located box.

    Examples
    --------
    >>> from datacentric.testing import make_detection_check_context
    >>> ctx = make_detection_check_context()
    >>> t = BadlyLocatedBoxFinder().find(ctx).filter(pl.col("is_issue"))
    >>> t["annotation_id"].to_list()  # the check context moved box "b2"
    ['b2']
    """

    name = "badly_located_box"
    description = "Boxes whose edges are off (ObjectLab, against predicted boxes)."

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Score every given box."""
        s = objectlab_scores(ctx)
        g = s.given
        is_issue = flag(ctx, s.badloc, g["label"], FACTOR, self.threshold)
        score = np.where(np.isnan(s.badloc), 1.0, s.badloc)
        sugg = suggested_box_columns(s.predicted, s.given_match)
        detail = [
            f"Box {fmt_box(x, y, w, h)} looks badly located (ObjectLab score {sc:.3f}); "
            + (
                f"the model sees the object at {fmt_box(sx, sy, sw, sh)}. Redraw the box."
                if sx is not None
                else "Redraw the box."
            )
            if bad
            else None
            for bad, sc, x, y, w, h, sx, sy, sw, sh in zip(
                is_issue, score, g["x"], g["y"], g["w"], g["h"], *sugg.values(), strict=True
            )
        ]
        return issue_table(
            self.name,
            g["sample_id"],
            is_issue,
            1.0 - score,
            detail,
            annotation_id=g["annotation_id"],
            box_score=score,
            suggested_score=pl.Series(
                suggested_scores(s.predicted, s.given_match, is_issue), dtype=pl.Float64
            ),
            image_label_quality=[s.image_quality[x] for x in g["sample_id"].to_list()],
            **sugg,
        )
