"""Compare slice metrics of two runs: the change per slice, its interval and significance."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import polars as pl

from datacentric._validation import Interval, invalid_parameter, validate_call
from datacentric.slices.result import SliceMetrics
from datacentric.slices.stats import two_proportion_p, wilson_interval

__all__ = ["COMPARE_SCHEMA", "compare", "higher_is_better", "is_proportion"]

COMPARE_SCHEMA: dict[str, pl.DataType] = {
    "slice": pl.Utf8(),
    "metric": pl.Utf8(),
    "n_baseline": pl.Int64(),
    "n_current": pl.Int64(),
    "support_baseline": pl.Int64(),
    "support_current": pl.Int64(),
    "baseline": pl.Float64(),
    "current": pl.Float64(),
    "change": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "p_value": pl.Float64(),
    "significant": pl.Boolean(),
    "status": pl.Utf8(),
}


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is an improvement (all but ``ece``)."""
    return metric != "ece"


def is_proportion(metric: str) -> bool:
    """Whether a metric is a proportion of rows (so intervals and z-tests apply)."""
    return metric == "accuracy" or metric.startswith("recall[")


def _newcombe(k1: float, n1: float, k2: float, n2: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``k2/n2 - k1/n1`` (method 10, 1998)."""
    if n1 <= 0 or n2 <= 0:
        return (math.nan, math.nan)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1)
    l2, u2 = wilson_interval(k2, n2)
    d = p2 - p1
    return (d - math.hypot(p2 - l2, u1 - p1), d + math.hypot(u2 - p2, p1 - l1))


@validate_call(
    {
        "baseline": [SliceMetrics],
        "current": [SliceMetrics],
        "metric": [str],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
    }
)
def compare(
    baseline: SliceMetrics,
    current: SliceMetrics,
    *,
    metric: str = "accuracy",
    alpha: float = 0.05,
) -> pl.DataFrame:
    """Per slice: baseline and current value of ``metric``, the change and whether it is
    significant.

    For proportions (accuracy, per-class recall) the change gets Newcombe's score interval
    and a two-proportion z-test (the runs are treated as independent samples; on the same
    test set this is conservative). Other metrics get the change only. ``status`` is
    ``improved``/``regressed`` (significant), ``unchanged``, ``new`` (only in current),
    ``missing`` (only in baseline) or ``empty`` (no rows in one of the runs).

    Examples
    --------
    >>> import polars as pl
    >>> from datacentric.slices.metrics import METRICS_SCHEMA
    >>> def run(acc):
    ...     rows = [{"slice": "overall", "n": 1000, "metric": "accuracy", "support": 1000,
    ...              "value": acc, "ci_low": None, "ci_high": None, "delta_vs_overall": 0.0,
    ...              "p_value": None, "low_support": False}]
    ...     return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))
    >>> compare(run(0.80), run(0.90))[["slice", "change", "status"]].rows()
    [('overall', 0.09999999999999998, 'improved')]
    """
    base = baseline.table.filter(pl.col("metric") == metric)
    cur = current.table.filter(pl.col("metric") == metric)
    if base.height == 0 and cur.height == 0:
        have = sorted(set(baseline.table["metric"]) | set(current.table["metric"]))
        raise invalid_parameter(
            "compare",
            "metric",
            metric,
            f"a metric of the runs ({', '.join(map(repr, have))})",
            fix=f"Pass one of those (neither run has metric {metric!r}).",
        )
    cols = ["slice", "n", "support", "value"]
    joined = base.select(cols).join(
        cur.select(cols),
        on="slice",
        how="full",
        suffix="_cur",
        coalesce=True,
        maintain_order="left_right",
    )
    rows: list[dict[str, Any]] = []
    for r in joined.iter_rows(named=True):
        b, c = r["value"], r["value_cur"]
        row: dict[str, Any] = {
            "slice": r["slice"],
            "metric": metric,
            "n_baseline": r["n"],
            "n_current": r["n_cur"],
            "support_baseline": r["support"],
            "support_current": r["support_cur"],
            "baseline": b,
            "current": c,
            "change": None,
            "ci_low": None,
            "ci_high": None,
            "p_value": None,
            "significant": False,
            "status": "unchanged",
        }
        if r["n"] is None:
            row["status"] = "new"
        elif r["n_cur"] is None:
            row["status"] = "missing"
        elif b is None or c is None:
            row["status"] = "empty"  # the slice exists but has no rows (or no support) in a run
        else:
            row["change"] = c - b
            if is_proportion(metric) and r["support"] and r["support_cur"]:
                n1, n2 = float(r["support"]), float(r["support_cur"])
                k1, k2 = b * n1, c * n2
                row["ci_low"], row["ci_high"] = _newcombe(k1, n1, k2, n2)
                p = two_proportion_p(k1, n1, k2, n2)
                row["p_value"] = p
                row["significant"] = bool(p < alpha)
                if row["significant"]:
                    better = c > b if higher_is_better(metric) else c < b
                    row["status"] = "improved" if better else "regressed"
        rows.append(row)
    return pl.DataFrame(rows, schema=COMPARE_SCHEMA)
