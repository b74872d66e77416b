"""Benchmark the kNN finders on 10 M embeddings and slice metrics on 100 M prediction rows.

Run ``python benchmarks/bench_scale_knn.py [--quick]``; writes
``benchmarks/results/scale_knn.json`` (``--quick``: a temp file unless ``--out``) and prints a
summary. Issue 15, items 4 and 5; the lead may fold these parts into ``bench_scale.py``.

Part 1 — kNN finders past memory. ``--knn-rows`` (full 10,000,000; quick 1,000,000) × 128
float32 embeddings, clustered (one centre per 500 rows, an 8-dimensional spread around it
plus isotropic noise, seeded), are written chunk by chunk to a ``.npy`` on disk and opened
memory-mapped (``np.load(path, mmap_mode="r")``), as ``datacentric scan --embeddings x.npy``
opens them. Timed in one job: the kNN graph (k=10, ``method="auto"``: IVF-PQ fast-scan +
exact re-rank at these sizes), then what the embedding finders compute from it: the
near-identical pairs (``relative_radius`` + ``embedding_pairs``), their clusters
(``clusters``) and the outlier score (mean distance, robust z of its log). Reported: wall
time per step, peak RSS of the job, and recall@10 against exact search on
``--recall-queries`` random rows (the exact neighbours found by a blocked scan of the file).
With ``--engine local|ray`` (``--workers``, ``--address``) the graph's queries are searched
in shards on that engine (``knn(..., engine=)``: the IVF path only; ``--knn-method ivf``
forces it at smoke sizes); the workers memory-map the same ``.npy`` by its path.

Part 2 — slice metrics at 100 M rows. ``--slice-rows`` (full 100,000,000; quick
10,000,000) prediction rows (10 classes as text, ~88 % accuracy, a confidence, 5 metadata
columns of 10 values each → 50 slices ``m<i>=v<j>``) are written to Parquet in chunks of
5 M rows. ``evaluate_frame(path, slices, confidence=..., classes=...)`` reads the file with
the polars streaming engine (never loaded whole). Reported: wall time and peak RSS.

Targets (issue 15): kNN finders at 10 M × 128 within 10 min and 8 GB; slices at 100 M rows
× 50 slices within 4 GB peak RSS. Every measurement is a job in a fresh interpreter; the data
is deleted after the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Benchmark, fmt, mib, ok, print_table, status_kib

DIM = 128
K = 10
CHUNK = 250_000
SLICE_CHUNK = 5_000_000
N_META, META_VALUES, K_CLASSES = 5, 10, 10


# --------------------------------------------------------------------------- part 1
def job_gen_emb(args: argparse.Namespace) -> dict[str, Any]:
    """Clustered float32 embeddings written chunk by chunk to a .npy (never all in RAM)."""
    n, path = int(args.n), Path(args.path)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(max(n // 500, 4), DIM)).astype(np.float32)
    basis = (rng.normal(size=(8, DIM)) / 3).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    t0 = time.perf_counter()
    for a in range(0, n, CHUNK):
        m = min(CHUNK, n - a)
        r = np.random.default_rng(a + 1)
        x = centres[r.integers(0, centres.shape[0], m)]
        x += r.standard_normal((m, 8), dtype=np.float32) @ basis
        x += 0.05 * r.standard_normal((m, DIM), dtype=np.float32)
        out[a : a + m] = x
        out.flush()
    del out
    return {"n": n, "dim": DIM, "bytes": path.stat().st_size, "gen_s": time.perf_counter() - t0}


def _exact_sample(base: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact k+1 nearest rows of ``base[rows]`` by a blocked scan (self included)."""
    from datacentric.issues.knn import normalize_rows, row_chunks

    q = normalize_rows(base[rows])
    best_s = np.full((q.shape[0], K + 1), -np.inf, np.float32)
    best_i = np.zeros((q.shape[0], K + 1), np.int64)
    for start, chunk in row_chunks(base, 262_144):
        s = q @ chunk.T
        top = np.argpartition(-s, K, axis=1)[:, : K + 1]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], axis=1)
        cand_i = np.concatenate([best_i, top + start], axis=1)
        o = np.argsort(-cand_s, axis=1, kind="stable")[:, : K + 1]
        best_s, best_i = np.take_along_axis(cand_s, o, 1), np.take_along_axis(cand_i, o, 1)
    return best_i


