"""Rendering SliceMetrics as HTML and Markdown (forest plots, tables, baseline comparison)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError
from datacentric.report.slices import (
    forest_plot_svg,
    render_slices_html,
    render_slices_markdown,
)
from datacentric.slices.metrics import METRICS_SCHEMA, evaluate_frame
from datacentric.slices.result import SliceMetrics

EVIL = "<b>x</b>"
SLICES = ["overall", "site=a", "site=b", "scanner=old", EVIL]


def _row(
    slice_: str,
    n: int,
    metric: str,
    value: float,
    lo: float | None,
    hi: float | None,
    delta: float,
    p: float | None,
    low: bool,
    support: int | None = None,
) -> dict:
    return {
        "slice": slice_,
        "n": n,
        "metric": metric,
        "support": support or n,
        "value": value,
        "ci_low": lo,
        "ci_high": hi,
        "delta_vs_overall": delta,
        "p_value": p,
        "low_support": low,
    }


def _metrics(worse_acc: float = 0.62) -> SliceMetrics:
    # (slice, n, accuracy, ci_low, ci_high, p, low_support)
    acc = [
        ("overall", 1000, 0.85, 0.83, 0.87, None, False),
        ("site=a", 600, 0.88, 0.85, 0.90, 0.02, False),
        ("site=b", 380, 0.84, 0.80, 0.87, 0.60, False),
        ("scanner=old", 200, worse_acc, worse_acc - 0.07, worse_acc + 0.06, 1e-6, False),
        (EVIL, 12, 0.75, 0.47, 0.91, 0.35, True),
    ]
    rows = []
    for s, n, v, lo, hi, p, low in acc:
        rows.append(_row(s, n, "accuracy", v, lo, hi, v - 0.85, p, low))
        rows.append(_row(s, n, "macro_f1", v - 0.03, None, None, v - 0.85, None, low))
        rows.append(_row(s, n, "ece", 0.04, 0.03, 0.06, 0.0, None, low))
        rows.append(_row(s, n, "recall[cat]", v + 0.02, None, None, v - 0.83, p, low, n // 2))
        rows.append(_row(s, n, "recall[dog]", v - 0.02, None, None, v - 0.87, p, low, n // 2))
    meta = {
        "root": "/data/<pets>",
        "version": 3,
        "split": "test",
        "classes": ["cat", "dog"],
        "min_n": 30,
        "model": "resnet18",
        "created_at": "2024-05-01T10:00:00+00:00",
        "slices": {
            "site=a": {"name": "site=a", "where": {"site": "a"}},
            EVIL: {"where": {"tag": EVIL}},
        },
    }
    return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA), meta)


def _assert_self_contained(doc: str) -> None:
    assert "<script" not in doc.lower()
    assert not re.search(r"https?://", doc)


def test_html_has_forest_plot_every_slice_and_markers():
    doc = render_slices_html(_metrics())
    _assert_self_contained(doc)
    assert doc.startswith("<!DOCTYPE html>") and "<svg" in doc
    for s in SLICES[1:4]:
        assert s in doc
    assert "low n" in doc
    assert "#dc2626" in doc  # the significantly worse slice is drawn red
    assert "resnet18" in doc and "1,000 rows evaluated" in doc and "4 slices" in doc
    assert "Calibration error (ECE)" in doc and "Per-class recall by slice" in doc
    assert "where:" in doc  # the definitions, as YAML


def test_html_forest_plot_puts_worst_slice_on_top():
    doc = render_slices_html(_metrics())
    svg = doc[doc.index("<svg") : doc.index("</svg>")]
    labels = re.findall(r"<g><title>[^<]*</title><text [^>]*>([^<]+)</text>", svg)
    assert labels[0] == "scanner=old" and labels[-1] == "site=a"


def test_html_escapes_slice_names_and_meta():
    doc = render_slices_html(_metrics(), baseline=_metrics(0.80))
    assert EVIL not in doc
    assert "&lt;b&gt;x&lt;/b&gt;" in doc
    assert "/data/&lt;pets&gt;" in doc


def test_html_with_baseline_marks_regressed_slice():
    doc = render_slices_html(_metrics(), baseline=_metrics(0.80))
    _assert_self_contained(doc)
    assert "Compared with baseline" in doc
    assert doc.count("<svg") == 2
    row = re.search(r"<tr><td>scanner=old</td>.*?</tr>", doc[doc.index('id="baseline"') :])
    assert row is not None and "regressed" in row.group(0) and "badge high" in row.group(0)
    assert "no change" in doc  # the reference line of the change plot


def test_html_unknown_metric_raises():
    with pytest.raises(InvalidParameterError, match="available"):
        render_slices_html(_metrics(), metric="auc")


def test_html_other_metric_and_empty_meta():
    m = _metrics()
    doc = render_slices_html(SliceMetrics(m.table, {}), metric="ece")
    assert "<svg" in doc and "No slice definitions were recorded." in doc


def test_markdown_tables_and_slices():
    md = render_slices_markdown(_metrics(), baseline=_metrics(0.80))
    assert md.startswith("# Slice metrics report")
    assert "| slice |" in md and "| ---" in md
    for s in SLICES[:4]:
        assert s in md
    assert "&lt;b&gt;x&lt;/b&gt;" in md and EVIL not in md.split("```")[0]
    assert "## Compared with baseline" in md and "▼ regressed" in md
    assert "```yaml" in md


def test_report_writes_html_and_markdown(tmp_path):
    m = _metrics()
    html_path = m.report(tmp_path / "r.html", baseline=_metrics(0.80))
    md_path = m.report(tmp_path / "r.md")
    assert "<svg" in html_path.read_text(encoding="utf-8")
    assert "| slice |" in md_path.read_text(encoding="utf-8")


def test_forest_plot_svg_shapes_and_length_check():
    svg = forest_plot_svg(
        ["a", "b", "c"],
        [0.9, None, 0.5],
        [0.8, None, 0.4],
        [0.95, None, 0.6],
        reference=0.8,
        reference_band=(0.75, 0.85),
        highlight={"c"},
        muted={"b"},
        title="T",
        value_format="{:.0%}",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<circle") == 2 + 2  # two dots + two legend swatches
    assert "n/a" in svg and "90%" in svg and ">80%<" in svg
    with pytest.raises(InvalidParameterError):
        forest_plot_svg(["a"], [1.0, 2.0], [0.0], [1.0])


@dataclass
class _Slice:
    name: str
    expr: pl.Expr
    columns: tuple[str, ...]


def test_real_evaluation_renders():
    rng = np.random.default_rng(0)
    n = 600
    site = rng.choice(["a", "b", "c"], n)
    label = rng.choice(["cat", "dog"], n)
    wrong = rng.random(n) < np.where(site == "c", 0.4, 0.1)
    pred = np.where(wrong, np.where(label == "cat", "dog", "cat"), label)
    frame = pl.DataFrame(
        {"site": site, "label": label, "pred": pred, "confidence": rng.uniform(0.5, 1.0, n)}
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(n) < 10).then(pl.lit("tiny")).otherwise(pl.col("site")).alias("site")
    )
    slices = [_Slice(f"site={v}", pl.col("site") == v, ("site",)) for v in ("a", "b", "c", "tiny")]
    table = evaluate_frame(frame, slices, confidence="confidence", min_n=30, n_boot=50)
    doc = render_slices_html(SliceMetrics(table, {"min_n": 30}))
    _assert_self_contained(doc)
    assert "site=c" in doc and "low n" in doc and "#dc2626" in doc
    assert "site=tiny" in render_slices_markdown(SliceMetrics(table, {}))
