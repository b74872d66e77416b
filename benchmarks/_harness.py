"""The skeleton every benchmark shares, so that each ``bench_*.py`` holds only what it measures.

A benchmark is a :class:`Benchmark`: its name, the packages whose versions it reports, its own
options, its measured *jobs* (functions that each run in a fresh interpreter, so that their
peak memory is their own) and ``run``, which orchestrates them. ``Benchmark.main``

- parses the options every benchmark has (``--quick``, ``--out``, ``--peer-path``,
  ``--timeout``, ``--mem-cap-gib``) and the benchmark's own;
- in a job process (``--job NAME``, started by :class:`Jobs`), runs that job and writes its
  JSON, peak memory included;
- otherwise writes ``benchmarks/results/<name>.json`` (with ``--quick``, a file in the temp
  folder unless ``--out`` is given, so a smoke run never replaces a result): ``benchmark``,
  ``date``, ``mode``, ``machine`` (versions read from the installed distributions at run
  time), ``limits`` (when there are jobs), what ``run`` returned, ``definitions``,
  ``targets``, ``notes`` and ``total_wall_s``; then prints the summary.

Every job of a run gets the same limits, whichever side of a comparison it measures: one
wall-clock timeout and one resident-memory cap, enforced by a watchdog that kills the job's
process group and records ``timed_out`` or ``out_of_memory``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "Benchmark",
    "Jobs",
    "fmt",
    "jaccard",
    "machine_info",
    "mean_sd",
    "median",
    "mib",
    "now",
    "ok",
    "params",
    "peak_mib",
    "print_table",
    "ratio_interval",
    "run_job",
    "status_kib",
    "version",
]

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_PEERS = HERE / ".peers"
MEM_CAP_GIB = 12.0
Job = Callable[[argparse.Namespace], dict[str, Any]]


# ------------------------------------------------------------------------------ facts
def now() -> str:
    """UTC time, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def peak_mib(children: bool = False) -> dict[str, float]:
    """Peak resident memory of this process (and of its finished children), MiB."""
    out = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if children:
        kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out["peak_rss_children_mib"] = round(kb / 1024, 1)
    return out


def version(dist: str, path: str | Path | None = None) -> str | None:
    """Installed version of a distribution (looked up in ``path`` first if given), or None."""
    if path:
        for d in metadata.distributions(path=[str(path)]):
            if (d.metadata["Name"] or "").lower().replace("_", "-") == dist.lower():
                return d.version
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _meminfo_gib() -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                k, v = line.split(":", 1)
                if k in ("MemTotal", "MemAvailable"):
                    out[k] = round(int(v.split()[0]) / 2**20, 1)
    except OSError:
        pass
    return out


def machine_info(
    packages: Iterable[str], peer_packages: Iterable[str] = (), peer_path: str | None = None
) -> dict[str, Any]:
    """CPU, memory, platform, Python, load at start and the versions of ``packages``.

    ``peer_packages`` are looked up in ``peer_path`` first (the folder the peer jobs import
    them from), then in the running environment.
    """
    mem = _meminfo_gib()
    versions = {p: version(p) for p in packages}
    versions |= {p: version(p, peer_path) for p in peer_packages}
    out: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_total_gib": mem.get("MemTotal"),
        "memory_available_at_start_gib": mem.get("MemAvailable"),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }
    if peer_packages:
        out["peer_path"] = peer_path
    return out


# ------------------------------------------------------------------------------ small helpers
def median(xs: Sequence[float]) -> float | None:
    return round(statistics.median(xs), 4) if xs else None


def mean_sd(xs: Sequence[float]) -> dict[str, Any]:
    """Mean, sample sd (None for one value) and the values, over seeds, rounded."""
    return {
        "mean": round(statistics.fmean(xs), 4) if xs else None,
        "sd": round(statistics.stdev(xs), 4) if len(xs) > 1 else None,
        "per_seed": [round(x, 4) for x in xs],
    }


def params(obj: Any) -> dict[str, Any]:
    """``get_params()`` where the object has it (JSON-safe), else its fields or ``repr``."""
    import dataclasses

    get = getattr(obj, "get_params", None)
    if get is not None:
        found = get()
    elif dataclasses.is_dataclass(obj):
        found = dataclasses.asdict(obj)  # type: ignore[arg-type]
    else:
        return {"repr": repr(obj)}
    return json.loads(json.dumps(found, default=str))


