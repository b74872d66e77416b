"""Benchmark the dataset package on a 100,000-row manifest.

Run ``python benchmarks/bench_dataset.py``; writes ``benchmarks/results/dataset.json``.

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

import errno
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from PIL import Image

from datacentric.dataset import Dataset

N_ROWS = 100_000
N_RELABEL = 10_000
REPEATS = 3
TARGET_S = 2.0
CLASSES = [f"class_{i}" for i in range(10)]
RESULTS = Path(__file__).resolve().parent / "results" / "dataset.json"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _stats(times: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(times), 4), "runs_s": [round(t, 4) for t in times]}


def _repeat(fn: Callable[[], Any]) -> dict[str, Any]:
    return _stats([_timed(fn)[0] for _ in range(REPEATS)])


def _maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return round(rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024, 1)


def build_dataset(root: Path) -> Path:
    """Write one PNG, hard-link it N_ROWS times, and write manifest.parquet + classes.txt."""
    rng = np.random.default_rng(0)
    source = root / "source.png"
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(source)
    images: list[str] = []
    for i in range(N_ROWS):
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
            "sample_id": [f"s{i:06d}" for i in range(N_ROWS)],
            "image": images,
            "label": rng.choice(CLASSES, N_ROWS),
            "split": rng.choice(["train", "val", "test"], N_ROWS, p=[0.8, 0.1, 0.1]),
            "annotator": rng.choice([f"ann{i}" for i in range(20)], N_ROWS),
            "scanner": rng.choice(["scanner_a", "scanner_b", "scanner_c"], N_ROWS),
            "site": rng.choice([f"site_{i}" for i in range(50)], N_ROWS),
            "age": rng.integers(18, 90, N_ROWS),
            "brightness": rng.random(N_ROWS),
        }
    ).write_parquet(root / "manifest.parquet")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return root / "manifest.parquet"


def bench_commit(root: Path) -> dict[str, Any]:
    """Per repeat: open HEAD (untimed), relabel 10,000 samples, commit."""
    relabel_t: list[float] = []
    commit_t: list[float] = []
    total_t: list[float] = []
    for rep in range(REPEATS):
        ds = Dataset.open(root, check_images="none")
        rng = np.random.default_rng(100 + rep)
        idx = rng.choice(N_ROWS, N_RELABEL, replace=False)
        ids = [f"s{i:06d}" for i in idx]
        current = ds.manifest["label"].gather(idx).to_list()
        # a different class for every chosen sample, so all 10,000 relabels take effect
        new = [CLASSES[(CLASSES.index(c) + 1) % len(CLASSES)] for c in current]
        t0 = time.perf_counter()
        ds.relabel(ids, new, reason="benchmark", source="bench", iteration=rep)
        t1 = time.perf_counter()
        version = ds.commit(f"bench relabel {rep}")
        t2 = time.perf_counter()
        t_relabel, t_commit = t1 - t0, t2 - t1
        n_changes = Dataset.open(root, version=version, check_images="none").changes().height
        if n_changes != N_RELABEL:
            raise RuntimeError(f"expected {N_RELABEL} lineage rows, found {n_changes}")
        relabel_t.append(t_relabel)
        commit_t.append(t_commit)
        total_t.append(t_relabel + t_commit)
    return {
        "relabel": _stats(relabel_t),
        "commit": _stats(commit_t),
        "relabel_plus_commit": _stats(total_t),
    }


def main() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    try:
        t_setup, manifest_file = _timed(lambda: build_dataset(tmp))
        rss_after_setup = _maxrss_mib()

        peer = _repeat(lambda: pl.read_parquet(manifest_file))
        load_exists = _repeat(lambda: Dataset.from_folder(tmp))
        load_none = _repeat(lambda: Dataset.from_folder(tmp, check_images="none"))

        t_initial, _ = _timed(lambda: Dataset.from_folder(tmp, check_images="none").commit("init"))
        commit = bench_commit(tmp)
        open_head = _repeat(lambda: Dataset.open(tmp))
        open_head_none = _repeat(lambda: Dataset.open(tmp, check_images="none"))
        rss_end = _maxrss_mib()

        tracemalloc.start()
        Dataset.from_folder(tmp)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    peer_median = peer["median_s"]

    def item(stats: dict[str, Any], with_peer: bool = False) -> dict[str, Any]:
        out = dict(stats)
        out["target_s"] = TARGET_S
        out["pass"] = stats["median_s"] < TARGET_S
        if with_peer and peer_median > 0:
            out["ratio_vs_read_parquet"] = round(stats["median_s"] / peer_median, 1)
        return out

    cpus = os.cpu_count()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    results: dict[str, Any] = {
        "benchmark": "dataset",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "params": {
            "n_rows": N_ROWS,
            "n_relabel": N_RELABEL,
            "repeats": REPEATS,
            "n_classes": len(CLASSES),
            "metadata_columns": ["annotator", "scanner", "site", "age", "brightness"],
            "images": "one 16x16 RGB PNG hard-linked 100,000 times in 100 folders (re-copied"
            " where the filesystem link limit is hit)",
        },
        "machine": {
            "cpu_count": cpus,
            "cpus_usable": affinity,
            "target_cores": 2,
            "python": platform.python_version(),
            "polars": pl.__version__,
            "polars_threads": pl.thread_pool_size(),
            "numpy": np.__version__,
            "platform": platform.platform(),
            "processor": platform.machine(),
        },
        "setup_s": round(t_setup, 2),
        "initial_commit_s": round(t_initial, 4),
        "peer": {"name": "polars.read_parquet(manifest.parquet)", **peer},
        "items": {
            "load_from_folder_check_exists": item(load_exists, with_peer=True),
            "load_from_folder_check_none": item(load_none, with_peer=True),
            "relabel_10k": item(commit["relabel"]),
            "commit_10k_relabels": item(commit["commit"]),
            "relabel_plus_commit_10k": item(commit["relabel_plus_commit"]),
            "open_head": item(open_head, with_peer=True),
        },
        "extra": {"open_head_check_none": open_head_none},
        "memory": {
            "ru_maxrss_after_setup_mib": rss_after_setup,
            "ru_maxrss_peak_mib": rss_end,
            "tracemalloc_peak_one_load_mib": round(traced_peak / 2**20, 1),
            "note": "tracemalloc counts Python allocations only, not polars' Rust buffers",
        },
    }
    results["all_pass"] = all(v["pass"] for v in results["items"].values())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    res = main()
    for name, it in res["items"].items():
        ratio = (
            f"  x{it['ratio_vs_read_parquet']} read_parquet"
            if "ratio_vs_read_parquet" in it
            else ""
        )
        status = "PASS" if it["pass"] else "FAIL"
        print(f"{name:32s} median {it['median_s']:.3f} s  {status}{ratio}")
    print(f"read_parquet peer               median {res['peer']['median_s']:.3f} s")
    print(f"peak RSS {res['memory']['ru_maxrss_peak_mib']} MiB; wrote {RESULTS}")
