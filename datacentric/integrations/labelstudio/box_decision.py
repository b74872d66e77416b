"""Decide box edits from several annotators' boxes — pure: no server, no dataset.

For one image, each annotator's submitted boxes are matched to the image's current boxes:
first by the region's ``annotation_id`` (the box it was pushed as), then the rest by
IoU (Hungarian, :func:`scipy.optimize.linear_sum_assignment`) at IoU ≥ ``iou_threshold``.
The boxes matched to no current box are grouped across annotators the same way (each new
group's box is the coordinate-wise median of its members). Then, per object, a strict
majority of the image's annotators decides:

=============================  ==========================================================
current box kept by > half     kept; relabelled to the majority class of those who kept
                               it (a tie keeps the class); moved to the median of the
                               boxes of those who moved it when they are > half of those
                               who kept it
current box dropped by > half  removed
exactly half                   kept as it is (reported as a ``tie``)
new box drawn by > half        added with the majority class (a tie: the first class in
                               the dataset's order among the most chosen) at the median
=============================  ==========================================================

Agreement: for every pair of annotators of an image, the objects both have are matched;
``mean_iou`` is the mean IoU of their two boxes, ``class_agreement`` the share of those
with the same class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from datacentric.integrations.labelstudio.boxes import Region

__all__ = ["EDIT_SCHEMA", "MOVE_TOLERANCE", "BoxAnnotation", "BoxDecisions", "decide_boxes"]

MOVE_TOLERANCE = 1e-3
"""Pixels: a box whose coordinates all changed by less than this counts as not moved."""

EDIT_SCHEMA: dict[str, Any] = {
    "sample_id": pl.Utf8,
    "task_id": pl.Int64,
    "edit": pl.Utf8,  # move | relabel | remove | add
    "annotation_id": pl.Utf8,  # null for an added box
    "old_label": pl.Utf8,
    "label": pl.Utf8,
    "x": pl.Float64,
    "y": pl.Float64,
    "w": pl.Float64,
    "h": pl.Float64,
    "votes": pl.Int64,
    "n_annotations": pl.Int64,
    "annotators": pl.Utf8,
    "ls_annotation_ids": pl.Utf8,
}
"""Columns of :attr:`BoxDecisions.edits` (one row per edit; ``x..h`` the box after it)."""
_TIE_SCHEMA = {"sample_id": pl.Utf8, "annotation_id": pl.Utf8, "kept": pl.Int64,
               "n_annotations": pl.Int64}  # fmt: skip


@dataclass(frozen=True)
class BoxAnnotation:
    """One annotator's submitted boxes for one task (read by
    :func:`~datacentric.integrations.labelstudio.boxes.read_regions`)."""

    task_id: int
    ls_annotation_id: int
    sample_id: str
    annotator: str
    updated_at: str
    regions: tuple[Region, ...]


@dataclass(frozen=True)
class BoxDecisions:
    """What :func:`decide_boxes` concluded.

    Attributes
    ----------
    edits : polars.DataFrame
        :data:`EDIT_SCHEMA`, one row per edit.
    ties : polars.DataFrame
        ``sample_id, annotation_id, kept, n_annotations``: current boxes exactly half the
        annotators dropped (kept as they are).
    agreement : dict
        ``mean_iou``, ``class_agreement``, ``n_matched`` (object pairs matched between two
        annotators), ``n_unmatched`` (objects only one of a pair has), ``n_images`` (images
        with ≥ 2 annotations) and ``pairs`` (the same per pair of annotators).
    already_applied : int
        Images whose annotations were all applied by an earlier pull (no decision taken).
    applied : dict
        Label Studio annotation id (str) → ``updated_at`` behind the decisions.
    """

    edits: pl.DataFrame
    ties: pl.DataFrame
    agreement: dict[str, Any]
    already_applied: int
    applied: dict[str, str] = field(default_factory=dict)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of ``x, y, w, h`` boxes."""
    from datacentric.issues.boxes import box_iou

    def xyxy(v: np.ndarray) -> np.ndarray:
        v = v.reshape(-1, 4)
        return np.concatenate([v[:, :2], v[:, :2] + v[:, 2:]], axis=1)

    return np.asarray(box_iou(xyxy(a), xyxy(b)))