def ratio_interval(
    gain_draws: Any, gap_draws: Any, max_share_gap_le_0: float = 0.025
) -> tuple[list[float] | None, float]:
    """95 % percentile interval of ``gain / gap`` over paired bootstrap draws (numpy arrays),
    and the share of draws whose gap is <= 0. The interval is ``None`` when that share is
    above ``max_share_gap_le_0``: the ratio is then unbounded (the gap itself is not clearly
    positive). Used for "fraction of the gap closed" (bench_loop, bench_loop_detection)."""
    import numpy as np

    gain, gap = np.asarray(gain_draws, dtype=float), np.asarray(gap_draws, dtype=float)
    keep = np.isfinite(gain) & np.isfinite(gap)
    gain, gap = gain[keep], gap[keep]
    share = float((gap <= 0).mean()) if gap.size else 1.0
    if share > max_share_gap_le_0:
        return None, round(share, 4)
    ok = gap > 0
    lo, hi = np.percentile(gain[ok] / gap[ok], [2.5, 97.5])
    return [round(float(lo), 3), round(float(hi), 3)], round(share, 4)


def ratio_inverted_interval(
    gain_draws: Any, gap_draws: Any, level: float = 0.95, grid: tuple[float, float] = (-5.0, 10.0)
) -> list[list[float | None]]:
    """Fieller-type confidence set of ``gain / gap`` by test inversion over paired bootstrap
    draws, as a list of intervals.

    ``rho`` is inside when the central ``level`` percentile interval of the draws of
    ``gain - rho * gap`` holds 0, i.e. when "gain = rho x gap" is not rejected. Unlike the
    percentile interval of the ratio (:func:`ratio_interval`), this stays defined when some
    draws of the gap are <= 0 (Fieller, 1954): the set is then unbounded, either everything
    or two pieces, ``(-inf, r1]`` and ``[r2, inf)``, around the values the data reject. Each
    piece is ``[lo, hi]``, ``None`` for an open end (an end at the edge of ``grid``, searched
    on a 0.005 step); ``[]`` when every value is rejected."""
    import numpy as np

    gain, gap = np.asarray(gain_draws, dtype=float), np.asarray(gap_draws, dtype=float)
    keep = np.isfinite(gain) & np.isfinite(gap)
    gain, gap = gain[keep], gap[keep]
    rho = np.arange(grid[0], grid[1] + 1e-9, 0.005)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(gain[None, :] - rho[:, None] * gap[None, :], [tail, 1 - tail], axis=1)
    inside = (lo <= 0) & (hi >= 0)
    pieces: list[list[float | None]] = []
    k = 0
    while k < rho.size:
        if not inside[k]:
            k += 1
            continue
        start = k
        while k + 1 < rho.size and inside[k + 1]:
            k += 1
        pieces.append([
            None if start == 0 else round(float(rho[start]), 3),
            None if k == rho.size - 1 else round(float(rho[k]), 3),
        ])  # fmt: skip
        k += 1
    return pieces


def share_test(gain_draws: Any, gap_draws: Any, share: float) -> dict[str, Any]:
    """Is ``gain > share x gap``? The draws of ``gain - share x gap``: mean, 95 % percentile
    interval and the one-sided bootstrap p-value (share of draws <= 0). This is "the gap
    closed exceeds ``share``" without dividing by the gap, so it stays defined when the gap
    itself is not clearly positive."""
    import numpy as np

    d = np.asarray(gain_draws, dtype=float) - share * np.asarray(gap_draws, dtype=float)
    d = d[np.isfinite(d)]
    lo, hi = np.percentile(d, [2.5, 97.5])
    return {
        "share": share,
        "mean": round(float(d.mean()), 4),
        "ci95": [round(float(lo), 4), round(float(hi), 4)],
        "p_one_sided": round(float((d <= 0).mean()), 4),
    }


def jaccard(a: Any, b: Any) -> float | None:
    """|a ∩ b| / |a ∪ b| of two boolean masks or two collections; None when both are empty."""
    if hasattr(a, "dtype") and a.dtype == bool:
        inter, union = int((a & b).sum()), int((a | b).sum())
    else:
        sa, sb = set(a), set(b)
        inter, union = len(sa & sb), len(sa | sb)
    return round(inter / union, 4) if union else None


