"""Float parameters: NaN, infinities and booleans are refused with one message form.

``low <= x <= high`` lets NaN through nowhere but lets ``inf`` through every lower bound
(``max_drop=inf`` passed every slice gate); ``check_number`` refuses both.
"""

from __future__ import annotations

import math

import pytest

from datacentric._numbers import check_number
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.image_quality import ImageQualityFinder
from datacentric.loop import FixPolicy
from datacentric.slices import SliceMetrics, check


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "0.5", None, -0.1, 1.5])
def test_check_number_refuses(value: object) -> None:
    with pytest.raises(InvalidParameterError, match=r"^x must be in \[0, 1\], received "):
        check_number(value, "x", low=0.0, high=1.0)


def test_check_number_accepts_and_optional() -> None:
    assert check_number(1, "x", low=0.0, high=1.0) == 1.0
    assert check_number(None, "x", low=0.0, optional=True) is None
    with pytest.raises(InvalidParameterError, match=r"x must be >= 0 \(a finite number\) or null"):
        check_number(math.inf, "x", low=0.0, high=math.inf, optional=True)


@pytest.mark.parametrize("value", [math.nan, math.inf, 2.0, True])
def test_fix_policy(value: object) -> None:
    with pytest.raises(InvalidParameterError, match=r"FixPolicy\.relabel_min_confidence"):
        FixPolicy(relabel_min_confidence=value)  # type: ignore[arg-type]


def test_gate_max_drop_inf_does_not_pass_everything() -> None:
    empty = SliceMetrics.__new__(SliceMetrics)  # never reached: the check comes first
    for bad in (math.inf, math.nan, -0.01):
        with pytest.raises(InvalidParameterError, match=r"max_drop must be >= 0"):
            check(empty, empty, max_drop=bad)
    with pytest.raises(InvalidParameterError, match=r"alpha must be in \(0, 1\)"):
        check(empty, empty, alpha=math.nan)


def test_finder_thresholds_refuse_infinity() -> None:
    with pytest.raises(InvalidParameterError, match=r"odd_size_iqr must be >= 0.*received inf"):
        ImageQualityFinder(odd_size_iqr=math.inf)
    with pytest.raises(InvalidParameterError, match=r"dark_threshold must be in \[0, 1\]"):
        ImageQualityFinder(dark_threshold=math.nan)
