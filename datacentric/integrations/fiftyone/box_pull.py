"""Box edits made in FiftyOne → box edits of a detection dataset, with lineage.

:func:`plan_box_edits` compares the ``ground_truth`` Detections read back from FiftyOne
with the boxes of the version that was pushed and with the dataset's current boxes, and
returns what to apply (no FiftyOne, no writes): a moved or resized box, a relabelled box, a
deleted box, an added box (a ``Detection`` without ``annotation_id``), and each label tag
(other than the push's own ``issue:`` tags) as a ``review`` decision — ``relabel:<class>``
as a relabel. Coordinates come back relative (``[x, y, w, h]`` in [0, 1]) and become
pixels with the image size: ``x * width`` etc.

Edits are detected against the pushed version, so a box changed in the dataset after the
push is not reverted by an untouched FiftyOne copy; an edit is skipped as already applied
when the dataset's current box already equals it, which makes pulling twice a no-op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from datacentric.exceptions import InvalidAnnotationError, format_items
from datacentric.integrations.fiftyone.records import ISSUE_TAG_PREFIX, RELABEL_TAG_PREFIX

__all__ = ["BOX_TOLERANCE_PX", "BoxPlan", "FoBox", "plan_box_edits"]

BOX_TOLERANCE_PX = 1e-6
"""A box counts as moved when a coordinate differs by more than this (pixels)."""


@dataclass(frozen=True)
class FoBox:
    """One ``ground_truth`` Detection read back from FiftyOne."""

    sample_id: str
    label_id: str
    annotation_id: str | None
    label: Any
    bounding_box: Any
    tags: list[str]


@dataclass
class BoxPlan:
    """What to apply to the dataset (each list is of tuples, see the fields).

    ``moves``: ``(annotation_id, (x, y, w, h))`` pixels; ``relabels``: ``(annotation_id,
    new, how)``; ``removes``: ``annotation_id``; ``adds``: ``(label_id, sample_id, label,
    (x, y, w, h), tags)``; ``reviews``: ``(annotation_id, tag)``; ``skipped``: a reason per
    box left alone; ``already``: edits an earlier pull applied.
    """

    moves: list[tuple[str, tuple[float, float, float, float]]] = field(default_factory=list)
    relabels: list[tuple[str, str, str]] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    adds: list[tuple[str, str, str, tuple[float, float, float, float], list[str]]] = field(
        default_factory=list
    )
    reviews: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    already: int = 0

    @property
    def n_edits(self) -> int:
        """Box changes and review decisions to apply."""
        return sum(
            len(x) for x in (self.moves, self.relabels, self.removes, self.adds, self.reviews)
        )


def _box_problem(box: FoBox, classes: set[str]) -> str | None:
    """Why a FiftyOne box cannot be pulled, or ``None``."""
    if not isinstance(box.label, str) or box.label not in classes:
        return f"label {box.label!r} is not one of the classes"
    bb = box.bounding_box
    try:
        x, y, w, h = (float(v) for v in bb)
    except (TypeError, ValueError):
        return f"bounding_box {bb!r} is not 4 numbers"
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return f"bounding_box {[x, y, w, h]} has a NaN or infinite value"
    if w <= 0 or h <= 0:
        return f"bounding_box {[x, y, w, h]} has a zero or negative size"
    eps = 1e-9
    if min(x, y) < -eps or x + w > 1 + eps or y + h > 1 + eps:
        return f"bounding_box {[x, y, w, h]} reaches outside [0, 1] (relative coordinates)"
    return None


def _pixels(bb: Sequence[float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    width, height = size
    return (
        float(bb[0]) * width,
        float(bb[1]) * height,
        float(bb[2]) * width,
        float(bb[3]) * height,
    )


def _same(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(abs(float(u) - float(v)) <= BOX_TOLERANCE_PX for u, v in zip(a, b, strict=True))


def plan_box_edits(
    fo_boxes: Sequence[FoBox],
    pushed: pl.DataFrame,
    current: pl.DataFrame,
    sizes: dict[str, tuple[int, int]],
    classes: Sequence[str],
    reviewed: set[tuple[str, str]],
) -> BoxPlan:
    """The box edits a pull applies.

    Parameters
    ----------
    fo_boxes : sequence of FoBox
        The ``ground_truth`` Detections of the samples of the dataset (a sample without
        any lists none).
    pushed, current : polars.DataFrame
        Boxes (``annotation_id, sample_id, label, x, y, w, h``) of the pushed version and
        of the dataset now, restricted to the samples read back.
    sizes : dict
        ``sample_id`` → ``(width, height)`` of the images.
    classes : sequence of str
    reviewed : set of (annotation_id, tag)
        Label-tag decisions earlier pulls recorded.

    Raises
    ------
    InvalidAnnotationError
        When a box has an unknown class, a NaN/infinite coordinate, a non-positive size or
        reaches outside [0, 1] — every such box named, nothing planned.

    Examples
    --------
    >>> b = pl.DataFrame({"annotation_id": ["1", "2"], "sample_id": ["a", "a"],
    ...     "label": ["cat", "dog"], "x": [10.0, 50.0], "y": [10.0, 50.0],
    ...     "w": [20.0, 20.0], "h": [20.0, 20.0]})
    >>> fo = [FoBox("a", "L1", "1", "dog", [0.1, 0.1, 0.2, 0.2], ["reviewed:wrong"]),
    ...       FoBox("a", "L3", None, "cat", [0.7, 0.7, 0.1, 0.1], [])]
    >>> plan = plan_box_edits(fo, b, b, {"a": (100, 100)}, ["cat", "dog"], set())
    >>> plan.relabels, plan.removes, plan.reviews, plan.moves
    ([('1', 'dog', 'edit')], ['2'], [('1', 'reviewed:wrong')], [])
    >>> plan.adds[0][1:4]
    ('a', 'cat', (70.0, 70.0, 10.0, 10.0))
    """
    names = set(classes)
    bad = [
        f"{b.sample_id}/{b.annotation_id or 'new box ' + b.label_id}: {why}"
        for b in fo_boxes
        if (why := _box_problem(b, names)) is not None
    ]
    relabel_tags = [
        f"{b.sample_id}/{b.annotation_id or 'new box ' + b.label_id}: {t}"
        for b in fo_boxes
        for t in b.tags
        if t.startswith(RELABEL_TAG_PREFIX) and t[len(RELABEL_TAG_PREFIX) :] not in names
    ]
    if relabel_tags:
        bad += [f"{t} names an unknown class" for t in relabel_tags]
    if bad:
        raise InvalidAnnotationError(
            f"FiftyOne boxes cannot be pulled: {len(bad)} box(es) are invalid: "
            f"{format_items(bad)}. Boxes need one of the classes {list(classes)} and a "
            "bounding_box [x, y, w, h] inside [0, 1] with w, h > 0; fix them in the App and "
            "pull again. Nothing was applied.",
            rows=[b.split(":")[0] for b in bad],
        )
    cols = ["annotation_id", "sample_id", "label", "x", "y", "w", "h"]
    p = {r[0]: r for r in pushed.select(cols).iter_rows()}
    c = {r[0]: r for r in current.select(cols).iter_rows()}
    plan = BoxPlan()
    seen: set[str] = set()
    for b in fo_boxes:
        px = _pixels(b.bounding_box, sizes[b.sample_id])
        tags = [t for t in b.tags if not t.startswith(ISSUE_TAG_PREFIX)]
        relabel = [t[len(RELABEL_TAG_PREFIX) :] for t in tags if t.startswith(RELABEL_TAG_PREFIX)]
        if b.annotation_id is None:
            label = relabel[0] if relabel else b.label
            plan.adds.append((b.label_id, b.sample_id, label, px, tags))
            continue
        aid = b.annotation_id
        ref = p.get(aid) or c.get(aid)
        if ref is None or ref[1] != b.sample_id or aid in seen:
            why = "repeated" if aid in seen else "not a box of this image in the dataset"
            plan.skipped.append(f"{b.sample_id}/{aid}: annotation_id {why}; box left alone")
            continue
        seen.add(aid)
        now = c.get(aid)
        new_label, how = (relabel[0], "tag") if relabel else (b.label, "edit")
        changed_label = new_label != ref[2]
        moved = not _same(px, ref[3:])
        if (changed_label or moved) and now is None:
            plan.skipped.append(f"{b.sample_id}/{aid}: edited in FiftyOne but removed from the "
                                "dataset since the push; edit left out")  # fmt: skip
            continue
        if changed_label:
            if now is not None and now[2] == new_label:
                plan.already += 1
            else:
                plan.relabels.append((aid, new_label, how))
        if moved:
            if now is not None and _same(px, now[3:]):
                plan.already += 1
            else:
                plan.moves.append((aid, px))
        for t in tags:
            if t.startswith(RELABEL_TAG_PREFIX):
                continue
            if (aid, t) in reviewed:
                plan.already += 1
            elif now is not None:
                plan.reviews.append((aid, t))
    in_fiftyone = {b.annotation_id for b in fo_boxes}
    for aid in p:
        if aid in in_fiftyone:
            continue
        if aid in c:
            plan.removes.append(aid)
        else:
            plan.already += 1
    return plan
