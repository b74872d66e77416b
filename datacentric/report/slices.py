"""Render :class:`~datacentric.slices.result.SliceMetrics` as HTML or Markdown: a forest
plot of one metric by slice with 95 % intervals, tables of every metric and of per-class
recall, the slice definitions and, given a baseline, what changed and whether it matters."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml

from datacentric.exceptions import InvalidParameterError
from datacentric.report.html import (
    Formatter,
    badge,
    esc,
    format_value,
    metric_cards,
    page,
    section,
    table_html,
)
from datacentric.report.markdown import markdown_header, markdown_table, md_text

if TYPE_CHECKING:
    from datacentric.slices.result import SliceMetrics

__all__ = ["forest_plot_svg", "render_slices_html", "render_slices_markdown"]

ALPHA = 0.05
_OVERALL = "overall"
_LOWER_IS_BETTER = frozenset({"ece"})
_INK, _GREY_INK, _GRID = "#1f2433", "#6b7280", "#e5e7eb"
_DOT, _WORSE, _BETTER, _MUTED = "#4f46e5", "#dc2626", "#16a34a", "#9ca3af"
_STATUS = {
    "regressed": ("▼ regressed", "high"),
    "improved": ("▲ improved", "ok"),
    "unchanged": ("unchanged", "neutral"),
    "new": ("new", "info"),
    "missing": ("missing", "medium"),
}


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _p(v: Any) -> str:
    return "< 0.001" if float(v) < 0.001 else f"{float(v):.3f}"


def _fmt(metric: str, diff: bool = False) -> Formatter:  # rates in %, their changes in pp
    if metric in ("accuracy", "ece") or metric.startswith(("macro_", "recall[")):
        return (lambda v: f"{100 * float(v):+.1f} pp") if diff else "{:.1%}"
    return "{:+.3g}" if diff else "{:.3g}"


def _text(
    x: float, y: float, text: str, size: float = 12, fill: str = _INK, extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}"{extra}>{esc(text)}</text>'
    )


def _line(
    x1: float, x2: float, y1: float, y2: float, color: str, width: float, extra: str = ""
) -> str:
    return (
        f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="{color}" '
        f'stroke-width="{width}" stroke-linecap="round"{extra}/>'
    )


def forest_plot_svg(
    labels: Sequence[Any],
    values: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    reference: float | None = None,
    reference_band: tuple[float, float] | None = None,
    reference_label: str | None = None,
    highlight: Collection[Any] = (),
    positive: Collection[Any] = (),
    muted: Collection[Any] = (),
    highlight_label: str = "significantly worse",
    positive_label: str = "significantly better",
    title: str | None = None,
    value_format: Formatter = "{:.3f}",
    width: int = 1000,
    row_height: int = 24,
) -> str:
    """A forest plot as inline SVG: one row per label, a dot at the value and a line for
    its interval, with a dashed vertical line at ``reference``.

    Parameters
    ----------
    labels, values, lows, highs : sequences of equal length
        One row per label, top to bottom; ``None``/NaN parts are not drawn ("n/a").
    reference, reference_band, reference_label : optional
        A dashed vertical line (e.g. the overall value) captioned ``reference_label``
        (default: the value), and a shaded band behind it (e.g. the overall interval).
    highlight, positive, muted : collections of labels
        Rows drawn red, green (``highlight_label`` / ``positive_label`` in the legend), or
        grey and marked "low n" (a muted highlighted row stays red, faded).
    title, value_format : optional
        Caption above; format of values, intervals and axis (whole numbers lose ``.0``).

    Examples
    --------
    >>> svg = forest_plot_svg(["a", "<b>"], [0.9, 0.6], [0.85, 0.4], [0.95, 0.8],
    ...                       reference=0.85, highlight={"<b>"}, muted={"<b>"})
    >>> svg.startswith("<svg"), svg.count("<circle"), "&lt;b&gt;" in svg, "low n" in svg
    (True, 4, True, True)
    """
    n = len(labels)
    if not len(values) == len(lows) == len(highs) == n:
        raise InvalidParameterError(
            f"forest_plot_svg needs one value, low and high per label; received {n} labels, "
            f"{len(values)} values, {len(lows)} lows and {len(highs)} highs."
        )
    names, fmt = [str(x) for x in labels], partial(format_value, fmt=value_format)
    vals, los, his = ([_num(v) for v in seq] for seq in (values, lows, highs))
    hot, good, low_n = ({str(x) for x in c} & set(names) for c in (highlight, positive, muted))
    band = [_num(v) for v in reference_band or ()]
    seen = [x for x in (*vals, *los, *his, reference, *band) if x is not None and math.isfinite(x)]
    a, b = (min(seen), max(seen)) if seen else (0.0, 1.0)
    a, b = (a - 0.05, b + 0.05) if b - a < 1e-9 else (a, b)
    raw = (b - a) / 5  # about five ticks, 1, 2 or 5 × 10^k apart
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    ticks = [
        round(k * step, 10) + 0.0
        for k in range(math.floor(a / step + 1e-9), math.ceil(b / step - 1e-9) + 1)
    ]
    tick_text = [re.sub(r"\.0+(?=\D*$)", "", fmt(t)) for t in ticks]  # 50.0% -> 50%
    texts = [
        "n/a"
        if v is None
        else fmt(v) + ("" if lo is None or hi is None else f"  [{fmt(lo)}, {fmt(hi)}]")
        for v, lo, hi in zip(vals, los, his, strict=True)
    ]
    shown = [s if len(s) <= 40 else s[:38] + "…" for s in names]
    label_w = min(max((len(s) * 7.0 for s in shown), default=40.0) + 14, width * 0.36)
    val_w = max((len(t) * 7.0 for t in texts), default=30.0)  # "low n" goes after it
    text_w = val_w + (56 if low_n else 14)
    left, right = label_w + 12, max(width - text_w - 10, label_w + 80)

    def x(v: float) -> float:
        return left + (v - ticks[0]) / (ticks[-1] - ticks[0]) * (right - left)

    legend = [
        (c, t)
        for c, t, on in (
            (_WORSE, highlight_label, hot),
            (_BETTER, positive_label, good),
            (_MUTED, "low n: few rows", low_n),
        )
        if on
    ]
    top = (30.0 if title else 6.0) + (18.0 if reference is not None else 4.0)
    bottom = top + n * row_height
    height = int(bottom + 26 + (22 if legend else 4))
    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}" role="img" aria-label="{esc(title or "forest plot")}">',
        _text(0, 16, title, 14, extra=' font-weight="600"') if title else "",
    ]
    out += [
        f'<rect x="0" y="{top + i * row_height:.1f}" width="{width}" height="{row_height}" '
        'fill="#f9fafb"/>'
        for i in range(0, n, 2)
    ]
    if len(band) == 2 and band[0] is not None and band[1] is not None:
        lo_x, hi_x = sorted((x(band[0]), x(band[1])))
        out.append(
            f'<rect x="{lo_x:.1f}" y="{top:.1f}" width="{max(hi_x - lo_x, 1):.1f}" '
            f'height="{n * row_height}" fill="#c7d2fe" fill-opacity="0.45"/>'
        )
    for t, text in zip(ticks, tick_text, strict=True):
        out += [
            _line(x(t), x(t), top, bottom + 4, _GRID, 1),
            _text(x(t), bottom + 18, text, 11.5, _GREY_INK, ' text-anchor="middle"'),
        ]
    if reference is not None and math.isfinite(reference):
        rx, end = x(reference), x(reference) > (left + right) / 2
        out += [
            _line(rx, rx, top - 4, bottom, _DOT, 1.5, ' stroke-dasharray="5 3"'),
            _text(
                rx - 4 if end else rx + 4,
                top - 6,
                fmt(reference) if reference_label is None else reference_label,
                11.5,
                _DOT,
                f' text-anchor="{"end" if end else "start"}"',
            ),
        ]
    for i, name in enumerate(names):
        cy, v, lo, hi = top + (i + 0.5) * row_height, vals[i], los[i], his[i]
        color = (
            _WORSE
            if name in hot
            else _BETTER
            if name in good
            else _MUTED
            if name in low_n
            else _DOT
        )
        fade = ' opacity="0.55"' if name in low_n and color != _MUTED else ""
        ink = _GREY_INK if name in low_n else _INK
        out += [
            f"<g><title>{esc(name)}: {esc(texts[i])}</title>",
            _text(
                label_w,
                cy + 4,
                shown[i],
                12.5,
                ink,
                ' text-anchor="end"' + (' font-weight="600"' if name in hot else ""),
            ),
        ]
        if lo is not None and hi is not None:
            out += [_line(x(lo), x(hi), cy, cy, color, 2.2, fade)]
            out += [_line(x(e), x(e), cy - 4, cy + 4, color, 1.5, fade) for e in (lo, hi)]
        if v is not None:
            out.append(
                f'<circle cx="{x(v):.1f}" cy="{cy:.1f}" r="4.8" fill="{color}" '
                f'stroke="#fff" stroke-width="1.2"{fade}/>'
            )
        out.append(_text(right + 12, cy + 4, texts[i], 12, ink, ' xml:space="preserve"'))
        if name in low_n:
            out.append(
                _text(
                    right + 20 + val_w,
                    cy + 4,
                    "low n",
                    11,
                    _MUTED,
                    ' font-style="italic" font-weight="600"',
                )
            )
        out.append("</g>")
    out += [
        f'<circle cx="{left + 190 * j + 5:.1f}" cy="{bottom + 34:.1f}" r="4.5" fill="{c}"/>'
        + _text(left + 190 * j + 14, bottom + 38, t, 12, "#374151")
        for j, (c, t) in enumerate(legend)
    ]
    return "".join([*out, "</svg>"])


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

    def __init__(self, metrics: SliceMetrics, metric: str) -> None:
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
            self.metric: f"Overall {self.metric}",
            "accuracy": "Overall accuracy",
            "macro_f1": "Macro F1",
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
            m for m in ("accuracy", "macro_f1", "ece") if (_OVERALL, m) in look and m != metric
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
def render_slices_html(
    metrics: SliceMetrics, *, baseline: SliceMetrics | None = None, metric: str = "accuracy"
) -> str:
    """A self-contained HTML report of metrics by slice.

    Parameters
    ----------
    metrics : SliceMetrics
    baseline : SliceMetrics, optional
        A previous run: adds a "Compared with baseline" section (changes, intervals,
        significance, a forest plot of the changes).
    metric : str
        The metric of the forest plot, the ranking and the comparison.

    Returns
    -------
    str
        A complete HTML document: no external files, scripts or fonts.
    """
    view = _View(metrics, metric)
    rest, min_n = view.rest, view.min_n
    ref, lo, hi = (_num((view.overall or {}).get(k)) for k in ("value", "ci_low", "ci_high"))
    plot = (
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
        if rest
        else '<p class="intro">No slices were evaluated.</p>'
    )
    frame, formats = view.overview()
    hot = ["hot" if "significantly" in f else None for f in frame["flags"]]
    grid, hot_cells = view.recall()
    defs = view.definitions()
    blocks = [
        (
            "forest",
            f"{metric.capitalize()} by slice",
            plot,
            f"One row per slice, worst first: dot "
            f"= {metric}, line = 95% interval; dashed = overall, shaded = its interval. Red: "
            f"significantly worse than the rest (p < {ALPHA}); grey 'low n': fewer than "
            f"{min_n or 'min_n'} rows.",
        ),
        (
            "table",
            "All metrics by slice",
            table_html(
                frame,
                max_rows=None,
                formats=formats,
                cell_classes={metric: hot, "Δ vs overall": hot},
            ),
            "Overall first, then slices worst "
            f"first; Δ and p compare each slice's {metric} with the rest of the data.",
        ),
        (
            "recall",
            "Per-class recall by slice",
            table_html(
                grid,
                max_rows=None,
                formats=dict.fromkeys(hot_cells, "{:.1%}"),
                cell_classes=hot_cells,
            )
            if hot_cells
            else "",
            "Recall of each class within each "
            f"slice; highlighted: significantly below the class's overall recall (p < {ALPHA}).",
        ),
        (
            "definitions",
            "Slice definitions",
            f"<pre>{esc(defs)}</pre>"
            if defs
            else '<p class="intro">No slice definitions were recorded.</p>',
            None,
        ),
    ]
    if baseline is not None:
        cmp, shown, cmp_formats, summary = view.compare(baseline)
        plotted = cmp.filter(pl.col("change").is_not_null()).sort("change", "slice")
        worse, better, few = (
            set(plotted.filter(e)["slice"])
            for e in (
                pl.col("status") == "regressed",
                pl.col("status") == "improved",
                pl.min_horizontal("n_baseline", "n_current") < min_n,
            )
        )
        body = forest_plot_svg(
            *(plotted[c].to_list() for c in ("slice", "change", "ci_low", "ci_high")),
            reference=0.0,
            reference_label="no change",
            highlight=worse,
            positive=better,
            muted=few,
            highlight_label="regressed",
            positive_label="improved",
            value_format=_fmt(metric, diff=True),
            title=f"Change in {metric} (current − baseline), 95% intervals",
        )
        body += table_html(shown, max_rows=None, formats=cmp_formats)
        for text, kind in _STATUS.values():  # the status cells become badges
            body = body.replace(f"<td>{esc(text)}</td>", f"<td>{badge(text, kind)}</td>")
        blocks.append(
            (
                "baseline",
                "Compared with baseline",
                body,
                f"{summary} Change = "
                "current − baseline, with Newcombe 95% intervals and a two-proportion "
                "test; regressed slices first.",
            )
        )
    cards, hints = view.cards()
    sections = [metric_cards(cards, hints=hints)] + [
        section(title, body, intro=intro, anchor=key) for key, title, body, intro in blocks if body
    ]
    return page(
        "Slice metrics report",
        sections,
        chips=view.chips(),
        nav={key: title for key, title, body, _ in blocks if body},
        subtitle=f"{metric} overall and by slice, with 95% intervals.",
        footer="Generated by datacentric.",
    )


def render_slices_markdown(
    metrics: SliceMetrics, *, baseline: SliceMetrics | None = None, metric: str = "accuracy"
) -> str:
    """A Markdown report of metrics by slice, e.g. for a pull request: the sections of
    :func:`render_slices_html` (same parameters), as tables.
    """
    view = _View(metrics, metric)
    frame, formats = view.overview()
    cards, hints = view.cards()
    lines = [
        *markdown_header("Slice metrics report", view.chips(), cards, hints),
        "",
        f"## {md_text(metric.capitalize())} by slice (Δ, p: the slice vs the rest)",
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
