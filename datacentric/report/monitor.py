"""Render a :class:`~datacentric.monitor.Monitor` store: a self-contained HTML dashboard
(alerts, then per slice a time series of each metric's drift score and of the performance
estimate), a Markdown summary, and JSON for machines.

The *drift score* puts every metric on one axis: the headline statistic divided by its alert
threshold (Wasserstein, Jensen-Shannon), or ``log(p) / log(limit)`` for p-value tests, with
``limit`` the window's Bonferroni-adjusted alpha; a score of 1 or more is an alert (when the
cell has at least ``min_rows`` rows).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric.report.charts import legend_svg, line_chart_svg
from datacentric.report.html import Markup, Table, render, table
from datacentric.report.markdown import markdown_header, markdown_table

if TYPE_CHECKING:
    from datacentric.monitor import Monitor
    from datacentric.monitor.config import MonitorConfig

__all__ = [
    "drift_scores",
    "line_chart_svg",
    "render_monitor_html",
    "render_monitor_markdown",
    "write_monitor_report",
]

_MAX_SLICES = 40


def drift_scores(stats: pl.DataFrame, config: MonitorConfig) -> pl.DataFrame:
    """The drift score of every headline statistic (see the module docstring).

    Columns: ``window_start, slice, metric, statistic, value, n, score``.
    """
    head = stats.filter(pl.col("headline"))
    if head.height == 0:
        return head.select(
            "window_start", "slice", "metric", "statistic", "value", "n"
        ).with_columns(score=pl.lit(None, pl.Float64))
    tests = (
        head.filter(pl.col("n") >= config.min_rows)
        .group_by("window_start")
        .agg(pl.len().alias("m"))
    )
    head = head.join(tests, on="window_start", how="left").with_columns(pl.col("m").fill_null(1))
    scores: list[float | None] = []
    for metric, stat, value, m in head.select("metric", "statistic", "value", "m").iter_rows():
        if value is None or value != value:
            scores.append(None)
        elif stat.endswith("p_value"):
            limit = config.alpha / m
            scores.append(math.log(max(value, 1e-300)) / math.log(limit))
        else:
            t = config.threshold(metric, stat)
            scores.append(value / t if t else None)
    return head.select("window_start", "slice", "metric", "statistic", "value", "n").with_columns(
        score=pl.Series(scores, dtype=pl.Float64)
    )


def _labels(windows: Sequence[Any]) -> list[str]:
    return [f"{w:%m-%d %H:%M}" if w.hour or w.minute else f"{w:%Y-%m-%d}" for w in windows]


def _alerts_table(alerts: pl.DataFrame) -> Table | None:
    """One line per alert (its sentence is listed under the table)."""
    if alerts.height == 0:
        return None
    shown = alerts.select(
        pl.col("window_start").dt.strftime("%Y-%m-%d %H:%M").alias("window"),
        "slice", "metric", "statistic", "value", "threshold", "severity",
    )  # fmt: skip
    return table(
        shown,
        max_rows=200,
        formats={"value": "{:.3g}", "threshold": "{:.3g}"},
        cell_classes={"window": ["nowrap"] * shown.height},
        badges={"severity": {"critical": "high", "warning": "medium"}},
    )


def _panel(
    stats: pl.DataFrame,
    scores: pl.DataFrame,
    slice_: str,
    windows: list[Any],
    metrics: list[str],
) -> dict[str, Any]:
    """One slice: the drift score of every metric (same order and colours in every slice)
    and the accuracy (CBPE estimate, labelled, reference) per window."""
    labels = _labels(windows)
    sc = scores.filter(pl.col("slice") == slice_)
    series: dict[str, list[float | None]] = {}
    for metric in metrics:
        by_w = dict(sc.filter(pl.col("metric") == metric).select("window_start", "score").rows())
        series[metric] = [by_w.get(w) for w in windows]
    perf = stats.filter((pl.col("slice") == slice_) & (pl.col("metric") == "performance"))
    perf_series: dict[str, list[float | None]] = {}
    for stat, name in (("expected_accuracy", "CBPE estimate"), ("accuracy", "labelled")):
        by_w = dict(perf.filter(pl.col("statistic") == stat).select("window_start", "value").rows())
        if by_w:
            perf_series[name] = [by_w.get(w) for w in windows]
    ref_acc = perf.filter(pl.col("statistic") == "reference_accuracy")["value"]
    rows = stats.filter((pl.col("slice") == slice_) & (pl.col("metric") == "rows"))["value"]
    small = partial(line_chart_svg, value_labels=False, width=520, height=190)
    return {
        "slice": slice_,
        "rows": int(rows.sum()),
        "drift": Markup(
            small(
                labels,
                series,
                reference=1.0,
                reference_label="alert",
                title="drift score",
                dashed=False,
                legend=False,
            )
        ),
        "accuracy": Markup(
            small(
                labels,
                perf_series,
                reference=ref_acc[0] if ref_acc.len() else None,
                reference_label="reference",
                title="accuracy",
                value_format="{:.1%}",
                y_max=1.0,
            )
        )
        if perf_series
        else None,
    }


def render_monitor_html(mon: Monitor) -> str:
    """The dashboard of a monitor store as one self-contained HTML document (the
    ``monitor.html`` template)."""
    status, cfg = mon.status(), mon.config
    alerts = mon.alerts()
    stats = mon.window_stats()
    scores = drift_scores(stats, cfg)
    windows = sorted(stats["window_start"].unique().to_list()) if stats.height else []
    metrics = scores["metric"].unique(maintain_order=True).to_list()
    alerted = alerts["slice"].unique().to_list() if alerts.height else []
    slices = sorted(stats["slice"].unique().to_list()) if stats.height else []
    order = sorted(slices, key=lambda s: (s not in alerted, s != "overall", s))[:_MAX_SLICES]
    panels = [
        {**_panel(stats, scores, s, windows, metrics), "alerted": s in alerted} for s in order
    ]
    return render(
        "monitor.html",
        title="Production monitor",
        subtitle=f"{status['store']} · reference {status['reference_rows']:,} rows",
        chips=[
            f"window {cfg.window}",
            f"{len(slices)} slices",
            f"{len(status['metrics'])} metrics",
            f"schema v{status['schema_version']}",
        ],
        nav={"alerts": "Alerts", "slices": "Slices", "config": "Configuration"},
        footer="datacentric monitor report",
        summary={
            "cards": {
                "Rows": status["n_rows"],
                "Batches": status["n_batches"],
                "Windows": status["n_windows"],
                "Alerts": status["n_alerts"],
                "Critical": status["alerts_by_severity"].get("critical", 0),
                "Labels": status["n_labels"],
            },
            "hints": {"Windows": f"of {cfg.window}", "Alerts": f"{len(alerted)} slice(s)"},
        },
        alerts=_alerts_table(alerts),
        messages=alerts.head(200)["message"].to_list() if alerts.height else [],
        legend=Markup(legend_svg(metrics, dashed=False)) if metrics else None,
        panels=panels,
        hidden=len(slices) - len(order),
        config=json.dumps(cfg.to_dict(), indent=2),
    )


def render_monitor_markdown(mon: Monitor) -> str:
    """A Markdown summary: status, alerts, and the latest window's headline drift by slice."""
    status, cfg = mon.status(), mon.config
    alerts = mon.alerts()
    lines = markdown_header(
        "Production monitor",
        [f"store {status['store']}", f"window {cfg.window}"],
        {"Rows": status["n_rows"], "Batches": status["n_batches"],
         "Windows": status["n_windows"], "Alerts": status["n_alerts"]},
        {},
    )  # fmt: skip
    lines += ["", "## Alerts", ""]
    if alerts.height:
        shown = alerts.select(
            pl.col("window_start").dt.strftime("%Y-%m-%d %H:%M").alias("window"),
            "slice", "metric", "statistic", "value", "severity",
        )  # fmt: skip
        lines.append(markdown_table(shown, formats={"value": "{:.3g}"}))
    else:
        lines.append("No alerts.")
    stats = mon.window_stats()
    if stats.height:
        last: dt.datetime = stats["window_start"].max()  # type: ignore[assignment]
        scores = drift_scores(stats.filter(pl.col("window_start") == last), cfg)
        table = scores.sort("score", descending=True, nulls_last=True).select(
            "slice", "metric", "statistic", "value", "n", "score"
        )
        lines += ["", f"## Latest window ({last:%Y-%m-%d %H:%M}): drift by slice", ""]
        lines.append(
            markdown_table(table, max_rows=30, formats={"value": "{:.3g}", "score": "{:.2f}"})
        )
    return "\n".join(lines) + "\n"


def write_monitor_report(mon: Monitor, path: str | Path) -> Path:
    """Write ``.html``, ``.md`` or ``.json`` by suffix: :func:`datacentric.report.write`."""
    from datacentric.report._dispatch import write

    return write(mon, path)
