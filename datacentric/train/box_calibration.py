"""Per-run score calibration of predicted boxes: Platt scaling fitted on out-of-sample boxes.

A detector's raw scores are rarely probabilities: CenterNet's focal loss leaves its heatmap
peaks under-confident (on held-out demo scenes boxes scored 0.6-0.9 were right 98-100 % of
the time), while the box finders and the box fix policy read a score as "the probability
that an object of this class is here" (ObjectLab takes boxes scored >= 0.95 as overlooked or
swapped objects; the loop fixes at >= 0.9). Fixed constants fitted on one dataset would carry
that dataset's answer to every other one, so :func:`cross_val_predict_boxes` fits the
calibration on each run's own out-of-sample boxes:

- a predicted box is *right* when a given box of the same class on the same image overlaps
  it with IoU >= ``iou`` (0.5, the COCO and ObjectLab convention);
- a logistic regression of right / not right on the box's score logit gives
  ``score' = sigmoid(scale * logit(score) + shift)`` (Platt scaling: monotone, so the ranking of
  boxes, and mAP, are unchanged).

The given boxes are the dataset's own, noisy ones: the calibrated score is the probability
that the *annotation* agrees with the box, as a classifier trained on noisy labels predicts
them — the quantity confident learning thresholds. Planted or real label errors pull it down
a little, which errs towards fewer automatic fixes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl

from datacentric.dataset.box_geometry import paired_iou, xyxy

__all__ = ["MIN_CALIBRATION_BOXES", "ScoreCalibration", "fit_score_calibration", "matched_boxes"]

logger = logging.getLogger(__name__)

#: At least this many right and this many wrong boxes are needed to fit a calibration.
MIN_CALIBRATION_BOXES = 20
_EPS = 1e-6


def _logit(score: np.ndarray) -> np.ndarray:
    s = np.clip(np.asarray(score, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(s) - np.log1p(-s)


@dataclass(frozen=True)
class ScoreCalibration:
    """``score' = sigmoid(scale * logit(score) + shift)``, fitted by :func:`fit_score_calibration`.

    Attributes
    ----------
    scale, shift : float
        The Platt constants (``scale > 0``: the ranking of boxes is kept).
    n_boxes, n_right : int
        Boxes the fit saw, and how many of them a given box confirmed.
    iou : float
        The overlap that made a box right.

    Examples
    --------
    >>> cal = ScoreCalibration(scale=2.0, shift=0.0, n_boxes=100, n_right=60, iou=0.5)
    >>> cal.transform(np.array([0.5, 0.75])).round(3)
    array([0.5, 0.9])
    >>> cal.compose(3.2, 0.9)  # the same map applied after a recipe's own Platt constants
    (6.4, 1.8)
    """

    scale: float
    shift: float
    n_boxes: int
    n_right: int
    iou: float

    def transform(self, score: np.ndarray) -> np.ndarray:
        """The calibrated scores of ``score`` (an array in [0, 1])."""
        z = self.scale * _logit(score) + self.shift
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def apply(self, boxes: pl.DataFrame) -> pl.DataFrame:
        """``boxes`` with their ``score`` column calibrated (every other column unchanged)."""
        return boxes.with_columns(
            pl.Series("score", self.transform(boxes["score"].to_numpy()), pl.Float64)
        )

    def compose(self, scale: float, shift: float) -> tuple[float, float]:
        """Constants of this calibration applied to scores ``sigmoid(scale * z + shift)``.

        A recipe that scores ``sigmoid(scale * z + shift)`` of its logit ``z`` scores as this
        calibration of its output with ``(self.scale * scale, self.scale * shift + self.shift)``.
        """
        return (self.scale * scale, self.scale * shift + self.shift)

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a JSON-able dict (what a scan records in ``meta``)."""
        return {
            "scale": self.scale,
            "shift": self.shift,
            "n_boxes": self.n_boxes,
            "n_right": self.n_right,
            "iou": self.iou,
        }


