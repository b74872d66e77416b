"""Benchmark detection: box finders vs cleanlab's ObjectLab, scan time at 10k scenes, mAP by
slice vs pycocotools.

Run ``python benchmarks/bench_detection.py [--quick]``; writes
``benchmarks/results/detection.json`` and prints a summary.

**Predicted boxes** (parts 1 and 2) are made from the true objects of the detection demo
(its ground truth, overlooked objects included, planted duplicates left out) by
:func:`datacentric.testing.noisy_predicted_boxes`, seeded with the demo's seed, in two
settings (``NOISES``): ``default``, its defaults (each of x, y, w, h moved by N(0, 0.03 ×
box size), the true class, score U(0.96, 1.0); plus 10 % false positives: a random true
box's size, offset by 0.5–1 box size, another class, score U(0.05, 0.3)), and ``hard``
(jitter 0.08, scores U(0.6, 1.0), 30 % false positives with scores U(0.3, 0.8)). Part 2
uses ``default``. No detector is trained.

Part 1 — quality. The demo (``--scenes`` scenes, 1,000 by default; seeds 0, 1, 2), each
planted box problem (overlooked, badly located, swapped, duplicate): precision, recall and
AP of (a) ours, ``scan(ds, predicted_boxes=..., finders=[the four box finders])`` at
default thresholds, and (b) cleanlab called directly on the same predictions in its own
format: ``filter.find_label_issues(labels, predictions)`` (image flags),
``rank.get_label_quality_scores`` + ``rank.issues_from_scores`` (image ranking, default
threshold 0.1) and the per-box scores of ``rank.compute_{overlooked,badloc,swap}_box_scores``
flagged by cleanlab's own per-box rule (what ``find_label_issues`` applies before pooling:
score ≤ 0.8 × 0.25 × the class's AP over IoU 0.5..0.95). The matching rules are in the
JSON's ``definitions``. Both sides rank boxes by the same ObjectLab scores, so their
per-box AP is equal by construction (checked, and said so in the JSON); precision and
recall differ by the flagging rule only.

Part 2 — scan time on 10,000 scenes (``--quick``: 500): ``scan`` with every finder that
applies to a detection dataset without embeddings (the box finders and the image finders)
vs cleanlab's ``find_label_issues`` + ``get_label_quality_scores`` + the three box scores,
each in a fresh interpreter under the same limits (wall time, peak RSS).

Part 3 — mAP by slice vs pycocotools. ``evaluate_detection(ds, pred, n_boot=0)`` on the
demo's test split with a noisier detector (``bench_detection_metrics.noisy_predictions``:
10 % missed, N(0, 1.5) px jitter, 5 % swapped class, a false box per 5 images, scores
U(0.3, 1)); every row (image slices by camera and site, ``box_area``, ``box_class``) is
recomputed with ``pycocotools``' ``COCOeval`` on the full COCO dicts of the split, with
``params.imgIds`` the slice's images, the default ``areaRng`` for ``box_area`` and
``params.catIds = [c]`` for ``box_class``. Target: max |difference| ≤ 1e-6.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _harness import Benchmark, fmt, ok, print_table

SEEDS = (0, 1, 2)
SCENES = 1000
SCALE_SCENES = 10_000
MAP_SCENES = 1000
#: noisy_predicted_boxes' arguments: its defaults (written out), and a harder detector
NOISES: dict[str, dict[str, Any]] = {
    "default": {
        "jitter": 0.03,
        "score_range": (0.96, 1.0),
        "false_positive_rate": 0.1,
        "false_score_range": (0.05, 0.3),
    },
    "hard": {
        "jitter": 0.08,
        "score_range": (0.6, 1.0),
        "false_positive_rate": 0.3,
        "false_score_range": (0.3, 0.8),
    },
}
BOX_FINDERS = ["overlooked_box", "badly_located_box", "swapped_box", "duplicate_box"]
#: planted problem -> our finder, cleanlab's box score (None: no detector in cleanlab)
TYPES: dict[str, tuple[str, str | None]] = {
    "overlooked": ("overlooked_box", "overlooked"),
    "badly_located": ("badly_located_box", "badloc"),
    "swapped": ("swapped_box", "swap"),
    "duplicate": ("duplicate_box", None),
}
MATCH_IOU = 0.5
MAP_TOL = 1e-6


# --------------------------------------------------------------------------- inputs
def demo(
    root: Path, seed: int, n_scenes: int, noise: str = "default"
) -> tuple[Any, Any, pl.DataFrame]:
    """The demo dataset, its ground truth and the predicted boxes of ``NOISES[noise]``."""
    from datacentric.datasets import load_detection_demo, load_detection_ground_truth
    from datacentric.testing import noisy_predicted_boxes

    ds = load_detection_demo(root, seed=seed, n_scenes=n_scenes, commit=False)
    gt = load_detection_ground_truth(root)
    objects = gt.boxes.filter(pl.col("problem") != "duplicate").select(
        "sample_id",
        pl.col("true_label").alias("label"),
        *(pl.col(f"true_{c}").alias(c) for c in "xywh"),
    )
    pred = noisy_predicted_boxes(objects, classes=ds.classes, seed=seed, **NOISES[noise])
    return ds, gt, pred


def to_cleanlab(
    sample_ids: list[str], boxes: pl.DataFrame, pred: pl.DataFrame, classes: list[str]
) -> tuple[list[dict[str, Any]], list[list[np.ndarray]], list[np.ndarray], list[np.ndarray]]:
    """cleanlab's inputs, written here from the two tables (not datacentric's converter):
    per image ``{"bboxes": (L, 4) x1 y1 x2 y2, "labels": (L,)}`` and one ``(M_k, 5)`` array
    per class. Also, per image, the rows of ``boxes`` and of ``pred`` in cleanlab's box
    order (given boxes in table order; predicted boxes class by class)."""
    index = {c: i for i, c in enumerate(classes)}

    def grouped(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
        f = frame.with_row_index("_row").with_columns(
            _k=pl.col("label").replace_strict(index, return_dtype=pl.Int64),
            x2=pl.col("x") + pl.col("w"),
            y2=pl.col("y") + pl.col("h"),
        )
        return {k[0]: g for k, g in f.partition_by("sample_id", as_dict=True).items()}

    gb, pb = grouped(boxes), grouped(pred)
    labels, predictions, box_rows, pred_rows = [], [], [], []
    for sid in sample_ids:
        g = gb.get(sid)
        if g is None:
            labels.append({"bboxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, int)})
            box_rows.append(np.zeros(0, np.int64))
        else:
            xyxy = g.select("x", "y", "x2", "y2").to_numpy().astype(np.float32)
            labels.append({"bboxes": xyxy, "labels": g["_k"].to_numpy()})
            box_rows.append(g["_row"].to_numpy().astype(np.int64))
        p = pb.get(sid)
        per_class, rows = [], []
        for k in range(len(classes)):
            if p is None:
                per_class.append(np.zeros((0, 5), np.float32))
                continue
            q = p.filter(pl.col("_k") == k)
            per_class.append(q.select("x", "y", "x2", "y2", "score").to_numpy().astype(np.float32))
            rows.append(q["_row"].to_numpy().astype(np.int64))
        predictions.append(per_class)
        pred_rows.append(np.concatenate(rows) if rows else np.zeros(0, np.int64))
    return labels, predictions, box_rows, pred_rows


def scatter(per_image: list[np.ndarray], rows: list[np.ndarray], n: int) -> np.ndarray:
    """Per-image arrays of cleanlab (in its box order) back to one value per table row."""
    out = np.full(n, np.nan)
    for values, r in zip(per_image, rows, strict=True):
        if len(r):
            out[r] = np.asarray(values, dtype=np.float64)[: len(r)]
    return out


def iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a[i]`` and ``b[i]`` (x, y, w, h), row by row."""
    x1, y1 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


