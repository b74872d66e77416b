"""Hostile inputs to the "forgotten" report: one-line InvalidParameterError, nothing computed."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError
from datacentric.export.forgotten import forgotten
from datacentric.testing import check_parameter_constraints

P = np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
OK: dict[str, Any] = {"labels": ["a", "b", "a"], "before": P, "after": P, "classes": ["a", "b"]}

CASES = [
    ({"before": P[:2]}, r"parameter before must be an \(3, 2\) array of class probabilities"),
    ({"after": P[:, :1]}, r"parameter after must be an \(3, 2\) array"),
    ({"after": np.full((3, 2), np.nan)}, r"finite, in \[0, 1\], rows summing to 1"),
    ({"before": P * 2}, r"rows summing to 1"),
    ({"before": -P}, r"in \[0, 1\]"),
    ({"before": [["x", "y"]] * 3}, r"array of class probabilities .*received shape \(0,\)"),
    ({"labels": ["a", "b", "zebra"]}, r"parameter labels must be class names among"),
    ({"classes": ["a", "a"]}, r"parameter classes must be a non-empty list of distinct"),
    ({"sample_ids": ["1", "2"]}, r"parameter sample_ids must be one entry per label \(3\)"),
    ({"metadata": pl.DataFrame({"site": ["x"]})}, r"parameter metadata must be one entry"),
    ({"slices": {"s": np.array([1, 0, 1])}}, r"parameter slices must be a dict of slice name"),
    ({"slices": {"s": np.array([True, False])}}, r"boolean row mask of shape \(3,\)"),
    ({"class_support": {"a": -1}}, r"parameter class_support must be a dict of class name"),
    ({"class_support": {"a": 1.5}}, r"a row count >= 0"),
    ({"rare_fraction": 0.0}, r"parameter rare_fraction must be"),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_refused_in_one_line(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message) as err:
        forgotten(**{**OK, **change})
    assert "\n" not in str(err.value) and str(err.value).startswith("forgotten: parameter ")


def test_declared_constraints_are_checked() -> None:
    assert check_parameter_constraints(forgotten, OK) > 10


def test_no_rows_is_an_empty_report_not_a_crash() -> None:
    rep = forgotten([], np.zeros((0, 2)), np.zeros((0, 2)), ["a", "b"])
    assert rep.samples.height == 0 and rep.n_flipped == 0
    assert rep.classes["n"].to_list() == [0, 0] and rep.rare_classes == []
    assert rep.to_dict()["mean_tv"] == 0.0
