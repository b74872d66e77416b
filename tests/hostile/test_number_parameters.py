"""Float parameters: NaN, infinities and booleans are refused with one message form.

``low <= x <= high`` lets NaN through nowhere but lets ``inf`` through every lower bound
(``max_drop=inf`` passed every slice gate); ``datacentric._validation.Interval`` refuses both.
"""

from __future__ import annotations

import math
from numbers import Real

import pytest

from datacentric._validation import Interval, check_params
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.image_quality import ImageQualityFinder
from datacentric.loop import FixPolicy
from datacentric.slices import SliceMetrics, check


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "0.5", None, -0.1, 1.5])
def test_interval_refuses_nan_inf_bool_and_out_of_range(value: object) -> None:
    with pytest.raises(InvalidParameterError, match=r"^f: parameter x must be a number in \[0, 1"):
        check_params("f", {"x": value}, {"x": [Interval(Real, 0, 1)]})


def test_interval_open_above_refuses_infinity_and_accepts_none_when_declared() -> None:
    check_params("f", {"x": None}, {"x": [Interval(Real, 0, None, closed="left"), None]})
    with pytest.raises(InvalidParameterError, match=r"received inf"):
        check_params("f", {"x": math.inf}, {"x": [Interval(Real, 0, None, closed="left")]})


@pytest.mark.parametrize("value", [math.nan, math.inf, 2.0, True])
def test_fix_policy(value: object) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"^FixPolicy: parameter relabel_min_confidence must be a number in \[0, 1\]",
    ):
        FixPolicy(relabel_min_confidence=value)  # type: ignore[arg-type]


def test_gate_max_drop_inf_does_not_pass_everything() -> None:
    empty = SliceMetrics.__new__(SliceMetrics)  # never reached: the check comes first
    for bad in (math.inf, math.nan, -0.01):
        with pytest.raises(
            InvalidParameterError, match=r"parameter max_drop must be a number >= 0; received"
        ):
            check(empty, empty, max_drop=bad)
    with pytest.raises(
        InvalidParameterError, match=r"parameter alpha must be a number in \(0, 1\); received nan"
    ):
        check(empty, empty, alpha=math.nan)


def test_finder_thresholds_refuse_infinity() -> None:
    with pytest.raises(
        InvalidParameterError, match=r"parameter odd_size_iqr must be a number >= 0; received inf"
    ):
        ImageQualityFinder(odd_size_iqr=math.inf)
    with pytest.raises(
        InvalidParameterError,
        match=r"parameter dark_threshold must be a number in \[0, 1\]; received nan",
    ):
        ImageQualityFinder(dark_threshold=math.nan)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "3.5", None, 0, -1.0])
def test_image_quality_z_threshold_refuses_nan_inf_bool_and_non_positive(value: object) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"^ImageQualityFinder: parameter z_threshold must be a number > 0; received",
    ):
        ImageQualityFinder(z_threshold=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["Relative", "dataset", "", None, True, 1, ["relative"]])
def test_image_quality_mode_is_one_of_two_strings(value: object) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"^ImageQualityFinder: parameter mode must be one of 'relative', 'absolute'; "
        r"received",
    ):
        ImageQualityFinder(mode=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.1])
def test_slice_interventions_refuse_bad_numbers(value: float) -> None:
    import polars as pl

    from datacentric.dataset import Dataset
    from datacentric.loop import run_loop
    from datacentric.loop.interventions import augmented_copies, matched_augmentation, oversample
    from datacentric.loop.learning_curve import fit_learning_curve, samples_needed

    stats = {"brightness": 0.5, "contrast": 0.2, "blurriness": 0.1, "noise": 0.01}
    with pytest.raises(
        InvalidParameterError, match="finite numbers >= 0; received slice brightness"
    ):
        matched_augmentation(dict(stats, brightness=value), stats)
    ds = Dataset.from_arrays([[[0]]] * 2, ["a", "a"], ["a"])
    with pytest.raises(InvalidParameterError, match="parameter share must be"):
        augmented_copies(ds, pl.lit(True), [], share=value)
    with pytest.raises(InvalidParameterError, match="parameter factor must be"):
        oversample(ds, pl.lit(True), value)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="parameter target must be"):
        samples_needed({"model": "none"}, 10, value)
    with pytest.raises(InvalidParameterError, match="finite and > 0"):
        fit_learning_curve([1, 2, value], [0.5, 0.6, 0.7])
    with pytest.raises(InvalidParameterError, match="parameter oversample_factor must be"):
        run_loop("/nonexistent", 0, interventions=True, oversample_factor=value)  # type: ignore[arg-type]
