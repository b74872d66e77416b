"""Building blocks for self-contained HTML reports, rendered through the jinja2 templates
of ``datacentric/report/templates`` (autoescaped): nothing is fetched (no external CSS,
script, font or image); charts are inline SVG (:mod:`datacentric.report.charts`),
thumbnails PNG data URIs.

Every report page is a template that extends ``base.html`` and lays its sections out with
the macros of ``components.html`` (sections, metric cards, badges, tables, galleries);
:func:`render` fills one in. All text that may come from user data is escaped by the
templates; only :class:`~markupsafe.Markup` handed to them (charts, thumbnails, and what the
functions of this module return) is trusted HTML.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import polars as pl
from markupsafe import Markup

from datacentric.exceptions import InvalidParameterError
from datacentric.report.charts import bar_chart_svg, grouped_bar_chart_svg
from datacentric.report.text import Formatter, esc, format_bytes, format_value

__all__ = [
    "BADGE_KINDS",
    "Cell",
    "Formatter",
    "GalleryItem",
    "Markup",
    "Table",
    "badge",
    "bar_chart_svg",
    "esc",
    "format_bytes",
    "format_value",
    "grouped_bar_chart_svg",
    "heat_table",
    "heat_table_html",
    "metric_cards",
    "page",
    "png_data_uri",
    "render",
    "section",
    "severity_badge",
    "table",
    "table_html",
    "thumbnail_img",
]

#: Colour kinds a :func:`badge` accepts.
BADGE_KINDS = ("high", "medium", "low", "ok", "info", "neutral")

TEMPLATES = Path(__file__).with_name("templates")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = format_value
    return env


def render(template: str, /, **context: Any) -> str:
    """Fill in one of the page templates (``scan.html``, ``loop.html``, ...).

    Examples
    --------
    >>> doc = render("base.html", title="T <1>", subtitle=None, chips=[], nav={}, footer=None,
    ...              body=Markup("<p>hi</p>"))
    >>> doc.startswith("<!DOCTYPE html>"), "T &lt;1&gt;" in doc, "<p>hi</p>" in doc
    (True, True, True)
    """
    return _env().get_template(template).render(**context)


def _macro(name: str) -> Any:
    return getattr(_env().get_template("components.html").module, name)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, its CSS class (``num``, ``hot``, ...), and the badge kind
    when the text is shown as a badge."""

    text: str
    cls: str | None = None
    badge: str | None = None


@dataclass(frozen=True)
class Table:
    """A table ready for the ``table`` macro: header cells, rows of cells, rows left out;
    ``compact`` tightens the cells (wide tables)."""

    head: list[Cell]
    rows: list[list[Cell]]
    more: int = 0
    compact: bool = False


@dataclass(frozen=True)
class GalleryItem:
    """One sample in a gallery: thumbnail, id, ``old → new`` labels (``old`` None: shown as
    ``missing``, "unlabeled" by default; ``new`` None: no arrow), text before them, a badge,
    a detail, a grey line. ``figure`` (trusted HTML, e.g. a box figure) makes a wide card:
    the figure above, the text under it, ``caption`` first."""

    sample_id: str
    old: Any
    new: Any = None
    thumb: Markup | str = ""
    prefix: str | None = None
    badge: Markup | None = None
    detail: str | None = None
    extra: str | None = None
    missing: str = "unlabeled"
    figure: Markup | None = None
    caption: str | None = None


