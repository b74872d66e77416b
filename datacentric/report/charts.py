"""The one chart kit of the reports: every chart is an inline SVG string (no script, no
external file), drawn from the same palette, primitives, ticks, axes and legends.

- :func:`bar_chart_svg`, :func:`grouped_bar_chart_svg`: horizontal bars (counts, sizes).
- :func:`line_chart_svg`: one line per series over labelled x positions, with optional
  interval whiskers, a reference line and gaps for missing values (learning curves, time
  series of drift scores and accuracy).
- :func:`forest_plot_svg`: one row per label, a dot and its interval (metrics by slice and
  their changes).

Every text that may come from user data is escaped; only the returned SVG is trusted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

from datacentric.exceptions import InvalidParameterError
from datacentric.report.text import Formatter, esc, format_tick, format_value

__all__ = [
    "PALETTE",
    "bar_chart_svg",
    "forest_plot_svg",
    "grouped_bar_chart_svg",
    "legend_svg",
    "line_chart_svg",
    "nice_ticks",
]

#: Series colours, in order (red is kept for "worse" and alerts).
PALETTE = ("#4f46e5", "#f97316", "#0891b2", "#059669", "#db2777", "#7c3aed", "#65a30d", "#a16207")
INK, SOFT_INK, GREY_INK, GRID, STRIPE = "#1f2433", "#374151", "#6b7280", "#e5e7eb", "#f9fafb"
BAR, HIGHLIGHT, ACCENT, BAND = "#6366f1", "#f97316", "#4f46e5", "#c7d2fe"
WORSE, BETTER, MUTED = "#dc2626", "#16a34a", "#9ca3af"
_CHAR_W = 7.0  # about the width of a 12 px character, to size labels
_DASH = ' stroke-dasharray="6 4"'
_TICK: dict[str, Any] = {"size": 11.5, "fill": GREY_INK}  # axis labels
_VALUE = ' font-weight="650" stroke="#fff" stroke-width="3" paint-order="stroke"'


# --------------------------------------------------------------------------- primitives
def svg_open(width: float, height: float, label: str) -> str:
    """The opening ``<svg>`` tag of a chart (scaled down by CSS on narrow pages)."""
    return (
        f'<svg class="chart" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 '
        f'{width:.0f} {height:.0f}" role="img" aria-label="{esc(label)}">'
    )


def text(
    x: float,
    y: float,
    content: Any,
    *,
    size: float = 12,
    fill: str = INK,
    anchor: str | None = None,
    extra: str = "",
) -> str:
    """An escaped ``<text>`` at (x, y); ``anchor``: ``start``, ``middle`` or ``end``."""
    where = f' text-anchor="{anchor}"' if anchor else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}"{where}{extra}>'
        f"{esc(content)}</text>"
    )


def line(
    x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1, extra: str = ""
) -> str:
    """A straight ``<line>`` from (x1, y1) to (x2, y2)."""
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
        f'stroke-width="{width}" stroke-linecap="round"{extra}/>'
    )


def caption(title: str | None) -> str:
    """The bold title line at the top of a chart."""
    return text(0, 16, title, size=14, extra=' font-weight="600"') if title else ""


def axis(
    ticks: Sequence[float],
    fmt: Formatter,
    at: Callable[[float], float],
    start: float,
    end: float,
    vertical: bool,
) -> list[str]:
    """Grid lines and tick labels: with ``vertical``, lines at x = ``at(t)`` from y =
    ``start`` to ``end`` labelled below; otherwise lines at y = ``at(t)`` from x = ``start``
    to ``end`` labelled on the left. Labels drop a trailing ``.0`` (:func:`format_tick`)."""
    out = []
    for t in ticks:
        p, label = at(t), format_tick(t, fmt)
        if vertical:
            out += [
                line(p, start, p, end + 4, GRID),
                text(p, end + 18, label, anchor="middle", **_TICK),
            ]
        else:
            out += [
                line(start, p, end, p, GRID),
                text(start - 8, p + 4, label, anchor="end", **_TICK),
            ]
    return out


def legend_entries(
    items: Sequence[tuple[str, str]],
    x: float,
    y: float,
    width: float,
    marker: str = "line",
    dashed: Collection[int] = (),
) -> tuple[str, float]:
    """Legend entries (colour, text) from (x, y), wrapped into rows within ``width``.

    ``marker`` is ``"line"`` (a short stroke; dashed for the entries whose index is in
    ``dashed``), ``"square"`` or ``"dot"``. Returns the SVG and the height it takes.
    """
    out, cx, cy = [], x, y
    for i, (color, label) in enumerate(items):
        step = 30 + _CHAR_W * len(str(label))
        if cx + step > x + width and cx > x:
            cx, cy = x, cy + 18
        if marker == "dot":
            mark = f'<circle cx="{cx + 5:.1f}" cy="{cy:.1f}" r="4.5" fill="{color}"/>'
        elif marker == "square":
            mark = (
                f'<rect x="{cx:.1f}" y="{cy - 5:.1f}" width="10" height="10" rx="2" '
                f'fill="{color}"/>'
            )
        else:
            mark = line(cx, cy, cx + 16, cy, color, 3, _DASH * (i in dashed))
        out.append(mark + text(cx + (14 if marker != "line" else 22), cy + 4, label, fill=SOFT_INK))
        cx += step
    return "".join(out), (cy - y + 18) if items else 0.0


def legend_svg(names: Sequence[str], *, width: int = 1000, dashed: bool = True) -> str:
    """The legend of :func:`line_chart_svg` on its own, for charts that share one
    (``legend=False``) and give their series in the same order.

    Examples
    --------
    >>> legend_svg(["a", "<b>"]).count("<line"), "&lt;b&gt;" in legend_svg(["a", "<b>"])
    (2, True)
    """
    keys, height = legend_entries(
        _series_colors(names), 0, 10, width, dashed=_dashed(len(names), dashed)
    )
    return f"{svg_open(width, height + 2, 'legend')}{keys}</svg>"


def _series_colors(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(PALETTE[j % len(PALETTE)], str(k)) for j, k in enumerate(names)]


def _dashed(n: int, dashed: bool) -> set[int]:
    """The series drawn dashed: all but the first with ``dashed``, and in any case those
    whose colour repeats (there are more series than colours)."""
    return {j for j in range(n) if (dashed and j) or j >= len(PALETTE)}


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round ticks (1, 2 or 5 × 10^k apart) covering [lo, hi].

    Examples
    --------
    >>> nice_ticks(0.953, 0.998)
    [0.95, 0.96, 0.97, 0.98, 0.99, 1.0]
    >>> nice_ticks(-0.12, 0.07)
    [-0.15, -0.1, -0.05, 0.0, 0.05, 0.1]
    """
    if not hi - lo > 1e-12:
        lo, hi = lo - 0.05, hi + 0.05
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 10) + 0.0 for k in range(first, max(last, first + 1) + 1)]


