"""Box figures of the scan report: the image of a box issue with the given box and the
suggested box drawn over it, as inline SVG.

A row of a box finder (``badly_located_box``, ``swapped_box``, ``duplicate_box``,
``box_geometry``, ``overlooked_box``, and ``imbalance`` on a detection dataset) names its
box by ``annotation_id`` (``overlooked_box``: by ``prediction_id``, with the predicted box
in ``suggested_x .. suggested_h``). :class:`BoxFigures` looks the given boxes up in the
dataset's annotation table, decodes each image once (cached by ``sample_id``) and draws:

- the **given** box: solid, blue, its class;
- the **suggested** box: dashed, orange, the suggested class when it differs (a swapped box:
  the predicted box that gives the other class);
- the **repeated** box of a duplicate pair: dotted, purple, its id and class;
- the **image border** (``box_geometry``): a dark line, the canvas grown to show the part
  of the box outside.

Coordinates are the image's pixels: the ``viewBox`` is in pixels, so a ``<rect>`` carries
the box's exact ``x, y, width, height`` and the browser scales it with the image. A small
image is embedded as it is and upscaled by a whole factor, nearest-neighbour
(``image-rendering: pixelated``: crisp pixels at any zoom, a quarter of the pixels of a
pre-scaled copy at 2x); a large one is embedded at the size shown. The colours are Okabe-Ito's
(told apart with the common colour-vision deficiencies), and dashes tell them apart too.
Every label and id is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from datacentric.exceptions import DatacentricError
from datacentric.report.html import png_data_uri
from datacentric.report.text import esc

if TYPE_CHECKING:
    from datacentric.dataset import Dataset

__all__ = [
    "ROLES",
    "BoxFigures",
    "DrawnBox",
    "box_figure_svg",
    "box_legend_html",
    "fmt_box",
    "is_box_row",
]

#: role → (colour, dash pattern in screen px or "", legend text). Okabe-Ito colours.
ROLES: dict[str, tuple[str, str, str]] = {
    "given": ("#0072B2", "", "given box"),
    "suggested": ("#E69F00", "6 3", "suggested box"),
    "pair": ("#CC79A7", "2 2.5", "repeated box"),
    "border": ("#1f2433", "", "image border"),
}
_SUGGESTED_COLS = ("suggested_x", "suggested_y", "suggested_w", "suggested_h")
_STROKE, _HALO, _FONT = 2.0, 4.0, 11.0  # screen px
_CANVAS = "#eceef3"  # the canvas outside the image


@dataclass(frozen=True)
class DrawnBox:
    """One box to draw: its role (a key of :data:`ROLES`), ``x, y, w, h`` in image pixels,
    the class written beside it and the id named in its tooltip."""

    role: str
    x: float
    y: float
    w: float
    h: float
    label: str | None = None
    name: str | None = None


def _num(v: float) -> str:
    """A coordinate exactly (Python's shortest ``repr``), without a trailing ``.0``.

    Examples
    --------
    >>> _num(11.0), _num(2.5), _num(0.1 + 0.2)
    ('11', '2.5', '0.30000000000000004')
    """
    r = repr(float(v))
    return r[:-2] if r.endswith(".0") else r


def _short(v: float) -> str:
    return f"{v:.4g}"


def fmt_box(x: float, y: float, w: float, h: float) -> str:
    """``[x, y, w, h]`` to two decimals, for captions and Markdown.

    Examples
    --------
    >>> fmt_box(2.0, 3.456, 12.0, 0.5)
    '[2, 3.46, 12, 0.5]'
    """
    return "[" + ", ".join(f"{round(float(v), 2):g}" for v in (x, y, w, h)) + "]"


#: Larger coordinates (in pixels) are not drawn: no image is that large, and the canvas
#: arithmetic must stay finite.
MAX_COORDINATE = 1e7


def _finite(*values: Any) -> bool:
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def _suggested(row: Mapping[str, Any]) -> tuple[tuple[float, float, float, float] | None, str]:
    """The row's suggested box when it is one (else None), and its columns as text."""
    values = [row.get(c) for c in _SUGGESTED_COLS]
    text = ", ".join(str(v) for v in values) if any(v is not None for v in values) else ""
    if not _drawable(*values):
        return None, text
    x, y, w, h = (float(v) for v in values if v is not None)
    return (x, y, w, h), text


def _drawable(x: Any, y: Any, w: Any, h: Any) -> bool:
    """A box with finite coordinates within :data:`MAX_COORDINATE` and a positive size.

    Examples
    --------
    >>> _drawable(1, 2, 3, 4), _drawable(1, 2, 0, 4), _drawable(float("nan"), 2, 3, 4)
    (True, False, False)
    >>> _drawable(1e308, 0, 1e308, 1)
    False
    """
    return (
        _finite(x, y, w, h)
        and w > 0
        and h > 0
        and all(abs(v) <= MAX_COORDINATE for v in (x, y, w, h))
    )


def is_box_row(row: Mapping[str, Any]) -> bool:
    """Whether an issue row is about one box: it names an ``annotation_id``, or a
    ``prediction_id`` with suggested box columns (``overlooked_box``).

    Examples
    --------
    >>> is_box_row({"annotation_id": "b3"}), is_box_row({"annotation_id": None})
    (True, False)
    >>> is_box_row({"prediction_id": "7", "suggested_x": 1.0, "suggested_y": 2.0,
    ...             "suggested_w": 3.0, "suggested_h": 4.0})
    True
    """
    if row.get("annotation_id") is not None:
        return True
    return row.get("prediction_id") is not None and any(
        row.get(c) is not None for c in _SUGGESTED_COLS
    )


def box_legend_html(roles: Iterable[str], *, class_only: bool = False) -> str:
    """A tiny legend: a line sample per role, drawn in the role's colour and dash
    (``class_only``: a suggested class without a suggested box).

    Examples
    --------
    >>> html = box_legend_html(["given", "suggested"])
    >>> html.count('class="key"'), "dashed" in html, "#E69F00" in html
    (2, True, True)
    """
    keys = []
    for role in dict.fromkeys(roles):
        colour, dash, text = ROLES[role]
        style = "dotted" if role == "pair" else "dashed" if dash else "solid"
        if role == "suggested" and class_only:
            text = "suggested class"
        keys.append(f'<span class="key" style="border-top:3px {style} {colour}"></span>{esc(text)}')
    return f'<div class="box-legend">{" ".join(keys)}</div>'


def _label_text(
    x: float, y: float, content: str, colour: str, font: float, anchor: str = "start"
) -> str:
    return (
        f'<text x="{_short(x)}" y="{_short(y)}" font-size="{_short(font)}" fill="{colour}" '
        f'text-anchor="{anchor}" font-weight="650" stroke="#fff" '
        f'stroke-width="{_short(3 * font / _FONT)}" paint-order="stroke">{esc(content)}</text>'
    )


def box_figure_svg(
    boxes: Sequence[DrawnBox],
    *,
    image: np.ndarray | None = None,
    image_size: tuple[float, float] | None = None,
    border: bool = False,
    class_note: str | None = None,
    size: int = 240,
    label: str = "",
    encoded: dict[float, str] | None = None,
) -> str:
    """An inline SVG of an image with boxes over it, in the image's pixel coordinates.

    Parameters
    ----------
    boxes : sequence of DrawnBox
        Drawn in order (later on top); each ``<rect>`` has the box's exact coordinates.
    image : ndarray, optional
        (H, W) or (H, W, C) ``uint8``, drawn at (0, 0) over the image's size.
    image_size : (width, height), optional
        The image's size in pixels, the box coordinates' frame (default: ``image``'s; a
        reduced copy of a large image may be passed with its original size). Without
        either, the canvas is the boxes' extent from (0, 0).
    border : bool
        Draw the image border and grow the canvas to show what lies outside it.
    class_note : str, optional
        A suggested class without a box: written under the first box, in the suggested
        colour.
    size : int
        The longest side on screen, in CSS pixels, without the 4 px margin around the
        canvas (images smaller than that are scaled up by a whole factor).
    label : str
        The figure's accessible name (escaped).
    encoded : dict, optional
        PNG data URIs of ``image`` by scale, filled and reused (one image in several
        figures is encoded once per scale).

    Examples
    --------
    >>> svg = box_figure_svg([DrawnBox("given", 11, 11, 8, 12, "c1", "b2"),
    ...                       DrawnBox("suggested", 2, 2, 12, 12)],
    ...                      image=np.zeros((40, 40, 3), np.uint8), label="<img 1>")
    >>> '<rect x="11" y="11" width="8" height="12"' in svg, "&lt;img 1&gt;" in svg
    (True, True)
    >>> 'width="248" height="248"' in svg  # 40 px scaled by 6, and a 4 px margin
    True
    """
    if image_size is not None:
        width, height = float(image_size[0]), float(image_size[1])
    elif image is not None:
        width, height = float(image.shape[1]), float(image.shape[0])
    else:
        width = max([b.x + b.w for b in boxes] + [1.0])
        height = max([b.y + b.h for b in boxes] + [1.0])
    x0, y0, x1, y1 = 0.0, 0.0, width, height
    if border or image is None:  # show what lies outside the image, up to its size again
        for b in boxes:
            x0, y0 = min(x0, max(b.x, -width)), min(y0, max(b.y, -height))
            x1, y1 = max(x1, min(b.x + b.w, 2 * width)), max(y1, min(b.y + b.h, 2 * height))
    longest = max(x1 - x0, y1 - y0)
    scale = size / longest
    if scale >= 1:
        scale = float(math.floor(scale))
    pad = 4.0 / scale  # room for strokes on the edge
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    font = _FONT / scale
    out = [
        f'<svg class="boxes" width="{round((x1 - x0) * scale)}" '
        f'height="{round((y1 - y0) * scale)}" viewBox="{_short(x0)} {_short(y0)} '
        f'{_short(x1 - x0)} {_short(y1 - y0)}" role="img" aria-label="{esc(label)}">',
        f'<rect x="{_short(x0)}" y="{_short(y0)}" width="{_short(x1 - x0)}" '
        f'height="{_short(y1 - y0)}" fill="{_CANVAS}"/>',
    ]
    if image is not None:
        cache = {} if encoded is None else encoded
        if scale not in cache:  # small images as they are (the browser upscales them
            # nearest-neighbour, image-rendering: pixelated), large ones at the size shown
            shown = (round(width * scale), round(height * scale))
            small = scale >= 1 and image.shape[1] <= shown[0] and image.shape[0] <= shown[1]
            cache[scale] = png_data_uri(image, size=None if small else shown, optimize=False)[0]
        uri = cache[scale]
        out.append(
            f'<image href="{uri}" x="0" y="0" width="{_num(width)}" height="{_num(height)}" '
            'preserveAspectRatio="none" image-rendering="optimizeSpeed" '
            'style="image-rendering:pixelated"/>'
        )
    if border:
        colour = ROLES["border"][0]
        out.append(
            f'<rect data-role="border" x="0" y="0" width="{_num(width)}" '
            f'height="{_num(height)}" fill="none" stroke="{colour}" '
            f'stroke-width="{_short(1.5 / scale)}"/>'
        )
    for i, b in enumerate(boxes):
        colour, dash, role_text = ROLES[b.role]
        dashes = (
            f' stroke-dasharray="{" ".join(_short(float(d) / scale) for d in dash.split())}"'
            if dash
            else ""
        )
        geometry = f'x="{_num(b.x)}" y="{_num(b.y)}" width="{_num(b.w)}" height="{_num(b.h)}"'
        tip = f"{role_text} {b.name or ''}: {b.label or ''} {fmt_box(b.x, b.y, b.w, b.h)}"
        parts = [
            f'<g data-role="{b.role}"'
            + (f' data-id="{esc(b.name)}"' if b.name is not None else "")
            + f"><title>{esc(' '.join(tip.split()))}</title>",
            f'<rect {geometry} fill="none" stroke="#fff" stroke-opacity="0.85" '
            f'stroke-width="{_short(_HALO / scale)}"/>',
            f'<rect {geometry} fill="none" stroke="{colour}" '
            f'stroke-width="{_short(_STROKE / scale)}"{dashes}/>',
        ]
        caption = " ".join(t for t in (b.name if b.role == "pair" else None, b.label) if t)
        if caption:
            if b.role == "suggested":  # under the box (inside when it would leave the canvas)
                ty = b.y + b.h + font if b.y + b.h + font <= y1 else b.y + b.h - font * 0.3
                parts.append(_label_text(b.x, ty, caption, colour, font))
            elif b.role == "pair":  # above, right-aligned
                ty = b.y - font * 0.3 if b.y - font >= y0 else b.y + font
                parts.append(_label_text(b.x + b.w, ty, caption, colour, font, "end"))
            else:  # above (inside when it would leave the canvas)
                ty = b.y - font * 0.3 if b.y - font >= y0 else b.y + font
                parts.append(_label_text(b.x, ty, caption, colour, font))
        if class_note and i == 0:
            ty = b.y + b.h + font if b.y + b.h + font <= y1 else b.y + b.h - font * 0.3
            parts.append(
                '<g data-role="suggested-class">'
                + _label_text(b.x, ty, f"→ {class_note}", ROLES["suggested"][0], font)
                + "</g>"
            )
        out.append("".join(parts) + "</g>")
    out.append("</svg>")
    return "".join(out)


_Given = tuple[str | None, float, float, float, float]


class BoxFigures:
    """Draws the box rows of a scan's issue table, decoding each image once (kept reduced
    to the figure size, so a thousand large photos cost a thousand small arrays).

    Parameters
    ----------
    dataset : Dataset or None
        The scanned dataset: the given boxes (its ``annotations``) and the images. ``None``:
        only what the rows carry is drawn (the suggested boxes), without the image.
    annotation_ids : iterable of str, optional
        The boxes that will be looked up (default: all of the dataset's), to index only
        those.
    size : int
        The longest side of a figure on screen, in CSS pixels.

    Examples
    --------
    >>> from datacentric.testing import make_detection_check_context
    >>> figs = BoxFigures(make_detection_check_context().dataset)
    >>> row = {"sample_id": "1", "issue_type": "badly_located_box", "annotation_id": "b2",
    ...        "suggested_x": 2.0, "suggested_y": 2.0, "suggested_w": 12.0, "suggested_h": 12.0}
    >>> figs.text(row)
    'given [11, 11, 8, 12] class c1 → suggested [2, 2, 12, 12]'
    >>> '<rect x="11" y="11" width="8" height="12"' in figs.figure(row)
    True
    """

    def __init__(
        self,
        dataset: Dataset | None,
        annotation_ids: Iterable[str] | None = None,
        *,
        size: int = 240,
    ) -> None:
        self.dataset = dataset
        self.size = size
        #: sample_id → (the image, reduced to ``size`` px when larger; its width, height)
        self.decoded: dict[str, tuple[np.ndarray, int, int] | None] = {}
        self._encoded: dict[str, dict[float, str]] = {}
        boxes = None if dataset is None else dataset.annotations
        self.has_boxes = boxes is not None
        self._given: dict[str, _Given] = {}
        if boxes is not None:
            if annotation_ids is not None:
                wanted = pl.Series(list(dict.fromkeys(annotation_ids)), dtype=pl.Utf8)
                boxes = boxes.filter(pl.col("annotation_id").is_in(wanted.implode()))
            cols = boxes.select("annotation_id", "label", "x", "y", "w", "h")
            self._given = {
                str(r[0]): (r[1], float(r[2]), float(r[3]), float(r[4]), float(r[5]))
                for r in cols.iter_rows()
            }

    def _keep(self, sample_id: str, image: np.ndarray) -> None:
        """Cache an image, reduced to ``size`` px on its longest side when larger (no figure
        shows more), with its original size."""
        from PIL import Image

        h, w = image.shape[:2]
        if max(w, h) > self.size:
            f = self.size / max(w, h)
            small = (max(1, round(w * f)), max(1, round(h * f)))
            image = np.asarray(Image.fromarray(image).resize(small, Image.Resampling.LANCZOS))
        self.decoded[sample_id] = (image, w, h)

    def prefetch(self, sample_ids: Iterable[str]) -> None:
        """Decode the images of ``sample_ids`` not decoded yet, resolving their files in one
        pass (:meth:`Dataset.iter_batches`, one image per batch: sizes may differ). An image
        that cannot be read is cached as None."""
        if self.dataset is None:
            return
        todo = [s for s in dict.fromkeys(str(s) for s in sample_ids) if s not in self.decoded]
        while todo:
            try:
                batches = self.dataset.iter_batches(1, mode="RGB", sample_ids=todo)
            except (DatacentricError, OSError, ValueError):  # e.g. an id of another version
                for sid in todo:
                    self.image(sid)
                return
            done = 0
            try:
                for ids, batch in batches:
                    self._keep(ids[0], batch[0])
                    done += 1
            except (DatacentricError, OSError, ValueError):
                self.decoded[todo[done]] = None  # the image being read
                done += 1
            todo = todo[done:]

    def image(self, sample_id: str) -> np.ndarray | None:
        """The image of ``sample_id`` as RGB ``uint8``, reduced to ``size`` px on its longest
        side when larger (None: no dataset, or unreadable), decoded at most once."""
        if self.dataset is None:
            return None
        if sample_id not in self.decoded:
            try:
                self._keep(sample_id, self.dataset.load_images([sample_id], mode="RGB")[0])
            except (DatacentricError, OSError, ValueError):
                self.decoded[sample_id] = None
        found = self.decoded[sample_id]
        return None if found is None else found[0]

    def any_image(self, sample_id: str) -> np.ndarray | None:
        """The image for a thumbnail: the cached copy when a figure decoded it, else decoded
        whole and not kept (None: no dataset, or unreadable)."""
        if self.dataset is None or sample_id in self.decoded:
            return self.image(sample_id)
        try:
            return self.dataset.load_images([sample_id], mode="RGB")[0]
        except (DatacentricError, OSError, ValueError):
            return None

    def image_size(self, sample_id: str) -> tuple[int, int] | None:
        """``(width, height)`` of a decoded image (None: not decoded or unreadable)."""
        found = self.decoded.get(sample_id)
        return None if found is None else (found[1], found[2])

    def given(self, annotation_id: Any) -> _Given | None:
        """``label, x, y, w, h`` of a box of the dataset (None: unknown id or no dataset)."""
        return None if annotation_id is None else self._given.get(str(annotation_id))

    def _parts(self, row: Mapping[str, Any]) -> tuple[list[DrawnBox], str | None, list[str], bool]:
        """The boxes of a row, a suggested class without a box, notes, and whether the
        image border is drawn."""
        aid, notes = row.get("annotation_id"), []
        given = self.given(aid)
        boxes: list[DrawnBox] = []
        if given is not None:
            boxes.append(DrawnBox("given", *given[1:], label=given[0], name=str(aid)))
        if self.dataset is None:
            notes.append(
                "Drawn from the issue row alone: pass dataset= (the scanned dataset) for the "
                "image" + (f" and the given box {aid}." if aid is not None else ".")
            )
        elif aid is not None and given is None:
            notes.append(
                f"Box {aid} is not among the boxes of the dataset passed (another version?): "
                "only the row's own columns are drawn."
            )
        other = row.get("duplicate_of")
        pair = self.given(other)
        if pair is not None:
            boxes.append(DrawnBox("pair", *pair[1:], label=pair[0], name=str(other)))
        suggested, raw = _suggested(row)
        sugg_label = row.get("suggested_label")
        differs = sugg_label is not None and (given is None or sugg_label != given[0])
        class_note = None
        if suggested is not None:
            pid = row.get("prediction_id")
            boxes.append(
                DrawnBox(
                    "suggested",
                    *suggested,
                    label=str(sugg_label) if differs else None,
                    name=None if pid is None else str(pid),
                )
            )
        elif raw:
            notes.append(f"The suggested box is not drawn: its coordinates are not a box ({raw}).")
        elif differs and given is not None:
            class_note = str(sugg_label)
        return boxes, class_note, notes, row.get("issue_type") == "box_geometry"

    def figure(self, row: Mapping[str, Any]) -> str:
        """The card figure of a box row: the SVG, its legend and any note (HTML; escaped).

        Without a dataset, only the boxes the row carries are drawn (no image), and the
        note says so; a row with nothing to draw gets the note alone.
        """
        boxes, class_note, notes, border = self._parts(row)
        sid = str(row.get("sample_id"))
        image = self.image(sid)
        if self.dataset is not None and image is None:
            notes.append("The image could not be read; the boxes are drawn on a blank canvas.")
        parts = []
        if boxes:
            roles = [b.role for b in boxes] + (["suggested"] if class_note else [])
            label = f"image {sid}: " + ", ".join(
                f"{ROLES[b.role][2]} {b.name or ''}".strip() for b in boxes
            )
            svg = box_figure_svg(
                boxes,
                image=image,
                image_size=self.image_size(sid),
                border=border and image is not None,
                class_note=class_note,
                size=self.size,
                label=label,
                encoded=self._encoded.setdefault(sid, {}),
            )
            only_class = class_note is not None and not any(b.role == "suggested" for b in boxes)
            legend_roles = roles + (["border"] if border and image is not None else [])
            parts += [svg, box_legend_html(legend_roles, class_only=only_class)]
        parts += [f'<div class="box-note">{esc(n)}</div>' for n in notes]
        return f'<div class="box-figure">{"".join(parts)}</div>'

    def text(self, row: Mapping[str, Any]) -> str:
        """The row's boxes as text, ``given [x, y, w, h] class c1 → suggested [x, y, w, h]``
        (not escaped; a given box the dataset does not hold is named by its id)."""
        aid = row.get("annotation_id")
        given = self.given(aid)
        if aid is None:
            left = "no given box"
        elif given is None:
            left = f"given box {aid}"
        else:
            left = f"given {fmt_box(*given[1:])} class {given[0]}"
        if row.get("duplicate_of") is not None:
            pair = self.given(row["duplicate_of"])
            where = "" if pair is None else f" {fmt_box(*pair[1:])} class {pair[0]}"
            return f"{left} repeats box {row['duplicate_of']}{where}"
        suggested, raw = _suggested(row)
        sugg_label = row.get("suggested_label")
        differs = sugg_label is not None and (given is None or sugg_label != given[0])
        if suggested is not None:
            label = f" class {sugg_label}" if differs else ""
            return f"{left} → suggested {fmt_box(*suggested)}{label}"
        if raw:
            return f"{left} → suggested box not a box ({raw})"
        if differs:
            return f"{left} → suggested class {sugg_label}"
        return left
