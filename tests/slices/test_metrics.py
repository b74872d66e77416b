"""Slice metrics with hand-computed answers: counts, accuracy, macro F1, recall, ECE, CIs, p."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices.metrics import confusion_metrics, evaluate_frame
from datacentric.slices.stats import two_proportion_p, wilson_interval
from datacentric.testing import check_parameter_constraints


@dataclass(frozen=True)
class S:
    name: str
    expr: pl.Expr
    columns: tuple[str, ...]


def _frame() -> pl.DataFrame:
    # site x: 4 rows, 3 correct; site y: 4 rows, 1 correct
    return pl.DataFrame(
        {
            "label": ["a", "a", "b", "b", "a", "a", "b", "b"],
            "pred": ["a", "a", "b", "a", "b", "b", "b", "a"],
            "confidence": [0.95, 0.85, 0.75, 0.65, 0.95, 0.55, 0.85, 0.75],
            "site": ["x", "x", "x", "x", "y", "y", "y", "y"],
        }
    )


def _get(t: pl.DataFrame, slice_: str, metric: str) -> dict:
    rows = t.filter((pl.col("slice") == slice_) & (pl.col("metric") == metric))
    assert rows.height == 1, (slice_, metric)
    return rows.row(0, named=True)


def test_known_answers() -> None:
    slices = [
        S("site=x", pl.col("site") == "x", ("site",)),
        S("site=y", pl.col("site") == "y", ("site",)),
    ]
    t = evaluate_frame(_frame(), slices, confidence="confidence", min_n=5, n_boot=50)
    assert t["slice"].unique(maintain_order=True).to_list() == ["overall", "site=x", "site=y"]
    ov = _get(t, "overall", "accuracy")
    assert ov["n"] == 8 and ov["value"] == pytest.approx(4 / 8)
    assert (ov["ci_low"], ov["ci_high"]) == pytest.approx(wilson_interval(4, 8))
    x = _get(t, "site=x", "accuracy")
    assert x["value"] == pytest.approx(0.75) and x["delta_vs_overall"] == pytest.approx(0.25)
    assert x["p_value"] == pytest.approx(two_proportion_p(3, 4, 1, 4))
    assert x["low_support"] is True  # n=4 < min_n=5: reported, not hidden
    # site x: a: tp=2 (support 2, predicted 3); b: tp=1 (support 2, predicted 1)
    prec = (2 / 3 + 1 / 1) / 2
    rec = (2 / 2 + 1 / 2) / 2
    f1 = (2 * (2 / 3) * 1 / (2 / 3 + 1) + 2 * 1 * 0.5 / 1.5) / 2
    assert _get(t, "site=x", "macro_precision")["value"] == pytest.approx(prec)
    assert _get(t, "site=x", "macro_recall")["value"] == pytest.approx(rec)
    assert _get(t, "site=x", "macro_f1")["value"] == pytest.approx(f1)
    rb = _get(t, "site=x", "recall[b]")
    assert rb["value"] == pytest.approx(0.5) and rb["support"] == 2
    # ECE on site x: bins (10 per unit): 0.95->9 correct, 0.85->8 correct, 0.75->7 correct,
    # 0.65->6 wrong; each bin has one row: |acc - conf| = .05, .15, .25, .65 -> mean .275
    assert _get(t, "site=x", "ece")["value"] == pytest.approx((0.05 + 0.15 + 0.25 + 0.65) / 4)


def test_sklearn_agreement_on_random_data() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 500)
    p = np.where(rng.random(500) < 0.7, y, rng.integers(0, 4, 500))
    cm = np.zeros((4, 4), int)
    np.add.at(cm, (y, p), 1)
    m = {r["metric"]: r for r in confusion_metrics(cm, classes=list("abcd"), n_boot=100)}
    assert m["macro_f1"]["value"] == pytest.approx(f1_score(y, p, average="macro"))
    assert m["macro_precision"]["value"] == pytest.approx(
        precision_score(y, p, average="macro", zero_division=0)
    )
    assert m["macro_recall"]["value"] == pytest.approx(recall_score(y, p, average="macro"))
    lo, hi = m["macro_f1"]["ci_low"], m["macro_f1"]["ci_high"]
    assert lo < m["macro_f1"]["value"] < hi and hi - lo < 0.2


def test_planted_bad_slice_is_significant() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    site = rng.choice(["a", "b", "c", "d"], n)
    correct = rng.random(n) < np.where(site == "c", 0.70, 0.92)
    frame = pl.DataFrame({"label": ["y"] * n, "pred": np.where(correct, "y", "z"), "site": site})
    slices = [S(f"site={v}", pl.col("site") == v, ("site",)) for v in "abcd"]
    acc = (
        evaluate_frame(frame, slices, classes=["y", "z"], n_boot=20)
        .filter(pl.col("metric") == "accuracy")
        .sort("value")
    )
    worst = acc.row(0, named=True)
    assert (
        worst["slice"] == "site=c" and worst["p_value"] < 1e-10 and worst["delta_vs_overall"] < -0.1
    )
    assert all(
        r["p_value"] > 1e-6 or r["delta_vs_overall"] > 0
        for r in acc.filter(pl.col("slice") != "site=c").iter_rows(named=True)
        if r["slice"] != "overall"
    )


def test_empty_slice_reports_nulls_not_errors() -> None:
    t = evaluate_frame(_frame(), [S("site=z", pl.col("site") == "z", ("site",))], n_boot=10)
    row = _get(t, "site=z", "accuracy")
    assert row["n"] == 0 and row["value"] is None and row["low_support"] is True
    assert not any(isinstance(v, float) and math.isnan(v) for v in t["value"].to_list())


def test_errors() -> None:
    f = _frame()
    with pytest.raises(SchemaError, match="unique"):
        evaluate_frame(f, [S("a", pl.lit(True), ()), S("a", pl.lit(True), ())])
    with pytest.raises(SchemaError, match=r"\['scanner'\]"):
        evaluate_frame(f, [S("s", pl.col("scanner") == "x", ("scanner",))])
    with pytest.raises(SchemaError, match="not among the classes"):
        evaluate_frame(f, [], classes=["a"])
    with pytest.raises(SchemaError, match="'truth' column"):
        evaluate_frame(f, [], label="truth")


def test_partial_confidence_is_a_clear_error() -> None:
    f = _frame().with_columns(
        pl.when(pl.col("site") == "x").then(pl.col("confidence")).alias("confidence")
    )
    with pytest.raises(SchemaError, match="confidence column 'confidence' is missing or empty"):
        evaluate_frame(f, [], confidence="confidence")


def test_evaluate_frame_parameters_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match=r"^evaluate_frame: parameter n_bins must be"):
        evaluate_frame(_frame(), [], n_bins=0)
    assert check_parameter_constraints(evaluate_frame, {"frame": _frame()}) == 19
