"""Render :class:`~datacentric.slices.result.SliceMetrics` as HTML or Markdown: a forest
plot of one metric by slice with 95 % intervals, tables of every metric and of per-class
recall, the slice definitions and, given a baseline, what changed and whether it matters."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml

from datacentric.exceptions import InvalidParameterError
from datacentric.report.charts import forest_plot_svg
from datacentric.report.html import Formatter, Markup, format_value, render, table
from datacentric.report.markdown import markdown_header, markdown_table, md_text

if TYPE_CHECKING:
    from datacentric.slices.result import SliceMetrics

__all__ = [
    "STATUS_BADGES",
    "change_plot",
    "forest_plot_svg",
    "render_slices_html",
    "render_slices_markdown",
]

ALPHA = 0.05
_OVERALL = "overall"
_LOWER_IS_BETTER = frozenset({"ece"})
_STATUS = {
    "regressed": ("▼ regressed", "high"),
    "improved": ("▲ improved", "ok"),
    "unchanged": ("unchanged", "neutral"),
    "new": ("new", "info"),
    "missing": ("missing", "medium"),
}


#: Display names of metrics whose column name is terse.
_LABELS = {"map": "mAP@[.5:.95]", "map50": "mAP@0.5"}


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _p(v: Any) -> str:
    return "< 0.001" if float(v) < 0.001 else f"{float(v):.3f}"


def _fmt(metric: str, diff: bool = False) -> Formatter:  # rates in %, their changes in pp
    if metric in ("accuracy", "ece", "map", "map50") or metric.startswith(
        ("macro_", "recall[", "recall@", "ap[", "ap50[")
    ):
        return (lambda v: f"{100 * float(v):+.1f} pp") if diff else "{:.1%}"
    return "{:+.3g}" if diff else "{:.3g}"


# --------------------------------------------------------------------------- data
def _worse(row: Mapping[str, Any] | None, metric: str) -> bool:
    """Significantly worse than the rest of the data (``p < ALPHA``, in the bad direction)."""
    p, d = (_num(row.get(k)) for k in ("p_value", "delta_vs_overall")) if row else (None, None)
    bad = d is not None and (d > 0 if metric in _LOWER_IS_BETTER else d < 0)
    return bad and p is not None and p < ALPHA


def _ci(row: Mapping[str, Any] | None, fmt: Formatter) -> str:
    lo, hi = (_num(row.get(k)) for k in ("ci_low", "ci_high")) if row else (None, None)
    return "" if lo is None or hi is None else f"{format_value(lo, fmt)} – {format_value(hi, fmt)}"


class _View:
    """``metric``'s overall row, slice rows (worst first), a (slice, metric) → row lookup."""

    def __init__(self, metrics: SliceMetrics, metric: str | None) -> None:
        if metric is None:  # detection results have no accuracy: mAP@[.5:.95] leads
            metric = "map" if metrics.meta.get("task") == "detection" else "accuracy"
        rows = metrics.table.filter(pl.col("metric") == metric).to_dicts()
        if not rows:
            have = sorted(set(metrics.table["metric"].to_list()))
            raise InvalidParameterError(f"no metric {metric!r} in the results; available: {have}.")
        sign = -1.0 if metric in _LOWER_IS_BETTER else 1.0
        self.metrics, self.metric, self.meta = metrics, metric, metrics.meta
        self.min_n = int(self.meta.get("min_n") or 0)
        self.overall = next((r for r in rows if r["slice"] == _OVERALL), None)
        self.rest = sorted(
            (r for r in rows if r["slice"] != _OVERALL),
            key=lambda r: (_num(r["value"]) is None, sign * (_num(r["value"]) or 0.0), r["slice"]),
        )
        self.look = {(r["slice"], r["metric"]): r for r in metrics.table.iter_rows(named=True)}

    def chips(self) -> list[str]:
        meta, ov = self.meta, self.overall
        n_rows = meta.get("n_rows") or (ov["n"] if ov else None)
        chips = [f"root: {meta['root']}"] if meta.get("root") else []
        chips += [f"version {meta['version']}"] if meta.get("version") is not None else []
        chips += [f"split: {meta.get('split') or 'all'}"]
        chips += [f"{int(n_rows):,} rows evaluated"] if n_rows is not None else []
        chips += [f"{len(self.rest)} slices"]
        chips += [f"model: {meta['model']}"] if meta.get("model") else []
        return chips + ([f"created {meta['created_at']}"] if meta.get("created_at") else [])

    def cards(self) -> tuple[dict[str, Any], dict[str, str]]:
        cards: dict[str, Any] = {}
        hints: dict[str, str] = {}
        for name, label in {
            self.metric: f"Overall {_LABELS.get(self.metric, self.metric)}",
            "accuracy": "Overall accuracy",
            "macro_f1": "Macro F1",
            "map50": "Overall mAP@0.5",
            "ece": "Calibration error (ECE)",
        }.items():
            if (row := self.look.get((_OVERALL, name))) is not None and label not in cards:
                cards[label] = format_value(row["value"], _fmt(name)) or None
                hints[label] = f"95% CI {_ci(row, _fmt(name))}" if _ci(row, "{}") else ""
        worse = [r["slice"] for r in self.rest if _worse(r, self.metric)]
        cards["Slices significantly worse"] = len(worse)
        hints["Slices significantly worse"] = ", ".join(worse[:3]) + " …" * (len(worse) > 3)
        cards["Low-support slices"] = sum(bool(r["low_support"]) for r in self.rest)
        hints["Low-support slices"] = f"fewer than {self.min_n or 'min_n'} rows"
        return cards, hints

    def overview(self) -> tuple[pl.DataFrame, dict[str, Formatter]]:
        """Slices × main metrics, overall first then worst first; and their formats."""
        metric, look = self.metric, self.look
        extra = [
            m
            for m in ("accuracy", "macro_f1", "ece", "map", "map50")
            if (_OVERALL, m) in look and m != metric
        ]
        records = [
            {
                "slice": r["slice"],
                "n": r["n"],
                metric: _num(r["value"]),
                "95% CI": _ci(r, _fmt(metric)),
                "Δ vs overall": None if r["slice"] == _OVERALL else _num(r["delta_vs_overall"]),
                "p": _num(r["p_value"]),
                **{m: _num(look.get((r["slice"], m), {}).get("value")) for m in extra},
                "flags": ", ".join(
                    ["significantly worse"] * _worse(r, metric) + ["low n"] * bool(r["low_support"])
                ),
            }
            for r in [*([self.overall] if self.overall else []), *self.rest]
        ]
        formats = {
            metric: _fmt(metric),
            "Δ vs overall": _fmt(metric, diff=True),
            "p": _p,
            **{m: _fmt(m) for m in extra},
        }
        return pl.DataFrame(records, infer_schema_length=None), formats

    def recall(self) -> tuple[pl.DataFrame, dict[str, list[Any]]]:
        """Slices × per-class recall; "hot": significantly below the class's overall recall."""
        found = [
            m[7:-1]
            for m in self.metrics.table["metric"].unique(maintain_order=True)
            if m.startswith("recall[") and m.endswith("]")
        ]
        order = [str(c) for c in self.meta.get("classes") or [] if str(c) in found]
        classes = order + [c for c in found if c not in order]
        slices = [_OVERALL] + [r["slice"] for r in self.rest]
        rows = {c: [self.look.get((s, f"recall[{c}]")) for s in slices] for c in classes}
        grid = pl.DataFrame(
            {
                "slice": slices,
                **{c: [_num((r or {}).get("value")) for r in v] for c, v in rows.items()},
            },
            schema={"slice": pl.Utf8, **dict.fromkeys(classes, pl.Float64)},
        )
        return grid, {
            c: ["hot" if _worse(r, "recall") else None for r in v] for c, v in rows.items()
        }

    def definitions(self) -> str | None:
        """``meta["slices"]`` as the YAML of a slice file."""
        defs = self.meta.get("slices") or {}
        entries = [
            (dict(d) if "name" in d or "by" in d else {"name": k, **d})
            if isinstance(d, Mapping)
            else {"name": k, "definition": d}
            for k, d in (defs.items() if isinstance(defs, Mapping) else enumerate(defs))
        ]
        plain = json.loads(json.dumps({"slices": entries}, default=str))
        return str(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)) if entries else None

    def compare(
        self, baseline: SliceMetrics
    ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Formatter], str]:
        """compare(), regressed first; a display table with its formats; a summary line."""
        from datacentric.slices.compare import compare

        metric, rank = self.metric, {"regressed": 0, "missing": 1, "improved": 3, "new": 4}
        cmp = compare(baseline, self.metrics, metric=metric).sort(
            pl.col("status").replace_strict(rank, default=2), "change", "slice", nulls_last=True
        )
        fm, dfm = _fmt(metric), _fmt(metric, diff=True)
        shown = cmp.select(
            "slice",
            "n_baseline",
            "n_current",
            "baseline",
            "current",
            "change",
            pl.Series("95% CI", [_ci(r, dfm) for r in cmp.iter_rows(named=True)]),
            pl.col("p_value").alias("p"),
            pl.Series("status", [_STATUS.get(s, (s,))[0] for s in cmp["status"]]),
        )
        count = {s: int((cmp["status"] == s).sum()) for s in _STATUS}
        summary = (
            f"Significant (p < {ALPHA}): {count['regressed']} slice(s) regressed, "
            f"{count['improved']} improved; {count['new']} new, {count['missing']} missing."
        )
        for r in cmp.filter(pl.col("slice") == _OVERALL, pl.col("change").is_not_null()).to_dicts():
            summary += (
                f" Overall {metric}: {format_value(r['baseline'], fm)} → "
                f"{format_value(r['current'], fm)} ({format_value(r['change'], dfm)})."
            )
        return cmp, shown, {"baseline": fm, "current": fm, "change": dfm, "p": _p}, summary