# --------------------------------------------------------------------------- scoring
def prf(flags: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    flags, truth = np.asarray(flags, bool), np.asarray(truth, bool)
    tp, fp, fn = (
        int((flags & truth).sum()),
        int((flags & ~truth).sum()),
        int((~flags & truth).sum()),
    )
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def ap(truth: np.ndarray, severity: np.ndarray) -> float | None:
    """sklearn's average precision of ranking by ``severity`` (higher = worse)."""
    from sklearn.metrics import average_precision_score

    truth = np.asarray(truth, bool)
    return round(float(average_precision_score(truth, severity)), 4) if truth.any() else None


def _overlooked_hits(pred: pl.DataFrame, gt: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each predicted box: the row (in ``gt``'s overlooked objects) of the removed
    object of its image it overlaps with IoU > MATCH_IOU, or -1; and that object table."""
    over = gt.filter(pl.col("problem") == "overlooked").with_row_index("_obj")
    j = (
        pred.with_row_index("_p")
        .select("_p", "sample_id", "x", "y", "w", "h")
        .join(over.select("_obj", "sample_id", *(f"true_{c}" for c in "xywh")), on="sample_id")
    )
    hit = np.full(pred.height, -1, dtype=np.int64)
    if j.height:
        iou = iou_pairs(
            j.select("x", "y", "w", "h").to_numpy(),
            j.select(*(f"true_{c}" for c in "xywh")).to_numpy(),
        )
        best = j.with_columns(iou=pl.Series(iou)).filter(pl.col("iou") > MATCH_IOU)
        best = best.sort("iou", descending=True).unique("_p", keep="first")
        hit[best["_p"].to_numpy()] = best["_obj"].to_numpy()
    return hit, over


def score_type(
    kind: str,
    units: pl.DataFrame,
    flags: np.ndarray,
    severity: np.ndarray,
    truth: np.ndarray,
    images_true: set[str],
    n_objects: int | None = None,
    obj_hit: np.ndarray | None = None,
) -> dict[str, Any]:
    """Box-level P/R/AP and image-level P/R of one side for one planted type."""
    flags = np.asarray(flags, bool)
    out: dict[str, Any] = {"n_flagged": int(flags.sum()), "ap": ap(truth, severity)}
    box = prf(flags, truth)
    if kind == "overlooked" and obj_hit is not None and n_objects:
        found = len(set(obj_hit[flags & (obj_hit >= 0)].tolist()))
        box["recall"] = round(found / n_objects, 4)
        box["objects_found"], box["fn"] = found, n_objects - found
    out["box"] = box
    flagged_images = set(units.filter(pl.Series(flags))["sample_id"].to_list())
    ids = sorted(set(units["sample_id"].to_list()) | images_true)
    out["image"] = prf(
        np.array([s in flagged_images for s in ids]), np.array([s in images_true for s in ids])
    )
    return out


def warm_imports() -> None:
    """Import what the timed regions would otherwise import (cleanlab, sklearn)."""
    import importlib

    for name in (
        "cleanlab.object_detection.filter",
        "cleanlab.object_detection.rank",
        "sklearn.metrics",
    ):
        importlib.import_module(name)


# --------------------------------------------------------------------------- part 1
def job_quality(args: argparse.Namespace) -> dict[str, Any]:
    """Ours vs cleanlab on one seed of the demo."""
    from cleanlab.internal.constants import (
        BADLOC_THRESHOLD_FACTOR,
        OVERLOOKED_THRESHOLD_FACTOR,
        SWAP_THRESHOLD_FACTOR,
    )
    from cleanlab.object_detection import filter as cl_filter
    from cleanlab.object_detection import rank

    from datacentric.issues import REGISTRY, scan

    root = Path(tempfile.mkdtemp(prefix="bench_det_q_"))
    try:
        ds, gt, pred = demo(root, args.seed, args.scenes, args.noise)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    warm_imports()
    boxes = ds.annotations
    ids = ds.sample_ids
    # ---- ours, as scan runs them (default thresholds)
    t0 = time.perf_counter()
    res = scan(ds, predicted_boxes=pred, finders=BOX_FINDERS, cross_validate=False)
    ours_s = time.perf_counter() - t0
    strict = scan(
        ds,
        predicted_boxes=pred,
        finders=[REGISTRY.get(f)(threshold=None) for f in BOX_FINDERS[:3]],
        cross_validate=False,
    )
    # ---- cleanlab, called directly on the same predictions in its own format
    labels, predictions, box_rows, pred_rows = to_cleanlab(ids, boxes, pred, ds.classes)
    t0 = time.perf_counter()
    image_mask = np.asarray(cl_filter.find_label_issues(labels, predictions), bool)
    quality = np.asarray(rank.get_label_quality_scores(labels, predictions, verbose=False))
    ranked = rank.issues_from_scores(quality)  # default threshold 0.1
    scores = {
        "overlooked": rank.compute_overlooked_box_scores(labels=labels, predictions=predictions),
        "badloc": rank.compute_badloc_box_scores(labels=labels, predictions=predictions),
        "swap": rank.compute_swap_box_scores(labels=labels, predictions=predictions),
    }
    class_ap = cl_filter._get_per_class_ap(labels, predictions)
    cleanlab_s = time.perf_counter() - t0
    factor = {
        "overlooked": OVERLOOKED_THRESHOLD_FACTOR,
        "badloc": BADLOC_THRESHOLD_FACTOR,
        "swap": SWAP_THRESHOLD_FACTOR,
    }
    lab_classes = [lab["labels"] for lab in labels]
    pred_classes = [rank._separate_prediction(p)[1] for p in predictions]
    cl_box: dict[str, dict[str, np.ndarray]] = {}
    for name, per_image in scores.items():
        classes_of = pred_classes if name == "overlooked" else lab_classes
        thresholds = cl_filter._process_class_list(classes_of, class_ap)
        per_box = cl_filter._find_label_issues_per_box(
            [np.array(s, dtype=np.float64) for s in per_image], thresholds, factor[name]
        )
        rows, n = (pred_rows, pred.height) if name == "overlooked" else (box_rows, boxes.height)
        flagged = scatter([f.astype(float) for f in per_box], rows, n)
        cl_box[name] = {
            "score": scatter(per_image, rows, n),
            "flag": np.nan_to_num(flagged, nan=0.0).astype(bool),
        }
    # ---- truth
    problem = dict(zip(gt.boxes["annotation_id"], gt.boxes["problem"], strict=True))
    box_problem = np.array([problem.get(a, "none") for a in boxes["annotation_id"]])
    hit, over = _overlooked_hits(pred, gt.boxes)
    images_true = {
        p: set(gt.boxes.filter(pl.col("problem") == p)["sample_id"].to_list()) for p in TYPES
    }
    dups = gt.boxes.filter(pl.col("problem") == "duplicate")
    pairs = {frozenset(p) for p in dups.select("annotation_id", "duplicate_of").rows()}
    pos = {a: i for i, a in enumerate(boxes["annotation_id"].to_list())}
    later = {max(p, key=lambda a: pos[a]) for p in pairs}
    out: dict[str, Any] = {
        "seed": args.seed,
        "noise": args.noise,
        "scenes": args.scenes,
        "boxes": boxes.height,
        "predicted_boxes": pred.height,
        "planted": {p: len(gt.boxes.filter(pl.col("problem") == p)) for p in TYPES},
        "ours_scan_s": round(ours_s, 3),
        "cleanlab_calls_s": round(cleanlab_s, 3),
        "types": {},
    }
    for ptype, (finder, cl_name) in TYPES.items():
        t = res.issues.filter(pl.col("issue_type") == finder)
        if ptype == "overlooked":
            t = t.sort(pl.col("prediction_id").cast(pl.Int64))
            units, truth = pred, hit >= 0
            assert t["prediction_id"].to_list() == [str(i) for i in range(pred.height)]
        else:
            t = boxes.select("annotation_id").join(t, on="annotation_id", how="left")
            units = boxes
            truth = (
                np.array([a in later for a in boxes["annotation_id"]])
                if ptype == "duplicate"
                else box_problem == ptype
            )
        if ptype == "duplicate":
            flags = t["is_issue"].to_numpy()
            sev = t["iou"].to_numpy()
            got = [
                frozenset(r)
                for r in t.filter(pl.col("is_issue")).select("annotation_id", "duplicate_of").rows()
            ]
            ours = score_type(ptype, units, flags, sev, truth, images_true[ptype])
            tp = sum(g in pairs for g in got)
            ours["box"] = {
                "precision": round(tp / len(got), 4) if got else None,
                "recall": round(len(set(got) & pairs) / len(pairs), 4) if pairs else None,
                "tp": tp,
                "fp": len(got) - tp,
                "fn": len(pairs - set(got)),
            }
            out["types"][ptype] = {"ours": ours, "cleanlab": None}
            continue
        flags = t["is_issue"].to_numpy()
        sev = t["severity"].to_numpy()
        n_obj = over.height if ptype == "overlooked" else None
        ours = score_type(ptype, units, flags, sev, truth, images_true[ptype], n_obj, hit)
        assert cl_name is not None
        cl_sev = 1.0 - np.nan_to_num(cl_box[cl_name]["score"], nan=1.0)
        theirs = score_type(
            ptype, units, cl_box[cl_name]["flag"], cl_sev, truth, images_true[ptype], n_obj, hit
        )
        st = strict.issues.filter(pl.col("issue_type") == finder)
        if ptype == "overlooked":
            st_flags = st.sort(pl.col("prediction_id").cast(pl.Int64))["is_issue"].to_numpy()
        else:
            st_flags = (
                boxes.select("annotation_id")
                .join(st, on="annotation_id", how="left")["is_issue"]
                .to_numpy()
            )
        out["types"][ptype] = {
            "ours": ours,
            "cleanlab": theirs,
            "same_scores": bool(np.allclose(sev, cl_sev, atol=1e-6)),
            "ours_threshold_none_flags_equal_cleanlab_rule": bool(
                (st_flags == cl_box[cl_name]["flag"]).all()
            ),
        }
    # ---- image level, the three types cleanlab looks for, pooled
    any_true = images_true["overlooked"] | images_true["badly_located"] | images_true["swapped"]
    ours_sev = (
        res.issues.filter(pl.col("issue_type").is_in(BOX_FINDERS[:3]))
        .group_by("sample_id")
        .agg(pl.col("severity").max(), pl.col("is_issue").any())
    )
    sev_of = dict(zip(ours_sev["sample_id"], ours_sev["severity"], strict=True))
    flag_of = dict(zip(ours_sev["sample_id"], ours_sev["is_issue"], strict=True))
    y = np.array([s in any_true for s in ids])
    ranked_mask = np.zeros(len(ids), bool)
    ranked_mask[ranked] = True
    out["image_any_of_three"] = {
        "ours": {
            **prf(np.array([flag_of.get(s, False) for s in ids]), y),
            "ap": ap(y, np.array([sev_of.get(s, 0.0) for s in ids])),
        },
        "cleanlab_find_label_issues": {**prf(image_mask, y), "ap": ap(y, 1.0 - quality)},
        "cleanlab_issues_from_scores_0.1": prf(ranked_mask, y),
        "images": len(ids),
        "images_with_a_planted_problem": int(y.sum()),
    }
    return out


# --------------------------------------------------------------------------- part 2
def job_scale_ours(args: argparse.Namespace) -> dict[str, Any]:
    from datacentric import Dataset
    from datacentric.issues import scan

    warm_imports()
    t0 = time.perf_counter()
    ds = Dataset.from_folder(args.root)
    pred = pl.read_parquet(args.pred)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = scan(ds, predicted_boxes=pred, cross_validate=False)
    scan_s = time.perf_counter() - t0
    return {
        "open_and_read_s": round(open_s, 2),
        "scan_s": round(scan_s, 2),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "finders_ran": sorted(set(res.params) - set(res.skipped)),
        "skipped": res.skipped,
        "timings_s": {k: round(v, 3) for k, v in res.timings.items()},
        "flagged": {
            t: int(n)
            for t, n in res.issues.group_by("issue_type").agg(pl.col("is_issue").sum()).rows()
        },
        "samples": len(ds),
        "boxes": ds.annotations.height,
        "predicted_boxes": pred.height,
    }


def job_scale_cleanlab(args: argparse.Namespace) -> dict[str, Any]:
    from cleanlab.object_detection import filter as cl_filter
    from cleanlab.object_detection import rank

    warm_imports()
    t0 = time.perf_counter()
    manifest = pl.read_parquet(Path(args.root) / "manifest.parquet")
    boxes = pl.read_parquet(Path(args.root) / "annotations.parquet")
    pred = pl.read_parquet(args.pred)
    classes = (Path(args.root) / "classes.txt").read_text().split()
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels, predictions, _, _ = to_cleanlab(manifest["sample_id"].to_list(), boxes, pred, classes)
    convert_s = time.perf_counter() - t0
    timed: dict[str, float] = {}

    def clock(name: str, fn: Any) -> Any:
        t = time.perf_counter()
        out = fn()
        timed[name] = round(time.perf_counter() - t, 2)
        return out

    mask = clock("find_label_issues", lambda: cl_filter.find_label_issues(labels, predictions))
    clock(
        "get_label_quality_scores",
        lambda: rank.get_label_quality_scores(labels, predictions, verbose=False),
    )
    for name in ("overlooked", "badloc", "swap"):
        fn = getattr(rank, f"compute_{name}_box_scores")
        clock(
            f"compute_{name}_box_scores", lambda fn=fn: fn(labels=labels, predictions=predictions)
        )
    return {
        "read_s": round(read_s, 2),
        "convert_to_cleanlab_format_s": round(convert_s, 2),
        "calls_s": timed,
        "cleanlab_total_s": round(sum(timed.values()), 2),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "images_flagged": int(np.asarray(mask).sum()),
    }


# --------------------------------------------------------------------------- part 3
def _pycoco_precision(
    gt: dict[str, Any], dt: list[dict[str, Any]], img_ids: list[int], cat_ids: list[int] | None
) -> np.ndarray:
    """pycocotools' precision [T, R, K, A] at maxDets 100 (default areaRng)."""
    import copy

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dt)), "bbox")
        ev.params.imgIds = img_ids
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
    return np.asarray(ev.eval["precision"], dtype=np.float64)[..., -1]