def _num(v: Any) -> float | None:
    """A finite float, or None for None/NaN/inf."""
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 2] + "…"


# --------------------------------------------------------------------------- bars
def _hbars(
    names: list[str],
    groups: list[list[tuple[Any, str, str]]],
    *,
    title: str | None,
    width: int,
    bar_height: int,
    legend_items: Sequence[tuple[str, str]] = (),
) -> str:
    """Horizontal bars; ``groups[i]`` holds (value, text, colour) bars for ``names[i]``."""
    label_w = min(max((len(n) * _CHAR_W for n in names), default=40.0) + 14, width * 0.4)
    value_w = max((len(t) * _CHAR_W for g in groups for _, t, _ in g), default=20.0) + 10
    plot_w = max(width - label_w - value_w, 40.0)
    nums = [[_num(v) or 0.0 for v, _, _ in g] for g in groups]
    vmax = max((v for g in nums for v in g), default=0.0)
    keys, keys_h = legend_entries(
        legend_items, label_w, (28.0 if title else 6.0) + 4, width, "square"
    )
    top = (28.0 if title else 6.0) + keys_h + (6 if legend_items else 0)
    step = bar_height + (2 if legend_items else 6)
    group_h = step * max((len(g) for g in groups), default=1) + (8 if legend_items else 0)
    height = top + len(names) * group_h + 6
    parts = [svg_open(width, height, title or "bar chart"), caption(title), keys]
    for i, (name, group) in enumerate(zip(names, groups, strict=True)):
        y0 = top + i * group_h
        parts.append(
            f"<g><title>{esc(name)}</title>"
            + text(
                label_w - 8,
                y0 + len(group) * step / 2 + 2,
                _short(name),
                size=12.5,
                fill=SOFT_INK,
                anchor="end",
            )
            + "</g>"
        )
        for j, ((_, label, color), v) in enumerate(zip(group, nums[i], strict=True)):
            y, w = y0 + j * step, (plot_w * v / vmax if vmax > 0 else 0.0)
            parts.append(
                f'<rect x="{label_w:.0f}" y="{y:.1f}" width="{max(w, 1.5):.1f}" '
                f'height="{bar_height}" rx="{min(4, bar_height // 3)}" fill="{color}"/>'
                + text(
                    label_w + w + 6,
                    y + bar_height / 2 + 4,
                    label,
                    size=12 if bar_height > 14 else 11,
                )
            )
    return "".join([*parts, "</svg>"])


