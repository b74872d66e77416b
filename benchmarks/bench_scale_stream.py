"""Streaming: ``scan`` with given predictions and embeddings at 100k, 300k and 1M images.

Run ``python benchmarks/bench_scale_stream.py [--quick] [--sizes 100000,300000,1000000]``;
writes ``benchmarks/results/scale_stream.json`` (``--quick``: 5k, 15k, 50k images, to a temp
file unless ``--out``) and prints a summary. Issue 15, "Streaming" benchmark.

Data (not timed as part of the scan). One dataset folder grows from the smallest size to the
largest: image ``i`` is the same file whatever the size, so the sizes are prefixes of one
another. Each image is a 32×32 RGB PNG (``compress_level=1``) under ``images/<i // 1000>/``:
a class colour block on seeded noise, so every image is distinct — except image ``i`` with
``i % DUP_EVERY == DUP_EVERY - 1``, an exact copy of image ``i - 1`` (planted duplicates, with
the same embedding). ``manifest.parquet`` (``sample_id, image, label, split``: 10 classes,
5 % of labels flipped, every 5th sample in ``test``) and ``classes.txt`` are rewritten per
size. ``pred_probs.npy`` (N × 10 float64, peaked on the true class, so the flipped labels
are label errors) and ``embeddings.npy`` (N × 64 float32, 20 clusters per class plus
noise) are written chunk by chunk. Generation uses every core (``multiprocessing``).

Measured, one job per size in a fresh interpreter (peak RSS its own): ``Dataset.from_folder``
(``load_s``), then ``scan(ds, pred_probs.npy, embeddings.npy)`` with every registered finder
(the ``.npy`` paths are memory-mapped, as ``datacentric scan --pred-probs/--embeddings``
reads them; ``scan_s`` and the scan's own per-step ``result.timings``), then
``result.save`` (``save_s``). The exponent of time against N is the slope of a least-squares
fit of ``log(time)`` on ``log(N)`` (``scipy.stats.linregress``: slope and its standard
error), for the scan and for every step, so a superlinear step is named.

Targets (issue 15): scan-time exponent <= 1.1 and peak RSS < 4 GB at 1M images. The data
is deleted after the run (unless ``--data DIR`` keeps it for a later run). ``--profile``
adds the top cProfile entries of each scan.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Benchmark, fmt, mib, ok, print_table, status_kib

CLASSES = [f"c{i}" for i in range(10)]
K = len(CLASSES)
DIM = 64
DUP_EVERY = 5000
FLIP = 0.05
CHUNK = 10_000  # images per generation task (a chunk is the unit of seeding)
PER_DIR = 1000
GB = 1024.0  # MiB


# --------------------------------------------------------------------------- data
def _image(i: int, rng: np.random.Generator, label: int) -> np.ndarray:
    img = rng.integers(64, 192, (32, 32, 3), dtype=np.uint8)
    y, x = (label // 5) * 12 + 4, (label % 5) * 5 + 2
    img[y : y + 12, x : x + 8] = np.array(
        [(37 * label) % 256, (91 * label + 40) % 256, (151 * label + 80) % 256], np.uint8
    )
    return img


def _chunk_labels(c: int) -> tuple[np.ndarray, np.ndarray]:
    """True and given labels of chunk ``c`` (seeded by the chunk, whatever the size)."""
    rng = np.random.default_rng([c, 1])
    true = rng.integers(0, K, CHUNK)
    flip = rng.random(CHUNK) < FLIP
    given = np.where(flip, (true + rng.integers(1, K, CHUNK)) % K, true)
    # a planted duplicate is a copy of the previous image: same label, same true class
    for j in range(DUP_EVERY - 1, CHUNK, DUP_EVERY):
        true[j], given[j] = true[j - 1], given[j - 1]
    return true, given


def _write_chunk(task: tuple[str, int, int, int]) -> int:
    """Write images ``[a, b)`` of chunk ``c`` (PNGs, compress_level=1)."""
    from PIL import Image

    root, c, a, b = task
    true, _ = _chunk_labels(c)
    rng = np.random.default_rng([c, 2])
    prev = None
    written = 0
    for i in range(c * CHUNK, min(b, (c + 1) * CHUNK)):
        img = _image(i, rng, int(true[i - c * CHUNK]))
        if i % DUP_EVERY == DUP_EVERY - 1 and prev is not None:
            img = prev
        prev = img
        if i < a:
            continue
        d = Path(root) / "images" / f"{i // PER_DIR:04d}"
        if i % PER_DIR == 0 or i == a:
            d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i:07d}.png", compress_level=1)
        written += 1
    return written


def _arrays(c: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``pred_probs`` (m × K float64) and embeddings (m × DIM float32) of chunk ``c``."""
    true, _ = _chunk_labels(c)
    rng = np.random.default_rng([c, 3])
    logits = rng.normal(0.0, 1.0, (CHUNK, K))
    logits[np.arange(CHUNK), true] += 4.0
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    centres = np.random.default_rng(7).normal(0.0, 1.0, (K, 20, DIM)).astype(np.float32)
    sub = rng.integers(0, 20, CHUNK)
    emb = centres[true, sub] + 0.3 * rng.standard_normal((CHUNK, DIM), dtype=np.float32)
    for j in range(DUP_EVERY - 1, CHUNK, DUP_EVERY):
        p[j], emb[j] = p[j - 1], emb[j - 1]
    return p[:m], emb[:m]


