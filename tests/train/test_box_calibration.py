"""Per-run Platt calibration of box scores: matching, the fit recovers known constants."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric.train.box_calibration import (
    MIN_CALIBRATION_BOXES,
    ScoreCalibration,
    fit_score_calibration,
    matched_boxes,
)


def _boxes(rows: list[tuple[str, str, float, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["sample_id", "label", "x", "y", "w", "h"], orient="row")


def test_matched_boxes_needs_same_image_same_class_and_iou() -> None:
    given = _boxes([("a", "1", 0, 0, 10, 10), ("b", "2", 50, 50, 10, 10)])
    pred = _boxes(
        [
            ("a", "1", 0, 0, 10, 10),  # the same box
            ("a", "1", 3, 0, 10, 10),  # IoU 70/130 = 0.538
            ("a", "1", 4, 0, 10, 10),  # IoU 60/140 = 0.43
            ("a", "2", 0, 0, 10, 10),  # other class
            ("b", "1", 50, 50, 10, 10),  # other class on the other image
            ("c", "1", 0, 0, 10, 10),  # an image without boxes
            ("b", "2", 52, 50, 10, 10),  # IoU 80/120
        ]
    )
    assert matched_boxes(pred, given).tolist() == [True, True, False, False, False, False, True]
    assert matched_boxes(pred, given, iou=0.6).tolist() == [
        True, False, False, False, False, False, True,
    ]  # fmt: skip
    assert matched_boxes(pred, given.clear()).tolist() == [False] * 7


def _planted(scale: float, shift: float, n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Boxes whose raw logit z makes them right with probability sigmoid(scale*z + shift)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, n)
    right = rng.random(n) < 1 / (1 + np.exp(-(scale * z + shift)))
    pred = pl.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "label": "7",
            "x": 0.0,
            "y": 0.0,
            "w": 10.0,
            "h": 10.0,
            "score": 1 / (1 + np.exp(-z)),
        }
    )
    return pred, pred.filter(pl.Series(right)).drop("score")


@pytest.mark.parametrize(("scale", "shift"), [(3.2, 0.9), (0.5, -1.0)])
def test_fit_recovers_the_constants_that_made_the_data(scale: float, shift: float) -> None:
    pred, given = _planted(scale, shift, 20_000, seed=0)
    cal = fit_score_calibration(pred, given)
    assert cal is not None
    assert cal.n_boxes == 20_000 and cal.n_right == given.height and cal.iou == 0.5
    assert cal.scale == pytest.approx(scale, rel=0.08)
    assert cal.shift == pytest.approx(shift, abs=0.08)
    # calibrated: in each fifth of the boxes by score, the share right is the mean score
    score = cal.transform(pred["score"].to_numpy())
    right = matched_boxes(pred, given)
    for part in np.array_split(np.argsort(score), 5):
        assert right[part].mean() == pytest.approx(score[part].mean(), abs=0.03)
    # monotone: the ranking (so mAP) is kept
    order = np.argsort(pred["score"].to_numpy(), kind="stable")
    assert np.array_equal(np.argsort(score, kind="stable"), order)
    applied = cal.apply(pred)
    assert applied.drop("score").equals(pred.drop("score"))
    assert np.allclose(applied["score"].to_numpy(), score)


def test_no_fit_when_too_few_of_a_kind_or_reversed() -> None:
    pred, given = _planted(3.0, 0.0, 200, seed=1)
    few = given.head(MIN_CALIBRATION_BOXES - 1)
    assert fit_score_calibration(pred, few) is None
    assert fit_score_calibration(pred, None) is None
    assert fit_score_calibration(pred.clear(), given) is None
    # every box right: nothing to tell right from wrong
    assert fit_score_calibration(pred, pred.drop("score")) is None
    # right boxes score LOWER: a fit would reverse the ranking, so none
    flipped = pred.with_columns((1 - pl.col("score")).alias("score"))
    assert fit_score_calibration(flipped, given) is None


def test_compose_equals_calibrating_the_recipe_scores() -> None:
    cal = ScoreCalibration(scale=1.7, shift=-0.4, n_boxes=10, n_right=5, iou=0.5)
    z = np.linspace(-4, 4, 17)
    recipe_scale, recipe_shift = 3.2, 0.9
    raw = 1 / (1 + np.exp(-(recipe_scale * z + recipe_shift)))
    scale, shift = cal.compose(recipe_scale, recipe_shift)
    assert np.allclose(cal.transform(raw), 1 / (1 + np.exp(-(scale * z + shift))))
    assert cal.to_dict() == {"scale": 1.7, "shift": -0.4, "n_boxes": 10, "n_right": 5, "iou": 0.5}
