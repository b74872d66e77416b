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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric.report.html import badge, esc, metric_cards, page, section, table_html
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

_COLOURS = ("#4f46e5", "#0891b2", "#d97706", "#059669", "#db2777", "#7c3aed", "#65a30d", "#dc2626")
_MAX_SLICES = 40


def line_chart_svg(
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    reference: float | None = None,
    reference_label: str = "",
    title: str = "",
    y_format: str = "{:.2f}",
    width: int = 520,
    height: int = 190,
) -> str:
    """A small multi-series line chart as inline SVG (``None`` values leave gaps).

    Examples
    --------
    >>> svg = line_chart_svg(["d1", "d2"], {"a": [0.1, 1.5], "<b>": [None, 0.2]}, reference=1.0)
    >>> svg.startswith("<svg"), svg.count("<polyline"), "&lt;b&gt;" in svg
    (True, 1, True)
    """
    n = len(x_labels)
    values = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    if reference is not None:
        values.append(reference)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo = min(lo, 0.0)
    hi = hi + 0.1 * (hi - lo) if hi > lo else lo + 1.0
    left, right, top, bottom = 52, width - 12, 24, height - 44
    legend_y = height - 10

    def x(i: int) -> float:
        return left + (right - left) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - lo) / (hi - lo)

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-size="11" '
        'font-family="system-ui,sans-serif">',
        f'<text x="{left}" y="14" font-weight="600">{esc(title)}</text>',
    ]
    for k in range(5):
        tick = lo + (hi - lo) * k / 4
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#e5e7eb"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'fill="#6b7280">{esc(y_format.format(tick))}</text>'
        )
    step = max(1, n // 6)
    for i in range(0, n, step):
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        parts.append(
            f'<text x="{x(i):.1f}" y="{bottom + 16}" text-anchor="{anchor}" fill="#6b7280">'
            f"{esc(x_labels[i])}</text>"
        )
    if reference is not None:
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y(reference):.1f}" y2="{y(reference):.1f}" '
            'stroke="#dc2626" stroke-dasharray="5,4"/>'
            f'<text x="{right}" y="{y(reference) - 4:.1f}" text-anchor="end" fill="#dc2626">'
            f"{esc(reference_label)}</text>"
        )
    lx = left
    for j, (name, vals) in enumerate(series.items()):
        colour = _COLOURS[j % len(_COLOURS)]
        run: list[str] = []
        runs: list[list[str]] = []
        for i, v in enumerate(vals):
            if v is None or not math.isfinite(v):
                if run:
                    runs.append(run)
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.6" fill="{colour}">'
                f"<title>{esc(name)} {esc(x_labels[i])}: {esc(y_format.format(v))}</title>"
                "</circle>"
            )
        if run:
            runs.append(run)
        for r in runs:
            if len(r) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" '
                    f'points="{" ".join(r)}"/>'
                )
        parts.append(
            f'<rect x="{lx}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{legend_y + 1}">{esc(name)}</text>'
        )
        lx += 14 + 7 * len(name) + 14
    parts.append("</svg>")
    return "".join(parts)


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


def _alerts_table(alerts: pl.DataFrame) -> str:
    if alerts.height == 0:
        return f"<p>{badge('no alerts', 'ok')} Every slice is within its thresholds.</p>"
    shown = alerts.select(
        pl.col("window_start").dt.strftime("%Y-%m-%d %H:%M").alias("window"),
        "slice", "metric", "statistic", "value", "threshold", "severity", "message",
    )  # fmt: skip
    hot = [("hot" if v == "critical" else None) for v in shown["severity"].to_list()]
    return table_html(
        shown,
        max_rows=200,
        formats={"value": "{:.3g}", "threshold": "{:.3g}"},
        cell_classes={"severity": hot},
    )