def matched_boxes(predicted: pl.DataFrame, given: pl.DataFrame, iou: float = 0.5) -> np.ndarray:
    """Whether each predicted box has a given box of its class on its image with IoU >= ``iou``.

    Parameters
    ----------
    predicted, given : polars.DataFrame
        Box tables with ``sample_id, label, x, y, w, h`` (pixels).
    iou : float
        The overlap that confirms a predicted box.

    Returns
    -------
    numpy.ndarray
        One bool per row of ``predicted``, in its order.

    Examples
    --------
    >>> pred = pl.DataFrame({"sample_id": ["a", "a", "b"], "label": ["1", "2", "1"],
    ...                      "x": [0.0, 0, 0], "y": [0.0, 0, 0], "w": [10.0, 10, 10],
    ...                      "h": [10.0, 10, 10]})
    >>> given = pl.DataFrame({"sample_id": ["a"], "label": ["1"], "x": [1.0], "y": [0.0],
    ...                       "w": [10.0], "h": [10.0]})
    >>> matched_boxes(pred, given).tolist()
    [True, False, False]
    """
    cols = ["sample_id", "label", "x", "y", "w", "h"]
    left = predicted.select(cols).with_row_index("_row")
    pairs = left.join(given.select(cols), on=["sample_id", "label"], how="inner", suffix="_g")
    out = np.zeros(predicted.height, dtype=bool)
    if pairs.height:
        overlap = paired_iou(
            xyxy(pairs),
            xyxy(pairs.select([pl.col(f"{c}_g").alias(c) for c in ("x", "y", "w", "h")])),
        )
        hit = pairs["_row"].to_numpy()[overlap >= iou]
        out[hit] = True
    return out


def fit_score_calibration(
    predicted: pl.DataFrame, given: pl.DataFrame | None, *, iou: float = 0.5
) -> ScoreCalibration | None:
    """Fit Platt scaling of ``predicted`` box scores against the ``given`` boxes.

    Parameters
    ----------
    predicted : polars.DataFrame
        Out-of-sample predicted boxes (``sample_id, label, x, y, w, h, score``).
    given : polars.DataFrame or None
        The dataset's boxes (``sample_id, label, x, y, w, h``).
    iou : float
        The overlap with a given box of the same class that makes a predicted box right.

    Returns
    -------
    ScoreCalibration or None
        ``None`` (scores left as they are, with a log line saying why) when there are fewer
        than :data:`MIN_CALIBRATION_BOXES` right or wrong boxes, or when the fit does not
        increase with the score (it would reverse the ranking).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> right = rng.random(n) < 0.6
    >>> z = np.where(right, 1.0, -0.5) + rng.normal(0, 0.5, n)  # raw logits: right ones higher
    >>> pred = pl.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "label": "7",
    ...                      "x": 0.0, "y": 0.0, "w": 10.0, "h": 10.0,
    ...                      "score": 1 / (1 + np.exp(-z))})
    >>> given = pred.filter(pl.Series(right)).drop("score")
    >>> cal = fit_score_calibration(pred, given)
    >>> cal.n_right, cal.scale > 1  # under-confident raw scores are stretched
    (225, True)
    """
    if given is None or predicted.height == 0:
        logger.info("score calibration: no given or predicted boxes; scores left uncalibrated")
        return None
    right = matched_boxes(predicted, given, iou)
    n_right = int(right.sum())
    n_wrong = int(right.size - n_right)
    if min(n_right, n_wrong) < MIN_CALIBRATION_BOXES:
        logger.info(
            "score calibration: %d right and %d wrong boxes, fewer than %d of one kind; "
            "scores left uncalibrated",
            n_right,
            n_wrong,
            MIN_CALIBRATION_BOXES,
        )
        return None
    from sklearn.linear_model import LogisticRegression

    x = _logit(predicted["score"].to_numpy()).reshape(-1, 1)
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(x, right)
    scale, shift = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if not scale > 0:
        logger.warning(
            "score calibration: the fit does not increase with the score (scale %.3g); "
            "scores left uncalibrated",
            scale,
        )
        return None
    return ScoreCalibration(scale, shift, int(right.size), n_right, float(iou))
