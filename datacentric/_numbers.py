"""Checks for numbers that users pass in: parameters and the numeric columns of their data.

NaN compares false with everything and infinity passes every lower bound, so range checks
written as ``low <= x <= high`` let some of them through (``max_drop=inf`` passes every
gate). :func:`check_number` refuses NaN, infinities (unless a bound is itself infinite and
``allow_inf``) and booleans, with one message form; :func:`nonfinite_rows` finds the rows of
a column that hold NaN or infinities, for error messages that name them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from datacentric.exceptions import InvalidParameterError

__all__ = ["check_number", "nonfinite_rows"]


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"{'>' if low_open else '>='} {low:g} (a finite number)"
    if low is None:
        return f"{'<' if high_open else '<='} {high:g} (a finite number)"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> float | None:
    """``float(value)`` when it is a finite number within the bounds, else an error.

    Parameters
    ----------
    value : object
        The number received.
    name : str
        How the message names it (``"max_drop"``, ``"FixPolicy.relabel_min_confidence"``).
    low, high : float, optional
        Bounds (inclusive unless ``low_open`` / ``high_open``).
    optional : bool
        Accept ``None`` (returned as is).

    Raises
    ------
    InvalidParameterError
        NaN, an infinity, a boolean, a non-number, or a value outside the bounds; the message
        names the parameter, the value received and the valid range.

    Examples
    --------
    >>> check_number(0.5, "max_drop", low=0, high=1)
    0.5
    >>> check_number(float("nan"), "max_drop", low=0, high=1)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: max_drop must be in [0, 1], received nan.
    """
    if value is None and optional:
        return None
    low = None if low is None or math.isinf(low) else low  # an infinite bound is no bound
    high = None if high is None or math.isinf(high) else high
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    x = float(value) if ok else math.nan
    if ok and math.isfinite(x):
        ok = not (
            (low is not None and (x <= low if low_open else x < low))
            or (high is not None and (x >= high if high_open else x > high))
        )
    else:
        ok = False
    if not ok:
        none = " or null" if optional else ""
        raise InvalidParameterError(
            f"{name} must be {_interval(low, high, low_open, high_open)}{none}, received {value!r}."
        )
    return x


def nonfinite_rows(values: np.ndarray, *, nan: bool = True) -> np.ndarray:
    """Indices of the rows of ``values`` (1-D, or 2-D by row) holding an infinity — or NaN
    too when ``nan``.

    Examples
    --------
    >>> nonfinite_rows(np.array([1.0, np.inf, np.nan, -np.inf])).tolist()
    [1, 2, 3]
    >>> nonfinite_rows(np.array([1.0, np.inf, np.nan]), nan=False).tolist()
    [1]
    """
    arr = np.asarray(values, dtype=np.float64)
    bad: np.ndarray = np.asarray(~np.isfinite(arr) if nan else np.isinf(arr))
    if bad.ndim > 1:
        bad = np.asarray(bad.reshape(bad.shape[0], -1).any(axis=1))
    return np.flatnonzero(bad)