# --------------------------------------------------------------------------- render
def change_plot(cmp: pl.DataFrame, min_n: int, value_format: Formatter, title: str) -> Markup:
    """A forest plot of :func:`~datacentric.slices.compare.compare`'s changes, smallest
    first: regressed slices red, improved green, those with fewer than ``min_n`` rows grey."""
    plotted = cmp.filter(pl.col("change").is_not_null(), pl.col("slice") != _OVERALL)
    plotted = plotted.sort("change", "slice")
    worse, better, few = (
        set(plotted.filter(e)["slice"])
        for e in (
            pl.col("status") == "regressed",
            pl.col("status") == "improved",
            pl.min_horizontal("n_baseline", "n_current") < min_n,
        )
    )
    return Markup(
        forest_plot_svg(
            *(plotted[c].to_list() for c in ("slice", "change", "ci_low", "ci_high")),
            reference=0.0,
            reference_label="no change",
            highlight=worse,
            positive=better,
            muted=few,
            highlight_label="regressed",
            positive_label="improved significantly",
            value_format=value_format,
            title=title,
        )
    )


#: Status cell text → badge kind, for the comparison tables.
STATUS_BADGES = {text: kind for text, kind in _STATUS.values()}


def render_slices_html(
    metrics: SliceMetrics, *, baseline: SliceMetrics | None = None, metric: str | None = None
) -> str:
    """A self-contained HTML report of metrics by slice (the ``slices.html`` template).

    Parameters
    ----------
    metrics : SliceMetrics
    baseline : SliceMetrics, optional
        A previous run: adds a "Compared with baseline" section (changes, intervals,
        significance, a forest plot of the changes).
    metric : str, optional
        The metric of the forest plot, the ranking and the comparison (default
        ``accuracy``; ``map`` for detection results).

    Returns
    -------
    str
        A complete HTML document: no external files, scripts or fonts.
    """
    view = _View(metrics, metric)
    metric = view.metric
    rest, min_n = view.rest, view.min_n
    ref, lo, hi = (_num((view.overall or {}).get(k)) for k in ("value", "ci_low", "ci_high"))
    plot = (
        Markup(
            forest_plot_svg(
                [r["slice"] for r in rest],
                [r["value"] for r in rest],
                [r["ci_low"] for r in rest],
                [r["ci_high"] for r in rest],
                reference=ref,
                reference_band=(lo, hi) if lo is not None and hi is not None else None,
                reference_label=f"overall {format_value(ref, _fmt(metric))}",
                highlight={r["slice"] for r in rest if _worse(r, metric)},
                muted={r["slice"] for r in rest if r["low_support"]},
                value_format=_fmt(metric),
            )
        )
        if rest
        else None
    )
    frame, formats = view.overview()
    hot = ["hot" if "significantly" in f else None for f in frame["flags"]]
    grid, hot_cells = view.recall()
    compared = None
    if baseline is not None:
        cmp, shown, cmp_formats, summary = view.compare(baseline)
        compared = {
            "intro": f"{summary} Change = current − baseline, with Newcombe 95% intervals and "
            "a two-proportion test; regressed slices first.",
            "chart": change_plot(
                cmp,
                min_n,
                _fmt(metric, diff=True),
                f"Change in {metric} (current − baseline), 95% intervals",
            ),
            "table": table(
                shown, max_rows=None, formats=cmp_formats, badges={"status": STATUS_BADGES}
            ),
        }
    cards, hints = view.cards()
    nav = {
        "forest": f"{_LABELS.get(metric, metric.capitalize())} by slice",
        "table": "All metrics by slice",
        **({"recall": "Per-class recall by slice"} if hot_cells else {}),
        "definitions": "Slice definitions",
        **({"baseline": "Compared with baseline"} if compared else {}),
    }
    return render(
        "slices.html",
        title="Slice metrics report",
        subtitle=f"{metric} overall and by slice, with 95% intervals.",
        chips=view.chips(),
        nav=nav,
        footer="Generated by datacentric.",
        metric=metric,
        alpha=ALPHA,
        summary={"cards": cards, "hints": hints},
        forest={
            "chart": plot,
            "intro": f"One row per slice, worst first: dot = {metric}, line = 95% interval; "
            f"dashed = overall, shaded = its interval. Red: significantly worse than the rest "
            f"(p < {ALPHA}); grey 'low n': fewer than {min_n or 'min_n'} rows.",
        },
        overview=table(
            frame,
            max_rows=None,
            formats=formats,
            cell_classes={metric: hot, "Δ vs overall": hot},
        ),
        recall=table(
            grid,
            max_rows=None,
            formats=dict.fromkeys(hot_cells, "{:.1%}"),
            cell_classes=hot_cells,
        )
        if hot_cells
        else None,
        definitions=view.definitions(),
        baseline=compared,
    )