def _coco_metrics(p: np.ndarray, level: float = 0.9) -> dict[str, float]:
    """map, map50, recall@p90 from one [T, R, K] precision block (-1 = no truth)."""

    def mean_valid(a: np.ndarray) -> float:
        v = a[a > -1]
        return float(v.mean()) if v.size else math.nan

    rec = np.linspace(0.0, 1.0, p.shape[1])
    recalls = []
    for k in range(p.shape[2]):
        col = p[0, :, k]
        if (col > -1).any():
            good = col >= level
            recalls.append(float(rec[good].max()) if good.any() else 0.0)
    return {
        "map": mean_valid(p),
        "map50": mean_valid(p[0]),
        "recall@p90": float(np.mean(recalls)) if recalls else math.nan,
    }


def job_map(args: argparse.Namespace) -> dict[str, Any]:
    from bench_detection_metrics import noisy_predictions

    from datacentric.datasets import load_detection_demo
    from datacentric.slices import evaluate_detection
    from datacentric.slices.evaluate import resolve_slices

    root = Path(tempfile.mkdtemp(prefix="bench_det_map_"))
    try:
        ds = load_detection_demo(root, seed=args.seed, n_scenes=args.scenes, commit=False)
        pred = noisy_predictions(ds.annotations, ds.classes, seed=args.seed)
        t0 = time.perf_counter()
        m = evaluate_detection(ds, pred, n_boot=0, min_n=1)
        ours_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    man = ds.manifest.filter(pl.col("split") == "test")
    ids = man["sample_id"].to_list()
    img = {s: i + 1 for i, s in enumerate(ids)}
    cat = {c: k + 1 for k, c in enumerate(ds.classes)}
    truth = ds.annotations.filter(pl.col("sample_id").is_in(ids))
    found = pred.filter(pl.col("sample_id").is_in(ids))
    gt = {
        "images": [{"id": i} for i in img.values()],
        "categories": [{"id": k, "name": c} for c, k in cat.items()],
        "annotations": [
            {
                "id": j + 1,
                "image_id": img[r["sample_id"]],
                "category_id": cat[r["label"]],
                "bbox": [r["x"], r["y"], r["w"], r["h"]],
                "area": r["w"] * r["h"],
                "iscrowd": 0,
            }
            for j, r in enumerate(truth.iter_rows(named=True))
        ],
    }
    dt = [
        {
            "image_id": img[r["sample_id"]],
            "category_id": cat[r["label"]],
            "bbox": [r["x"], r["y"], r["w"], r["h"]],
            "score": r["score"],
        }
        for r in found.iter_rows(named=True)
    ]
    metadata = [c for c in ds.metadata_columns if c not in ("annotator", "width", "height")]
    masks = {
        s.name: s.mask(man).fill_null(False).to_numpy() for s in resolve_slices(None, man, metadata)
    }
    area_index = {"small": 1, "medium": 2, "large": 3}  # pycocotools' default areaRngLbl order
    all_ids = list(img.values())
    t0 = time.perf_counter()
    whole = _pycoco_precision(gt, dt, all_ids, None)
    theirs: dict[str, dict[str, float]] = {"overall": _coco_metrics(whole[..., 0])}
    for k, c in enumerate(ds.classes):
        one = _coco_metrics(whole[:, :, k : k + 1, 0])
        theirs["overall"][f"ap[{c}]"], theirs["overall"][f"ap50[{c}]"] = one["map"], one["map50"]
    for a, i in area_index.items():
        theirs[f"box_area={a}"] = _coco_metrics(whole[..., i])
    for c, k in cat.items():
        theirs[f"box_class={c}"] = _coco_metrics(_pycoco_precision(gt, dt, all_ids, [k])[..., 0])
    for name, mask in masks.items():
        sub = _pycoco_precision(gt, dt, [all_ids[i] for i in np.flatnonzero(mask)], None)
        theirs[name] = _coco_metrics(sub[..., 0])
        for k, c in enumerate(ds.classes):
            one = _coco_metrics(sub[:, :, k : k + 1, 0])
            theirs[name][f"ap[{c}]"], theirs[name][f"ap50[{c}]"] = one["map"], one["map50"]
    pycoco_s = time.perf_counter() - t0
    worst, compared, mismatched_missing = 0.0, 0, []
    per_slice: dict[str, float] = {}
    for r in m.table.iter_rows(named=True):
        want = theirs[r["slice"]].get(r["metric"], math.nan)
        got = math.nan if r["value"] is None else r["value"]
        if math.isnan(want) and math.isnan(got):
            continue
        if math.isnan(want) or math.isnan(got):
            mismatched_missing.append(f"{r['slice']}/{r['metric']}")
            continue
        d = abs(want - got)
        worst, compared = max(worst, d), compared + 1
        per_slice[r["slice"]] = max(per_slice.get(r["slice"], 0.0), d)
    overall = m.table.filter(pl.col("slice") == "overall")
    return {
        "seed": args.seed,
        "scenes": args.scenes,
        "test_images": len(ids),
        "true_boxes": truth.height,
        "predicted_boxes": found.height,
        "slices": sorted(per_slice),
        "values_compared": compared,
        "missing_on_one_side_only": mismatched_missing,
        "max_abs_diff": worst,
        "max_abs_diff_per_slice": per_slice,
        "overall": {
            r["metric"]: round(r["value"], 4)
            for r in overall.iter_rows(named=True)
            if r["metric"] in ("map", "map50", "recall@p90")
        },
        "evaluate_detection_s": round(ours_s, 3),
        "pycocotools_all_slices_s": round(pycoco_s, 3),
    }