def job_knn(args: argparse.Namespace) -> dict[str, Any]:
    """kNN graph of the memory-mapped file, the finders' steps on it, recall on a sample."""
    from datacentric.issues._pairs import clusters, embedding_pairs, relative_radius
    from datacentric.issues.knn import knn

    base = np.load(args.path, mmap_mode="r")
    n = base.shape[0]
    times: dict[str, float] = {}
    engine_name = getattr(args, "engine", None)
    t0 = time.perf_counter()
    if engine_name:
        from datacentric.engine import get_engine
        from datacentric.engine.base import describe_engine

        with get_engine(
            engine_name,
            workers=getattr(args, "workers", None),
            address=getattr(args, "address", None),
        ) as eng:
            engine = describe_engine(eng)
            graph = knn(base, K, method=getattr(args, "method", "auto"), engine=eng)
    else:
        engine = "none (in-process)"
        graph = knn(base, K, method=getattr(args, "method", "auto"))
    times["knn_graph_s"] = time.perf_counter() - t0
    rss_graph = status_kib("VmHWM")
    t0 = time.perf_counter()
    pairs = embedding_pairs(graph, relative_radius(graph, 0.13))
    times["near_pairs_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cl = clusters(n, pairs)
    times["clusters_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dist = graph.distances.mean(axis=1).astype(np.float64)
    log_d = np.log(dist + 1e-6)
    med = float(np.median(log_d))
    z = (log_d - med) / max(float(np.median(np.abs(log_d - med))) * 1.4826, 1e-9)
    times["outlier_score_s"] = time.perf_counter() - t0
    finders_s = sum(times.values())
    rss_finders = status_kib("VmHWM")
    rows = np.sort(np.random.default_rng(1).choice(n, int(args.recall_queries), replace=False))
    t0 = time.perf_counter()
    exact = _exact_sample(base, rows)
    recall_s = time.perf_counter() - t0
    hits = [
        len(set(graph.indices[r].tolist()) & (set(e.tolist()) - {r})) / K
        for r, e in zip(rows, exact, strict=True)
    ]
    return {
        "n": n,
        "dim": base.shape[1],
        "knn_engine": engine,
        "knn_method": getattr(args, "method", "auto"),
        **{k: round(v, 2) for k, v in times.items()},
        "finders_total_s": round(finders_s, 2),
        "peak_rss_after_graph_mib": mib(rss_graph),
        "peak_rss_finders_mib": mib(rss_finders),
        "near_pairs": pairs.height,
        "clustered_rows": int((cl >= 0).sum()),
        "outliers_z_gt_4_5": int((z > 4.5).sum()),
        "recall_at_10_vs_exact": round(float(np.mean(hits)), 4),
        "recall_queries": int(args.recall_queries),
        "recall_exact_scan_s": round(recall_s, 1),
    }


# --------------------------------------------------------------------------- part 2
def job_gen_rows(args: argparse.Namespace) -> dict[str, Any]:
    """Prediction rows written to Parquet in chunks (one row group per chunk)."""
    import polars as pl

    n, path = int(args.n), Path(args.path)
    classes = pl.Series([f"c{i}" for i in range(K_CLASSES)])
    values = pl.Series([f"v{j}" for j in range(META_VALUES)])
    parts: list[Path] = []
    t0 = time.perf_counter()
    for a in range(0, n, SLICE_CHUNK):
        m = min(SLICE_CHUNK, n - a)
        r = np.random.default_rng(a + 7)
        label = r.integers(0, K_CLASSES, m)
        correct = r.random(m) < 0.88
        pred = np.where(correct, label, (label + r.integers(1, K_CLASSES, m)) % K_CLASSES)
        cols = {
            "label": classes.gather(label),
            "pred": classes.gather(pred),
            "confidence": np.where(correct, r.beta(8.0, 2.0, m), r.beta(3.0, 3.0, m)),
            **{f"m{i}": values.gather(r.integers(0, META_VALUES, m)) for i in range(N_META)},
        }
        parts.append(path.with_name(f"part{len(parts):04d}.parquet"))
        pl.DataFrame(cols).write_parquet(parts[-1])
    # one file, written by the streaming engine from the parts
    pl.concat([pl.scan_parquet(p, glob=False) for p in parts]).sink_parquet(path)
    for p in parts:
        p.unlink()
    return {"n": n, "bytes": path.stat().st_size, "gen_s": round(time.perf_counter() - t0, 1)}


def job_slices(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate_frame`` on the Parquet path: 50 slices, streaming."""
    from dataclasses import dataclass

    import polars as pl

    from datacentric.slices.metrics import evaluate_frame

    @dataclass(frozen=True)
    class S:
        name: str
        expr: pl.Expr
        columns: tuple[str, ...]

    slices = [
        S(f"m{i}=v{j}", pl.col(f"m{i}") == f"v{j}", (f"m{i}",))
        for i in range(N_META)
        for j in range(META_VALUES)
    ]
    t0 = time.perf_counter()
    table = evaluate_frame(
        args.path,
        slices,
        confidence="confidence",
        classes=[f"c{i}" for i in range(K_CLASSES)],
    )
    wall = time.perf_counter() - t0
    acc = table.filter((pl.col("slice") == "overall") & (pl.col("metric") == "accuracy"))
    return {
        "n": int(acc["n"][0]),
        "n_slices": len(slices),
        "evaluate_s": round(wall, 1),
        "table_rows": table.height,
        "overall_accuracy": round(float(acc["value"][0]), 4),
        "peak_rss_mib": mib(status_kib("VmHWM")),
    }


# --------------------------------------------------------------------------- run
def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--knn-rows", type=int, default=None, help="default 10M (quick 1M)")
    ap.add_argument("--slice-rows", type=int, default=None, help="default 100M (quick 10M)")
    ap.add_argument("--recall-queries", type=int, default=300)
    ap.add_argument("--data-dir", type=Path, default=None, help="where the data is generated")
    ap.add_argument("--skip-knn", action="store_true")
    ap.add_argument("--skip-slices", action="store_true")
    ap.add_argument(
        "--engine",
        choices=("local", "sequential", "ray"),
        default=None,
        help="search the kNN graph in shards on this engine (default: in-process)",
    )
    ap.add_argument("--workers", type=int, default=None, help="the engine's workers")
    ap.add_argument("--address", default=None, help="Ray cluster address (--engine ray)")
    ap.add_argument(
        "--knn-method",
        choices=("auto", "exact", "hnsw", "ivf"),
        default="auto",
        help="kNN method (ivf: sharded by --engine at any size)",
    )


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    import shutil
    import tempfile

    knn_rows = args.knn_rows or (1_000_000 if args.quick else 10_000_000)
    slice_rows = args.slice_rows or (10_000_000 if args.quick else 100_000_000)
    data = Path(tempfile.mkdtemp(prefix="bench_scale_knn_", dir=args.data_dir))
    res: dict[str, Any] = {
        "params": {
            "knn_rows": knn_rows,
            "dim": DIM,
            "k": K,
            "knn_engine": args.engine,
            "knn_workers": args.workers,
            "knn_method": args.knn_method,
            "slice_rows": slice_rows,
            "slices": N_META * META_VALUES,
        }
    }
    try:
        if not args.skip_knn:
            emb = data / "emb.npy"
            res["knn_data"] = jobs("gen_emb", n=knn_rows, path=str(emb))
            res["knn"] = jobs(
                "knn",
                path=str(emb),
                recall_queries=args.recall_queries,
                engine=args.engine,
                workers=args.workers,
                address=args.address,
                method=args.knn_method,
            )
            emb.unlink(missing_ok=True)
        if not args.skip_slices:
            pq = data / "preds.parquet"
            res["slice_data"] = jobs("gen_rows", n=slice_rows, path=str(pq))
            res["slices"] = jobs("slices", path=str(pq))
            pq.unlink(missing_ok=True)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return res


def targets(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    k = res.get("knn", {})
    if k and ok(k):
        wall = k["finders_total_s"]  # the graph included
        out["knn_10M_under_10_min"] = {
            "n": k["n"],
            "wall_s": round(wall, 1),
            "met": k["n"] >= 10_000_000 and wall < 600,
        }
        peak = k.get("peak_mib") or k.get("peak_rss_finders_mib")
        out["knn_10M_under_8_GB"] = {
            "n": k["n"],
            "peak_rss_mib": peak,
            "met": k["n"] >= 10_000_000 and peak is not None and peak < 8 * 1024,
        }
    s = res.get("slices", {})
    if s and ok(s):
        out["slices_100M_under_4_GB"] = {
            "n": s["n"],
            "peak_rss_mib": s["peak_rss_mib"],
            "met": s["n"] >= 100_000_000 and s["peak_rss_mib"] < 4 * 1024,
        }
    return out


def notes(res: dict[str, Any]) -> list[str]:
    p = res.get("params", {})
    return [
        f"Ran: kNN on {p.get('knn_rows'):,} x {DIM} embeddings, slices on "
        f"{p.get('slice_rows'):,} rows (full sizes are 10,000,000 and 100,000,000).",
        "The finders' steps are measured on the kNN graph without building a 10 M-row "
        "Dataset (the per-row detail strings and issue tables of scan are not included).",
        "The machine is shared (2 cores, other engineers' jobs running): wall times are upper "
        "bounds; machine.load_average_* records the load.",
        "A job that timed out or failed is recorded as such, not retried.",
    ]


def print_summary(res: dict[str, Any]) -> None:
    rows = []
    k = res.get("knn", {})
    if k and ok(k):
        rows.append(
            [
                "kNN graph",
                k["n"],
                fmt(k["knn_graph_s"], 1, " s"),
                fmt(k.get("peak_mib") or k["peak_rss_finders_mib"], 0, " MiB"),
            ]
        )
        rows.append(
            ["finders' steps", k["n"], fmt(k["finders_total_s"] - k["knn_graph_s"], 1, " s"), ""]
        )
        rows.append(
            ["recall@10 vs exact", k["recall_queries"], fmt(k["recall_at_10_vs_exact"]), ""]
        )
    elif k:
        rows.append(["kNN", "", "not finished", str({x: k[x] for x in k if x != "log_tail"})])
    s = res.get("slices", {})
    if s and ok(s):
        rows.append(
            [
                "slice metrics",
                s["n"],
                fmt(s["evaluate_s"], 1, " s"),
                fmt(s["peak_rss_mib"], 0, " MiB"),
            ]
        )
    elif s:
        rows.append(["slices", "", "not finished", str({x: s[x] for x in s if x != "log_tail"})])
    print_table("scale: kNN and slices", ["step", "rows", "wall", "peak RSS"], rows)


BENCH = Benchmark(
    name="scale_knn",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    jobs={"gen_emb": job_gen_emb, "knn": job_knn, "gen_rows": job_gen_rows, "slices": job_slices},
    packages=("datacentric", "numpy", "polars", "faiss-cpu"),
    options=options,
    quick_help="1M x 128 embeddings and 10M rows (written to a temp file)",
    timeout_s=1800.0,
    targets=targets,
    notes=notes,
    summary=print_summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