def render_slices_markdown(
    metrics: SliceMetrics, *, baseline: SliceMetrics | None = None, metric: str | None = None
) -> str:
    """A Markdown report of metrics by slice, e.g. for a pull request: the sections of
    :func:`render_slices_html` (same parameters), as tables.
    """
    view = _View(metrics, metric)
    metric = view.metric
    frame, formats = view.overview()
    cards, hints = view.cards()
    lines = [
        *markdown_header("Slice metrics report", view.chips(), cards, hints),
        "",
        f"## {md_text(_LABELS.get(metric, metric.capitalize()))} by slice "
        "(Δ, p: the slice vs the rest)",
        "",
        markdown_table(frame, max_rows=None, formats=formats),
    ]
    grid, classes = view.recall()
    if classes:
        lines += [
            "",
            "## Per-class recall by slice",
            "",
            markdown_table(grid, max_rows=None, formats=dict.fromkeys(classes, "{:.1%}")),
        ]
    defs = view.definitions()
    fence = "`" * max([3, *(len(r) + 1 for r in re.findall(r"`+", defs or ""))])
    lines += [
        "",
        "## Slice definitions",
        "",
        f"{fence}yaml\n{defs.rstrip()}\n{fence}" if defs else "None recorded.",
    ]
    if baseline is not None:
        _, shown, formats, summary = view.compare(baseline)
        lines += [
            "",
            "## Compared with baseline",
            "",
            md_text(summary),
            "",
            markdown_table(shown, max_rows=None, formats=formats),
        ]
    return "\n".join(lines) + "\n"