# --------------------------------------------------------------------------- orchestration
def _pool(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Seeds pooled: counts summed, precision/recall from the sums, AP averaged."""

    def pooled(side_runs: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"ap_mean": None}
        aps = [r["ap"] for r in side_runs if r["ap"] is not None]
        out["ap_mean"] = round(float(np.mean(aps)), 4) if aps else None
        for level in ("box", "image"):
            tp = sum(r[level]["tp"] for r in side_runs)
            fp = sum(r[level]["fp"] for r in side_runs)
            fn = sum(r[level]["fn"] for r in side_runs)
            out[level] = {
                "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "recall": round(tp / (tp + fn), 4) if tp + fn else None,
                "tp": tp,
                "fp": fp,
                "fn": fn,
            }
        return out

    res: dict[str, Any] = {}
    for t in TYPES:
        entry: dict[str, Any] = {"ours": pooled([r["types"][t]["ours"] for r in runs])}
        if runs[0]["types"][t]["cleanlab"] is None:
            entry["cleanlab"] = None
            entry["note"] = "cleanlab has no duplicate-box detector: peer n/a"
        else:
            entry["cleanlab"] = pooled([r["types"][t]["cleanlab"] for r in runs])
            entry["same_scores_every_seed"] = all(r["types"][t]["same_scores"] for r in runs)
            entry["ours_threshold_none_equals_cleanlab_rule_every_seed"] = all(
                r["types"][t]["ours_threshold_none_flags_equal_cleanlab_rule"] for r in runs
            )
        res[t] = entry
    sides = ("ours", "cleanlab_find_label_issues", "cleanlab_issues_from_scores_0.1")
    res["image_any_of_three"] = {}
    for side in sides:
        rs = [r["image_any_of_three"][side] for r in runs]
        tp, fp, fn = (sum(r[k] for r in rs) for k in ("tp", "fp", "fn"))
        aps = [r["ap"] for r in rs if r.get("ap") is not None]
        res["image_any_of_three"][side] = {
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "ap_mean": round(float(np.mean(aps)), 4) if aps else None,
        }
    return res


def _ge(a: float | None, b: float | None) -> bool | None:
    if b is None:
        return None
    return a is not None and a >= b - 1e-12


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    seeds = SEEDS[:1] if args.quick else SEEDS
    scenes = 120 if args.quick else args.scenes
    quality: dict[str, list[dict[str, Any]]] = {}
    pooled: dict[str, dict[str, Any]] = {}
    for noise in NOISES:
        quality[noise] = [
            jobs("quality", tag=f"quality_{noise}_{s}", seed=s, scenes=scenes, noise=noise)
            for s in seeds
        ]
        good = [q for q in quality[noise] if ok(q)]
        pooled[noise] = _pool(good) if good else {}
    # part 2: the inputs written once, read by both sides
    n_scale = 500 if args.quick else args.scale_scenes
    tmp = Path(tempfile.mkdtemp(prefix="bench_det_scale_"))
    try:
        root = tmp / "demo"
        t0 = time.perf_counter()
        ds, _, pred = demo(root, 0, n_scale)
        demo_s = time.perf_counter() - t0
        pred.write_parquet(tmp / "pred.parquet")
        n_boxes, n_pred = ds.annotations.height, pred.height
        del ds, pred
        scale = {
            "scenes": n_scale,
            "boxes": n_boxes,
            "predicted_boxes": n_pred,
            "write_demo_s": round(demo_s, 1),
            "ours": jobs("scale_ours", root=str(root), pred=str(tmp / "pred.parquet")),
            "cleanlab": jobs("scale_cleanlab", root=str(root), pred=str(tmp / "pred.parquet")),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    map_scenes = 120 if args.quick else MAP_SCENES
    maps = [jobs("map", tag=f"map_{s}", seed=s, scenes=map_scenes) for s in seeds]
    return {
        "config": {
            "seeds": list(seeds),
            "quality_scenes_per_seed": scenes,
            "predicted_boxes": "datacentric.testing.noisy_predicted_boxes on the true objects "
            "(overlooked ones included, planted duplicates left out), seed = the demo's "
            "seed; 'default' is its defaults, 'hard' a worse detector (scores partly below "
            "cleanlab's 0.95 high-probability threshold, more and more confident false "
            "positives, 8 % jitter)",
            "noise": {
                name: {k: list(v) if isinstance(v, tuple) else v for k, v in n.items()}
                for name, n in NOISES.items()
            },
            "scan_time_noise": "default",
            "ours": f"scan(ds, predicted_boxes=pred, finders={BOX_FINDERS}, "
            "cross_validate=False), default thresholds (ObjectLab score <= 0.5; duplicate "
            "IoU > 0.7)",
            "cleanlab": "cleanlab.object_detection on the same predictions, inputs written "
            "by this script: filter.find_label_issues(labels, predictions) (image mask); "
            "rank.get_label_quality_scores + rank.issues_from_scores(threshold=0.1); "
            "rank.compute_{overlooked,badloc,swap}_box_scores(labels=, predictions=) "
            "flagged with cleanlab's per-box rule from find_label_issues "
            "(filter._find_label_issues_per_box with filter._get_per_class_ap and the "
            "0.8 factors)",
            "map_scenes_per_seed": map_scenes,
            "map_predictions": "bench_detection_metrics.noisy_predictions (10 % missed, "
            "N(0, 1.5) px jitter, 5 % swapped class, 1 false box per 5 images, scores "
            "U(0.3, 1)), seed = the demo's seed",
        },
        "quality_per_seed": quality,
        "quality_pooled": pooled,
        "scan_time": scale,
        "map_vs_pycocotools": maps,
    }


def definitions(res: dict[str, Any]) -> dict[str, str]:
    return {
        "units": "swapped, badly located, duplicate: the dataset's boxes (every split); "
        "overlooked: the predicted boxes (an overlooked object has no given box)",
        "positive_swapped_badly_located": "a box the ground truth marks with that problem",
        "positive_overlooked": f"a predicted box with IoU > {MATCH_IOU} with an object of "
        "its image whose box was removed (ground truth 'overlooked'); box recall counts "
        "removed objects covered by at least one flagged predicted box",
        "positive_duplicate": "precision: a flagged box whose (annotation_id, duplicate_of) "
        "pair is a planted pair (either box may be the copy); recall: planted pairs found; "
        "AP: boxes ranked by IoU with an earlier box of the same class, a positive being the "
        "later (table order) box of a planted pair, the one the finder flags",
        "ap": "sklearn.metrics.average_precision_score of the positives ranked by severity "
        "(ours: the finder's severity = 1 - ObjectLab score; cleanlab: 1 - its box score, "
        "NaN (box not scored) = 1 - 1.0); per seed, then averaged over seeds",
        "image_level": "an image is positive when it holds a planted box of the type; ours "
        "flags it when any of its rows of the finder is flagged, cleanlab when any box is "
        "flagged by its per-box rule (find_label_issues pools exactly these per type)",
        "image_any_of_three": "images with a planted overlooked, badly located or swapped "
        "box; ours: any row of the three ObjectLab finders flagged, ranked by its largest "
        "severity; cleanlab: find_label_issues's mask, ranked by 1 - "
        "get_label_quality_scores; and issues_from_scores(threshold=0.1)",
        "same_scores": "both sides rank by the same ObjectLab box scores (checked to 1e-6), "
        "so their AP is equal by construction: not a comparison; P/R differ by the "
        "flagging rule only (ours: score <= 0.5; cleanlab: <= 0.8 x 0.25 x class AP)",
        "pooled": "counts summed over seeds; precision and recall from the sums",
        "scan_time": "wall time of the call in a fresh interpreter after imports; peak RSS "
        "of that process (ru_maxrss); both read the same Parquet files written once",
        "map_equality": "every value of evaluate_detection(n_boot=0)'s table (overall, image "
        "slices, box_area with pycocotools' default areaRng, box_class with catIds=[c]) "
        "against pycocotools COCOeval on COCO dicts built by this script",
    }


def targets(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for noise, types in res.get("quality_pooled", {}).items():
        for t, e in types.items():
            key = f"{t}_equal_or_better_{noise}_noise"
            if t == "image_any_of_three":
                o, c = e["ours"], e["cleanlab_find_label_issues"]
                out[key] = {
                    "met": all(
                        _ge(o[k], c[k]) is not False for k in ("precision", "recall", "ap_mean")
                    ),
                    "checks": {k: _ge(o[k], c[k]) for k in ("precision", "recall", "ap_mean")},
                    "peer": "find_label_issues (mask) and 1 - get_label_quality_scores (AP)",
                }
                continue
            if e["cleanlab"] is None:
                out[key] = {"met": None, "why": "no peer (cleanlab has no duplicate-box detector)"}
                continue
            o, c = e["ours"], e["cleanlab"]
            checks = {
                "box_precision": _ge(o["box"]["precision"], c["box"]["precision"]),
                "box_recall": _ge(o["box"]["recall"], c["box"]["recall"]),
                "box_ap": _ge(o["ap_mean"], c["ap_mean"]),
                "image_precision": _ge(o["image"]["precision"], c["image"]["precision"]),
                "image_recall": _ge(o["image"]["recall"], c["image"]["recall"]),
            }
            out[key] = {
                "met": all(v is not False for v in checks.values()),
                "checks": checks,
                **(
                    {"null_check": "cleanlab flagged nothing: its precision is undefined"}
                    if None in checks.values()
                    else {}
                ),
                "ap_equal_by_construction": e["same_scores_every_seed"],
            }
    maps = [m for m in res.get("map_vs_pycocotools", []) if ok(m)]
    worst = max((m["max_abs_diff"] for m in maps), default=None)
    out["map_by_slice_equal_to_pycocotools_1e-6"] = {
        "measured_max_abs_diff": worst,
        "met": worst is not None
        and worst <= MAP_TOL
        and not any(m["missing_on_one_side_only"] for m in maps),
    }
    return out


def notes(res: dict[str, Any]) -> list[str]:
    out = [
        "cleanlab's per-box flags need its private helpers (_get_per_class_ap, "
        "_process_class_list, _find_label_issues_per_box): they are the rule "
        "find_label_issues applies before pooling boxes to images; the public API "
        "returns only the pooled image mask",
        "ours with threshold=None applies the same rule: the JSON checks its flags equal "
        "cleanlab's (ours_threshold_none_equals_cleanlab_rule_every_seed)",
    ]
    s = res.get("scan_time", {})
    if ok(s.get("ours", {"failed": True})):
        out.append(
            "ours' scan at scale runs every finder that applies without embeddings or "
            f"pred_probs: {', '.join(s['ours']['finders_ran'])}"
        )
    return out


def summary(res: dict[str, Any]) -> None:
    for noise, types in res.get("quality_pooled", {}).items():
        rows = []
        for t, e in types.items():
            if t == "image_any_of_three":
                continue
            for side in ("ours", "cleanlab"):
                v = e[side]
                if v is None:
                    rows.append([f"{t} / {side}", "n/a", "n/a", "n/a", "n/a", "n/a"])
                    continue
                rows.append(
                    [
                        f"{t} / {side}",
                        v["box"]["precision"],
                        v["box"]["recall"],
                        v["ap_mean"],
                        v["image"]["precision"],
                        v["image"]["recall"],
                    ]
                )
        print_table(
            f"quality, {noise} noise (seeds pooled)",
            ["type / side", "P", "R", "AP", "img P", "img R"],
            rows,
        )
        img = types.get("image_any_of_three", {})
        print_table(
            f"images with an overlooked/badly located/swapped box, {noise} noise",
            ["side", "P", "R", "AP"],
            [[k, v["precision"], v["recall"], v["ap_mean"]] for k, v in img.items()],
        )
    s = res.get("scan_time", {})
    o, c = s.get("ours", {}), s.get("cleanlab", {})
    print(
        f"\nscan {s.get('scenes')} scenes: ours {fmt(o.get('scan_s'))} s "
        f"({fmt(o.get('peak_rss_mib'))} MiB); cleanlab {fmt(c.get('cleanlab_total_s'))} s "
        f"({fmt(c.get('peak_rss_mib'))} MiB)"
    )
    for m in res.get("map_vs_pycocotools", []):
        if ok(m):
            print(
                f"mAP vs pycocotools seed {m['seed']}: {m['values_compared']} values, "
                f"max |diff| {m['max_abs_diff']:.2e}"
            )


def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--scenes", type=int, default=SCENES, help="demo scenes per seed (part 1)")
    ap.add_argument("--scale-scenes", type=int, default=SCALE_SCENES, help="scenes of part 2")


BENCH = Benchmark(
    name="detection",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    jobs={
        "quality": job_quality,
        "scale_ours": job_scale_ours,
        "scale_cleanlab": job_scale_cleanlab,
        "map": job_map,
    },
    packages=(
        "datacentric",
        "cleanlab",
        "pycocotools",
        "faster-coco-eval",
        "scikit-learn",
        "numpy",
        "polars",
    ),
    options=options,
    quick_help="1 seed, 120 scenes, 500 scenes for the scan time (written to a temp file)",
    timeout_s=1800.0,
    definitions=definitions,
    targets=targets,
    notes=notes,
    summary=summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