def render_monitor_html(mon: Monitor) -> str:
    """The dashboard of a monitor store as one self-contained HTML document."""
    status, cfg = mon.status(), mon.config
    alerts = mon.alerts()
    stats = mon.window_stats()
    scores = drift_scores(stats, cfg)
    windows = sorted(stats["window_start"].unique().to_list()) if stats.height else []
    labels = _labels(windows)
    alerted = alerts["slice"].unique().to_list() if alerts.height else []
    slices = sorted(stats["slice"].unique().to_list()) if stats.height else []
    order = sorted(slices, key=lambda s: (s not in alerted, s != "overall", s))[:_MAX_SLICES]
    cards = metric_cards(
        {
            "Rows": status["n_rows"],
            "Batches": status["n_batches"],
            "Windows": status["n_windows"],
            "Alerts": status["n_alerts"],
            "Critical": status["alerts_by_severity"].get("critical", 0),
            "Labels": status["n_labels"],
        },
        hints={"Windows": f"of {cfg.window}", "Alerts": f"{len(alerted)} slice(s)"},
    )
    intro = "Window statistics over the thresholds of the config."
    sections = [cards, section("Alerts", _alerts_table(alerts), anchor="alerts", intro=intro)]
    panels = []
    for s in order:
        sc = scores.filter(pl.col("slice") == s)
        series: dict[str, list[float | None]] = {}
        for metric in sc["metric"].unique(maintain_order=True).to_list():
            by_w = dict(
                sc.filter(pl.col("metric") == metric).select("window_start", "score").rows()
            )
            series[metric] = [by_w.get(w) for w in windows]
        drift_svg = line_chart_svg(
            labels, series, reference=1.0, reference_label="alert", title="drift score",
        )  # fmt: skip
        perf = stats.filter((pl.col("slice") == s) & (pl.col("metric") == "performance"))
        perf_series: dict[str, list[float | None]] = {}
        for stat, name in (("expected_accuracy", "CBPE estimate"), ("accuracy", "labelled")):
            by_w = dict(
                perf.filter(pl.col("statistic") == stat).select("window_start", "value").rows()
            )
            if by_w:
                perf_series[name] = [by_w.get(w) for w in windows]
        ref_acc = perf.filter(pl.col("statistic") == "reference_accuracy")["value"]
        perf_svg = (
            line_chart_svg(
                labels,
                perf_series,
                reference=ref_acc[0] if ref_acc.len() else None,
                reference_label="reference",
                title="accuracy",
                y_format="{:.0%}",
            )
            if perf_series
            else ""
        )
        n_rows = stats.filter((pl.col("slice") == s) & (pl.col("metric") == "rows"))["value"].sum()
        flag = badge("alert", "high") if s in alerted else badge("ok", "ok")
        panels.append(
            f"<h3>{esc(s)} {flag} <small>{int(n_rows):,} rows</small></h3>"
            f'<div style="display:flex;flex-wrap:wrap;gap:12px">{drift_svg}{perf_svg}</div>'
        )
    if len(slices) > len(order):
        panels.append(f'<p class="more">{len(slices) - len(order)} more slices not shown.</p>')
    sections.append(
        section(
            "Slices over time",
            "".join(panels) or "<p>No batch ingested yet.</p>",
            anchor="slices",
            intro="Drift score per metric (headline statistic / threshold; p-values on a log "
            "scale; 1 = alert) and accuracy (CBPE estimate, on recorded labels), per window.",
        )
    )
    cfg_yaml = esc(json.dumps(cfg.to_dict(), indent=2))
    sections.append(section("Configuration", f"<pre>{cfg_yaml}</pre>", anchor="config"))
    return page(
        "Production monitor",
        sections,
        subtitle=f"{status['store']} · reference {status['reference_rows']:,} rows",
        chips=[f"window {cfg.window}", f"{len(slices)} slices",
               f"{len(status['metrics'])} metrics", f"schema v{status['schema_version']}"],
        nav={"alerts": "Alerts", "slices": "Slices", "config": "Configuration"},
        footer="datacentric monitor report",
    )  # fmt: skip


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
