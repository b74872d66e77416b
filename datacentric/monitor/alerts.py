"""Alerts: window statistics over the thresholds of the config.

Rules, per window (every (window, slice) with at least ``min_rows`` rows, or boxes for the
per-box metrics of a detector; fewer give statistics but never an alert):

- drift: the headline statistic of each metric (see :mod:`datacentric.monitor.drift`).
  p-value tests (KS, chi-square) alert when ``p < alpha / m``, with ``m`` the number of
  headline tests in the window (Bonferroni: the chance of any false alarm in a window is at
  most ``alpha``); effect sizes alert when ``value >= threshold`` (Wasserstein, JS distance);
  PSI alerts too when the config gives it a threshold.
- ``missing_rate``: the share of null/NaN values rose by at least the threshold.
- ``expected_accuracy`` (CBPE): at least ``expected_accuracy_drop`` below the same estimate
  on the reference rows of the slice (of all rows for a slice the reference did not have), so
  that a calibration that is off for one slice does not read as a drop there; stores made
  before that estimate was kept compare with the slice's reference accuracy.
- ``accuracy`` (recorded labels, at least ``min_labels`` of them): at least ``accuracy_drop``
  below the reference accuracy, and significantly so: the upper end of the 95 % Wilson
  interval of the labelled accuracy is below the reference accuracy.

Severity is ``critical`` past ``critical_factor`` times the threshold (p-values: below a
hundredth of it), else ``warning``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl

from datacentric.monitor.boxes import PER_BOX_METRICS
from datacentric.monitor.config import MonitorConfig

__all__ = ["ALERTS_SCHEMA", "evaluate_alerts"]

ALERTS_SCHEMA: dict[str, pl.DataType] = {
    "window_start": pl.Datetime("us"),
    "slice": pl.String(),
    "metric": pl.String(),
    "statistic": pl.String(),
    "value": pl.Float64(),
    "threshold": pl.Float64(),
    "severity": pl.String(),
    "n": pl.Int64(),
    "message": pl.String(),
}
_P_VALUES = ("ks_p_value", "chi2_p_value")
_NAMES = {
    "ks_p_value": "KS p-value",
    "chi2_p_value": "chi-square p-value",
    "wasserstein": "Wasserstein distance / reference std",
    "jensen_shannon": "Jensen-Shannon distance",
    "psi": "PSI",
}


def _wilson_high(p: float, n: int, z: float = 1.96) -> float:
    """Upper end of the 95 % Wilson interval of a proportion ``p`` of ``n``."""
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + half) / (1 + z * z / n)


def _unit(metric: str) -> str:
    """What a metric's ``n`` counts: boxes for the per-box metrics of a detector."""
    return "boxes" if metric in PER_BOX_METRICS else "rows"


def _fmt(v: float) -> str:
    return f"{v:.2e}" if abs(v) < 1e-3 and v != 0 else f"{v:.3g}"


