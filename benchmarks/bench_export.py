"""Benchmark of compressed export on the bundled demo data: every form, on two models.

For each of the default ``SmallCNNRecipe`` (90k parameters) and ``ResNet18Recipe`` (11.2M,
trained from scratch: ``weights=None``, nothing downloaded), trained with seed 0 on the
demo's train split, ``datacentric.export.compress`` builds every target — ONNX fp32, int8
dynamic, int8 static (PTQ), QAT int8 (quantization-aware fine-tuning, then static int8), 50 %
pruned, a distilled small-CNN student (fp32 and static int8) — and measures each against the
uncompressed torch model in the same run: file size against fp32, CPU latency p50/p95 at
batch 1 and 64 (1 thread inside compress; then every form again with all cores, each model
timed on its own, one after the other), accuracy overall, per slice (slices/demo.yaml) and per
class (recall), and the per-slice gate. Writes ``benchmarks/results/export.json``.

Targets (issues 12 and 19): int8 size <= 0.3x fp32; an ONNX form >= 2x faster than torch at
batch 64 (small CNN); on ResNet-18, QAT int8 recovers at least half of static PTQ's
worst-slice accuracy drop (or both are within 0.5 pt), and the distilled student is >= 5x
smaller than the teacher with overall accuracy >= teacher - 1 pt and no slice worse than
-2 pt (or the gate says which slice failed and why).

Run: ``.venv/bin/python benchmarks/bench_export.py [--threads N] [--repeats N]
[--recipes small_cnn,resnet18] [--quick]`` (``--quick``: 5 timed runs per latency figure,
written to a temp file).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from _harness import Benchmark, peak_mib

ROOT = Path(__file__).resolve().parents[1]

#: Every classification target. The small CNN's student is half its width. ResNet-18's
#: students: the default (width 16) and width 32, the student chosen on another draw of the
#: demo (``load_demo(seed=1)``: widths 16/32 x 12/30 epochs; 32 x 30 had no slice below
#: -0.5 pt there), so that the figures below are not picked on the data they are reported on.
TARGETS = {
    "small_cnn": "onnx-fp32,onnx-int8-dynamic,onnx-int8-static,qat-int8,pruned-50,"
    "distilled-small_cnn-w8,distilled-small_cnn-w8-int8",
    "resnet18": "onnx-fp32,onnx-int8-dynamic,onnx-int8-static,qat-int8,pruned-50,"
    "distilled-small_cnn,distilled-small_cnn-w32,distilled-small_cnn-w32-int8",
}


def _recipe(name: str) -> Any:
    from datacentric.train import ResNet18Recipe, SmallCNNRecipe

    return SmallCNNRecipe() if name == "small_cnn" else ResNet18Recipe()


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def _class_recall(metrics: Any) -> dict[str, float | None]:
    t = metrics.to_polars()
    t = t.filter((t["slice"] == "overall") & t["metric"].str.starts_with("recall["))
    return {str(r["metric"])[7:-1]: _r(r["value"]) for r in t.iter_rows(named=True)}


def _all_threads_latency(report: Any, recipe: Any, ds: Any, args: Any) -> dict[str, Any]:
    """Every form and torch again with all cores, each timed on its own, one after the other.

    Not interleaved as inside ``compress``: with every core busy, onnxruntime's worker threads
    keep spinning after a call and starve the torch call that follows (torch eager at 2
    threads measured 116 ms vs 8 ms at batch 1 that way), so each model gets the machine to
    itself here.
    """
    from datacentric.export.latency import measure, onnx_runner, torch_runner
    from datacentric.export.onnx import fitted_net, normalised_inputs, open_session

    threads = os.cpu_count() or 1
    fn = fitted_net(recipe)
    x = normalised_inputs(fn, ds.split("test"))[:64]
    lat = {"torch": measure(torch_runner(fn.net, threads), x, repeats=args.repeats)}
    for a in report.artefacts:
        session = open_session(a.path, threads)
        lat[a.target] = measure(onnx_runner(session), x, repeats=args.repeats)
        del session
    return {"threads": threads, "latency_ms": lat, "timing": "one model after the other"}


def _one(name: str, ds: Any, args: Any, jobs: Any) -> dict[str, Any]:
    from datacentric.export import compress

    recipe = _recipe(name)
    t0 = time.perf_counter()
    recipe.fit(ds.split("train"), seed=0)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = compress(
        recipe,
        ds,
        targets=TARGETS[name],
        slices=str(ROOT / "slices" / "demo.yaml"),
        out_dir=jobs.tmp / f"export-{name}",
        latency_repeats=args.repeats,
        threads=args.threads,
        seed=0,
    )
    compress_s = time.perf_counter() - t0
    print(report.to_markdown())
    many = _all_threads_latency(report, recipe, ds, args)
    base = report.baseline
    base_acc, base_rec = base.slice_accuracy(), _class_recall(base.metrics)
    all_lat = many["latency_ms"]
    rows: dict[str, Any] = {}
    for a in report.artefacts:
        lat, lat_all = a.latency_ms, all_lat[a.target]
        worst, worst_change = a.worst_slice
        rec = _class_recall(a.metrics)
        rows[a.target] = {
            "size_bytes": a.size_bytes,
            "size_ratio_vs_fp32": round(a.size_ratio, 4),
            "size_ratio_vs_torch": round(a.size_bytes / base.size_bytes, 4),
            "latency_ms_1_thread": {k: round(v, 4) for k, v in lat.items()},
            f"latency_ms_{many['threads']}_threads": {k: round(v, 4) for k, v in lat_all.items()},
            "speedup_vs_torch": {
                f"batch{b}_1_thread": round(base.latency_ms[f"p50@{b}"] / lat[f"p50@{b}"], 2)
                for b in (1, 64)
            }
            | {
                f"batch{b}_{many['threads']}_threads": round(
                    all_lat["torch"][f"p50@{b}"] / lat_all[f"p50@{b}"], 2
                )
                for b in (1, 64)
            },
            "accuracy": round(a.accuracy, 4),
            "accuracy_delta": round(a.accuracy - base.accuracy, 4),
            "worst_slice": worst,
            "worst_slice_change": _r(worst_change),
            "slice_accuracy_delta": {
                s: None if v is None or base_acc.get(s) is None else round(v - base_acc[s], 4)
                for s, v in a.slice_accuracy().items()
            },
            "class_recall_delta": {
                c: None if v is None or base_rec.get(c) is None else round(v - base_rec[c], 4)
                for c, v in rec.items()
            },
            "n_changed_predictions": a.changed.height,
            "gate_passed": a.gate.passed if a.gate is not None else None,
            "gate_failed_slices": [] if a.gate is None else a.gate.failures["slice"].to_list(),
            "extra": a.extra,
        }
    return {
        "recipe": recipe.name,
        "recipe_params": recipe.get_params(),
        "parameters": int(sum(p.numel() for p in recipe._net.parameters())),
        "targets_run": TARGETS[name].split(","),
        "timings_s": {"train": round(train_s, 2), "compress_all_targets": round(compress_s, 2)},
        "torch_eager": {
            "latency_ms_1_thread": {k: round(v, 4) for k, v in base.latency_ms.items()},
            f"latency_ms_{many['threads']}_threads": {
                k: round(v, 4) for k, v in all_lat["torch"].items()
            },
            "accuracy": round(base.accuracy, 4),
            "class_recall": base_rec,
            "size_bytes": base.size_bytes,
        },
        "forms": rows,
        "gate": {"passed": report.passed, "failed_targets": report.failed_targets},
        "_report": report,
        "_recipe": recipe,
    }


def _qat_target(forms: dict[str, Any]) -> dict[str, Any]:
    ptq = forms["onnx-int8-static"]["worst_slice_change"] or 0.0
    qat = forms["qat-int8"]["worst_slice_change"] or 0.0
    ptq_drop, qat_drop = max(0.0, -ptq), max(0.0, -qat)
    both_small = ptq_drop <= 0.005 and qat_drop <= 0.005
    recovered = None if ptq_drop == 0 else round((ptq_drop - qat_drop) / ptq_drop, 3)
    return {
        "ptq_worst_slice": forms["onnx-int8-static"]["worst_slice"],
        "ptq_worst_slice_change": ptq,
        "qat_worst_slice": forms["qat-int8"]["worst_slice"],
        "qat_worst_slice_change": qat,
        "share_of_ptq_drop_recovered": recovered,
        "both_within_0.5pt": both_small,
        "pass": both_small or (recovered is not None and recovered >= 0.5),
    }


def _distilled_target(one: dict[str, Any], form: str) -> dict[str, Any]:
    d = one["forms"][form]
    smaller = one["torch_eager"]["size_bytes"] / d["size_bytes"]
    slices = {s: v for s, v in d["slice_accuracy_delta"].items() if v is not None}
    worst = min(slices.items(), key=lambda kv: kv[1]) if slices else (None, None)
    ok = smaller >= 5 and d["accuracy_delta"] >= -0.01 and (worst[1] is None or worst[1] >= -0.02)
    return {
        "form": form,
        "times_smaller_than_teacher": round(smaller, 1),
        "accuracy_delta": d["accuracy_delta"],
        "worst_slice": worst[0],
        "worst_slice_change": worst[1],
        "pass": ok,
        "gate_passed": d["gate_passed"],
        "gate_failed_slices": d["gate_failed_slices"],
    }


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    from datacentric.datasets import load_demo

    if args.quick:
        args.repeats = 5
    ds = load_demo(jobs.tmp / "demo")
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    runs = {n: _one(n, ds, args, jobs) for n in names}
    targets: dict[str, Any] = {}
    if "small_cnn" in runs:
        forms = runs["small_cnn"]["forms"]
        int8 = {t: forms[t]["size_ratio_vs_fp32"] for t in ("onnx-int8-static", "qat-int8")}
        fast = {t: forms[t]["speedup_vs_torch"]["batch64_1_thread"] for t in forms}
        targets["small_cnn_int8_size_ratio_le_0.3"] = {
            "measured": int8,
            "pass": all(r <= 0.3 for r in int8.values()),
        }
        targets["small_cnn_onnx_ge_2x_faster_than_torch_at_batch64"] = {
            "measured": fast,
            "pass": max(fast.values(), default=0) >= 2.0,
        }
    if "resnet18" in runs:
        forms = runs["resnet18"]["forms"]
        targets["resnet18_qat_recovers_half_of_ptq_worst_slice_drop"] = _qat_target(forms)
        one = runs["resnet18"]
        targets["resnet18_distilled_5x_smaller_within_1pt_no_slice_below_2pt"] = _distilled_target(
            one, "distilled-small_cnn-w32"
        )
        targets["resnet18_distilled_int8"] = _distilled_target(one, "distilled-small_cnn-w32-int8")
        targets["resnet18_distilled_default_width16"] = _distilled_target(
            one, "distilled-small_cnn"
        )
        targets["resnet18_int8_size_ratio_le_0.3"] = {
            "measured": {
                t: forms[t]["size_ratio_vs_fp32"] for t in ("onnx-int8-static", "qat-int8")
            },
        }
    checks = {
        n: _sequential_check(r.pop("_recipe"), ds, r.pop("_report"), args) for n, r in runs.items()
    }
    return {
        "config": {
            "threads": args.threads,
            "all_threads": os.cpu_count(),
            "repeats": args.repeats,
            "eval": f"demo test split ({len(ds.split('test'))})",
            "what_each_side_ran": (
                "torch eager (inference_mode) vs onnxruntime CPU sessions of each artefact, same "
                "inputs (the first 1 / 64 normalised test images), same thread count, timed "
                "interleaved round by round"
            ),
        },
        "recipes": runs,
        "targets": targets,
        "sequential_check": checks,
        **peak_mib(),
    }


def summary(res: dict[str, Any]) -> None:
    for name, one in res["recipes"].items():
        print(f"\n{name}: torch accuracy {one['torch_eager']['accuracy']}")
        for t, f in one["forms"].items():
            print(
                f"  {t:30s} size x{f['size_ratio_vs_torch']:.3f} of torch, acc "
                f"{f['accuracy']:.4f} ({f['accuracy_delta']:+.4f}), worst slice "
                f"{f['worst_slice']} {f['worst_slice_change']}, speedup {f['speedup_vs_torch']}"
            )
    for k, v in res["targets"].items():
        print(f"{k}: {v}")


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
    ap.add_argument(
        "--recipes", default="small_cnn,resnet18", help="comma-separated: small_cnn,resnet18"
    )


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
