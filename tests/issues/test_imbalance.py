"""Imbalance: rare classes relative to the median, computed on the train split."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.context import ScanContext
from datacentric.issues.imbalance import ImbalanceFinder
from datacentric.testing import check_issue_finder


def test_counts_ratio_and_rare_class_on_train_only() -> None:
    labels = [0] * 40 + [1] * 30 + [2] * 6 + [2] * 30  # the last 30 "c" are test rows
    split = ["train"] * 76 + ["test"] * 30
    ds = Dataset.from_arrays(np.zeros((106, 2, 2)), labels, ["a", "b", "c", "d"], split=split)
    ctx = ScanContext(ds)
    f = ImbalanceFinder()
    stats = f.statistics(ctx)
    assert stats["class_counts"] == {"a": 40, "b": 30, "c": 6, "d": 0}
    assert stats["imbalance_ratio"] == pytest.approx(40 / 6)
    assert stats["rare_classes"] == ["c"] and stats["empty_classes"] == ["d"]
    t = f.find(ctx)
    flagged = t.filter(pl.col("is_issue"))
    assert flagged.height == 36  # every "c" sample, train and test
    assert flagged["severity"].min() == pytest.approx(1 - 6 / (0.5 * 18))
    assert ImbalanceFinder(split=None).statistics(ctx)["class_counts"]["c"] == 36


def test_bad_fraction() -> None:
    with pytest.raises(InvalidParameterError, match="rare_fraction"):
        ImbalanceFinder(rare_fraction=3)
    with pytest.raises(InvalidParameterError, match=r"split must be a string or None; received 0"):
        ImbalanceFinder(split=0)  # type: ignore[arg-type]


def test_contract() -> None:
    check_issue_finder(ImbalanceFinder)