def evaluate_alerts(stats: pl.DataFrame, config: MonitorConfig) -> pl.DataFrame:
    """The alerts that ``stats`` (from :func:`~datacentric.monitor.windows.window_stats`)
    raise under ``config`` (columns of :data:`ALERTS_SCHEMA`, plus ``raised_at``).

    Examples
    --------
    >>> import datetime as dt
    >>> w = dt.datetime(2024, 1, 1)
    >>> stats = pl.DataFrame({
    ...     "window_start": [w, w], "slice": ["cam=b", "cam=a"], "metric": ["brightness"] * 2,
    ...     "statistic": ["wasserstein"] * 2, "value": [0.4, 0.02], "n": [5000, 5000],
    ...     "n_reference": [9000, 9000], "reference": ["slice"] * 2, "headline": [True] * 2})
    >>> evaluate_alerts(stats, MonitorConfig())[["slice", "metric", "severity"]].rows()
    [('cam=b', 'brightness', 'critical')]
    """
    cfg = config
    rows: list[tuple[Any, ...]] = []
    big = stats.filter((pl.col("n") >= cfg.min_rows) | (pl.col("statistic") == "accuracy"))
    n_tests = big.filter(pl.col("headline")).group_by("window_start").agg(pl.len().alias("m"))
    tests = dict(n_tests.iter_rows())
    lookup = {
        (w, s, m, st): v
        for w, s, m, st, v in stats.select(
            "window_start", "slice", "metric", "statistic", "value"
        ).iter_rows()
    }
    for r in big.iter_rows(named=True):
        w, s, metric, stat, value, n = (
            r["window_start"], r["slice"], r["metric"], r["statistic"], r["value"], r["n"],
        )  # fmt: skip
        if value is None or value != value:  # NaN
            continue
        where = f"slice {s!r}, window {w:%Y-%m-%d %H:%M}"
        if r["headline"] and stat in _P_VALUES:
            limit = cfg.alpha / max(1, tests.get(w, 1))
            if value < limit:
                sev = "critical" if value < limit / 100 else "warning"
                msg = (
                    f"{metric} drifted in {where}: {_NAMES[stat]} {_fmt(value)} < {_fmt(limit)} "
                    f"(alpha {cfg.alpha} over {tests.get(w, 1)} tests; n={n:,} vs "
                    f"{r['n_reference']:,} reference {_unit(metric)}, {r['reference']} reference)"
                )
                rows.append((w, s, metric, stat, value, limit, sev, n, msg))
            continue
        if (r["headline"] and stat in ("wasserstein", "jensen_shannon")) or stat == "psi":
            t = cfg.threshold(metric, stat)
            if t is not None and value >= t:
                sev = "critical" if value >= cfg.critical_factor * t else "warning"
                msg = (
                    f"{metric} drifted in {where}: {_NAMES[stat]} {_fmt(value)} >= {_fmt(t)} "
                    f"(n={n:,} vs {r['n_reference']:,} reference {_unit(metric)}, "
                    f"{r['reference']} reference)"
                )
                rows.append((w, s, metric, stat, value, t, sev, n, msg))
            continue
        if stat == "missing_rate":
            t = cfg.threshold(metric, "missing_rate")
            ref = lookup.get((w, s, metric, "missing_rate_reference")) or 0.0
            if t is not None and value - ref >= t:
                sev = "critical" if value - ref >= cfg.critical_factor * t else "warning"
                msg = (
                    f"{metric} is missing (null/NaN) in {value:.1%} of {_unit(metric)} in {where}, "
                    f"{ref:.1%} in the reference (threshold +{t:.1%})"
                )
                rows.append((w, s, metric, stat, value, ref + t, sev, n, msg))
            continue
        if metric == "performance" and stat in ("expected_accuracy", "accuracy"):
            drop = cfg.expected_accuracy_drop if stat == "expected_accuracy" else cfg.accuracy_drop
            ref = lookup.get((w, s, "performance", "reference_accuracy"))
            if stat == "expected_accuracy":  # like with like: CBPE on the reference rows
                ref = lookup.get((w, s, "performance", "reference_expected_accuracy"), ref)
            if drop is None or ref is None:
                continue
            if stat == "accuracy" and (n < cfg.min_labels or _wilson_high(value, n) >= ref):
                continue
            if ref - value >= drop:
                sev = "critical" if ref - value >= cfg.critical_factor * drop else "warning"
                what = "estimated accuracy (CBPE)" if stat == "expected_accuracy" else "accuracy"
                msg = (
                    f"{what} {value:.1%} in {where} is {ref - value:.1%} below the reference "
                    f"{ref:.1%} (threshold {drop:.1%}; n={n:,})"
                )
                rows.append((w, s, metric, stat, value, ref - drop, sev, n, msg))
    out = pl.DataFrame(rows, schema=ALERTS_SCHEMA, orient="row")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return out.sort("window_start", "slice", "metric").with_columns(raised_at=pl.lit(now))
