"""Scale: a full scan with cross-validation on every core, vs one after another.

Run ``python benchmarks/bench_scale.py [--quick]``; writes ``benchmarks/results/scale.json``
(``--quick``: a temp file). Uses the shared harness (``_harness``): every side runs in its own
fresh interpreter under the same time and memory limits.

Part 1 — every core (issue 15): ``--n`` (default 20,000; 600 with ``--quick``) generated 32×32
RGB images written as PNGs to a dataset folder (seeded; class-dependent colour blocks plus
noise, 5 % of labels flipped), then ``scan`` with the defaults (5-fold cross-validation of the
small CNN, every finder), ``cache=False``, on:

- ``sequential`` — one fold after another in one process (the path before engines);
- ``local`` with ``--workers`` (default 2) worker processes;
- ``ray`` on a real 2-node Ray cluster, when ``datacentric.engine.ray`` exists: the run starts
  the test suite's cluster (``tests/engine/cluster/ray_cluster.py``: a head and a worker node,
  1 CPU each, on 127.0.0.1 inside a private network namespace of this machine), runs the scan
  job inside that namespace (``nsenter``) with ``engine="ray", address="127.0.0.1:6379"``, and
  always stops the cluster afterwards (also on a failure, a timeout, Ctrl-C or SIGTERM). When
  the namespace cannot be made (no ``unshare``/root), a local Ray started by the job with
  ``--workers`` CPUs, and the result says so.

Each side records what it ran (``ran``), its wall time, the peak memory of its own process
(``peak_rss_mib``) and of its largest worker (``peak_rss_children_mib``; Ray's workers are not
the driver's children: for the cluster, the summed PSS of the cluster's processes, sampled), a
SHA-256 of the ``pred_probs`` and of the embeddings it used, and the flagged sample ids of every
issue type; the run checks that every side flagged the same samples with the same bits.

Target (issue 15): local with 2 workers >= 1.7x faster than sequential on 2 cores, same flags.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import numpy as np
from _harness import Benchmark, fmt, mib, print_table, status_kib

CLASSES = [f"c{i}" for i in range(10)]
REPO = Path(__file__).resolve().parents[1]
CLUSTER_RAN = (
    "ray: 2-node cluster, 1 CPU per node, in a private network namespace on this machine "
    "(ray start --head + ray start --address, both on 127.0.0.1; the scan's driver joined the "
    "namespace with nsenter; engine='ray', address={address})"
)


def make_images(root: Path, n: int, seed: int) -> dict[str, Any]:
    """``n`` 32×32 RGB PNGs under ``root/images`` and a ``manifest.csv`` (10 classes)."""
    import polars as pl
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    labels = rng.integers(0, len(CLASSES), n)
    palette = rng.integers(0, 256, (len(CLASSES), 3))
    for i in range(n):
        img = rng.normal(128, 40, (32, 32, 3))
        c = labels[i]
        y, x = (c // 5) * 12 + 4, (c % 5) * 5 + 2
        img[y : y + 12, x : x + 8] = palette[c]
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"images/{i:06d}.png")
    flip = rng.random(n) < 0.05
    given = np.where(flip, (labels + rng.integers(1, len(CLASSES), n)) % len(CLASSES), labels)
    pl.DataFrame(
        {
            "sample_id": [f"s{i:06d}" for i in range(n)],
            "image": [f"images/{i:06d}.png" for i in range(n)],
            "label": [CLASSES[c] for c in given],
            "split": ["test" if i % 5 == 0 else "train" for i in range(n)],
        }
    ).write_csv(root / "manifest.csv")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return {"n": n, "n_flipped": int(flip.sum())}


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def job_scan(args: argparse.Namespace) -> dict[str, Any]:
    """One full scan of the generated dataset on ``args.engine``."""
    from datacentric.dataset import Dataset
    from datacentric.issues import scan

    ds = Dataset.from_folder(args.data)
    address = getattr(args, "address", None)  # a running cluster: it has the CPUs it has
    workers = None if args.engine == "sequential" or address else args.workers
    t0 = time.perf_counter()
    result = scan(
        ds, engine=args.engine, workers=workers, address=address, cache=False, seed=args.seed
    )
    wall = time.perf_counter() - t0
    flagged = result.issues.filter(result.issues["is_issue"])
    by_type = {
        t: sorted(flagged.filter(flagged["issue_type"] == t)["sample_id"].to_list())
        for t in sorted(set(flagged["issue_type"].to_list()))
    }
    preds = result.predictions
    return {
        "engine": args.engine,
        "workers": workers,
        "address": address,
        "scan_s": round(wall, 2),
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "pred_probs_sha256": None if preds is None else _sha(preds.pred_probs),
        "embeddings_sha256": None if preds is None else _sha(preds.embeddings),
        "n_flagged": {t: len(v) for t, v in by_type.items()},
        "flagged_sha256": hashlib.sha256(repr(by_type).encode()).hexdigest()[:16],
    }


def _pss_kib(pid: int) -> int | None:
    """Proportional set size of ``pid`` (shared pages split among their users), KiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class ClusterMemory:
    """Samples the memory of a set of processes (``pids()``) in a thread, once a ``period``.

    Records the largest sum of their PSS (shared pages such as Ray's object store counted
    once) and the largest RSS of a single one of them, over the samples.
    """

    def __init__(self, pids: Callable[[], list[int]], period: float = 1.0) -> None:
        self.pids, self.period = pids, period
        self.idle_pss_kib = self.peak_pss_kib = self.peak_rss_kib = self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> int:
        pids = self.pids()
        pss = sum(_pss_kib(p) or 0 for p in pids)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)
        self.peak_rss_kib = max([self.peak_rss_kib, *(status_kib("VmRSS", p) or 0 for p in pids)])
        self.most = max(self.most, len(pids))
        self.samples += 1
        return pss

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            with contextlib.suppress(Exception):  # a process gone mid-sample: next time
                self._sample()

    def __enter__(self) -> ClusterMemory:
        self.idle_pss_kib = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def record(self) -> dict[str, Any]:
        return {
            "cluster_idle_pss_mib": mib(self.idle_pss_kib),
            "cluster_peak_pss_mib": mib(self.peak_pss_kib),
            "cluster_peak_rss_largest_process_mib": mib(self.peak_rss_kib),
            "cluster_processes_max": self.most,
            "cluster_memory_samples": self.samples,
        }


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (an outer ``timeout``) raises SystemExit, so ``finally`` blocks still run."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cluster_module() -> ModuleType:
    """``tests/engine/cluster/ray_cluster.py``: the test suite's 2-node cluster."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.engine.cluster import ray_cluster

    return ray_cluster


def run_ray(args: argparse.Namespace, jobs: Any, data: Path) -> dict[str, Any]:
    """The ``ray`` side: the scan job on a 2-node cluster in a private network namespace,
    or on a local Ray (saying why) when the cluster cannot be started."""
    why = None
    try:
        rc = _cluster_module()
        cluster = rc.RayCluster()
    except Exception as exc:  # no tests/ folder (an installed copy), no ray CLI
        why = f"{type(exc).__name__}: {exc}"
    else:
        with _sigterm_as_exit():
            try:
                t0 = time.perf_counter()
                try:
                    cluster.start()
                except rc.RayClusterError as exc:
                    why = str(exc)
                else:
                    started_s = round(time.perf_counter() - t0, 1)
                    view = cluster.driver({"op": "nodes"}, timeout=120)
                    with ClusterMemory(cluster.pids) as memory:
                        res: dict[str, Any] = jobs(
                            "scan",
                            tag="scan_ray",
                            engine="ray",
                            address=cluster.address,
                            data=str(data),
                            prefix=cluster.nsenter(),
                            env=rc.cluster_env(),
                        )
                    res.update(memory.record())
                    res["cluster"] = {
                        "nodes_alive": view.get("alive"),
                        "cpus": view.get("cpus"),
                        "node_ips": view.get("ips"),
                        "start_s": started_s,
                    }
                    res["ran"] = CLUSTER_RAN.format(address=repr(cluster.address))
            finally:
                cluster.stop()
                left = cluster.leftovers()
        if why is None:
            res["cluster"]["processes_left_after_stop"] = left
            return res
    res = jobs("scan", tag="scan_ray", engine="ray", data=str(data))
    res["ran"] = (
        f"ray: a local Ray started by the job with {args.workers} CPUs (engine='ray', "
        f"workers={args.workers}), NOT the 2-node cluster, which could not be started: {why}"
    )
    res["cluster"] = None
    return res


def run(args: argparse.Namespace, jobs: Any) -> dict[str, Any]:
    n = args.n or (600 if args.quick else 20_000)
    data = jobs.tmp / "data"
    t0 = time.perf_counter()
    made = make_images(data, n, args.seed)
    made["generate_s"] = round(time.perf_counter() - t0, 1)
    sides = ["sequential", "local"]
    if importlib.util.find_spec("datacentric.engine.ray") is not None:
        sides.append("ray")
    out: dict[str, Any] = {"dataset": made, "workers": args.workers, "sides": {}}
    ran = {
        "sequential": "sequential: one fold after another in the job's process",
        "local": f"local: {args.workers} worker processes on this machine (engine='local', "
        f"workers={args.workers})",
    }
    for side in sides:
        if side == "ray":
            out["sides"][side] = run_ray(args, jobs, data)
        else:
            out["sides"][side] = jobs("scan", tag=f"scan_{side}", engine=side, data=str(data))
            out["sides"][side]["ran"] = ran[side]
    ran = {k: v for k, v in out["sides"].items() if "scan_s" in v}
    base = ran.get("sequential")
    if base:
        for r in ran.values():
            r["speedup_vs_sequential"] = round(base["scan_s"] / r["scan_s"], 2)
            r["same_flags_as_sequential"] = r["flagged_sha256"] == base["flagged_sha256"]
            r["same_bits_as_sequential"] = (
                r["pred_probs_sha256"] == base["pred_probs_sha256"]
                and r["embeddings_sha256"] == base["embeddings_sha256"]
            )
    return {"every_core": out}


def definitions(res: dict[str, Any]) -> dict[str, str]:
    return {
        "scan_s": "wall time of scan() alone (opening the dataset excluded), cache off",
        "speedup_vs_sequential": "sequential scan_s / this side's scan_s",
        "same_flags_as_sequential": "the flagged sample ids of every issue type are identical",
        "same_bits_as_sequential": "SHA-256 of pred_probs and embeddings are identical",
        "peak_rss_children_mib": "the largest single worker process (not their sum); for "
        "the ray side ~0: Ray's workers are not the driver's children",
        "cluster_peak_pss_mib": "ray side: the largest sum, over samples once a second, of the "
        "PSS of every process of the cluster (GCS, raylets, task workers; shared pages such "
        "as the object store counted once); the driver is the job itself (peak_rss_mib)",
        "cluster_idle_pss_mib": "the same sum just before the scan job started",
        "cluster_peak_rss_largest_process_mib": "ray side: the largest RSS of one process of "
        "the cluster over the samples (a task worker training a fold, typically)",
    }


def targets(res: dict[str, Any]) -> dict[str, Any]:
    local = res.get("every_core", {}).get("sides", {}).get("local", {})
    speed = local.get("speedup_vs_sequential")
    cluster = res.get("every_core", {}).get("sides", {}).get("ray", {}).get("cluster")
    return {
        "local_2_workers_speedup_ge_1.7": {
            "value": speed,
            "pass": None if speed is None else speed >= 1.7 and res["mode"] == "full",
        },
        "ray_side_on_the_2_node_cluster": {
            "pass": bool(cluster)
            and cluster.get("nodes_alive") == 2
            and not cluster.get("processes_left_after_stop"),
            "note": "2 nodes alive for the scan, and no process of the cluster left after it",
        },
        "same_flags_every_engine": {
            "pass": all(
                r.get("same_flags_as_sequential") and r.get("same_bits_as_sequential")
                for r in res.get("every_core", {}).get("sides", {}).values()
                if "scan_s" in r
            )
        },
    }


def notes(res: dict[str, Any]) -> list[str]:
    ray = res.get("every_core", {}).get("sides", {}).get("ray")
    where = [] if ray is None else [str(ray.get("ran"))]
    return [
        *where,
        "The machine may be shared with other jobs; wall times are noisy (see load_average).",
        "A worker process costs a few seconds to start (it imports torch); the pool is "
        "started once per scan.",
        "5 folds on 2 workers take 3 rounds of folds; in the third, the lone fold's "
        "augmentation runs on the idle worker's core (engine.spare: a helper process, the same "
        "bits), so the local side's ideal for the cross-validation is 5 / (2 + 1 - a) with a "
        "the augmentation's share of a fold (~0.27: ~1.84x; 5/3 = 1.67x without it, 2x with 4 "
        "or 6 folds); the Ray side has no spare cores (each task has the CPU it asked for); the "
        "image statistics and the finders run once, in the calling process, on every engine.",
    ]


def summary(res: dict[str, Any]) -> None:
    sides = res.get("every_core", {}).get("sides", {})
    print_table(
        f"Scan of {res.get('every_core', {}).get('dataset', {}).get('n')} images",
        ["side", "scan s", "speed-up", "same flags", "same bits", "peak MiB", "worker MiB"],
        [
            [
                side,
                fmt(r.get("scan_s"), 1),
                fmt(r.get("speedup_vs_sequential"), 2),
                r.get("same_flags_as_sequential"),
                r.get("same_bits_as_sequential"),
                fmt(r.get("peak_rss_mib"), 0),
                fmt(r.get("peak_rss_children_mib"), 0),
            ]
            for side, r in sides.items()
        ],
    )
    for r in sides.values():
        print(f"  {r.get('ran')}")


def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--n", type=int, default=None, help="images (default 20,000; 600 --quick)")
    ap.add_argument("--workers", type=int, default=2, help="workers of local/ray (default 2)")
    ap.add_argument("--seed", type=int, default=0)


BENCH = Benchmark(
    name="scale",
    script=__file__,
    doc=__doc__ or "",
    run=run,
    jobs={"scan": job_scan},
    packages=("datacentric", "numpy", "polars", "torch", "ray"),
    options=options,
    quick_help="600 images instead of 20,000; written to a temp file",
    definitions=definitions,
    targets=targets,
    notes=notes,
    summary=summary,
)

if __name__ == "__main__":
    sys.exit(BENCH.main())
