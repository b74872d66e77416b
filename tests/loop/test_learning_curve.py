"""The per-slice learning curve: the fit, the extrapolation, and a small real run."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_digits

from datacentric import Dataset
from datacentric.engine import get_engine
from datacentric.exceptions import InvalidParameterError
from datacentric.loop.learning_curve import (
    fit_learning_curve,
    samples_needed,
    slice_learning_curve,
)
from datacentric.train import SmallCNNRecipe

N = [50, 100, 150, 200]


def test_power_law_is_recovered_and_extrapolated() -> None:
    acc = [0.9 - 1.5 * x**-0.7 for x in N]
    fit = fit_learning_curve(N, acc)
    assert fit["model"] == "power" and fit["r2"] > 0.999
    assert fit["params"]["a"] == pytest.approx(0.9, abs=1e-3)
    assert fit["params"]["c"] == pytest.approx(0.7, abs=1e-2)
    # acc(n) = 0.85 at n = (1.5 / 0.05) ** (1 / 0.7) = 129.3...: 200 rows are past it
    assert samples_needed(fit, 200, 0.85)["additional"] == 0
    # 0.89 at n = (1.5 / 0.01) ** (1 / 0.7) = 1283.6 -> 1084 more than 200
    got = samples_needed(fit, 200, 0.89)
    assert got["additional"] == pytest.approx(1084, abs=5)
    assert got["statement"].startswith(f"about {got['additional']} more")
    # 0.899 needs ~30 000 rows: more than 10x the slice's 200
    far = samples_needed(fit, 200, 0.899)
    assert far["additional"] is None and "within 10× the slice's size (2000" in far["statement"]
    assert samples_needed(fit, 200, 0.899, max_factor=1000)["additional"] > 20_000


def test_log_linear_extrapolation_and_no_fit() -> None:
    # log-shaped data: the bounded power law still describes it (ceiling at the bound 1)
    fit = fit_learning_curve(N, [0.1 + 0.1 * np.log(x) for x in N])
    assert fit["model"] == "power" and fit["r2"] > 0.99
    assert fit["params"]["a"] == pytest.approx(1.0, abs=1e-6)
    # the log-linear fallback: 0.1 + 0.1 log n = 0.7 -> n = e^6 = 403.4 -> 204 more than 200
    log_fit = {"model": "log", "params": {"a": 0.1, "b": 0.1}, "r2": 1.0}
    assert samples_needed(log_fit, 200, 0.7)["additional"] == 204
    assert samples_needed(log_fit, 200, 0.9)["additional"] is None  # e^8 = 2981 > 2000
    flat = fit_learning_curve(N, [0.6, 0.5, 0.62, 0.49])  # noise, no trend
    assert flat["model"] == "none"
    assert samples_needed(flat, 200, 0.7) == {
        "additional": None,
        "statement": "no estimate: the learning curve fits poorly",
    }


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="same length >= 3"):
        fit_learning_curve([1, 2], [0.5, 0.6])
    with pytest.raises(InvalidParameterError, match="finite and > 0"):
        fit_learning_curve([0, 1, 2], [0.5, 0.6, 0.7])
    with pytest.raises(InvalidParameterError, match="target"):
        samples_needed({"model": "none"}, 10, 1.5)


def test_slice_learning_curve_trains_on_shares_of_the_slice_only() -> None:
    digits = load_digits()
    keep = np.flatnonzero(digits.target < 3)[:180]
    images = (digits.images[keep] * 15).astype(np.uint8)
    cam = ["old" if i % 3 == 0 else "new" for i in range(len(keep))]
    split = ["test" if i % 4 == 0 else "train" for i in range(len(keep))]
    ds = Dataset.from_arrays(
        images,
        [str(t) for t in digits.target[keep]],
        ["0", "1", "2"],
        split=split,
        metadata={"cam": cam},
    )
    eng = get_engine(None, workers=1)
    try:
        out = slice_learning_curve(
            ds,
            SmallCNNRecipe(epochs=2, image_size=8),
            pl.col("cam") == "old",
            seeds=[0],
            target=0.95,
            engine=eng,
        )
    finally:
        eng.close()
    n_slice = len(ds.split("train").filter(pl.col("cam") == "old"))
    assert out["n_now"] == n_slice
    assert out["curve"]["n"].to_list() == [round(s * n_slice) for s in (0.25, 0.5, 0.75, 1.0)]
    assert out["curve"]["accuracy"].is_between(0, 1).all()
    assert out["fit"]["model"] in ("power", "log", "none")
    assert isinstance(out["statement"], str) and out["target"] == 0.95
    with pytest.raises(InvalidParameterError, match=r"shares must be in \(0, 1\]"):
        slice_learning_curve(
            ds,
            SmallCNNRecipe(),
            pl.col("cam") == "old",
            seeds=[0],
            target=0.9,
            engine=eng,
            shares=[0.0, 1.0],
        )
