"""ObjectLab box scores (``cleanlab.object_detection``) shared by the box finders.

The given boxes and the predicted boxes of a :class:`ScanContext` are put in cleanlab's
format once per context (memoised): per image, ``{"bboxes": (L, 4) x1 y1 x2 y2,
"labels": (L,)}`` and one ``(M_k, 5)`` array ``x1 y1 x2 y2 score`` per class. The three
box scores (overlooked: per predicted box; badly located and swapped: per given box) and
the per-image label quality score are computed with cleanlab's defaults. A box is flagged
when its score is at most the finder's ``threshold``, or with ``threshold=None`` by
cleanlab's own rule (``find_label_issues``): at most ``factor`` times the (scaled) average
precision of its class over IoU 0.5..0.95.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl

from datacentric._validation import Interval
from datacentric.issues.base import IssueFinder
from datacentric.issues.boxes import box_iou, given_boxes, xyxy
from datacentric.issues.context import ScanContext

__all__ = [
    "ConfidentObjectLabFinder",
    "ObjectLabFinder",
    "ObjectLabScores",
    "class_ap",
    "confident_scores",
    "flag",
    "fmt_box",
    "objectlab_scores",
    "suggested_box_columns",
    "suggested_scores",
]


class ObjectLabFinder(IssueFinder):
    """What the three ObjectLab finders share: their inputs and their ``threshold`` (a box
    is flagged when its score is at most it; ``None``: cleanlab's own rule)."""

    requires = frozenset({"boxes", "predicted_boxes"})
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "threshold": [Interval(Real, 0, 1, closed="both"), None]
    }

    def __init__(self, threshold: float | None = 0.5) -> None:
        self.threshold = threshold