def bar_chart_svg(
    labels: Sequence[Any],
    values: Sequence[float],
    *,
    title: str | None = None,
    highlight: Collection[Any] | None = None,
    value_format: Formatter = "{:,}",
    width: int = 680,
    bar_height: int = 22,
) -> str:
    """Horizontal bar chart as inline SVG, with each value written at the end of its bar.

    Parameters
    ----------
    labels, values : sequences of equal length
        One bar per label, drawn in the given order; ``title`` is a caption above them.
    highlight : collection, optional
        Labels whose bars are drawn in the highlight colour (e.g. rare classes).
    value_format : str or callable
        Format of the value labels (``"{:.1%}"``, ``"{:,}"``, or a function).

    Examples
    --------
    >>> svg = bar_chart_svg(["cat", "dog"], [30, 4], title="Classes", highlight={"dog"})
    >>> svg.startswith("<svg"), svg.count("<rect"), ">30<" in svg
    (True, 2, True)
    """
    if len(labels) != len(values):
        raise InvalidParameterError(
            f"bar_chart_svg needs one value per label; received {len(labels)} labels and "
            f"{len(values)} values."
        )
    marked = {str(x) for x in highlight or ()}
    groups = [
        [(v, format_value(v, value_format), HIGHLIGHT if str(lab) in marked else BAR)]
        for lab, v in zip(labels, values, strict=True)
    ]
    return _hbars([str(x) for x in labels], groups, title=title, width=width, bar_height=bar_height)


def grouped_bar_chart_svg(
    labels: Sequence[Any],
    series: Mapping[str, Sequence[float]],
    *,
    title: str | None = None,
    value_format: Formatter = "{:,}",
    width: int = 680,
    bar_height: int = 12,
) -> str:
    """Horizontal grouped bars: for each label, one bar per series, with a legend.

    Examples
    --------
    >>> svg = grouped_bar_chart_svg(["a", "b"], {"v1": [1, 2], "v2": [3, 1]}, title="T")
    >>> svg.count("<rect") - 2  # 4 bars + 2 legend swatches
    4
    """
    bad = {k: len(v) for k, v in series.items() if len(v) != len(labels)}
    if bad:
        raise InvalidParameterError(
            f"grouped_bar_chart_svg: {len(labels)} labels but series "
            f"lengths {bad}; give one value per label in each series."
        )
    colors = {k: PALETTE[j % len(PALETTE)] for j, k in enumerate(series)}
    groups = [
        [(v[i], format_value(v[i], value_format), colors[k]) for k, v in series.items()]
        for i in range(len(labels))
    ]
    return _hbars(
        [str(x) for x in labels],
        groups,
        title=title,
        width=width,
        bar_height=bar_height,
        legend_items=[(c, k) for k, c in colors.items()],
    )


