"""Label Studio for boxes: the ``RectangleLabels`` config, pixel ↔ percent regions, and
reading annotators' regions back safely.

Label Studio stores a rectangle as its top-left corner and size in **percent** of the
image (``value.x, y, width, height`` in 0..100) with the image's ``original_width`` /
``original_height`` in pixels beside it. :func:`box_region` writes one from a pixel box
and :func:`region_pixels` reads one back: ``x_px = x_pct * original_width / 100``, so a
box goes through one multiplication and one division and comes back within 1e-6 px.

The labeling interface has two ``RectangleLabels`` controls over one image:

- :data:`BOX_FROM` (``"box"``): the dataset's boxes, editable; what the annotators submit
  under this name becomes box edits;
- :data:`DETECTOR_FROM` (``"detector"``): the detector's predicted boxes, read-only
  regions shown for comparison; a pull ignores them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from datacentric.exceptions import InvalidParameterError, RegionError
from datacentric.integrations.labelstudio.config import TO_NAME

__all__ = [
    "BOX_FROM",
    "DETECTOR_FROM",
    "MAX_REGIONS",
    "Region",
    "RegionError",
    "box_label_config",
    "box_region",
    "read_regions",
    "region_pixels",
]

BOX_FROM = "box"
"""Name of the editable ``<RectangleLabels>`` control (the dataset's boxes)."""
DETECTOR_FROM = "detector"
"""Name of the read-only ``<RectangleLabels>`` control (the detector's boxes)."""
MAX_REGIONS = 1000
"""Default most regions one annotation may have; a larger one is skipped with the reason."""
_EDGE_TOLERANCE = 1e-9  # percent: rounding of a box drawn flush to an edge


def box_label_config(classes: Sequence[str]) -> str:
    """The labeling-interface XML for boxes over ``classes``.

    Examples
    --------
    >>> xml = box_label_config(["cat", "dog"])
    >>> '<RectangleLabels name="box" toName="image"' in xml, xml.count('<Label value="cat"')
    (True, 2)
    >>> box_label_config(["cat", "cat"])
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: box_label_config: needs at least 1 class, ...
    """
    names = [str(c) for c in classes]
    if not names or len(set(names)) != len(names):
        raise InvalidParameterError(
            f"box_label_config: needs at least 1 class, all distinct; received {names!r}. Pass "
            "the dataset's classes (ds.classes)."
        )
    labels = "\n".join(f"    <Label value={quoteattr(c)}/>" for c in names)
    detector = "\n".join(f'    <Label value={quoteattr(c)} background="#9e9e9e"/>' for c in names)
    return (
        "<View>\n"
        '  <Header value="Sample $sample_id · issues: $issue_type"/>\n'
        '  <Text name="detail" value="$detail"/>\n'
        f'  <RectangleLabels name="{BOX_FROM}" toName="{TO_NAME}" canRotate="false"'
        ' strokeWidth="2">\n'
        f"{labels}\n"
        "  </RectangleLabels>\n"
        '  <View style="display: none">\n'
        f'  <RectangleLabels name="{DETECTOR_FROM}" toName="{TO_NAME}" canRotate="false"'
        ' opacity="0.2" strokeWidth="1">\n'
        f"{detector}\n"
        "  </RectangleLabels>\n"
        "  </View>\n"
        f'  <Image name="{TO_NAME}" value="$image" zoom="true" zoomControl="true"'
        ' maxWidth="480px" smoothing="false"/>\n'
        "</View>"
    )


def box_region(
    region_id: str,
    label: str,
    box: Sequence[float],
    size: tuple[int, int],
    *,
    from_name: str = BOX_FROM,
    score: float | None = None,
    readonly: bool = False,
    text: str | None = None,
) -> dict[str, Any]:
    """One ``rectanglelabels`` result item for the pixel box ``(x, y, w, h)`` of an image of
    ``size = (width, height)`` pixels.

    Examples
    --------
    >>> r = box_region("b0", "cat", (4.0, 6.0, 20.0, 10.0), (64, 48))
    >>> r["value"]["x"], r["value"]["height"], r["original_width"]
    (6.25, 20.833333333333336, 64)
    >>> region_pixels(r)
    (4.0, 6.0, 20.0, 10.0)
    """
    width, height = int(size[0]), int(size[1])
    x, y, w, h = (float(v) for v in box)
    item: dict[str, Any] = {
        "id": region_id,
        "from_name": from_name,
        "to_name": TO_NAME,
        "type": "rectanglelabels",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {
            "x": x / width * 100.0,
            "y": y / height * 100.0,
            "width": w / width * 100.0,
            "height": h / height * 100.0,
            "rotation": 0,
            "rectanglelabels": [label],
        },
    }
    if score is not None:
        item["score"] = float(score)
    if readonly:
        item["readonly"] = True
    if text:
        item["meta"] = {"text": [text]}
    return item


def region_pixels(
    region: Mapping[str, Any], size: tuple[int, int] | None = None
) -> tuple[float, float, float, float]:
    """The pixel box ``(x, y, w, h)`` of a ``rectanglelabels`` result item.

    The image size is the item's ``original_width`` / ``original_height`` (``size`` when
    it has none).
    """
    value = region["value"]
    width = float(region.get("original_width") or (size or (0, 0))[0])
    height = float(region.get("original_height") or (size or (0, 0))[1])
    # rounded to 1e-9 px: what percent arithmetic adds (~1e-14) goes, what was drawn stays
    return (
        round(float(value["x"]) * width / 100.0, 9),
        round(float(value["y"]) * height / 100.0, 9),
        round(float(value["width"]) * width / 100.0, 9),
        round(float(value["height"]) * height / 100.0, 9),
    )


@dataclass(frozen=True)
class Region:
    """One box an annotator submitted, in pixels.

    ``annotation_id`` is the dataset box the region was pushed as (``None`` for a box the
    annotator drew), ``region_id`` Label Studio's id of the region.
    """

    region_id: str
    annotation_id: str | None
    label: str
    x: float
    y: float
    w: float
    h: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``(x, y, w, h)`` in pixels."""
        return (self.x, self.y, self.w, self.h)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RegionError(f"a coordinate is {value!r}, not a number")
    out = float(value)
    if not math.isfinite(out):
        raise RegionError(f"a coordinate is {value!r}, not a finite number")
    return out


def read_regions(
    result: Any,
    classes: Sequence[str],
    size: tuple[int, int],
    region_ids: Mapping[str, str],
    pushed: Mapping[str, tuple[float, float, float, float]],
    *,
    max_regions: int = MAX_REGIONS,
) -> list[Region]:
    """The boxes of one annotation ``result`` (the :data:`BOX_FROM` regions), checked.

    Parameters
    ----------
    result : list
        The annotation's ``result`` as the server returned it.
    classes : sequence of str
        The dataset's classes; a region of another class makes the annotation unreadable.
    size : (width, height)
        The image's size in pixels, read from its header (used when a region has no
        ``original_width`` / ``original_height``; a region whose size differs is refused).
    region_ids : mapping
        Region id → dataset ``annotation_id`` of the boxes pushed with the task.
    pushed : mapping
        ``annotation_id`` → its pixel box as pushed. A region that reaches outside the image
        is accepted only when it is such a box left as it was (an overhanging box of the
        dataset the annotator did not touch).
    max_regions : int
        More :data:`BOX_FROM` regions than this (or more than ten times as many result
        items of any kind) makes the annotation unreadable.

    Raises
    ------
    RegionError
        With the reason (one line) when any region is malformed, has NaN/infinite,
        negative, over-100 % or zero-size coordinates, a rotation, or an unknown class:
        the whole annotation is then skipped, never applied in part.

    Examples
    --------
    >>> ok = box_region("b0", "cat", (4.0, 6.0, 20.0, 10.0), (64, 48))
    >>> read_regions([ok], ["cat"], (64, 48), {"b0": "17"}, {})[0]
    Region(region_id='b0', annotation_id='17', label='cat', x=4.0, y=6.0, w=20.0, h=10.0)
    >>> bad = box_region("b1", "cat", (4.0, 6.0, 80.0, 10.0), (64, 48))
    >>> read_regions([bad], ["cat"], (64, 48), {}, {})
    Traceback (most recent call last):
    ...
    datacentric.exceptions.RegionError: region 'b1' reaches outside ...
    """
    if not isinstance(result, list):
        raise RegionError(f"its result is a {type(result).__name__}, not a list of regions")
    if len(result) > 10 * max_regions:  # the detector's read-only regions come back too
        raise RegionError(
            f"its result has {len(result)} items, more than 10 x max_regions={max_regions}"
        )
    mine = [r for r in result if isinstance(r, dict) and r.get("from_name") == BOX_FROM]
    if len(mine) > max_regions:
        raise RegionError(f"it has {len(mine)} regions, more than max_regions={max_regions}")
    if any(not isinstance(r, dict) for r in result):
        raise RegionError("its result holds an item that is not an object")
    out: list[Region] = []
    for r in mine:
        rid = str(r.get("id", ""))[:80]
        if r.get("type") not in ("rectanglelabels", None):
            raise RegionError(f"region {rid!r} is of type {r.get('type')!r}, not rectanglelabels")
        value = r.get("value")
        if not isinstance(value, dict):
            raise RegionError(f"region {rid!r} has no value object")
        labels = value.get("rectanglelabels")
        if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
            raise RegionError(f"region {rid!r} must have exactly one class, has {labels!r}"[:200])
        label = labels[0]
        if label not in classes:
            raise RegionError(
                f"region {rid!r} has the class {label[:60]!r}, which the dataset does not have"
            )
        try:
            x, y, w, h = (_number(value.get(k)) for k in ("x", "y", "width", "height"))
            rot = _number(value.get("rotation", 0) or 0)
            ow = r.get("original_width", size[0])
            oh = r.get("original_height", size[1])
            ow_f, oh_f = _number(ow), _number(oh)
        except RegionError as exc:
            raise RegionError(f"region {rid!r}: {exc}") from None
        if rot != 0:
            raise RegionError(f"region {rid!r} is rotated by {rot} degrees; only upright boxes")
        if (int(ow_f), int(oh_f)) != (int(size[0]), int(size[1])) or ow_f != int(ow_f):
            raise RegionError(
                f"region {rid!r} was drawn on a {ow}x{oh} image, but the image is "
                f"{size[0]}x{size[1]}"
            )
        if w <= 0 or h <= 0:
            raise RegionError(f"region {rid!r} has a zero or negative size ({w}% x {h}%)")
        px = region_pixels(r, size)
        aid = region_ids.get(rid)
        lo, hi = -_EDGE_TOLERANCE, 100.0 + _EDGE_TOLERANCE
        inside = x >= lo and y >= lo and x + w <= hi and y + h <= hi
        if not inside:
            untouched = aid is not None and aid in pushed and _same(px, pushed[aid])
            if not untouched:
                raise RegionError(
                    f"region {rid!r} reaches outside the image (x={x}%, y={y}%, width={w}%, "
                    f"height={h}%; each must lie within 0..100)"
                )
        out.append(Region(rid, aid, label, *px))
    return out


def _same(a: Sequence[float], b: Sequence[float], tol: float = 1e-6) -> bool:
    return all(abs(float(u) - float(v)) <= tol for u, v in zip(a, b, strict=True))
