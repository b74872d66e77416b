"""Building blocks for self-contained HTML reports: nothing is fetched (no external CSS,
script, font or image); charts are inline SVG, thumbnails PNG data URIs. All text that may
come from user data is escaped with :func:`html.escape`; only the fragments these
functions return are trusted HTML (e.g. the ``sections`` of :func:`page`).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from datacentric.exceptions import InvalidParameterError

__all__ = [
    "BADGE_KINDS",
    "Formatter",
    "badge",
    "bar_chart_svg",
    "esc",
    "format_bytes",
    "format_value",
    "grouped_bar_chart_svg",
    "heat_table_html",
    "metric_cards",
    "page",
    "section",
    "severity_badge",
    "table_html",
    "thumbnail_img",
]

#: Colour kinds a :func:`badge` accepts.
BADGE_KINDS = ("high", "medium", "low", "ok", "info", "neutral")

Formatter = str | Callable[[Any], str]

_PALETTE = ("#4f46e5", "#0891b2", "#d97706", "#059669", "#db2777", "#7c3aed", "#65a30d")
_BAR, _BAR_HIGHLIGHT = "#6366f1", "#f97316"

_CSS = """
:root{--bg:#f5f6fa;--ink:#1f2433;--muted:#6b7280;--line:#e5e7eb;--accent:#4f46e5}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);line-height:1.5;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header.band{background:linear-gradient(120deg,#312e81,#4f46e5 55%,#0891b2);color:#fff;
padding:28px 40px 24px}header.band h1{margin:0 0 4px;font-size:26px;font-weight:650}
.subtitle{opacity:.88;font-size:14px}.chips{margin-top:12px;display:flex;flex-wrap:wrap;gap:8px}
.chip{background:rgba(255,255,255,.16);border-radius:999px;padding:2px 12px;font-size:13px}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}nav.toc{display:flex;flex-wrap:wrap;
gap:6px;margin:0 0 18px}nav.toc a{font-size:13px;color:var(--accent);background:#eef2ff;
border-radius:6px;padding:2px 10px;text-decoration:none}section.card,.metric{background:#fff;
border:1px solid var(--line);border-radius:12px;padding:20px 24px;margin:0 0 18px}
section.card h2{margin:0 0 6px;font-size:19px;font-weight:620}h3{margin:16px 0 6px;font-size:15px}
p.intro{margin:0 0 12px;color:var(--muted)}.metrics{display:grid;gap:12px;margin:0 0 18px;
grid-template-columns:repeat(auto-fit,minmax(170px,1fr))}.metric{padding:14px 18px;margin:0;
border-top:4px solid var(--accent)}.metric .value{font-size:28px;font-weight:680}.metric .label,
.metric .hint,p.more{color:var(--muted);font-size:13px;margin:4px 0 0}.table-wrap{overflow-x:auto}
table.data{border-collapse:collapse;width:100%;font-size:13.5px}table.data th{text-align:left;
color:var(--muted);border-bottom:2px solid var(--line);padding:6px 10px;white-space:nowrap}
table.data td{padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
table.data tbody tr:nth-child(even){background:#f9fafb}.num{text-align:right!important;
font-variant-numeric:tabular-nums}td.hot{background:#fde2d2;color:#9a3412;font-weight:650}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;
white-space:nowrap}.high{background:#fee2e2;color:#b91c1c}.medium{background:#ffedd5;color:#c2410c}
.low{background:#fef9c3;color:#a16207}.ok{background:#dcfce7;color:#15803d}.info{
background:#e0e7ff;color:#4338ca}.neutral{background:#f3f4f6;color:#374151}.gallery{display:grid;
grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}.item{display:flex;gap:10px;
border:1px solid var(--line);border-radius:10px;padding:10px}.item img{border-radius:6px;
image-rendering:pixelated;flex:none;background:#eee}.item .body{min-width:0;font-size:13px}
.item code,.item .extra{font-size:12.5px;overflow-wrap:anywhere}.arrow,.item .extra{
color:var(--muted)}.suggested{color:#15803d;font-weight:600}.item .detail{margin-top:4px}
ul.clean{list-style:none;padding:0;margin:0;columns:2 320px}ul.clean li{margin:0 0 6px;
break-inside:avoid}svg.chart{max-width:100%;height:auto}summary{cursor:pointer;
color:var(--accent)}footer{color:var(--muted);font-size:12px;text-align:center;padding:0 0 24px}
"""


def esc(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute.

    Examples
    --------
    >>> esc('<script>alert("x")</script>'), esc(None)
    ('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;', '')
    """
    return "" if value is None else html.escape(str(value), quote=True)


def format_value(value: Any, fmt: Formatter | None = None) -> str:
    """Format one value for display (not escaped): ints with separators, floats to 3
    significant digits, ``None``/NaN as an empty string, unless ``fmt`` says otherwise.

    Examples
    --------
    >>> [format_value(v) for v in (1234567, 0.12345, None)], format_value(0.25, "{:.0%}")
    (['1,234,567', '0.123', ''], '25%')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if fmt is not None:
        return fmt(value) if callable(fmt) else fmt.format(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer, float, np.floating)):
        return f"{value:,}" if isinstance(value, (int, np.integer)) else f"{float(value):.3g}"
    return str(value)


def format_bytes(n: int) -> str:
    """A file size in KiB below 1 MiB, else in MiB.

    Examples
    --------
    >>> format_bytes(103_424), format_bytes(45 * 1024 * 1024)
    ('101.0 KiB', '45.00 MiB')
    """
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def page(
    title: str,
    sections: Sequence[str],
    *,
    subtitle: str | None = None,
    chips: Sequence[str] = (),
    nav: Mapping[str, str] | None = None,
    footer: str | None = None,
) -> str:
    """A complete, self-contained HTML document.

    Parameters
    ----------
    title, subtitle, footer : str
        Header band title (also the tab title), the line under it, and a closing line.
    sections : sequence of str
        Trusted HTML fragments (from :func:`section`, :func:`metric_cards`, ...), in order.
    chips : sequence of str
        Short facts shown as pills in the header.
    nav : mapping, optional
        Anchor id → link text, rendered as a table of contents. All text is escaped.

    Examples
    --------
    >>> doc = page("Scan <1>", [section("Hello", "<p>hi</p>")], subtitle="demo")
    >>> doc.startswith("<!DOCTYPE html>"), "Scan &lt;1&gt;" in doc, "http" in doc
    (True, True, False)
    """
    chip_html = "".join(f'<span class="chip">{esc(c)}</span>' for c in chips)
    links = "".join(f'<a href="#{esc(k)}">{esc(v)}</a>' for k, v in (nav or {}).items())
    toc = f'<nav class="toc">{links}</nav>' if links else ""
    sub = f'<div class="subtitle">{esc(subtitle)}</div>' if subtitle else ""
    foot = f"<footer>{esc(footer)}</footer>" if footer else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<header class="band"><h1>{esc(title)}</h1>{sub}'
        f'<div class="chips">{chip_html}</div></header>'
        f"<main>{toc}{''.join(sections)}</main>{foot}</body></html>\n"
    )


def section(title: str, body: str, *, intro: str | None = None, anchor: str | None = None) -> str:
    """A card: a heading and an optional intro line (both escaped), then a trusted ``body``.

    Examples
    --------
    >>> section("A & B", "<p>x</p>", intro="why", anchor="ab")
    '<section class="card" id="ab"><h2>A &amp; B</h2><p class="intro">why</p><p>x</p></section>'
    """
    ident = f' id="{esc(anchor)}"' if anchor else ""
    lead = f'<p class="intro">{esc(intro)}</p>' if intro else ""
    return f'<section class="card"{ident}><h2>{esc(title)}</h2>{lead}{body}</section>'


def badge(text: Any, kind: str = "neutral") -> str:
    """A coloured pill; ``kind`` is one of :data:`BADGE_KINDS`.

    Examples
    --------
    >>> badge("<b>", "info")
    '<span class="badge info">&lt;b&gt;</span>'
    """
    if kind not in BADGE_KINDS:
        raise InvalidParameterError(f"badge kind must be one of {BADGE_KINDS}, got {kind!r}.")
    return f'<span class="badge {kind}">{esc(text)}</span>'


def severity_badge(severity: float | None) -> str:
    """A badge for a severity in [0, 1]: high (≥ 0.7), medium (≥ 0.4) or low.

    Examples
    --------
    >>> severity_badge(0.92)
    '<span class="badge high">severity 0.92</span>'
    """
    if severity is None or math.isnan(severity):
        return badge("severity n/a")
    return badge(
        f"severity {severity:.2f}",
        "high" if severity >= 0.7 else "medium" if severity >= 0.4 else "low",
    )


def metric_cards(metrics: Mapping[str, Any], *, hints: Mapping[str, str] | None = None) -> str:
    """A row of big-number cards: label → value, with an optional small hint under each.

    Examples
    --------
    >>> metric_cards({"Samples": 1200, "Flagged": None}, hints={"Flagged": "3.1%"})
    '<div class="metrics"><div class="metric"><div class="value">1,200</div>...—...3.1%...'
    """
    hints = hints or {}
    cards = "".join(
        f'<div class="metric"><div class="value">{esc(format_value(value)) or "—"}</div>'
        f'<div class="label">{esc(label)}</div>'
        + (f'<div class="hint">{esc(hints[label])}</div>' if label in hints else "")
        + "</div>"
        for label, value in metrics.items()
    )
    return f'<div class="metrics">{cards}</div>'


def _hbars(
    names: list[str],
    groups: list[list[tuple[Any, str, str]]],
    *,
    title: str | None,
    width: int,
    bar_height: int,
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    """Horizontal bars; ``groups[i]`` holds (value, text, colour) bars for ``names[i]``."""
    label_w = min(max((len(n) * 7.0 for n in names), default=40.0) + 14, width * 0.4)
    value_w = max((len(t) * 7.0 for g in groups for _, t, _ in g), default=20.0) + 10
    plot_w = max(width - label_w - value_w, 40.0)
    nums = [
        [0.0 if v is None or math.isnan(float(v)) else float(v) for v, _, _ in g] for g in groups
    ]
    vmax = max((v for g in nums for v in g), default=0.0)
    top = (28.0 if title else 6.0) + (20.0 if legend else 0.0)
    step = bar_height + (2 if legend else 6)
    group_h = step * max((len(g) for g in groups), default=1) + (8 if legend else 0)
    height = int(top + len(names) * group_h + 6)
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}" role="img" aria-label="{esc(title or "bar chart")}">'
    ]
    if title:
        parts.append(
            f'<text x="0" y="16" font-size="14" font-weight="600" fill="#1f2433">'
            f"{esc(title)}</text>"
        )
    lx = label_w
    for key, color in legend:
        parts.append(
            f'<rect x="{lx:.0f}" y="{top - 18:.0f}" width="10" height="10" rx="2" '
            f'fill="{color}"/><text x="{lx + 14:.0f}" y="{top - 9:.0f}" '
            f'font-size="12" fill="#374151">{esc(key)}</text>'
        )
        lx += 24 + len(key) * 7.0
    for i, (name, group) in enumerate(zip(names, groups, strict=True)):
        y0 = top + i * group_h
        short = name if len(name) <= 40 else name[:38] + "…"
        parts.append(
            f'<text x="{label_w - 8:.0f}" y="{y0 + len(group) * step / 2 + 2:.1f}" '
            f'font-size="12.5" text-anchor="end" fill="#374151"><title>{esc(name)}'
            f"</title>{esc(short)}</text>"
        )
        for j, ((_, text, color), v) in enumerate(zip(group, nums[i], strict=True)):
            y, w = y0 + j * step, (plot_w * v / vmax if vmax > 0 else 0.0)
            parts.append(
                f'<rect x="{label_w:.0f}" y="{y:.1f}" width="{max(w, 1.5):.1f}" '
                f'height="{bar_height}" rx="{min(4, bar_height // 3)}" fill="{color}"/>'
                f'<text x="{label_w + w + 6:.1f}" y="{y + bar_height / 2 + 4:.1f}" '
                f'font-size="{12 if bar_height > 14 else 11}" fill="#1f2433">{esc(text)}</text>'
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
    marked = set(highlight or ())
    groups = [
        [
            (
                v,
                format_value(v, value_format),
                _BAR_HIGHLIGHT if lab in marked or str(lab) in marked else _BAR,
            )
        ]
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
    colors = {k: _PALETTE[j % len(_PALETTE)] for j, k in enumerate(series)}
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
        legend=list(colors.items()),
    )


def table_html(
    frame: pl.DataFrame,
    *,
    max_rows: int | None = 50,
    formats: Mapping[str, Formatter] | None = None,
    cell_classes: Mapping[str, Sequence[str | None]] | None = None,
) -> str:
    """A readable HTML table of a polars frame (zebra rows, numbers right-aligned).

    ``max_rows`` rows at most (``None``: all), then a "… N more rows" note; ``formats``
    maps a column to a format string or function (default :func:`format_value`);
    ``cell_classes`` maps a column to one CSS class or ``None`` per row (``"hot"``).

    Examples
    --------
    >>> t = pl.DataFrame({"id": ["<x>", "y"], "rate": [0.5, 0.25]})
    >>> out = table_html(t, formats={"rate": "{:.0%}"}, max_rows=1)
    >>> "&lt;x&gt;" in out, "50%" in out, "1 more row" in out
    (True, True, True)
    """
    formats = formats or {}
    shown = frame if max_rows is None else frame.head(max_rows)
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    pad: list[str | None] = [None] * shown.height
    extra = {c: [*v, *pad] for c, v in (cell_classes or {}).items()}

    def attr(c: str, i: int = -1) -> str:
        hit = extra.get(c, pad)[i] if i >= 0 else None
        names = " ".join(n for n in ("num" if c in numeric else None, hit) if n)
        return f' class="{esc(names)}"' if names else ""

    head = "".join(f"<th{attr(c)}>{esc(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{attr(c, i)}>{esc(format_value(v, formats.get(c)))}</td>"
            for c, v in zip(frame.columns, row, strict=True)
        )
        + "</tr>"
        for i, row in enumerate(shown.iter_rows())
    )
    more = frame.height - shown.height
    note = f'<p class="more">… {more:,} more row{"s" if more != 1 else ""}</p>' if more > 0 else ""
    return (
        f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{note}"
    )


def heat_table_html(
    frame: pl.DataFrame,
    value_columns: Sequence[str],
    *,
    value_format: Formatter = "{:.1%}",
    factor: float = 1.5,
    min_gap: float = 0.05,
    reference: Mapping[str, float] | None = None,
) -> str:
    """A table whose ``value_columns`` cells are "hot" when at least ``factor`` × and
    ``min_gap`` above their column's ``reference`` (default: the column's mean).

    Examples
    --------
    >>> t = pl.DataFrame({"site": ["a", "b", "c"], "rate": [0.02, 0.03, 0.30]})
    >>> heat_table_html(t, ["rate"]).count('class="num hot"')
    1
    """
    reference = dict(reference or {})
    cell_classes: dict[str, list[str | None]] = {}
    for c in value_columns:
        col = frame[c].cast(pl.Float64)
        vals = col.drop_nulls().to_numpy()
        ref = reference.get(c, float(vals.mean()) if vals.size else 0.0)
        cell_classes[c] = [
            "hot" if v is not None and v >= factor * ref and v - ref >= min_gap else None
            for v in col.to_list()
        ]
    formats: dict[str, Formatter] = {c: value_format for c in value_columns}
    return table_html(frame, max_rows=None, formats=formats, cell_classes=cell_classes)


def thumbnail_img(
    arr: np.ndarray, size: int = 96, *, alt: str = "", title: str | None = None
) -> str:
    """An ``<img>`` with the image inlined as a PNG data URI, longest side ``size`` px.

    Tiny images are upscaled nearest-neighbour (crisp pixels), large ones downscaled
    smoothly. Takes (H, W), (H, W, 1|3|4) or (1, H, W, C); floats in [0, 1] become 0-255.

    Examples
    --------
    >>> img = thumbnail_img(np.zeros((8, 8, 3), np.uint8), size=32, alt="<id>")
    >>> img.startswith('<img src="data:image/png;base64,'), 'width="32"' in img, "&lt;id&gt;" in img
    (True, True, True)
    """
    from PIL import Image

    a = np.asarray(arr)
    a = a[0] if a.ndim == 4 and a.shape[0] == 1 else a
    a = a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise InvalidParameterError(
            f"thumbnail_img needs an image of shape (H, W), (H, W, 1|3|4) or (1, H, W, C); "
            f"received shape {a.shape}."
        )
    if a.dtype != np.uint8:
        f = a.astype(np.float64)
        a = np.clip(f * 255.0 if np.nanmax(f) <= 1.0 else f, 0, 255).astype(np.uint8)
    h, w = a.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    buf = io.BytesIO()
    Image.fromarray(a).resize(new, resample).save(buf, format="PNG", optimize=True)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    tip = f' title="{esc(title)}"' if title else ""
    return (
        f'<img src="data:image/png;base64,{data}" width="{new[0]}" height="{new[1]}" '
        f'alt="{esc(alt)}"{tip}>'
    )
