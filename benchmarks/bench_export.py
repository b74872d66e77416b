"""Benchmark of compressed export on the bundled demo data.

Trains the default ``SmallCNNRecipe`` (seed 0) on the demo's train split, then
``datacentric.export.compress`` builds ONNX fp32, int8 (dynamic and static) and a 50 %-pruned
model and measures each: file size against fp32 (target: int8 <= 0.3), CPU latency p50/p95 at
batch 1 and 64 against torch eager on the same inputs in the same run (target: >= 2x faster at
batch 64), and accuracy overall and per slice (slices/demo.yaml) against the uncompressed model,
with the per-slice gate. Writes ``benchmarks/results/export.json``.

Run: ``.venv/bin/python benchmarks/bench_export.py [--threads N] [--repeats N] [--quick]``
(``--quick``: 5 timed runs per latency figure, written to a temp file).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from _harness import Benchmark, peak_mib

ROOT = Path(__file__).resolve().parents[1]


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    from datacentric.datasets import load_demo
    from datacentric.export import compress
    from datacentric.train import SmallCNNRecipe

    if args.quick:
        args.repeats = 5
    ds = load_demo(jobs.tmp / "demo")
    t0 = time.perf_counter()
    recipe = SmallCNNRecipe().fit(ds.split("train"), seed=0)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = compress(
        recipe,
        ds,
        slices=str(ROOT / "slices" / "demo.yaml"),
        out_dir=jobs.tmp / "export",
        latency_repeats=args.repeats,
        threads=args.threads,
        seed=0,
    )
    compress_s = time.perf_counter() - t0
    base = report.baseline
    torch64, torch1 = base.latency_ms["p50@64"], base.latency_ms["p50@1"]
    rows: dict[str, Any] = {}
    for a in report.artefacts:
        lat = a.latency_ms
        base_acc = base.slice_accuracy()
        slice_delta = {
            s: None if v is None or base_acc.get(s) is None else round(v - base_acc[s], 4)
            for s, v in a.slice_accuracy().items()
        }
        rows[a.target] = {
            "size_bytes": a.size_bytes,
            "size_ratio_vs_fp32": round(a.size_ratio, 4),
            "latency_ms": {k: round(v, 4) for k, v in lat.items()},
            "speedup_vs_torch_batch64": round(torch64 / lat["p50@64"], 2),
            "speedup_vs_torch_batch1": round(torch1 / lat["p50@1"], 2),
            "accuracy": round(a.accuracy, 4),
            "accuracy_delta": round(a.accuracy - base.accuracy, 4),
            "slice_accuracy_delta": slice_delta,
            "n_changed_predictions": a.changed.height,
            "gate_passed": a.gate.passed if a.gate is not None else None,
            "extra": a.extra,
        }
    int8 = [
        rows[t]["size_ratio_vs_fp32"]
        for t in ("onnx-int8-static", "onnx-int8-dynamic")
        if t in rows
    ]
    fast = {t: rows[t]["speedup_vs_torch_batch64"] for t in rows if t.startswith("onnx")}
    print(report.to_markdown())
    return {
        "config": {
            "threads": args.threads,
            "repeats": args.repeats,
            "recipe": recipe.name,
            "recipe_params": recipe.get_params(),
            "eval": f"demo test split ({len(ds.split('test'))})",
        },
        "timings_s": {"train": round(train_s, 2), "compress_all_targets": round(compress_s, 2)},
        "torch_eager": {
            "latency_ms": {k: round(v, 4) for k, v in base.latency_ms.items()},
            "accuracy": round(base.accuracy, 4),
            "size_bytes": base.size_bytes,
        },
        "targets_measured": rows,
        "targets": {
            "int8_size_ratio_le_0.3": {"measured": int8, "pass": all(r <= 0.3 for r in int8)},
            "onnx_ge_2x_faster_than_torch_at_batch64": {
                "measured": fast,
                "pass": max(fast.values(), default=0) >= 2.0,
                "note": "best ONNX form; each form's own figure is in targets_measured",
            },
            "gate": {"passed": report.passed, "failed_targets": report.failed_targets},
        },
        "sequential_check": _sequential_check(recipe, ds, report, args),
        **peak_mib(),
    }


def summary(res: dict[str, Any]) -> None:
    t = res["targets"]
    print(
        f"\ntorch eager batch64 p50 {res['torch_eager']['latency_ms']['p50@64']:.3f} ms; "
        f"speedups {t['onnx_ge_2x_faster_than_torch_at_batch64']['measured']}; int8 size "
        f"{t['int8_size_ratio_le_0.3']['measured']}"
    )
    print(f"sequential (one model after the other): {res['sequential_check']}")


def _sequential_check(recipe: Any, ds: Any, report: Any, args: Any) -> dict[str, Any]:
    """torch eager vs static int8 timed one after the other (not interleaved), batch 64.

    ``compress`` times all models interleaved; torch eager comes out slower that way (it
    shares caches with onnxruntime between calls), so this reports the other method too.
    """
    from datacentric.export.latency import measure, onnx_runner, torch_runner
    from datacentric.export.onnx import fitted_net, normalised_inputs, open_session

    fn = fitted_net(recipe)
    x = normalised_inputs(fn, ds.split("test"))[:64]
    out: dict[str, Any] = {"batch": 64, "repeats": args.repeats}
    t = measure(torch_runner(fn.net, args.threads), x, batch_sizes=(64,), repeats=args.repeats)
    out["torch_p50_ms"] = round(t["p50@64"], 4)
    for target in ("onnx-fp32", "onnx-int8-static"):
        path = report[target].path if target in [a.target for a in report.artefacts] else None
        if path is None:
            continue
        session = open_session(path, args.threads)
        m = measure(onnx_runner(session), x, batch_sizes=(64,), repeats=args.repeats)
        out[f"{target}_p50_ms"] = round(m["p50@64"], 4)
        out[f"{target}_speedup"] = round(t["p50@64"] / m["p50@64"], 2)
    return out


def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads, both runtimes")
    ap.add_argument("--repeats", type=int, default=30, help="timed runs per latency figure")


BENCH = Benchmark(
    name="export",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "torch", "onnx", "onnxruntime", "numpy"),
    options=options,
    quick_help="5 timed runs per latency figure (written to a temp file)",
    summary=summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
