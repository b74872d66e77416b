"""Benchmark the dataset package on a 100,000-row manifest.

Run ``python benchmarks/bench_dataset.py [--quick]``; writes
``benchmarks/results/dataset.json`` (``--quick``: 10,000 rows and 1,000 relabels, written to a
temp file).

Measured (each repeated 3 times; median and all runs reported):

a. ``Dataset.from_folder`` on ``manifest.parquet`` with metadata columns, with
   ``check_images="exists"`` (the default) and ``"none"``; the peer is a bare
   ``polars.read_parquet`` of the same file in the same run, reported as a ratio.
b. A commit with 10,000 relabels: ``relabel()`` and ``commit()`` timed separately and
   together.
c. ``Dataset.open`` of HEAD (default checks, i.e. every image is stat-ed).
d. Peak memory: ``ru_maxrss`` of the process and the ``tracemalloc`` peak of one load
   (Python allocations only; polars' Rust buffers are not traced).

The target is under 2 s for each timed item on a 2-core machine. The images exist on
disk: one small PNG hard-linked 100,000 times under a temporary directory (copied once
more where the filesystem's per-file link limit is reached), removed at the end.
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _harness import Benchmark, peak_mib
from PIL import Image

from datacentric.dataset import Dataset

N_ROWS = 100_000
N_RELABEL = 10_000
REPEATS = 3
TARGET_S = 2.0
CLASSES = [f"class_{i}" for i in range(10)]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _stats(times: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(times), 4), "runs_s": [round(t, 4) for t in times]}


def _repeat(fn: Callable[[], Any]) -> dict[str, Any]:
    return _stats([_timed(fn)[0] for _ in range(REPEATS)])


def build_dataset(root: Path, n_rows: int) -> Path:
    """Write one PNG, hard-link it ``n_rows`` times, and write manifest.parquet + classes.txt."""
    rng = np.random.default_rng(0)
    source = root / "source.png"
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(source)
    images: list[str] = []
    for i in range(n_rows):
        rel = f"img/{i // 1000:03d}/{i:06d}.png"
        if i % 1000 == 0:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, root / rel)
        except OSError as exc:  # the filesystem's link limit (65,000 on ext4): new source
            if exc.errno != errno.EMLINK:
                raise
            shutil.copyfile(root / images[-1], root / rel)
            source = root / rel
        images.append(rel)
    (root / "source.png").unlink()
    pl.DataFrame(
        {
            "sample_id": [f"s{i:06d}" for i in range(n_rows)],
            "image": images,
            "label": rng.choice(CLASSES, n_rows),
            "split": rng.choice(["train", "val", "test"], n_rows, p=[0.8, 0.1, 0.1]),
            "annotator": rng.choice([f"ann{i}" for i in range(20)], n_rows),
            "scanner": rng.choice(["scanner_a", "scanner_b", "scanner_c"], n_rows),
            "site": rng.choice([f"site_{i}" for i in range(50)], n_rows),
            "age": rng.integers(18, 90, n_rows),
            "brightness": rng.random(n_rows),
        }
    ).write_parquet(root / "manifest.parquet")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return root / "manifest.parquet"


def bench_commit(root: Path, n_rows: int, n_relabel: int) -> dict[str, Any]:
    """Per repeat: open HEAD (untimed), relabel ``n_relabel`` samples, commit."""
    relabel_t: list[float] = []
    commit_t: list[float] = []
    total_t: list[float] = []
    for rep in range(REPEATS):
        ds = Dataset.open(root, check_images="none")
        rng = np.random.default_rng(100 + rep)
        idx = rng.choice(n_rows, n_relabel, replace=False)
        ids = [f"s{i:06d}" for i in idx]
        current = ds.manifest["label"].gather(idx).to_list()
        # a different class for every chosen sample, so every relabel takes effect
        new = [CLASSES[(CLASSES.index(c) + 1) % len(CLASSES)] for c in current]
        t0 = time.perf_counter()
        ds.relabel(ids, new, reason="benchmark", source="bench", iteration=rep)
        t1 = time.perf_counter()
        version = ds.commit(f"bench relabel {rep}")
        t2 = time.perf_counter()
        t_relabel, t_commit = t1 - t0, t2 - t1
        n_changes = Dataset.open(root, version=version, check_images="none").changes().height
        if n_changes != n_relabel:
            raise RuntimeError(f"expected {n_relabel} lineage rows, found {n_changes}")
        relabel_t.append(t_relabel)
        commit_t.append(t_commit)
        total_t.append(t_relabel + t_commit)
    return {
        "relabel": _stats(relabel_t),
        "commit": _stats(commit_t),
        "relabel_plus_commit": _stats(total_t),
    }


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    n_rows, n_relabel = (10_000, 1_000) if args.quick else (N_ROWS, N_RELABEL)
    tmp = jobs.tmp
    t_setup, manifest_file = _timed(lambda: build_dataset(tmp, n_rows))
    rss_after_setup = peak_mib()["peak_rss_mib"]

    peer = _repeat(lambda: pl.read_parquet(manifest_file))
    load_exists = _repeat(lambda: Dataset.from_folder(tmp))
    load_none = _repeat(lambda: Dataset.from_folder(tmp, check_images="none"))

    t_initial, _ = _timed(lambda: Dataset.from_folder(tmp, check_images="none").commit("init"))
    commit = bench_commit(tmp, n_rows, n_relabel)
    open_head = _repeat(lambda: Dataset.open(tmp))
    open_head_none = _repeat(lambda: Dataset.open(tmp, check_images="none"))
    rss_end = peak_mib()["peak_rss_mib"]

    tracemalloc.start()
    Dataset.from_folder(tmp)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    shutil.rmtree(tmp / "img", ignore_errors=True)

    def item(stats: dict[str, Any], with_peer: bool = False) -> dict[str, Any]:
        out = dict(stats, target_s=TARGET_S, **{"pass": stats["median_s"] < TARGET_S})
        if with_peer and peer["median_s"] > 0:
            out["ratio_vs_read_parquet"] = round(stats["median_s"] / peer["median_s"], 1)
        return out

    k = f"{n_relabel // 1000}k"
    items = {
        "load_from_folder_check_exists": item(load_exists, with_peer=True),
        "load_from_folder_check_none": item(load_none, with_peer=True),
        f"relabel_{k}": item(commit["relabel"]),
        f"commit_{k}_relabels": item(commit["commit"]),
        f"relabel_plus_commit_{k}": item(commit["relabel_plus_commit"]),
        "open_head": item(open_head, with_peer=True),
    }
    return {
        "params": {
            "n_rows": n_rows,
            "n_relabel": n_relabel,
            "repeats": REPEATS,
            "n_classes": len(CLASSES),
            "metadata_columns": ["annotator", "scanner", "site", "age", "brightness"],
            "images": f"one 16x16 RGB PNG hard-linked {n_rows:,} times in "
            f"{(n_rows + 999) // 1000} folders (re-copied where the filesystem link limit is hit)",
            "target_cores": 2,
            "polars_threads": pl.thread_pool_size(),
        },
        "setup_s": round(t_setup, 2),
        "initial_commit_s": round(t_initial, 4),
        "peer": {"name": "polars.read_parquet(manifest.parquet)", **peer},
        "items": items,
        "extra": {"open_head_check_none": open_head_none},
        "memory": {
            "ru_maxrss_after_setup_mib": rss_after_setup,
            "ru_maxrss_peak_mib": rss_end,
            "tracemalloc_peak_one_load_mib": round(traced_peak / 2**20, 1),
            "note": "tracemalloc counts Python allocations only, not polars' Rust buffers",
        },
        "all_pass": all(v["pass"] for v in items.values()),
    }


def summary(res: dict[str, Any]) -> None:
    for name, it in res["items"].items():
        ratio = it.get("ratio_vs_read_parquet")
        ratio_s = f"  x{ratio} read_parquet" if ratio is not None else ""
        print(
            f"{name:32s} median {it['median_s']:.3f} s  {'PASS' if it['pass'] else 'FAIL'}{ratio_s}"
        )
    print(f"read_parquet peer               median {res['peer']['median_s']:.3f} s")
    print(f"peak RSS {res['memory']['ru_maxrss_peak_mib']} MiB")


BENCH = Benchmark(
    name="dataset",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    packages=("datacentric", "polars", "numpy", "pillow"),
    quick_help="10,000 rows and 1,000 relabels (written to a temp file)",
    summary=summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