class ConfidentObjectLabFinder(ObjectLabFinder):
    """An ObjectLab finder that relies on *confident* predicted boxes (overlooked, swapped):
    ``confident_score`` is cleanlab's ``high_probability_threshold``, the detector
    confidence from which a predicted box counts as an object (``None``: cleanlab's 0.95).
    A detector whose scores are not calibrated that high (most heatmap detectors) finds
    almost nothing at 0.95; set it to the score at which the detector is reliable."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "threshold": [Interval(Real, 0, 1, closed="both"), None],
        "confident_score": [Interval(Real, 0, 1, closed="neither"), None],
    }

    def __init__(self, threshold: float | None = 0.5, confident_score: float | None = None) -> None:
        super().__init__(threshold)
        self.confident_score = confident_score


@dataclass(frozen=True)
class ObjectLabScores:
    """Scores in dataset box order (given boxes) and predicted-box order (predictions)."""

    #: ``annotation_id, sample_id, label`` of the given boxes, the order of the box scores
    given: pl.DataFrame
    #: the predicted boxes (ScanContext.predicted_boxes), the order of ``overlooked``
    predicted: pl.DataFrame
    overlooked: np.ndarray
    badloc: np.ndarray
    swap: np.ndarray
    #: cleanlab's inputs, kept for :func:`class_ap` (the threshold=None rule)
    cl_labels: list[dict[str, Any]]
    cl_predictions: list[list[np.ndarray]]
    #: sample_id → cleanlab's label quality score of the image (lower is worse)
    image_quality: dict[str, float]
    #: for each given box: the predicted box (row of ``predicted``) overlapping it most, or
    #: -1 when none overlaps it
    given_match: np.ndarray
    #: per image (cleanlab's order): the rows of the given / predicted boxes in it
    given_rows: list[np.ndarray] = field(default_factory=list)
    pred_rows: list[np.ndarray] = field(default_factory=list)


def objectlab_scores(ctx: ScanContext) -> ObjectLabScores:
    """The ObjectLab scores of ``ctx`` (computed once per context)."""
    return ctx.memo(("objectlab",), lambda: _compute(ctx))


def _compute(ctx: ScanContext) -> ObjectLabScores:
    from cleanlab.internal.constants import ALPHA
    from cleanlab.object_detection import rank

    ds = ctx.dataset
    pred = ctx.predicted_boxes
    assert pred is not None  # the finders require predicted_boxes
    classes = ds.classes
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    ann = given_boxes(ds).select("annotation_id", "sample_id", "label", "x", "y", "w", "h")
    ann = ann.filter(pl.col("sample_id").is_in(ds.manifest["sample_id"].implode()))
    ann_by = ann.with_row_index("_r").partition_by("sample_id", as_dict=True, include_key=True)
    pred = pred.with_row_index("_r")
    pred_by = pred.partition_by("sample_id", as_dict=True, include_key=True)
    labels: list[dict[str, Any]] = []
    predictions: list[list[np.ndarray]] = []
    given_rows: list[np.ndarray] = []
    pred_rows: list[np.ndarray] = []
    empty_boxes = pl.DataFrame(
        schema={"_r": pl.UInt32, "label": pl.Utf8, "x": pl.Float64, "y": pl.Float64,
                "w": pl.Float64, "h": pl.Float64, "score": pl.Float64}
    )  # fmt: skip
    for sid in ds.sample_ids:
        a = ann_by.get((sid,), empty_boxes)
        given_rows.append(a["_r"].to_numpy())
        labels.append(
            {
                "bboxes": xyxy(a).astype(np.float32),
                "labels": np.array([index[c] for c in a["label"].to_list()], dtype=np.int64),
            }
        )
        p = pred_by.get((sid,), empty_boxes)
        per_class, rows = [], []
        cls_idx = np.array([index[c] for c in p["label"].to_list()], dtype=np.int64)
        boxes = np.concatenate([xyxy(p), p["score"].to_numpy().reshape(-1, 1)], axis=1)
        r = p["_r"].to_numpy()
        for c in range(k):
            sel = cls_idx == c
            per_class.append(boxes[sel].astype(np.float32).reshape(-1, 5))
            rows.append(r[sel])
        predictions.append(per_class)
        pred_rows.append(np.concatenate(rows).astype(np.int64))
    aux = rank._get_valid_inputs_for_compute_scores(ALPHA, labels, predictions)
    over = rank.compute_overlooked_box_scores(auxiliary_inputs=aux)
    badloc = rank.compute_badloc_box_scores(auxiliary_inputs=aux)
    swap = rank.compute_swap_box_scores(auxiliary_inputs=aux)
    quality = rank.get_label_quality_scores(labels, predictions, verbose=False)
    n_given, n_pred = ann.height, pred.height
    out_over = np.full(n_pred, np.nan)
    out_badloc = np.full(n_given, np.nan)
    out_swap = np.full(n_given, np.nan)
    match = np.full(n_given, -1, dtype=np.int64)
    pred_xyxy = xyxy(pred)
    pred_score = pred["score"].to_numpy().astype(np.float64)
    for i in range(len(labels)):
        g, pr = given_rows[i], pred_rows[i]
        if len(pr):
            out_over[pr] = np.asarray(over[i], dtype=np.float64)[: len(pr)]
        if len(g):
            out_badloc[g] = np.asarray(badloc[i], dtype=np.float64)[: len(g)]
            out_swap[g] = np.asarray(swap[i], dtype=np.float64)[: len(g)]
            if len(pr):
                match[g] = suggesting_box(labels[i]["bboxes"], pred_xyxy[pr], pred_score[pr], pr)
    return ObjectLabScores(
        given=ann.select("annotation_id", "sample_id", "label", "x", "y", "w", "h"),
        predicted=pred.drop("_r"),
        overlooked=out_over,
        badloc=out_badloc,
        swap=out_swap,
        cl_labels=labels,
        cl_predictions=predictions,
        image_quality=dict(
            zip(ds.sample_ids, np.asarray(quality, dtype=float).tolist(), strict=True)
        ),
        given_match=match,
        given_rows=given_rows,
        pred_rows=pred_rows,
    )


def suggesting_box(
    given: np.ndarray, predicted: np.ndarray, score: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Per given box, the row of the predicted box that suggests its fix: the one with the
    largest IoU x score, i.e. the detector's most confident box where the given box is.

    The plain largest IoU picks a detector's low-score candidates (a heatmap detector keeps
    dozens per image) over its confident box of the object, which a badly located box only
    partly overlaps. ``-1`` where no predicted box overlaps."""
    weight = box_iou(given, predicted) * score[None, :]
    best = weight.argmax(axis=1)
    return np.where(weight[np.arange(len(given)), best] > 0, rows[best], -1)


