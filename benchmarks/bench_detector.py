"""Benchmark the default detector recipe: clean-data mAP, training time, cross-validated boxes.

Run ``python benchmarks/bench_detector.py [--quick]``; writes
``benchmarks/results/detector.json`` and prints a summary.

Part 1 — clean-data accuracy. The detection demo (``--scenes``, default 1,500; seed 0;
96x96 scenes; ``--quick``: 200) with its boxes replaced by the true objects (the ground
truth, planted duplicates left out: a clean copy). ``CenterNetRecipe()`` with its default
parameters (``--epochs`` overrides) is trained on the train split (75 %) with seed 0 and
predicts the test split, whose handwritten digits never occur in a train scene. Reported:
mAP@0.5 and mAP@[.5:.95] (COCO, :func:`datacentric.slices.detection_metrics`), recall at
precision 0.9, training wall and CPU seconds (torch on one thread), prediction time.
Target: mAP@0.5 ≥ 0.8.

Part 2 — what the scan gets. The default demo (300 scenes, seed 0; ``--quick``: 100) with
its *planted* problems: ``scan`` with the three ObjectLab finders and no predicted boxes,
so it cross-validates the default detector (5 folds over the images, sequential engine so
that the CPU time is this process's). Reported: the cross-validation time, and the
precision and recall of the flags on the planted swapped, badly located and overlooked
boxes (an overlooked flag counts when its predicted box has IoU > 0.5 with a removed object),
the score calibration the scan fitted on its own boxes against the given (noisy) ones, and
per band of calibrated score the share of boxes a true object confirms (reliability).

Times are from a shared 2-core machine: the CPU seconds are the stable figure (the wall
time grows with the machine's load, reported with it).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _harness import Benchmark, peak_mib


def _clean(root: Path, n_scenes: int) -> Any:
    from datacentric import Dataset
    from datacentric.datasets import load_detection_demo, load_detection_ground_truth

    ds = load_detection_demo(root, n_scenes=n_scenes, seed=0, commit=False)
    truth = load_detection_ground_truth(root).boxes.filter(pl.col("problem") != "duplicate")
    boxes = truth.select(
        "annotation_id",
        "sample_id",
        pl.col("true_label").alias("label"),
        *(pl.col(f"true_{c}").alias(c) for c in "xywh"),
    )
    return Dataset(ds.manifest, ds.classes, root, annotations=boxes)


def clean_accuracy(n_scenes: int, params: dict[str, Any]) -> dict[str, Any]:
    from datacentric.slices import detection_metrics
    from datacentric.train import CenterNetRecipe

    ds = _clean(Path(tempfile.mkdtemp(prefix="bench_detector_")) / "clean", n_scenes)
    train, test = ds.split("train"), ds.split("test")
    recipe = CenterNetRecipe(**params)
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    recipe.fit(train, seed=0)
    fit_wall, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    pred = recipe.predict(test)
    predict_wall = time.perf_counter() - t0
    m = detection_metrics(test.annotations, pred.boxes, ds.classes, test.sample_ids)
    per_camera = {}
    for cam in sorted(test.manifest["camera"].unique().to_list()):
        ids = test.manifest.filter(pl.col("camera") == cam)["sample_id"].to_list()
        per_camera[cam] = round(
            detection_metrics(test.annotations, pred.boxes, ds.classes, ids)["map50"], 4
        )
    return {
        "scenes": n_scenes,
        "train_images": len(train),
        "train_boxes": train.annotations.height,
        "test_images": len(test),
        "test_boxes": test.annotations.height,
        "recipe": repr(recipe),
        "params": recipe.get_params(),
        "map50": round(m["map50"], 4),
        "map": round(m["map"], 4),
        "recall@p90": round(m["recall@p90"], 4),
        "map50_by_camera": per_camera,
        "fit_wall_s": round(fit_wall, 1),
        "fit_cpu_s": round(fit_cpu, 1),
        "predict_wall_s": round(predict_wall, 2),
        "predicted_boxes_per_image": round(pred.boxes.height / len(test), 2),
        "load_average_at_fit_start": round(load0, 2),
    }


def _precision_recall(flagged: set[str], planted: set[str]) -> dict[str, Any]:
    tp = len(flagged & planted)
    return {
        "planted": len(planted),
        "flagged": len(flagged),
        "precision": round(tp / max(len(flagged), 1), 3),
        "recall": round(tp / max(len(planted), 1), 3),
    }


def _overlooked(flags: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    from datacentric.issues.boxes import box_iou

    removed = truth.filter(pl.col("problem") == "overlooked")
    hits: set[str] = set()
    right = 0
    for row in flags.iter_rows(named=True):
        cand = removed.filter(pl.col("sample_id") == row["sample_id"])
        if not cand.height:
            continue
        x, y, w, h = (row[f"suggested_{c}"] for c in "xywh")
        tru = cand.select("true_x", "true_y", "true_w", "true_h").to_numpy()
        tru[:, 2:] += tru[:, :2]
        iou = box_iou(np.array([[x, y, x + w, y + h]]), tru)[0]
        if iou.max() > 0.5:
            right += 1
            hits.add(cand["annotation_id"][int(iou.argmax())])
    return {
        "planted": removed.height,
        "flagged": flags.height,
        "precision": round(right / max(flags.height, 1), 3),
        "recall": round(len(hits) / max(removed.height, 1), 3),
    }


BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 1.0)


def _reliability(predicted: pl.DataFrame, truth: pl.DataFrame) -> list[dict[str, Any]]:
    """Per band of (calibrated) score: boxes, and the share a TRUE object confirms (same
    class, IoU >= 0.5) — the calibration is fitted on the given, noisy boxes."""
    from datacentric.train.box_calibration import matched_boxes

    objects = truth.filter(pl.col("problem") != "duplicate").select(
        "sample_id", pl.col("true_label").alias("label"),
        *(pl.col(f"true_{c}").alias(c) for c in "xywh"),
    )  # fmt: skip
    right = matched_boxes(predicted, objects)
    score = predicted["score"].to_numpy()
    out = []
    for lo, hi in itertools.pairwise(BINS):
        band = (score >= lo) & ((score < hi) if hi < 1.0 else (score <= hi))
        n = int(band.sum())
        out.append({"score": f"[{lo}, {hi}{']' if hi == 1.0 else ')'}", "boxes": n,
                    "right": round(float(right[band].mean()), 3) if n else None})  # fmt: skip
    return out


def scan_with_cv(n_scenes: int, params: dict[str, Any]) -> dict[str, Any]:
    from datacentric.datasets import load_detection_demo, load_detection_ground_truth
    from datacentric.issues import scan
    from datacentric.train import CenterNetRecipe

    root = Path(tempfile.mkdtemp(prefix="bench_detector_")) / "demo"
    ds = load_detection_demo(root, n_scenes=n_scenes, seed=0, commit=False)
    truth = load_detection_ground_truth(root).boxes
    finders = ["swapped_box", "badly_located_box", "overlooked_box"]
    t0, c0 = time.perf_counter(), time.process_time()
    result = scan(
        ds, finders=finders, recipe=CenterNetRecipe(**params), engine="sequential", cache=False
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    flags = result.flagged()
    found = {
        t: set(flags.filter(pl.col("issue_type") == t)["annotation_id"].drop_nulls())
        for t in finders
    }
    planted = {p: set(truth.filter(pl.col("problem") == p)["annotation_id"]) for p in
               ("swapped", "badly_located")}  # fmt: skip
    return {
        "scenes": n_scenes,
        "images": len(ds),
        "score_calibration": result.meta["score_calibration"],
        "reliability_vs_truth": _reliability(result.predicted_boxes, truth),
        "given_boxes": ds.annotations.height,
        "predicted_boxes": result.meta["predicted_boxes"],
        "n_predicted_boxes": result.predicted_boxes.height,
        "scan_wall_s": round(wall, 1),
        "scan_cpu_s": round(cpu, 1),
        "cross_validation_wall_s": round(result.timings["cross_validation"], 1),
        "swapped_box": _precision_recall(found["swapped_box"], planted["swapped"]),
        "badly_located_box": _precision_recall(
            found["badly_located_box"], planted["badly_located"]
        ),
        "overlooked_box": _overlooked(
            flags.filter(pl.col("issue_type") == "overlooked_box"), truth
        ),
    }


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    params = {} if args.epochs is None else {"epochs": args.epochs}
    clean = clean_accuracy(200 if args.quick else args.scenes, params)
    cv = scan_with_cv(100 if args.quick else 300, params)
    return {"clean": clean, "scan_cross_validated": cv, **peak_mib()}


def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--scenes", type=int, default=1500, help="scenes of the clean demo")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")


def targets(res: dict[str, Any]) -> dict[str, Any]:
    return {"clean_map50_ge_0.8": {"measured": res["clean"]["map50"],
                                   "pass": res["clean"]["map50"] >= 0.8}}  # fmt: skip


def summary(res: dict[str, Any]) -> None:
    c, s = res["clean"], res["scan_cross_validated"]
    print(
        f"clean demo ({c['scenes']} scenes, {c['train_images']} train images): mAP@0.5 "
        f"{c['map50']}, mAP {c['map']}; fit {c['fit_cpu_s']} s CPU ({c['fit_wall_s']} s wall)"
    )
    print(f"scan with cross-validated boxes ({s['images']} images): {s['scan_cpu_s']} s CPU")
    for t in ("swapped_box", "badly_located_box", "overlooked_box"):
        print(f"  {t}: precision {s[t]['precision']}, recall {s[t]['recall']}")


BENCH = Benchmark(
    name="detector",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "torch", "numpy", "polars", "cleanlab", "faster-coco-eval"),
    options=options,
    quick_help="200 clean scenes, a 100-scene scan (written to a temp file)",
    targets=targets,
    summary=summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
