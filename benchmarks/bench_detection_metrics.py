"""Benchmark detection metrics by slice: equality with pycocotools, and the bootstrap's cost.

Run ``python benchmarks/bench_detection_metrics.py [--quick]``; writes
``benchmarks/results/detection_metrics.json`` and prints a summary.

Predictions are generated from the truth with controlled, seeded noise (no detector is
trained): 10 % of the true boxes are dropped (missed), the others are kept with their
corners jittered by N(0, 1.5) px and 5 % of them given another class, plus one false box
per 5 images; scores are uniform in [0.3, 1].

Part 1 — equality. On the detection demo (300 scenes; ``--quick``: 60), every metric of
:func:`datacentric.slices.detection_metrics` (mAP@[.5:.95], mAP@0.5, recall at precision
0.9, per-class AP and AP50, the same three per COCO area range), computed by
``faster-coco-eval`` overall and on each ``camera`` slice, against ``pycocotools``'
``COCOeval`` on the same COCO dicts. Target: max |difference| ≤ 1e-6.

Part 2 — cost. One COCO evaluation (what every bootstrap resample costs) on synthetic
tables of 1,000 / 3,000 / 10,000 images (``--quick``: 1,000) with 3 boxes each, 10
classes; and ``evaluate_detection`` on the demo's test split with ``by: camera`` and the
box slices at ``n_boot`` 0 and 50.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _harness import Benchmark, peak_mib


def noisy_predictions(truth: pl.DataFrame, classes: list[str], seed: int = 0) -> pl.DataFrame:
    """Predicted boxes from the truth: misses, jitter, swapped classes, false boxes."""
    rng = np.random.default_rng(seed)
    kept = truth.filter(pl.Series(rng.random(truth.height) >= 0.10))
    n = kept.height
    swap = rng.random(n) < 0.05
    other = [classes[(classes.index(c) + 1) % len(classes)] for c in kept["label"].to_list()]
    jitter = rng.normal(0, 1.5, (n, 2))
    found = kept.select(
        "sample_id",
        label=pl.Series(np.where(swap, other, kept["label"].to_numpy())),
        x=pl.col("x") + pl.Series(jitter[:, 0]),
        y=pl.col("y") + pl.Series(jitter[:, 1]),
        w=pl.col("w"),
        h=pl.col("h"),
    )
    images = truth["sample_id"].unique(maintain_order=True).to_list()
    n_false = max(1, len(images) // 5)
    false = pl.DataFrame(
        {
            "sample_id": rng.choice(images, n_false),
            "label": rng.choice(classes, n_false),
            "x": rng.uniform(0, 60, n_false),
            "y": rng.uniform(0, 60, n_false),
            "w": rng.uniform(8, 30, n_false),
            "h": rng.uniform(8, 30, n_false),
        }
    )
    out = pl.concat([found, false])
    return out.with_columns(score=pl.Series(rng.uniform(0.3, 1.0, out.height)))


def _pycocotools(gt: dict[str, Any], dt: list[dict[str, Any]]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dt)), "bbox")
        ev.evaluate()
        ev.accumulate()
    return np.asarray(ev.eval["precision"])[..., -1]


def equality(ds: Any, pred: pl.DataFrame) -> dict[str, Any]:
    from datacentric.slices.detection import _coco_precision, _CocoInputs, _summaries

    m = ds.manifest
    groups = {"overall": m["sample_id"].to_list()}
    for cam in sorted(m["camera"].unique().to_list()):
        groups[f"camera={cam}"] = m.filter(pl.col("camera") == cam)["sample_id"].to_list()
    worst, compared, per_slice = 0.0, 0, {}
    for name, ids in groups.items():
        gt, dt = _CocoInputs(ds.annotations, pred, ds.classes, ids).coco()
        ours = _summaries(_coco_precision(copy.deepcopy(gt), copy.deepcopy(dt)), ds.classes, 0.9)
        theirs = _summaries(_pycocotools(gt, dt), ds.classes, 0.9)
        diffs = [
            abs(ours[k] - theirs[k])
            for k in ours
            if not (math.isnan(ours[k]) and math.isnan(theirs[k]))
        ]
        worst, compared = max(worst, *diffs), compared + len(diffs)
        per_slice[name] = {
            "images": len(ids),
            "map": round(ours[("", "map")], 6),
            "map50": round(ours[("", "map50")], 6),
            "max_abs_diff": max(diffs),
        }
    return {"metrics_compared": compared, "max_abs_diff": worst, "slices": per_slice}


def eval_cost(n_images: int, repeats: int = 3) -> dict[str, Any]:
    from datacentric.slices.detection import _coco_precision, _CocoInputs

    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(n_images)]
    k = 3 * n_images
    truth = pl.DataFrame(
        {
            "sample_id": np.repeat(ids, 3),
            "label": rng.integers(0, 10, k).astype(str),
            "x": rng.uniform(0, 200, k),
            "y": rng.uniform(0, 200, k),
            "w": rng.uniform(8, 120, k),
            "h": rng.uniform(8, 120, k),
        }
    )
    classes = [str(i) for i in range(10)]
    inputs = _CocoInputs(truth, noisy_predictions(truth, classes), classes, ids)
    build, evaluate = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dicts = inputs.coco(rng.integers(0, n_images, n_images))
        t1 = time.perf_counter()
        _coco_precision(*dicts)
        build.append(t1 - t0)
        evaluate.append(time.perf_counter() - t1)
    return {
        "images": n_images,
        "true_boxes": k,
        "build_coco_dicts_s": round(float(np.median(build)), 4),
        "coco_eval_s": round(float(np.median(evaluate)), 4),
        "repeats": repeats,
    }


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    from datacentric.datasets import load_detection_demo
    from datacentric.slices import evaluate_detection

    n_scenes = 60 if args.quick else 300
    root = Path(tempfile.mkdtemp(prefix="bench_det_metrics_")) / "demo"
    ds = load_detection_demo(root, n_scenes=n_scenes)
    pred = noisy_predictions(ds.annotations, ds.classes)
    eq = equality(ds, pred)
    costs = [eval_cost(n) for n in ((1000,) if args.quick else (1000, 3000, 10000))]
    timed = {}
    for n_boot in (0, 50):
        t0 = time.perf_counter()
        m = evaluate_detection(ds, pred, "slices: [{by: camera}]", n_boot=n_boot)
        timed[f"n_boot={n_boot}"] = round(time.perf_counter() - t0, 2)
    overall = m.table.filter(pl.col("slice") == "overall")
    return {
        "config": {
            "demo_scenes": n_scenes,
            "test_images": overall["n"][0],
            "slices": len(m.slices) - 1,
            "predictions": "truth with noise: 10 % missed, N(0, 1.5) px jitter, 5 % swapped "
            "class, 1 false box per 5 images, scores U(0.3, 1)",
        },
        "equality_vs_pycocotools": eq,
        "one_coco_evaluation": costs,
        "evaluate_detection_demo_test_s": timed,
        "overall_test": {
            r["metric"]: round(r["value"], 4)
            for r in overall.iter_rows(named=True)
            if r["metric"] in ("map", "map50", "recall@p90")
        },
        "targets": {
            "equal_to_pycocotools_1e-6": {
                "measured": eq["max_abs_diff"],
                "pass": eq["max_abs_diff"] <= 1e-6,
            }
        },
        **peak_mib(),
    }


def summary(res: dict[str, Any]) -> None:
    eq = res["equality_vs_pycocotools"]
    print(f"equality: {eq['metrics_compared']} metrics, max |diff| {eq['max_abs_diff']:.2e}")
    for c in res["one_coco_evaluation"]:
        print(f"one COCO evaluation, {c['images']} images: {c['coco_eval_s']} s")
    print(f"evaluate_detection on the demo test split: {res['evaluate_detection_demo_test_s']}")


BENCH = Benchmark(
    name="detection_metrics",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "faster-coco-eval", "pycocotools", "numpy", "polars"),
    quick_help="60 scenes, 1,000 synthetic images (written to a temp file)",
    summary=summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