def page(
    title: str,
    sections: Sequence[str],
    *,
    subtitle: str | None = None,
    chips: Sequence[str] = (),
    nav: Mapping[str, str] | None = None,
    footer: str | None = None,
) -> str:
    """A complete, self-contained HTML document (the ``base.html`` template).

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
    return render(
        "base.html",
        title=title,
        subtitle=subtitle,
        chips=list(chips),
        nav=dict(nav or {}),
        footer=footer,
        body=Markup("\n".join(sections)),
    )


def section(title: str, body: str, *, intro: str | None = None, anchor: str | None = None) -> str:
    """A card: a heading and an optional intro line (both escaped), then a trusted ``body``.

    Examples
    --------
    >>> section("A & B", "<p>x</p>", intro="why", anchor="ab")
    '<section class="card" id="ab"><h2>A &amp; B</h2><p class="intro">why</p><p>x</p></section>'
    """
    return str(_macro("section")(title, anchor=anchor, intro=intro, body=Markup(body)))


def badge(text: Any, kind: str = "neutral") -> str:
    """A coloured pill; ``kind`` is one of :data:`BADGE_KINDS`.

    Examples
    --------
    >>> badge("<b>", "info")
    '<span class="badge info">&lt;b&gt;</span>'
    """
    if kind not in BADGE_KINDS:
        raise InvalidParameterError(f"badge kind must be one of {BADGE_KINDS}, got {kind!r}.")
    return str(_macro("badge")(text, kind))


def severity_badge(severity: float | None) -> str:
    """A badge for a severity in [0, 1]: high (≥ 0.7), medium (≥ 0.4) or low.

    Examples
    --------
    >>> severity_badge(0.92)
    '<span class="badge high">severity 0.92</span>'
    """
    return str(_macro("severity_badge")(severity))


def metric_cards(metrics: Mapping[str, Any], *, hints: Mapping[str, str] | None = None) -> str:
    """A row of big-number cards: label → value, with an optional small hint under each.

    Examples
    --------
    >>> metric_cards({"Samples": 1200, "Flagged": None}, hints={"Flagged": "3.1%"})
    '<div class="metrics"><div class="metric"><div class="value">1,200</div>...—...3.1%...'
    """
    return str(_macro("cards")(dict(metrics), dict(hints or {})))


def table(
    frame: pl.DataFrame,
    *,
    max_rows: int | None = 50,
    formats: Mapping[str, Formatter] | None = None,
    cell_classes: Mapping[str, Sequence[str | None]] | None = None,
    badges: Mapping[str, Mapping[str, str]] | None = None,
) -> Table:
    """A polars frame as a :class:`Table` for the ``table`` macro (see :func:`table_html`).

    ``badges`` maps a column to {cell text → badge kind}: those cells are drawn as badges.

    Examples
    --------
    >>> frame = pl.DataFrame({"n": [3, 1200], "ok": ["yes", "no"]})
    >>> t = table(frame, badges={"ok": {"no": "high"}})
    >>> [c.text for c in t.rows[1]], t.rows[1][0].cls, t.rows[1][1].badge
    (['1,200', 'no'], 'num', 'high')
    """
    formats, badges = formats or {}, badges or {}
    shown = frame if max_rows is None else frame.head(max_rows)
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    extra = {c: list(v) for c, v in (cell_classes or {}).items()}

    def cls(c: str, i: int | None = None) -> str | None:
        hit = extra.get(c, [])[i] if i is not None and i < len(extra.get(c, [])) else None
        return " ".join(n for n in ("num" if c in numeric else None, hit) if n) or None

    rows = []
    for i, row in enumerate(shown.iter_rows()):
        cells = []
        for c, v in zip(frame.columns, row, strict=True):
            text = format_value(v, formats.get(c))
            cells.append(Cell(text, cls(c, i), badges.get(c, {}).get(text)))
        rows.append(cells)
    head = [Cell(c, cls(c)) for c in frame.columns]
    return Table(head, rows, frame.height - shown.height)


def table_html(
    frame: pl.DataFrame,
    *,
    max_rows: int | None = 50,
    formats: Mapping[str, Formatter] | None = None,
    cell_classes: Mapping[str, Sequence[str | None]] | None = None,
    badges: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """A readable HTML table of a polars frame (zebra rows, numbers right-aligned).

    ``max_rows`` rows at most (``None``: all), then a "… N more rows" note; ``formats``
    maps a column to a format string or function (default :func:`format_value`);
    ``cell_classes`` maps a column to one CSS class or ``None`` per row (``"hot"``);
    ``badges`` maps a column to {cell text → badge kind}.

    Examples
    --------
    >>> t = pl.DataFrame({"id": ["<x>", "y"], "rate": [0.5, 0.25]})
    >>> out = table_html(t, formats={"rate": "{:.0%}"}, max_rows=1)
    >>> "&lt;x&gt;" in out, "50%" in out, "1 more row" in out
    (True, True, True)
    """
    view = table(
        frame, max_rows=max_rows, formats=formats, cell_classes=cell_classes, badges=badges
    )
    return str(_macro("table")(view))


def heat_table(
    frame: pl.DataFrame,
    value_columns: Sequence[str],
    *,
    value_format: Formatter = "{:.1%}",
    factor: float = 1.5,
    min_gap: float = 0.05,
    reference: Mapping[str, float] | None = None,
) -> Table:
    """A :class:`Table` whose ``value_columns`` cells are "hot" when at least ``factor`` ×
    and ``min_gap`` above their column's ``reference`` (default: the column's mean)."""
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
    return table(frame, max_rows=None, formats=formats, cell_classes=cell_classes)


def heat_table_html(frame: pl.DataFrame, value_columns: Sequence[str], **options: Any) -> str:
    """:func:`heat_table` (same parameters) as HTML.

    Examples
    --------
    >>> t = pl.DataFrame({"site": ["a", "b", "c"], "rate": [0.02, 0.03, 0.30]})
    >>> heat_table_html(t, ["rate"]).count('class="num hot"')
    1
    """
    return str(_macro("table")(heat_table(frame, value_columns, **options)))


def _as_image(arr: np.ndarray, what: str) -> np.ndarray:
    """(H, W) or (H, W, 3|4) ``uint8`` from (H, W), (H, W, 1|3|4) or (1, H, W, C); floats in
    [0, 1] become 0-255."""
    a = np.asarray(arr)
    a = a[0] if a.ndim == 4 and a.shape[0] == 1 else a
    a = a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise InvalidParameterError(
            f"{what} needs an image of shape (H, W), (H, W, 1|3|4) or (1, H, W, C); "
            f"received shape {a.shape}."
        )
    if a.dtype != np.uint8:
        f = a.astype(np.float64)
        a = np.clip(f * 255.0 if np.nanmax(f) <= 1.0 else f, 0, 255).astype(np.uint8)
    return a


def png_data_uri(
    arr: np.ndarray,
    *,
    scale: float = 1.0,
    size: tuple[int, int] | None = None,
    optimize: bool = True,
) -> tuple[str, int, int]:
    """An image as a PNG data URI, resized by ``scale`` (or to ``size`` = (width, height)):
    upscaled nearest-neighbour (crisp pixels), downscaled smoothly. Returns the URI and the
    PNG's width and height.

    Takes the shapes :func:`thumbnail_img` takes. ``optimize`` makes PIL search for the
    smallest encoding: a few percent smaller, several times slower on upscaled images.

    Examples
    --------
    >>> uri, w, h = png_data_uri(np.zeros((8, 6, 3), np.uint8), scale=3)
    >>> uri.startswith("data:image/png;base64,"), w, h
    (True, 18, 24)
    """
    from PIL import Image

    a = _as_image(arr, "png_data_uri")
    h, w = a.shape[:2]
    if size is None:
        new = (max(1, round(w * scale)), max(1, round(h * scale)))
    else:
        new = (max(1, int(size[0])), max(1, int(size[1])))
    upscale = new[0] >= w and new[1] >= h
    resample = Image.Resampling.NEAREST if upscale else Image.Resampling.LANCZOS
    buf = io.BytesIO()
    im = Image.fromarray(a)
    (im if new == (w, h) else im.resize(new, resample)).save(buf, format="PNG", optimize=optimize)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"data:image/png;base64,{data}", new[0], new[1]


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
    a = _as_image(arr, "thumbnail_img")
    uri, w, h = png_data_uri(a, scale=size / max(a.shape[:2]))
    tip = f' title="{esc(title)}"' if title else ""
    return f'<img src="{uri}" width="{w}" height="{h}" alt="{esc(alt)}"{tip}>'
