"""Benchmark of the detector export on the detection demo (issue 18, part 5).

Trains the default ``CenterNetRecipe`` (seed 0) on the train split of the detection demo with
its true boxes (planted problems removed), then ``datacentric.export.export_detector`` builds
ONNX fp32 and int8 (dynamic and static) forms and measures each: file size against fp32
(issue target: int8 <= 0.3), CPU latency of the network (p50/p95 at batch 1 and 16, torch
eager timed in the same interleaved rounds; decoding excluded, it runs outside the graph for
every form alike) and mAP@0.5 overall and per slice against the torch model, with paired
bootstrap intervals and the per-slice gate. Writes ``benchmarks/results/export_detection.json``.

Run: ``.venv/bin/python benchmarks/bench_export_detection.py [--epochs N] [--threads N]
[--repeats N] [--quick]`` (``--quick``: 5 epochs, 5 timed runs, written to a temp file).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from _harness import Benchmark, peak_mib


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    import polars as pl

    from datacentric import Dataset
    from datacentric.datasets import load_detection_demo, load_detection_ground_truth
    from datacentric.export import export_detector
    from datacentric.train import CenterNetRecipe

    if args.quick:
        args.repeats, args.epochs = 5, 5
    root = jobs.tmp / "det"
    demo = load_detection_demo(root, commit=False)
    truth = load_detection_ground_truth(root).boxes.filter(pl.col("problem") != "duplicate")
    boxes = truth.select(
        "annotation_id",
        "sample_id",
        pl.col("true_label").alias("label"),
        *(pl.col(f"true_{c}").alias(c) for c in "xywh"),
    )
    ds = Dataset(demo.manifest, demo.classes, root, annotations=boxes)
    t0 = time.perf_counter()
    recipe = CenterNetRecipe(epochs=args.epochs).fit(ds.split("train"), seed=0)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = export_detector(
        recipe,
        ds,
        targets=["onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static"],
        out_dir=jobs.tmp / "export",
        max_drop=0.01,
        latency_repeats=args.repeats,
        threads=args.threads,
        seed=0,
    )
    export_s = time.perf_counter() - t0
    base = report.baseline
    rows: dict[str, Any] = {}
    for a in report.artefacts:
        assert a.verdict is not None
        lat = a.latency_ms
        rows[a.target] = {
            "size_bytes": a.size_bytes,
            "size_ratio_vs_fp32": round(a.size_ratio, 4),
            "latency_ms": {k: round(v, 4) for k, v in lat.items()},
            "speedup_vs_torch_batch1": round(base.latency_ms["p50@1"] / lat["p50@1"], 2),
            "speedup_vs_torch_batch16": round(base.latency_ms["p50@16"] / lat["p50@16"], 2),
            "map50": round(a.map50, 4),
            "map50_delta": round(a.map50 - base.map50, 4),
            "slice_map50_delta": {
                r["slice"]: None
                if r["diff"] is None
                else {
                    "diff": round(r["diff"], 4),
                    "ci": [round(r["ci_low"], 4), round(r["ci_high"], 4)],
                    "n": r["n"],
                    "gate": r["gate"],
                }
                for r in a.verdict.iter_rows(named=True)
            },
            "gate_passed": a.passed,
            "extra": a.extra,
        }
    ratios = [rows[t]["size_ratio_vs_fp32"] for t in ("onnx-int8-static", "onnx-int8-dynamic")]
    print(report.to_markdown())
    return {
        "config": {
            "threads": args.threads,
            "repeats": args.repeats,
            "recipe_params": recipe.get_params(),
            "eval": f"detection demo test split ({len(ds.split('test'))} images)",
        },
        "timings_s": {"train": round(train_s, 2), "export_all_targets": round(export_s, 2)},
        "torch_eager": {
            "latency_ms": {k: round(v, 4) for k, v in base.latency_ms.items()},
            "map50": round(base.map50, 4),
            "size_bytes": base.size_bytes,
        },
        "targets_measured": rows,
        "targets": {
            "int8_size_ratio_le_0.3": {"measured": ratios, "pass": all(r <= 0.3 for r in ratios)},
            "gate": {"passed": report.passed, "failed_targets": report.failed_targets},
        },
        **peak_mib(),
    }


def summary(res: dict[str, Any]) -> None:
    t = res["targets_measured"]
    print(
        f"\ntorch mAP@0.5 {res['torch_eager']['map50']}, p50 batch1/16 "
        f"{res['torch_eager']['latency_ms']['p50@1']:.3f}/"
        f"{res['torch_eager']['latency_ms']['p50@16']:.3f} ms"
    )
    for name, r in t.items():
        print(
            f"{name}: size {r['size_ratio_vs_fp32']}x fp32, speed-up b1 "
            f"{r['speedup_vs_torch_batch1']}x b16 {r['speedup_vs_torch_batch16']}x, "
            f"mAP@0.5 {r['map50']} ({r['map50_delta']:+}), gate {r['gate_passed']}"
        )


def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--epochs", type=int, default=40, help="training epochs of the detector")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads, both runtimes")
    ap.add_argument("--repeats", type=int, default=30, help="timed runs per latency figure")


BENCH = Benchmark(
    name="export_detection",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "torch", "onnx", "onnxruntime", "numpy"),
    options=options,
    quick_help="5 epochs, 5 timed runs per latency figure (written to a temp file)",
    summary=summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