def job_gen(args: argparse.Namespace) -> dict[str, Any]:
    """Grow the dataset folder from ``have`` to ``n`` images; rewrite manifest and arrays."""
    import polars as pl

    root, n, have = Path(args.root), int(args.n), int(args.have)
    t0 = time.perf_counter()
    tasks = [
        (str(root), c, max(have, c * CHUNK), min(n, (c + 1) * CHUNK))
        for c in range(have // CHUNK, (n + CHUNK - 1) // CHUNK)
        if max(have, c * CHUNK) < min(n, (c + 1) * CHUNK)
    ]
    with mp.get_context("fork").Pool(int(args.gen_workers)) as pool:
        written = sum(pool.imap_unordered(_write_chunk, tasks))
    images_s = time.perf_counter() - t0
    given = np.concatenate([_chunk_labels(c)[1] for c in range((n + CHUNK - 1) // CHUNK)])[:n]
    ids = np.arange(n)
    pl.DataFrame(
        {
            "sample_id": pl.Series([f"s{i:07d}" for i in ids]),
            "image": pl.Series([f"images/{i // PER_DIR:04d}/{i:07d}.png" for i in ids]),
            "label": pl.Series(CLASSES).gather(given),
            "split": pl.Series(["train", "train", "train", "train", "test"]).gather(ids % 5),
        }
    ).write_parquet(root / "manifest.parquet")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    pp = np.lib.format.open_memmap(root / "pred_probs.npy", "w+", np.float64, (n, K))
    em = np.lib.format.open_memmap(root / "embeddings.npy", "w+", np.float32, (n, DIM))
    for c in range((n + CHUNK - 1) // CHUNK):
        a = c * CHUNK
        m = min(CHUNK, n - a)
        pp[a : a + m], em[a : a + m] = _arrays(c, m)
    pp.flush()
    em.flush()
    del pp, em
    sample = [
        root / f"images/{i // PER_DIR:04d}/{i:07d}.png" for i in range(0, n, max(1, n // 1000))
    ]
    size = n * float(np.mean([f.stat().st_size for f in sample]))  # from 1,000 of the files
    return {
        "n": n,
        "images_written": written,
        "images_bytes_estimated": int(size),
        "images_s": round(images_s, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "planted_duplicates": n // DUP_EVERY,
    }


# --------------------------------------------------------------------------- scan
def job_scan(args: argparse.Namespace) -> dict[str, Any]:
    """``from_folder`` + ``scan`` with the given arrays (every finder) + ``save``."""
    from datacentric.dataset import Dataset
    from datacentric.issues import scan

    root = Path(args.root)
    t0 = time.perf_counter()
    ds = Dataset.from_folder(root)
    load_s = time.perf_counter() - t0
    rss_load = status_kib("VmHWM")
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    result = scan(ds, root / "pred_probs.npy", root / "embeddings.npy", cross_validate=False)
    scan_s = time.perf_counter() - t0
    if prof is not None:
        prof.disable()
    rss_scan = status_kib("VmHWM")
    t0 = time.perf_counter()
    result.save(Path(args.out_dir) / "scan.parquet")
    save_s = time.perf_counter() - t0
    flagged = (
        result.issues.filter("is_issue").group_by("issue_type").len().sort("issue_type").rows()
    )
    out: dict[str, Any] = {
        "n": len(ds),
        "load_s": round(load_s, 2),
        "scan_s": round(scan_s, 2),
        "save_s": round(save_s, 2),
        "steps_s": {k: round(v, 2) for k, v in result.timings.items()},
        "skipped": result.skipped,
        "issue_rows": result.issues.height,
        "flagged": dict(flagged),
        "peak_rss_after_load_mib": mib(rss_load),
        "peak_rss_after_scan_mib": mib(rss_scan),
        "peak_rss_mib_vmhwm": mib(status_kib("VmHWM")),
    }
    if prof is not None:
        import io
        import pstats

        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        out["profile_tottime"] = buf.getvalue().splitlines()[:60]
    return out


# --------------------------------------------------------------------------- fit
def fit(ns: list[int], ts: list[float]) -> dict[str, Any] | None:
    """Slope of log(t) on log(n) with its standard error (needs 3 points, t > 0)."""
    from scipy.stats import linregress

    pts = [(n, t) for n, t in zip(ns, ts, strict=True) if t and t > 0]
    if len(pts) < 3:
        return None
    r = linregress(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]))
    return {"exponent": round(float(r.slope), 3), "stderr": round(float(r.stderr), 3)}


# --------------------------------------------------------------------------- run
def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", default=None, help="default 100000,300000,1000000 (quick 5k..50k)")
    ap.add_argument("--gen-workers", type=int, default=None, help="default: every core")
    ap.add_argument("--data-dir", type=Path, default=None, help="where the data is generated")
    ap.add_argument("--profile", action="store_true", help="cProfile the scans")
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="keep the dataset in this folder (reused by a later run: the images already "
        "written there are not written again); default: a temp folder, deleted after",
    )
    ap.add_argument("--gen-only", action="store_true", help="generate the data, scan nothing")


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    import os

    default = "5000,15000,50000" if args.quick else "100000,300000,1000000"
    sizes = sorted(int(s) for s in (args.sizes or default).split(","))
    args.gen_workers = args.gen_workers or os.cpu_count() or 1
    keep = args.data is not None
    data = args.data or Path(tempfile.mkdtemp(prefix="bench_scale_stream_", dir=args.data_dir))
    res: dict[str, Any] = {
        "params": {
            "sizes": sizes,
            "image": "32x32 RGB PNG, compress_level=1",
            "classes": K,
            "label_flip": FLIP,
            "embedding_dim": DIM,
            "planted_duplicate_every": DUP_EVERY,
            "finders": "every registered finder (defaults)",
        },
        "data": {},
        "scan": {},
    }
    try:
        root, out_dir = data / "ds", data / "out"
        root.mkdir(parents=True, exist_ok=True)
        out_dir.mkdir(exist_ok=True)
        marker = root / "n_images"  # images 0 .. n_images - 1 are on disk
        for n in sizes:
            have = int(marker.read_text()) if marker.exists() else 0
            res["data"][str(n)] = g = jobs("gen", tag=f"gen_{n}", root=str(root), n=n, have=have)
            if not ok(g):
                break
            marker.write_text(str(max(have, n)))
            if not args.gen_only:
                res["scan"][str(n)] = jobs(
                    "scan", tag=f"scan_{n}", root=str(root), out_dir=str(out_dir)
                )
    finally:
        if not keep:
            shutil.rmtree(data, ignore_errors=True)
    done = [(int(n), r) for n, r in res["scan"].items() if ok(r)]
    ns = [n for n, _ in done]
    res["fit"] = {
        "scan_s": fit(ns, [r["scan_s"] for _, r in done]),
        "load_scan_save_s": fit(ns, [r["load_s"] + r["scan_s"] + r["save_s"] for _, r in done]),
        "steps": {
            step: fit(ns, [r["steps_s"].get(step, 0.0) for _, r in done])
            for step in (done[-1][1]["steps_s"] if done else {})
        },
    }
    return res


def _peak(r: dict[str, Any]) -> float:
    return float(r.get("peak_rss_mib") or r.get("peak_rss_mib_vmhwm") or 0.0)


def targets(res: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    f = res.get("fit", {}).get("scan_s")
    big = [(int(n), r) for n, r in res.get("scan", {}).items() if ok(r)]
    if f:  # the issue's target is over 100k .. 1M images
        sizes = sorted(n for n, _ in big)
        met = f["exponent"] <= 1.1 and sizes[-1] >= 1_000_000
        out["scan_time_exponent_le_1_1"] = {**f, "sizes": sizes, "met": met}
    if big:
        n, r = max(big)
        out["peak_rss_under_4_GB_at_1M"] = {
            "n": n,
            "peak_rss_mib": _peak(r),
            "met": n >= 1_000_000 and _peak(r) < 4 * GB,
        }
    return out


def notes(res: dict[str, Any]) -> list[str]:
    steps = res.get("fit", {}).get("steps", {})
    worst = sorted(((v["exponent"], k) for k, v in steps.items() if v), reverse=True)[:3]
    return [
        f"Sizes run: {res.get('params', {}).get('sizes')} (the issue's are 100k, 300k, 1M).",
        "Steps with the largest fitted exponents: " + ", ".join(f"{k} {e:.2f}" for e, k in worst),
        "Exponents are fitted on three sizes; steps of under a second are noisy.",
        "The machine is shared (2 cores, another helper's jobs may run): wall times are upper "
        "bounds; machine.load_average_* records the load.",
    ]


def print_summary(res: dict[str, Any]) -> None:
    rows = []
    for n, r in res.get("scan", {}).items():
        if ok(r):
            rows.append(
                [
                    n,
                    fmt(r["load_s"], 1, " s"),
                    fmt(r["scan_s"], 1, " s"),
                    fmt(r["save_s"], 1, " s"),
                    fmt(_peak(r), 0, " MiB"),
                ]
            )
        else:
            why = str({k: v for k, v in r.items() if k != "log_tail"})
            rows.append([n, "not finished", why, "", ""])
    print_table("streaming scan", ["n", "load", "scan", "save", "peak RSS"], rows)
    f = res.get("fit", {})
    steps = [
        [k, fmt(v and v["exponent"]), fmt(v and v["stderr"])] for k, v in f.get("steps", {}).items()
    ]
    if f.get("scan_s"):
        steps.insert(0, ["scan (total)", f["scan_s"]["exponent"], f["scan_s"]["stderr"]])
    print_table("fitted exponent of time vs N", ["step", "exponent", "stderr"], steps)


BENCH = Benchmark(
    name="scale_stream",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    jobs={"gen": job_gen, "scan": job_scan},
    packages=("datacentric", "numpy", "polars", "pillow", "faiss-cpu", "cleanlab"),
    options=options,
    quick_help="5k, 15k, 50k images (written to a temp file)",
    timeout_s=3600.0,
    targets=targets,
    notes=notes,
    summary=print_summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