# --------------------------------------------------------------------------- lines
def line_chart_svg(
    labels: Sequence[Any],
    series: Mapping[str, Sequence[float | None]],
    *,
    intervals: Mapping[str, tuple[Sequence[float | None], Sequence[float | None]]] | None = None,
    reference: float | None = None,
    reference_label: str | None = None,
    title: str | None = None,
    value_format: Formatter = "{:.3g}",
    value_labels: bool = True,
    dashed: bool = True,
    legend: bool = True,
    y_max: float | None = None,
    width: int = 1000,
    height: int = 300,
) -> str:
    """A line-and-dot chart as inline SVG: one x position per label, one line per series.

    Parameters
    ----------
    labels : sequence
        The x positions, left to right (iterations, time windows); crowded labels are thinned.
    series : mapping
        Series name → one value per label; ``None``/NaN leaves a gap in the line. With
        several series there is a legend (unless ``legend`` is false: see
        :func:`legend_svg`); with ``dashed`` the second and later lines are dashed (and so
        are those whose colour repeats).
    intervals : mapping, optional
        Series name → (lows, highs), drawn as vertical whiskers.
    reference, reference_label : optional
        A dashed horizontal red line (e.g. an alert threshold) and its caption.
    title, value_format : optional
        Caption above; format of the values, of their tooltips and of the y axis.
    value_labels : bool
        Write each value next to its dot (large charts); otherwise only in the tooltip.
    y_max : float, optional
        The y axis never goes above this (e.g. 1 for proportions). The axis starts at 0 or
        above when every value is non-negative.
    width, height : int
        Size in pixels; a legend of many series adds rows above the plot.

    Examples
    --------
    >>> svg = line_chart_svg(["0", "1"], {"acc": [0.8, 0.9]},
    ...                      intervals={"acc": ([0.75, 0.86], [0.85, 0.93])}, title="<t>")
    >>> svg.startswith("<svg"), svg.count("<circle"), "&lt;t&gt;" in svg
    (True, 2, True)
    """
    if any(len(v) != len(labels) for v in series.values()):
        raise InvalidParameterError(
            f"line_chart_svg needs one value per label in each series; received {len(labels)} "
            f"labels and series lengths { {k: len(v) for k, v in series.items()} }."
        )
    fmt, n, none = partial(format_value, fmt=value_format), len(labels), [None] * len(labels)
    data = {
        k: [[_num(x) for x in seq] for seq in (v, *(intervals or {}).get(k, (none, none)))]
        for k, v in series.items()
    }
    seen = [x for p in data.values() for seq in p for x in seq if x is not None]
    seen += [reference] if reference is not None and math.isfinite(reference) else []
    a, b = (min(seen), max(seen)) if seen else (0.0, 1.0)
    pad = (b - a) * 0.08 or max(abs(b) * 0.05, 0.005)
    hi = b + pad if y_max is None else min(b + pad, max(b, y_max))
    ticks = nice_ticks(max(a - pad, 0.0) if a >= 0 else a - pad, hi)
    small = not value_labels
    left = 14 + _CHAR_W * max(len(format_tick(t, value_format)) for t in ticks)
    right = width - (24 if value_labels else 10)
    dashes = _dashed(len(series), dashed)
    keys, keys_h = legend_entries(
        _series_colors(list(series)) if legend and len(series) > 1 else [],
        left,
        18.0 + 22 * bool(title),
        right - left,
        dashed=dashes,
    )
    top = 10.0 + 22 * bool(title) + keys_h + 6 * bool(keys)
    total_h = height + keys_h + 6 * bool(keys)
    bottom = total_h - 30.0
    xs = [left + (i + 0.5) * (right - left) / max(n, 1) for i in range(n)]
    every = max(1, math.ceil(n / max(1, (right - left) // 80)))

    def y_of(v: float) -> float:
        return bottom - (v - ticks[0]) / (ticks[-1] - ticks[0]) * (bottom - top)

    out = [svg_open(width, total_h, title or "line chart"), caption(title), keys]
    out += axis(ticks, value_format, y_of, left, right, vertical=False)
    x_size = 11.5 if small else 12.5
    out += [
        text(xs[i], bottom + 20, labels[i], size=x_size, fill=SOFT_INK, anchor="middle")
        for i in range(0, n, every)
    ]
    if reference is not None and math.isfinite(reference):
        ry, caption_text = y_of(reference), reference_label or fmt(reference)
        out.append(line(left, ry, right, ry, WORSE, 1.2, ' stroke-dasharray="5 4"'))
        out.append(text(right, ry - 5, caption_text, size=11.5, fill=WORSE, anchor="end"))
    for j, (name, (vals, lows, highs)) in enumerate(data.items()):
        color, dash = PALETTE[j % len(PALETTE)], _DASH * (j in dashes)
        runs: list[list[str]] = [[]]  # a None value ends a run of the line
        for x, v in zip(xs, vals, strict=True):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x:.1f},{y_of(v):.1f}")
        out += [
            f'<polyline points="{" ".join(r)}" fill="none" stroke="{color}" stroke-width="'
            f'{1.8 if small else 2.5}" stroke-linejoin="round"{dash}/>'
            for r in runs
            if len(r) > 1
        ]
        for x, label, v, low, high in zip(xs, labels, vals, lows, highs, strict=True):
            if v is None:
                continue
            y, whisker, tip = y_of(v), "", f"{name}, {label}: {fmt(v)}"
            if low is not None and high is not None:
                tip += f" [{fmt(low)}, {fmt(high)}]"
                y_lo, y_hi, thin = y_of(low), y_of(high), ' opacity="0.75"'
                whisker = line(x, y_lo, x, y_hi, color, 1.6, thin) + "".join(
                    line(x - 6, e, x + 6, e, color, 1.6, thin) for e in (y_lo, y_hi)
                )
            dy = -7 if j == 0 else 16  # the first series' values above, the others' below
            label_svg = text(x + 10, y + dy, fmt(v), size=12.5, fill=color, extra=_VALUE)
            out.append(
                f'<g><title>{esc(tip)}</title>{whisker}<circle cx="{x:.1f}" cy="{y:.1f}" '
                f'r="{3.2 if small else 5.5}" fill="{color}" stroke="#fff" '
                f'stroke-width="{1 if small else 1.5}"/>{label_svg * value_labels}</g>'
            )
    return "".join([*out, "</svg>"])


# --------------------------------------------------------------------------- forest
def forest_plot_svg(
    labels: Sequence[Any],
    values: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    *,
    reference: float | None = None,
    reference_band: tuple[float | None, float | None] | None = None,
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
    ref = None if reference is None else _num(reference)
    band = [_num(v) for v in reference_band or ()]
    seen = [x for x in (*vals, *los, *his, ref, *band) if x is not None]
    ticks = nice_ticks(*((min(seen), max(seen)) if seen else (0.0, 1.0)))
    texts = [
        "n/a"
        if v is None
        else fmt(v) + ("" if lo is None or hi is None else f"  [{fmt(lo)}, {fmt(hi)}]")
        for v, lo, hi in zip(vals, los, his, strict=True)
    ]
    label_w = min(max((len(_short(s)) * _CHAR_W for s in names), default=40.0) + 14, width * 0.36)
    val_w = max((len(t) * _CHAR_W for t in texts), default=30.0)  # "low n" goes after it
    left = label_w + 12
    right = max(width - val_w - (56 if low_n else 14) - 10, label_w + 80)

    def x_of(v: float) -> float:
        return left + (v - ticks[0]) / (ticks[-1] - ticks[0]) * (right - left)

    top = (30.0 if title else 6.0) + (18.0 if ref is not None else 4.0)
    bottom = top + n * row_height
    keys, keys_h = legend_entries(
        [
            (color, label)
            for color, label, on in (
                (WORSE, highlight_label, hot),
                (BETTER, positive_label, good),
                (MUTED, "low n: few rows", low_n),
            )
            if on
        ],
        left,
        bottom + 34,
        width - left,
        "dot",
    )
    out = [svg_open(width, bottom + 26 + (keys_h + 4 if keys else 4), title or "forest plot")]
    out.append(caption(title))
    out += [
        f'<rect x="0" y="{top + i * row_height:.1f}" width="{width}" height="{row_height}" '
        f'fill="{STRIPE}"/>'
        for i in range(0, n, 2)
    ]
    if len(band) == 2 and band[0] is not None and band[1] is not None:
        lo_x, hi_x = sorted((x_of(band[0]), x_of(band[1])))
        out.append(
            f'<rect x="{lo_x:.1f}" y="{top:.1f}" width="{max(hi_x - lo_x, 1):.1f}" '
            f'height="{n * row_height}" fill="{BAND}" fill-opacity="0.45"/>'
        )
    out += axis(ticks, value_format, x_of, top, bottom, vertical=True)
    if ref is not None:
        rx, end = x_of(ref), x_of(ref) > (left + right) / 2
        ref_text = fmt(ref) if reference_label is None else reference_label
        out.append(line(rx, top - 4, rx, bottom, ACCENT, 1.5, ' stroke-dasharray="5 3"'))
        anchor = "end" if end else "start"
        out.append(
            text(rx + (-4 if end else 4), top - 6, ref_text, size=11.5, fill=ACCENT, anchor=anchor)
        )
    for i, name in enumerate(names):
        cy, v, lo, hi = top + (i + 0.5) * row_height, vals[i], los[i], his[i]
        color = (
            WORSE if name in hot else BETTER if name in good else MUTED if name in low_n else ACCENT
        )
        fade = ' opacity="0.55"' if name in low_n and color != MUTED else ""
        ink = GREY_INK if name in low_n else INK
        bold = ' font-weight="600"' if name in hot else ""
        out.append(f"<g><title>{esc(name)}: {esc(texts[i])}</title>")
        out.append(
            text(label_w, cy + 4, _short(name), size=12.5, fill=ink, anchor="end", extra=bold)
        )
        if lo is not None and hi is not None:
            out.append(line(x_of(lo), cy, x_of(hi), cy, color, 2.2, fade))
            out += [line(x_of(e), cy - 4, x_of(e), cy + 4, color, 1.5, fade) for e in (lo, hi)]
        if v is not None:
            out.append(
                f'<circle cx="{x_of(v):.1f}" cy="{cy:.1f}" r="4.8" fill="{color}" '
                f'stroke="#fff" stroke-width="1.2"{fade}/>'
            )
        out.append(text(right + 12, cy + 4, texts[i], fill=ink, extra=' xml:space="preserve"'))
        if name in low_n:
            low = ' font-style="italic" font-weight="600"'
            out.append(text(right + 20 + val_w, cy + 4, "low n", size=11, fill=MUTED, extra=low))
        out.append("</g>")
    out.append(keys)
    return "".join([*out, "</svg>"])