def fmt(x: Any, nd: int = 3, unit: str = "") -> str:
    """A cell for a summary table: n/a for None, ``nd`` decimals for floats."""
    if x is None:
        return "n/a"
    return f"{x:.{nd}f}{unit}" if isinstance(x, float) else f"{x}{unit}"


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A plain fixed-width table: the first column left-aligned, the others right-aligned."""
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    print(f"\n{title}")
    for r in [list(header), *cells]:
        rest = "".join(f"  {c:>{w}}" for c, w in zip(r[1:], widths[1:], strict=True))
        print("  " + r[0].ljust(widths[0]) + rest)


def ok(r: Mapping[str, Any]) -> bool:
    """Whether a job record is a result (not a timeout, an out-of-memory kill or a failure)."""
    return not (r.get("failed") or r.get("timed_out") or r.get("out_of_memory"))


# ------------------------------------------------------------------------------ jobs
def status_kib(key: str, pid: int | str = "self") -> int | None:
    """A ``/proc/<pid>/status`` field in KiB (``VmRSS``, ``VmHWM``), or None."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def run_job(
    script: str | Path,
    job: str,
    tmp: Path,
    *,
    timeout: float,
    mem_cap_gib: float | None = None,
    tag: str | None = None,
    params: Mapping[str, Any] | None = None,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``script --job JOB`` in a fresh interpreter and return the JSON it wrote, or a
    record of the timeout, the out-of-memory kill or the failure (with the log's tail).

    A watchdog polls the job's resident memory and kills its process group past
    ``mem_cap_gib`` or ``timeout`` (or when the watch itself is interrupted, e.g. Ctrl-C).
    The job writes ``<tmp>/<tag>.json`` and may write arrays to ``<tmp>/<tag>_arrays.npz``,
    whose path comes back as ``_arrays``.

    ``prefix`` is put before the command, e.g. ``["nsenter", "--net=/proc/P/ns/net", "--"]``
    to run the job in another network namespace; it must *exec* the interpreter (nsenter,
    env and taskset do), so that the watched pid is the job's own. ``env`` replaces the
    job's environment (default: this process's).
    """
    tag = tag or job
    out, arrays, log = tmp / f"{tag}.json", tmp / f"{tag}_arrays.npz", tmp / f"{tag}.log"
    out.unlink(missing_ok=True)
    cmd = [*prefix, sys.executable, str(Path(script).resolve()), "--job", job]
    cmd += ["--job-out", str(out)]
    cmd += ["--job-arrays", str(arrays), "--job-params", json.dumps(params or {}, default=str)]
    print(f"[{now()}] job {tag} (timeout {timeout:.0f} s)", flush=True)
    cap_kib = None if mem_cap_gib is None else int(mem_cap_gib * 2**20)
    seen_kib, why = 0, None
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
        try:
            while proc.poll() is None:
                rss = status_kib("VmRSS", proc.pid) or 0
                seen_kib = max(seen_kib, rss)
                if cap_kib is not None and rss > cap_kib:
                    why = "memory"
                elif time.perf_counter() - t0 > timeout:
                    why = "time"
                if why:
                    break
                time.sleep(0.2)
        finally:  # a limit, or this process interrupted: the job must not outlive the watch
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the job's own process group
                proc.wait()
    wall = round(time.perf_counter() - t0, 2)
    if why == "time":
        return {"timed_out": True, "timeout_s": timeout, "wall_s": wall}
    if why == "memory":
        return {
            "out_of_memory": True,
            "mem_cap_gib": mem_cap_gib,
            "rss_at_kill_mib": mib(seen_kib),
            "wall_s": wall,
        }
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text()[-3000:]
        if "MemoryError" in tail or "Unable to allocate" in tail:
            return {"out_of_memory": True, "allocation_failed": True, "log_tail": tail}
        return {"failed": True, "returncode": proc.returncode, "log_tail": tail}
    res: dict[str, Any] = json.loads(out.read_text())
    res["job_wall_s"] = wall
    res["job_peak_rss_mib_sampled"] = mib(seen_kib)
    print(f"[{now()}]   done in {wall:.0f} s", flush=True)
    if arrays.exists():
        res["_arrays"] = str(arrays)
    return res


@dataclass
class Jobs:
    """Runs the jobs of one benchmark run, each under the run's limits.

    Every job receives the run's options (``--quick``, ``--peer-path``, the benchmark's own)
    plus the keyword arguments of the call, as attributes of its ``args``; paths arrive as
    strings.
    """

    script: str
    args: argparse.Namespace
    tmp: Path

    def __call__(
        self,
        job: str,
        *,
        tag: str | None = None,
        prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Run ``job`` (see :func:`run_job` for ``prefix`` and ``env``)."""
        shared = {k: v for k, v in vars(self.args).items() if not k.startswith("job")}
        return run_job(
            self.script,
            job,
            self.tmp,
            timeout=self.args.timeout,
            mem_cap_gib=self.args.mem_cap_gib,
            tag=tag,
            params={**shared, **params},
            prefix=prefix,
            env=env,
        )


def _job_env() -> None:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


