"""The outlier finder flags planted far-away points and nothing in a Gaussian cloud."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.context import ScanContext
from datacentric.issues.outlier import OutlierFinder
from datacentric.testing import check_issue_finder


def test_planted_outliers_only() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(1500, 16)) * 0.3 + np.eye(16)[0] * 2
    planted = [10, 500, 1200]
    for i, p in enumerate(planted):
        emb[p] = -np.eye(16)[i + 1] * 2
    ds = Dataset.from_arrays(np.zeros((1500, 2, 2)), [0] * 1500, ["a"])
    t = OutlierFinder().find(ScanContext(ds, embeddings=emb))
    assert sorted(int(s) for s in t.filter(pl.col("is_issue"))["sample_id"]) == planted
    assert t.sort("severity", descending=True).head(3)["sample_id"].to_list() != []


def test_bad_threshold() -> None:
    with pytest.raises(InvalidParameterError, match="z_threshold"):
        OutlierFinder(z_threshold=-1)
    with pytest.raises(InvalidParameterError, match=r"z_threshold must be a number > 0"):
        OutlierFinder(z_threshold=0)  # severity divides by it


@pytest.mark.parametrize("k", [0, -3, 2.5, "10", None, True])
def test_bad_k(k: object) -> None:
    with pytest.raises(
        InvalidParameterError, match=r"^OutlierFinder: parameter k must be an integer >= 1; "
    ):
        OutlierFinder(k=k)  # type: ignore[arg-type]


def test_contract() -> None:
    out = check_issue_finder(OutlierFinder)
    assert "ood_pred_score" in out.columns
