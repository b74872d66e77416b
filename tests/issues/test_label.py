"""The label finder flags planted label errors and suggests the right class."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.context import ScanContext
from datacentric.issues.label import LabelFinder
from datacentric.testing import check_issue_finder


def _noisy(n: int = 600, k: int = 4, n_flip: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k) * 0.3, n) * 0.2
    probs[np.arange(n), true] += 0.8
    probs /= probs.sum(axis=1, keepdims=True)
    given = true.copy()
    flip = rng.choice(n, n_flip, replace=False)
    given[flip] = (true[flip] + 1) % k
    classes = [f"c{i}" for i in range(k)]
    ds = Dataset.from_arrays(np.zeros((n, 2, 2)), given.tolist(), classes)
    return ds, probs, true, flip, classes


def test_finds_planted_flips_with_suggestions() -> None:
    ds, probs, true, flip, classes = _noisy()
    t = LabelFinder().find(ScanContext(ds, pred_probs=probs))
    flagged = t.filter(pl.col("is_issue"))
    found = {int(s) for s in flagged["sample_id"]}
    planted = {int(i) for i in flip}
    # cleanlab's prune_by_noise_rate is conservative: no false alarm, most flips found
    assert found <= planted
    assert len(found) >= 0.6 * len(planted)
    for sid, sug in flagged.select("sample_id", "suggested_label").rows():
        assert sug == classes[true[int(sid)]]
    # the severity ranking puts every planted flip first
    worst = t.sort("severity", descending=True).head(len(flip))
    assert {int(s) for s in worst["sample_id"]} == planted
    assert flagged["detail"].str.contains("check the label").all()


def test_batched_path_agrees_on_clear_errors() -> None:
    ds, probs, _, flip, _ = _noisy(n=2000, n_flip=60, seed=3)
    small = LabelFinder().find(ScanContext(ds, pred_probs=probs))
    batched = LabelFinder(batch_threshold=100).find(ScanContext(ds, pred_probs=probs))
    a = set(small.filter(pl.col("is_issue"))["sample_id"])
    b = set(batched.filter(pl.col("is_issue"))["sample_id"])
    planted = {str(i) for i in flip}
    assert a <= planted
    # the batched path (bounded memory) estimates the number of issues per batch: it is
    # at least as conservative, never wrong here
    assert b <= planted
    assert len(b) >= 0.4 * len(planted)
    # both paths score quality identically
    assert small["label_quality"].equals(batched["label_quality"])


def test_unlabelled_rows_are_not_scored() -> None:
    ds = Dataset.from_arrays(np.zeros((4, 2, 2)), [0, 1, None, 1], ["a", "b"])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.1, 0.9]])
    t = LabelFinder().find(ScanContext(ds, pred_probs=probs))
    assert t["sample_id"].to_list() == ["0", "1", "3"]


def test_contract() -> None:
    check_issue_finder(LabelFinder)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter_by": "prune_by_nosie_rate"}, r"filter_by must be one of 'prune_by_noise_rate'"),
        ({"scoring": "entropy"}, r"scoring must be one of 'self_confidence'"),
        ({"batch_threshold": 0}, r"batch_threshold must be an integer >= 1; received 0"),
        ({"batch_threshold": 1e5}, r"batch_threshold must be an integer >= 1; received 100000\.0"),
    ],
)
def test_bad_parameters_are_refused_at_construction(params: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=r"^LabelFinder: parameter " + message):
        LabelFinder(**params)