def _match(a: np.ndarray, b: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Hungarian matching of boxes ``a`` to ``b`` maximising IoU, pairs with IoU ≥ threshold."""
    if not len(a) or not len(b):
        return []
    from scipy.optimize import linear_sum_assignment

    iou = _iou(a, b)
    rows, cols = linear_sum_assignment(-iou)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if iou[i, j] >= threshold]


def _median(boxes: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    m = np.median(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), axis=0)
    return (float(m[0]), float(m[1]), float(m[2]), float(m[3]))


def _moved(a: Sequence[float], b: Sequence[float]) -> bool:
    return any(abs(float(u) - float(v)) > MOVE_TOLERANCE for u, v in zip(a, b, strict=True))


def _assign(
    anns: Sequence[BoxAnnotation], current: pl.DataFrame, threshold: float
) -> tuple[list[dict[str, Region]], list[list[tuple[int, Region]]]]:
    """Per annotation: current annotation_id → its region; and the groups of new boxes
    (lists of (annotation index, region))."""
    ids = current["annotation_id"].to_list()
    cur = current.select("x", "y", "w", "h").to_numpy().astype(np.float64).reshape(-1, 4)
    matched: list[dict[str, Region]] = []
    groups: list[list[tuple[int, Region]]] = []
    for k, ann in enumerate(anns):
        mine: dict[str, Region] = {}
        rest: list[Region] = []
        for r in ann.regions:
            aid = r.annotation_id
            if aid is not None and aid in ids and aid not in mine:
                mine[aid] = r
            else:
                rest.append(r)
        free = [i for i, a in enumerate(ids) if a not in mine]
        rest_arr = np.asarray([r.box for r in rest], dtype=np.float64).reshape(-1, 4)
        new_regions = set(range(len(rest)))
        for i, j in _match(rest_arr, cur[free], threshold):
            mine[ids[free[j]]] = rest[i]
            new_regions.discard(i)
        matched.append(mine)
        new = [rest[i] for i in sorted(new_regions)]
        reps = np.asarray(
            [_median([r.box for _, r in g]) for g in groups], dtype=np.float64
        ).reshape(-1, 4)
        new_arr = np.asarray([r.box for r in new], dtype=np.float64).reshape(-1, 4)
        joined = set()
        for i, j in _match(new_arr, reps, threshold):
            groups[j].append((k, new[i]))
            joined.add(i)
        groups.extend([[(k, r)] for i, r in enumerate(new) if i not in joined])
    return matched, groups


def _majority_label(labels: Sequence[str], classes: Sequence[str]) -> tuple[str, bool]:
    """(most chosen class, whether it is a strict winner); ties go to class order."""
    counts = Counter(labels)
    best = max(counts.values())
    winners = [c for c in classes if counts.get(c) == best]
    return winners[0], len(winners) == 1


def decide_boxes(
    annotations: Sequence[BoxAnnotation],
    boxes: pl.DataFrame,
    classes: Sequence[str],
    applied: Mapping[str, str] | None = None,
    *,
    iou_threshold: float = 0.5,
) -> BoxDecisions:
    """Box edits by majority of each image's annotations, and the annotators' agreement.

    Parameters
    ----------
    annotations : sequence of BoxAnnotation
        Readable annotations (skipped ones left out).
    boxes : polars.DataFrame
        The dataset's current boxes (``annotation_id, sample_id, label, x, y, w, h``).
    classes : sequence of str
        The dataset's classes (their order breaks label ties of added boxes).
    applied : mapping, optional
        The journal: Label Studio annotation id (str) → ``updated_at`` applied before. An
        image none of whose annotations is new or changed is skipped.
    iou_threshold : float
        Least IoU for two boxes to be the same object.

    Examples
    --------
    >>> from datacentric.integrations.labelstudio.boxes import Region
    >>> cur = pl.DataFrame({"annotation_id": ["1"], "sample_id": ["s"], "label": ["cat"],
    ...                     "x": [0.0], "y": [0.0], "w": [10.0], "h": [10.0]})
    >>> moved = Region("b0", "1", "dog", 1.0, 0.0, 10.0, 10.0)
    >>> drawn = Region("n1", None, "cat", 30.0, 30.0, 5.0, 5.0)
    >>> a = BoxAnnotation(7, 70, "s", "ann@x", "t", (moved, drawn))
    >>> d = decide_boxes([a], cur, ["cat", "dog"])
    >>> d.edits.select("edit", "annotation_id", "label", "x").rows()
    [('move', '1', 'cat', 1.0), ('relabel', '1', 'dog', 1.0), ('add', None, 'cat', 30.0)]
    """
    done = applied or {}
    by_sample: dict[str, list[BoxAnnotation]] = {}
    for a in annotations:
        by_sample.setdefault(a.sample_id, []).append(a)
    edits: list[dict[str, Any]] = []
    ties: list[dict[str, Any]] = []
    newly: dict[str, str] = {}
    n_done = 0
    pair_stats: dict[tuple[str, str], list[Any]] = {}
    n_images = 0
    wanted = boxes.filter(pl.col("sample_id").is_in(list(by_sample)))
    per_image = {str(k[0]): v for k, v in wanted.partition_by("sample_id", as_dict=True).items()}
    empty = boxes.clear()
    for sid, anns in by_sample.items():
        if all(done.get(str(a.ls_annotation_id)) == a.updated_at for a in anns):
            n_done += 1
            continue
        newly |= {str(a.ls_annotation_id): a.updated_at for a in anns}
        current = per_image.get(sid, empty)
        matched, groups = _assign(anns, current, iou_threshold)
        n = len(anns)

        def row(
            edit: str,
            aid: str | None,
            old: str | None,
            label: str,
            box: Sequence[float],
            who: Sequence[int],
            anns: Sequence[BoxAnnotation] = anns,
        ) -> dict[str, Any]:
            return _edit_row(anns, edit, aid, old, label, box, who)

        for aid, label, *box in current.select(
            "annotation_id", "label", "x", "y", "w", "h"
        ).iter_rows():
            keep = [k for k in range(n) if aid in matched[k]]
            drop = [k for k in range(n) if aid not in matched[k]]
            if 2 * len(drop) > n:
                edits.append(row("remove", aid, label, label, box, drop))
                continue
            if 2 * len(keep) == n:
                ties.append(
                    {"sample_id": sid, "annotation_id": aid, "kept": len(keep), "n_annotations": n}
                )
                continue
            moved = [k for k in keep if _moved(matched[k][aid].box, box)]
            new_box = box
            if 2 * len(moved) > len(keep):
                new_box = list(_median([matched[k][aid].box for k in moved]))
                edits.append(row("move", aid, label, label, new_box, moved))
            votes = [matched[k][aid].label for k in keep]
            top, strict = _majority_label(votes, classes)
            if strict and top != label and 2 * votes.count(top) > len(keep):
                who = [k for k in keep if matched[k][aid].label == top]
                edits.append(row("relabel", aid, label, top, new_box, who))
        for g in groups:
            if 2 * len(g) > n:
                top, _ = _majority_label([r.label for _, r in g], classes)
                edits.append(
                    row("add", None, None, top, _median([r.box for _, r in g]), [k for k, _ in g])
                )
        if n >= 2:
            n_images += 1
            _pairs(anns, matched, groups, current["annotation_id"].to_list(), pair_stats)
    return BoxDecisions(
        pl.DataFrame(edits, schema=EDIT_SCHEMA),
        pl.DataFrame(ties, schema=_TIE_SCHEMA),
        _agreement(pair_stats, n_images),
        n_done,
        newly,
    )


def _edit_row(
    anns: Sequence[BoxAnnotation],
    edit: str,
    aid: str | None,
    old: str | None,
    label: str,
    box: Sequence[float],
    who: Sequence[int],
) -> dict[str, Any]:
    return {
        "sample_id": anns[0].sample_id,
        "task_id": anns[0].task_id,
        "edit": edit,
        "annotation_id": aid,
        "old_label": old,
        "label": label,
        "x": box[0],
        "y": box[1],
        "w": box[2],
        "h": box[3],
        "votes": len(who),
        "n_annotations": len(anns),
        "annotators": ",".join(sorted({anns[k].annotator for k in who})),
        "ls_annotation_ids": ",".join(str(anns[k].ls_annotation_id) for k in who),
    }


def _pairs(
    anns: Sequence[BoxAnnotation],
    matched: list[dict[str, Region]],
    groups: list[list[tuple[int, Region]]],
    ids: list[str],
    stats: dict[tuple[str, str], list[Any]],
) -> None:
    """Add this image's matched objects of every annotator pair to ``stats``:
    pair → [ious, same-class flags, unmatched count]."""
    for i, j in combinations(range(len(anns)), 2):
        key = tuple(sorted((anns[i].annotator, anns[j].annotator)))
        s = stats.setdefault((key[0], key[1]), [[], [], 0])
        objects: list[tuple[Region | None, Region | None]] = [
            (matched[i].get(a), matched[j].get(a)) for a in ids
        ]
        for g in groups:
            members = dict(g)
            objects.append((members.get(i), members.get(j)))
        for a, b in objects:
            if a is not None and b is not None:
                s[0].append(float(_iou(np.asarray(a.box), np.asarray(b.box))[0, 0]))
                s[1].append(a.label == b.label)
            elif a is not None or b is not None:
                s[2] += 1


def _agreement(stats: dict[tuple[str, str], list[Any]], n_images: int) -> dict[str, Any]:
    ious = [v for s in stats.values() for v in s[0]]
    same = [v for s in stats.values() for v in s[1]]
    pairs = [
        {
            "annotator_a": a,
            "annotator_b": b,
            "n_matched": len(s[0]),
            "n_unmatched": s[2],
            "mean_iou": float(np.mean(s[0])) if s[0] else None,
            "class_agreement": float(np.mean(s[1])) if s[1] else None,
        }
        for (a, b), s in sorted(stats.items())
    ]
    return {
        "n_images": n_images,
        "n_matched": len(ious),
        "n_unmatched": sum(s[2] for s in stats.values()),
        "mean_iou": float(np.mean(ious)) if ious else None,
        "class_agreement": float(np.mean(same)) if same else None,
        "pairs": pairs,
    }