def confident_scores(
    ctx: ScanContext, kind: Literal["overlooked", "swap"], confident_score: float | None
) -> np.ndarray:
    """The overlooked or swap scores with cleanlab's ``high_probability_threshold`` (the
    detector confidence from which a predicted box counts as a confident object) set to
    ``confident_score``; ``None``: cleanlab's default (0.95), the shared scores. Computed
    once per context and value."""
    s = objectlab_scores(ctx)
    if confident_score is None:
        return s.overlooked if kind == "overlooked" else s.swap

    def compute() -> np.ndarray:
        from cleanlab.internal.constants import ALPHA
        from cleanlab.object_detection import rank

        aux = rank._get_valid_inputs_for_compute_scores(ALPHA, s.cl_labels, s.cl_predictions)
        fn = (
            rank.compute_overlooked_box_scores
            if kind == "overlooked"
            else rank.compute_swap_box_scores
        )
        per_image = fn(high_probability_threshold=float(confident_score), auxiliary_inputs=aux)
        rows = s.pred_rows if kind == "overlooked" else s.given_rows
        out = np.full(s.predicted.height if kind == "overlooked" else s.given.height, np.nan)
        for i, r in enumerate(rows):
            if len(r):
                out[r] = np.asarray(per_image[i], dtype=np.float64)[: len(r)]
        return out

    return ctx.memo(("objectlab", kind, float(confident_score)), compute)


def class_ap(ctx: ScanContext) -> dict[str, float]:
    """cleanlab's per-class threshold base (``_get_per_class_ap``: the scaled average
    precision over IoU 0.5..0.95), class name → value; computed once per context, and only
    when a finder uses ``threshold=None`` (it is more than half of the ObjectLab time)."""

    def compute() -> dict[str, float]:
        from cleanlab.object_detection.filter import _get_per_class_ap

        s = objectlab_scores(ctx)
        ap = _get_per_class_ap(s.cl_labels, s.cl_predictions)
        return {c: float(ap.get(i, 0.0)) for i, c in enumerate(ctx.dataset.classes)}

    return ctx.memo(("objectlab_ap",), compute)


def flag(
    ctx: ScanContext,
    scores: np.ndarray,
    labels: pl.Series,
    factor: float,
    threshold: float | None,
) -> np.ndarray:
    """Which boxes are issues: score at most ``threshold``; with ``threshold=None``
    cleanlab's rule, at most ``factor`` × :func:`class_ap` of the box's class (labels).
    NaN scores are not issues."""
    s = np.where(np.isnan(scores), 1.0, scores)
    if threshold is None:
        ap = class_ap(ctx)
        limit = np.array([ap[c] * factor for c in labels.to_list()], dtype=np.float64)
    else:
        limit = np.full_like(s, threshold)
    return np.asarray(s <= limit, dtype=bool)


def suggested_box_columns(boxes: pl.DataFrame, rows: np.ndarray) -> dict[str, list[Any]]:
    """``suggested_x, suggested_y, suggested_w, suggested_h``: the box of ``boxes`` at each
    row (null where the row is -1)."""
    out: dict[str, list[Any]] = {}
    for c in ("x", "y", "w", "h"):
        col = boxes[c].to_list()
        out[f"suggested_{c}"] = [col[r] if r >= 0 else None for r in rows.tolist()]
    return out


def suggested_scores(boxes: pl.DataFrame, rows: np.ndarray, keep: Any) -> list[float | None]:
    """The detector's confidence of the predicted box at each row that suggests a fix
    (``keep`` true), null elsewhere: what an automatic fix policy trusts."""
    col = boxes["score"].to_list()
    return [col[r] if k and r >= 0 else None for r, k in zip(rows.tolist(), keep, strict=True)]


def fmt_box(x: float, y: float, w: float, h: float) -> str:
    """``x, y, w, h`` rounded for a detail sentence."""
    return f"({x:.1f}, {y:.1f}, {w:.1f}, {h:.1f})"