# ------------------------------------------------------------------------------ benchmark
@dataclass
class Benchmark:
    """One benchmark script: what it measures, and the rest is the harness's.

    ``run(args, jobs)`` returns the body of the result (every key but the harness's own).
    ``definitions``, ``targets`` and ``notes`` are computed from the whole result (so that
    counts are read from the data, not written as literals); ``summary`` prints it.
    """

    name: str
    script: str
    doc: str
    run: Callable[[argparse.Namespace, Jobs], dict[str, Any]]
    jobs: Mapping[str, Job] = field(default_factory=dict)
    packages: Sequence[str] = ("datacentric", "numpy", "polars")
    peer_packages: Sequence[str] = ()
    options: Callable[[argparse.ArgumentParser], None] | None = None
    quick_help: str = "a smaller run, for a smoke test (written to a temp file)"
    timeout_s: float = 1800.0
    peer_env: str = "DATACENTRIC_BENCH_PEER_PATH"
    peer_default: Path = DEFAULT_PEERS
    definitions: Callable[[dict[str, Any]], dict[str, str]] | None = None
    targets: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    notes: Callable[[dict[str, Any]], list[str]] | None = None
    summary: Callable[[dict[str, Any]], None] | None = None

    def _job(self, argv: Sequence[str]) -> int:
        ap = argparse.ArgumentParser()
        ap.add_argument("--job", choices=sorted(self.jobs), required=True)
        ap.add_argument("--job-out", type=Path, required=True)
        ap.add_argument("--job-arrays", type=Path, required=True)
        ap.add_argument("--job-params", default="{}")
        ns = ap.parse_args(argv)
        args = argparse.Namespace(**json.loads(ns.job_params))
        args.job, args.job_out, args.job_arrays = ns.job, ns.job_out, ns.job_arrays
        _job_env()
        res = self.jobs[ns.job](args)
        res.update({k: v for k, v in peak_mib(children=True).items() if k not in res})
        ns.job_out.write_text(json.dumps(res, indent=1, default=str))
        return 0

    def parser(self) -> argparse.ArgumentParser:
        ap = argparse.ArgumentParser(description=self.doc.strip().splitlines()[0])
        ap.add_argument("--quick", action="store_true", help=self.quick_help)
        ap.add_argument("--out", type=Path, default=None, help="the result file")
        if self.jobs:
            peer = os.environ.get(self.peer_env)
            if peer is None and self.peer_default.is_dir():
                peer = str(self.peer_default)
            ap.add_argument(
                "--peer-path",
                default=peer,
                help=f"folder of the peer's packages (${self.peer_env}; {self.peer_default})",
            )
            ap.add_argument(
                "--timeout",
                type=float,
                default=self.timeout_s,
                help="wall-clock limit of every job, both sides alike (s)",
            )
            ap.add_argument(
                "--mem-cap-gib",
                type=float,
                default=None,
                help=f"resident-memory cap of every job (default {MEM_CAP_GIB:.0f} GiB, or "
                "85 %% of the memory available at the start if less)",
            )
        if self.options:
            self.options(ap)
        return ap

    def main(self, argv: Sequence[str] | None = None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        if "--job" in argv:
            return self._job(argv)
        args = self.parser().parse_args(argv)
        started = time.perf_counter()
        res: dict[str, Any] = {
            "benchmark": self.name,
            "date": now(),
            "mode": "quick" if args.quick else "full",
            "machine": machine_info(
                self.packages, self.peer_packages, getattr(args, "peer_path", None)
            ),
        }
        if self.jobs:
            if args.mem_cap_gib is None:  # the machine may be shared: cap at what is free
                free = res["machine"]["memory_available_at_start_gib"] or MEM_CAP_GIB
                args.mem_cap_gib = round(min(MEM_CAP_GIB, 0.85 * free), 1)
            res["limits"] = {
                "timeout_s_every_job": args.timeout,
                "mem_cap_gib_every_job": args.mem_cap_gib,
                "note": "the same limits for every job, ours and the peer's alike",
            }
        tmp = Path(tempfile.mkdtemp(prefix=f"bench_{self.name}_"))
        try:
            res.update(self.run(args, Jobs(self.script, args, tmp)))
        finally:
            if not res.pop("_keep_tmp", False):
                shutil.rmtree(tmp, ignore_errors=True)
        res["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        for key in ("definitions", "targets", "notes"):
            fn = getattr(self, key)
            if fn is not None:
                res[key] = fn(res)
        res["total_wall_s"] = round(time.perf_counter() - started, 1)
        out = args.out
        if out is None:
            out = RESULTS / f"{self.name}.json"
            if args.quick:
                out = Path(tempfile.gettempdir()) / f"bench_{self.name}.quick.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2, default=str) + "\n")
        if self.summary is not None:
            self.summary(res)
        print(f"\ntotal {res['total_wall_s']} s; wrote {out}")
        return 0
