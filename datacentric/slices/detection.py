"""Detection metrics by slice: COCO mAP through ``faster-coco-eval``, bootstrap over images.

``detection_metrics`` evaluates predicted boxes against the truth once (mAP@0.5,
mAP@[.5:.95], per-class AP, recall at a fixed precision, overall, by COCO area and by
class). ``evaluate_detection`` does it for a dataset, overall and per slice of image
metadata and of box attributes, with percentile intervals from resampling images.

The numbers are COCO's: the evaluator is ``faster_coco_eval.COCOeval_faster`` on
in-memory COCO dicts built from the polars tables (equal to ``pycocotools`` to 1e-6,
tested in ``tests/slices/test_detection.py``). A true box is a crowd region when the
box table has ``iscrowd = 1`` (COCO imports keep it), the area of a true box is ``w * h``,
and at most 100 detections per image count.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from numbers import Integral, Real
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, SequenceOf, invalid_parameter, validate_call
from datacentric.dataset import Dataset, read_predicted_boxes
from datacentric.exceptions import SchemaError
from datacentric.slices.evaluate import SlicesArg, resolve_slices
from datacentric.slices.metrics import METRICS_SCHEMA, OVERALL
from datacentric.slices.result import SliceMetrics
from datacentric.slices.stats import percentile_interval

__all__ = [
    "AREAS",
    "detection_metrics",
    "evaluate_detection",
]

log = logging.getLogger(__name__)

#: COCO's area ranges (pixels², of the true box; ``[lo, hi)``), in the evaluator's order.
AREAS: dict[str, tuple[float, float]] = {
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
_BOX = ("x", "y", "w", "h")
_GT_FIX = "Pass a box table like ds.annotations: sample_id, label, x, y, w, h (pixels)."
_PRED_FIX = (
    "A predicted-boxes table has one row per box: sample_id, label, x, y, w, h (pixels) and "
    "score, as a polars DataFrame or a .parquet file."
)


def _precision_level_name(level: float) -> str:
    """``recall@p90`` for 0.9."""
    return f"recall@p{round(level * 100):g}"


# ---------------------------------------------------------------------------- COCO inputs
class _CocoInputs:
    """The truth and predictions as arrays grouped by image, to build COCO dicts (also for
    resampled image lists) without touching polars again."""

    def __init__(
        self,
        gt: pl.DataFrame,
        pred: pl.DataFrame,
        classes: Sequence[str],
        image_ids: Sequence[str],
    ) -> None:
        self.classes = list(classes)
        self.n_images = len(image_ids)
        index = pl.DataFrame(
            {"sample_id": pl.Series(list(image_ids), dtype=pl.Utf8)}
        ).with_row_index("__img")
        cat = pl.col("label").cast(pl.Enum(self.classes)).to_physical().cast(pl.Int64)

        def grouped(frame: pl.DataFrame, extra: list[str]) -> tuple[np.ndarray, ...]:
            f = (
                frame.join(index, on="sample_id", how="inner")
                .with_columns(cat.alias("__cat"))
                .sort("__img", maintain_order=True)
            )
            img = f["__img"].to_numpy().astype(np.int64)
            counts = np.bincount(img, minlength=self.n_images)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            cols = tuple(f[c].to_numpy().astype(np.float64) for c in [*_BOX, *extra])
            return (starts, counts, f["__cat"].to_numpy().astype(np.int64), *cols)

        if "iscrowd" not in gt.columns:
            gt = gt.with_columns(iscrowd=pl.lit(0))
        gt = gt.with_columns(pl.col("iscrowd").cast(pl.Int64, strict=False).fill_null(0))
        self.gt = grouped(gt, ["iscrowd"])
        self.dt = grouped(pred, ["score"])

    @staticmethod
    def _gather(
        groups: tuple[np.ndarray, ...], images: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        starts, counts = groups[0], groups[1]
        sel = counts[images]
        total = int(sel.sum())
        offsets = np.cumsum(sel) - sel
        rows = np.repeat(starts[images] - offsets, sel) + np.arange(total)
        new_img = np.repeat(np.arange(len(images)), sel)
        return rows, new_img, [g[rows] for g in groups[2:]]

    def coco(self, images: np.ndarray | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """COCO ground-truth dict and result list for ``images`` (positions into the image
        list; repeats allowed — each occurrence becomes its own COCO image)."""
        if images is None:
            images = np.arange(self.n_images)
        _, g_img, (g_cat, gx, gy, gw, gh, gc) = self._gather(self.gt, images)
        _, d_img, (d_cat, dx, dy, dw, dh, ds) = self._gather(self.dt, images)
        gt = {
            "images": [{"id": i + 1} for i in range(len(images))],
            "categories": [{"id": k + 1, "name": c} for k, c in enumerate(self.classes)],
            "annotations": [
                {
                    "id": j + 1,
                    "image_id": i + 1,
                    "category_id": k + 1,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(c),
                }
                for j, (i, k, x, y, w, h, c) in enumerate(
                    zip(
                        g_img.tolist(),
                        g_cat.tolist(),
                        gx.tolist(),
                        gy.tolist(),
                        gw.tolist(),
                        gh.tolist(),
                        gc.tolist(),
                        strict=True,
                    )
                )
            ],
        }
        dt = [
            {"image_id": i + 1, "category_id": k + 1, "bbox": [x, y, w, h], "score": s}
            for i, k, x, y, w, h, s in zip(
                d_img.tolist(),
                d_cat.tolist(),
                dx.tolist(),
                dy.tolist(),
                dw.tolist(),
                dh.tolist(),
                ds.tolist(),
                strict=True,
            )
        ]
        return gt, dt

    def support(self, images: np.ndarray | None = None) -> tuple[int, np.ndarray, np.ndarray]:
        """True boxes in ``images``: in all, per class, per area range."""
        if images is None:
            images = np.arange(self.n_images)
        _, _, (cat, _, _, w, h, crowd) = self._gather(self.gt, images)
        cat, area = cat[crowd == 0], (w * h)[crowd == 0]  # crowd regions are not objects
        per_class = np.bincount(cat, minlength=len(self.classes))
        per_area = np.array([((area >= lo) & (area < hi)).sum() for lo, hi in AREAS.values()])
        return len(cat), per_class, per_area


def _coco_precision(gt: dict[str, Any], dt: list[dict[str, Any]]) -> np.ndarray:
    """COCO's interpolated precision, shape (iou thresholds, recall thresholds, classes,
    areas [all, small, medium, large]) at 100 detections per image."""
    from faster_coco_eval import COCO, COCOeval_faster

    def quiet(*_: Any, **__: Any) -> None:
        return None

    coco_gt = COCO(gt, print_function=quiet)
    coco_dt = coco_gt.loadRes(dt)
    ev = COCOeval_faster(coco_gt, coco_dt, iouType="bbox", print_function=quiet)
    ev.params.imgIds = [im["id"] for im in gt["images"]]
    ev.params.catIds = [c["id"] for c in gt["categories"]]
    ev.evaluate()
    ev.accumulate()
    precision = np.asarray(ev.eval["precision"], dtype=np.float64)
    return precision[..., -1]  # maxDets = 100


_Values = dict[tuple[str, str], float]


def _mean_valid(p: np.ndarray) -> float:
    v = p[p > -1]
    return float(v.mean()) if v.size else math.nan


def _recall_at(p: np.ndarray, level: float) -> float:
    """Mean over classes (with truth) of the largest COCO recall threshold whose
    interpolated precision is at least ``level``; ``p`` is (recall thresholds, classes)."""
    rec = np.linspace(0.0, 1.0, p.shape[0])
    out = []
    for k in range(p.shape[1]):
        col = p[:, k]
        if not (col > -1).any():
            continue
        ok = col >= level
        out.append(float(rec[ok].max()) if ok.any() else 0.0)
    return float(np.mean(out)) if out else math.nan


def _summaries(
    precision: np.ndarray, classes: Sequence[str], level: float
) -> dict[tuple[str, str], float]:
    """``(slice key, metric) -> value`` from one precision array; slice keys ``""``
    (everything), ``"area=<a>"`` and ``"class=<c>"``."""
    rname = _precision_level_name(level)
    out: dict[tuple[str, str], float] = {}
    for a, area in enumerate(["", *(f"area={n}" for n in AREAS)]):
        p = precision[:, :, :, a]
        out[(area, "map")] = _mean_valid(p)
        out[(area, "map50")] = _mean_valid(p[0])
        out[(area, rname)] = _recall_at(p[0], level)
    p = precision[:, :, :, 0]
    for k, c in enumerate(classes):
        key = f"class={c}"
        out[(key, "map")] = _mean_valid(p[:, :, k])
        out[(key, "map50")] = _mean_valid(p[0, :, k])
        out[(key, rname)] = _recall_at(p[0, :, k : k + 1], level)
        out[("", f"ap[{c}]")] = out[(key, "map")]
        out[("", f"ap50[{c}]")] = out[(key, "map50")]
    return out


@validate_call(
    {
        "gt_boxes": [pl.DataFrame],
        "pred_boxes": [pl.DataFrame],
        "classes": [SequenceOf(str)],
        "image_ids": [SequenceOf(str)],
        "precision": [Interval(Real, 0, 1, closed="right")],
    }
)
def detection_metrics(
    gt_boxes: pl.DataFrame,
    pred_boxes: pl.DataFrame,
    classes: Sequence[str],
    image_ids: Sequence[str],
    *,
    precision: float = 0.9,
) -> dict[str, float]:
    """COCO box metrics of predicted boxes against the truth, on the given images.

    Parameters
    ----------
    gt_boxes : polars.DataFrame
        The truth: ``sample_id, label, x, y, w, h`` (pixels; other columns ignored).
    pred_boxes : polars.DataFrame
        Predictions: ``sample_id, label, x, y, w, h, score``.
    classes : sequence of str
        Every class (COCO categories, in this order).
    image_ids : sequence of str
        The evaluated images; boxes of other images are ignored, an image without boxes
        still counts (its predictions are false positives).
    precision : float
        The precision at which ``recall@p<precision>`` is read.

    Returns
    -------
    dict
        ``map`` (mAP@[.5:.95]), ``map50`` (mAP@0.5), ``recall@p90`` (mean over classes of
        the largest recall reached at precision ≥ 0.9, IoU 0.5, from COCO's interpolated
        precision at 101 recall points), ``ap[<class>]`` and ``ap50[<class>]``, and the
        same three for each COCO area range as ``area=<small|medium|large>/<metric>``.
        Classes without a true box are left out of the means (NaN when none has one).

    Examples
    --------
    >>> gt = pl.DataFrame({"sample_id": ["a", "a", "b"], "label": ["cat", "dog", "cat"],
    ...     "x": [0.0, 50.0, 10.0], "y": [0.0, 50.0, 10.0], "w": [40.0, 30.0, 20.0],
    ...     "h": [40.0, 30.0, 20.0]})
    >>> pred = gt.with_columns(score=pl.lit(0.9)).head(2)   # misses the cat of b
    >>> m = detection_metrics(gt, pred, ["cat", "dog"], ["a", "b"])
    >>> m["map50"], m["ap50[cat]"], m["ap50[dog]"], m["recall@p90"]
    (0.7524752475247525, 0.504950495049505, 1.0, 0.75)
    """
    from datacentric._read import check_frame

    cols = {"sample_id": "string", "label": "string", **dict.fromkeys(_BOX, "number")}
    check_frame(gt_boxes, cols, "gt_boxes", what="true boxes", fix=_GT_FIX)
    check_frame(pred_boxes, {**cols, "score": "number"}, "pred_boxes", what="predicted boxes",
                fix=_PRED_FIX)  # fmt: skip
    inputs = _CocoInputs(gt_boxes, pred_boxes, classes, image_ids)
    values = _summaries(_coco_precision(*inputs.coco()), inputs.classes, float(precision))
    return {
        (f"{k}/{m}" if k else m): v for (k, m), v in values.items() if not k.startswith("class=")
    }


# ---------------------------------------------------------------------------- by slice


def detection_split(
    ds: Dataset, slices: SlicesArg, split: str | None, owner: str
) -> tuple[pl.DataFrame, pl.DataFrame, list[Any]]:
    """The truth, the manifest rows of ``split`` and the resolved image slices of a
    detection evaluation (``owner`` names the caller in errors)."""
    truth = ds.annotations
    if ds.task != "detection" or truth is None:
        raise invalid_parameter(
            owner,
            "ds",
            f"a {ds.task} dataset",
            "a detection dataset (with boxes)",
            fix="Use datacentric.slices.evaluate for classification predictions.",
        )
    m = ds.manifest
    if split is not None:
        splits = sorted(set(m["split"].drop_nulls().to_list()))
        if split not in splits:
            raise invalid_parameter(
                owner,
                "split",
                split,
                f"a split of the dataset ({', '.join(map(repr, splits))}) or None",
                fix=f"The dataset's split {split!r} has no rows: pass one that has, or "
                "split=None to use every image.",
            )
        m = m.filter(pl.col("split") == split)
    metadata = [c for c in ds.metadata_columns if c not in ("annotator", "width", "height")]
    resolved = resolve_slices(slices, m, metadata)
    names = [s.name for s in resolved]
    dup = sorted({x for x in names if names.count(x) > 1} | ({OVERALL} & set(names)))
    if dup:
        raise SchemaError(
            f"slice names must be unique and not {OVERALL!r}; received duplicates {dup}."
        )
    return truth, m, resolved


def _row(
    slice_name: str,
    n: int,
    metric: str,
    support: int,
    value: float,
    draws: list[float] | None,
    overall: float,
    min_n: int,
) -> dict[str, Any]:
    lo, hi = percentile_interval(np.asarray(draws)) if draws else (math.nan, math.nan)
    return {
        "slice": slice_name,
        "n": n,
        "metric": metric,
        "support": support,
        "value": value,
        "ci_low": lo,
        "ci_high": hi,
        "delta_vs_overall": value - overall,
        "p_value": math.nan,
        "low_support": n < min_n,
    }


@validate_call(
    {
        "ds": [Dataset],
        "split": [str, None],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "n_boot": [Interval(Integral, 0, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "box_slices": [bool],
        "precision": [Interval(Real, 0, 1, closed="right")],
        "model": [str, None],
    }
)
def evaluate_detection(
    ds: Dataset,
    pred_boxes: Any,
    slices: SlicesArg = None,
    *,
    split: str | None = "test",
    min_n: int = 30,
    n_boot: int = 50,
    seed: int = 0,
    precision: float = 0.9,
    box_slices: bool = True,
    model: str | None = None,
) -> SliceMetrics:
    """mAP@[.5:.95], mAP@0.5, recall at a precision and per-class AP of a detection
    dataset, overall and per slice, with bootstrap intervals over images.

    Parameters
    ----------
    ds : Dataset
        A detection dataset (``ds.task == "detection"``); its boxes are the truth.
    pred_boxes : polars.DataFrame or path
        ``sample_id, label, x, y, w, h, score``, any finite score (read by
        :func:`~datacentric.dataset.read_predicted_boxes`); boxes of images outside the
        split are ignored, an image without predicted boxes is an image where nothing was
        detected.
    slices : path, YAML text, list of Slice/SliceSpec, or None
        Slices over the manifest (image metadata), as for
        :func:`datacentric.slices.evaluate`. ``None``: one slice per value of each
        metadata column except ``width``/``height``.
    split : str or None
        Evaluate only the images of this split (default ``"test"``); ``None`` for all.
    min_n : int
        Slices of fewer images are marked ``low_support``.
    n_boot : int
        Bootstrap resamples of the images (0: no intervals). Each resample is one COCO
        evaluation of the slice's images, so the cost is about ``n_boot`` times one
        evaluation of the split per slicing column (one evaluation of 1,000 images takes
        about 0.25 s, of 10,000 about 3 s; see docs/detection.md).
    seed : int
        Seed of the resampling.
    precision : float
        The precision at which ``recall@p<precision>`` is read (default 0.9).
    box_slices : bool
        Add the box-attribute slices ``box_area=small|medium|large`` (COCO area ranges of
        the true box) and ``box_class=<c>`` (boxes of one class; every image kept).
    model : str, optional
        A name for the model, stored in ``meta``.

    Returns
    -------
    SliceMetrics
        The table of :func:`datacentric.slices.evaluate` (``slice, n, metric, support,
        value, ci_low, ci_high, delta_vs_overall, p_value, low_support``) with metrics
        ``map``, ``map50``, ``recall@p90`` on every slice, and ``ap[<c>]``, ``ap50[<c>]``
        on image slices. ``n`` counts images, ``support`` true boxes; ``p_value`` is
        null (no test for detection metrics yet).

    Examples
    --------
    >>> ds = Dataset(pl.DataFrame({"sample_id": ["a", "b"], "image": ["a.png", "b.png"],
    ...     "label": [None, None], "split": ["test", "test"], "camera": ["x", "y"]}),
    ...     ["cat"], annotations=pl.DataFrame({"annotation_id": ["1", "2"],
    ...     "sample_id": ["a", "b"], "label": ["cat", "cat"], "x": [0.0, 0.0],
    ...     "y": [0.0, 0.0], "w": [40.0, 40.0], "h": [40.0, 40.0]}))
    >>> pred = ds.annotations.head(1).with_columns(score=pl.lit(0.8))  # b's cat missed
    >>> m = evaluate_detection(ds, pred, n_boot=0, min_n=1, box_slices=False)
    >>> m.metric("map50")[["slice", "value"]].rows()
    [('camera=y', 0.0), ('overall', 0.504950495049505), ('camera=x', 1.0)]
    """
    level = float(precision)
    truth, m, resolved = detection_split(ds, slices, split, "evaluate_detection")
    preds = read_predicted_boxes(pred_boxes, ds, unit_scores=False).drop("prediction_id")
    ids = m["sample_id"].to_list()
    inputs = _CocoInputs(truth, preds, ds.classes, ids)
    rng = np.random.default_rng(seed)
    classes = ds.classes

    def run(images: np.ndarray) -> tuple[dict[tuple[str, str], float], list[_Values]]:
        """Values on ``images`` and ``n_boot`` resampled values."""
        if not len(images):
            return {(k, metric): math.nan for (k, metric) in empty_keys}, []
        value = _summaries(_coco_precision(*inputs.coco(images)), classes, level)
        boots = [
            _summaries(
                _coco_precision(*inputs.coco(rng.choice(images, size=len(images)))),
                classes,
                level,
            )
            for _ in range(n_boot if len(images) else 0)
        ]
        return value, boots

    def emit(
        rows: list[dict[str, Any]],
        name: str,
        key: str,
        n: int,
        support: dict[str, int],
        value: _Values,
        boots: list[_Values],
        ref: dict[str, float],
    ) -> None:
        for (k, metric), v in value.items():
            if k != key or (math.isnan(v) and metric.startswith("ap")):
                continue
            draws = [b[(k, metric)] for b in boots]
            rows.append(
                _row(
                    name,
                    n,
                    metric,
                    support.get(metric, support[""]),
                    v,
                    draws,
                    ref.get(metric, v),
                    min_n,
                )
            )

    def supports(images: np.ndarray) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        total, per_class, per_area = inputs.support(images)
        s = {"": total}
        for k, c in enumerate(classes):
            s[f"ap[{c}]"] = s[f"ap50[{c}]"] = int(per_class[k])
        return s, per_class, per_area

    empty_keys = [("", "map"), ("", "map50"), ("", _precision_level_name(level))]
    all_images = np.arange(len(ids))
    value, boots = run(all_images)
    sup, per_class, per_area = supports(all_images)
    ref = {metric: v for (k, metric), v in value.items() if k == ""}
    rows: list[dict[str, Any]] = []
    emit(rows, OVERALL, "", len(ids), sup, value, boots, ref)
    if box_slices:
        for a, area in enumerate(AREAS):
            if per_area[a]:
                emit(rows, f"box_area={area}", f"area={area}", len(ids),
                     {"": int(per_area[a])}, value, boots, ref)  # fmt: skip
        for k, c in enumerate(classes):
            if per_class[k]:
                emit(rows, f"box_class={c}", f"class={c}", len(ids),
                     {"": int(per_class[k])}, value, boots, ref)  # fmt: skip
    for s in resolved:
        mask = s.mask(m).fill_null(False).to_numpy()
        images = np.flatnonzero(mask)
        value_s, boots_s = run(images)
        sup_s, _, _ = supports(images)
        emit(rows, s.name, "", len(images), sup_s, value_s, boots_s, ref)
    table = pl.DataFrame(rows, schema=METRICS_SCHEMA).with_columns(
        pl.col(pl.Float64).fill_nan(None)
    )
    meta = {
        "task": "detection",
        "root": str(ds.root) if ds.root else None,
        "version": ds.version,
        "split": split,
        "n_rows": len(ids),
        "n_boxes": sup[""],
        "n_pred_boxes": preds.filter(pl.col("sample_id").is_in(ids)).height,
        "classes": classes,
        "min_n": min_n,
        "n_boot": n_boot,
        "precision": level,
        "model": model,
        "slices": {s.name: s.definition for s in resolved},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return SliceMetrics(table, meta)
