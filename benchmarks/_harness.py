"""What every benchmark script shares: timestamps, peak memory, versions, machine facts, and
running a measured job in its own interpreter."""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["job_args", "machine_info", "now", "peak_mib", "run_job", "version"]


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


def version(dist: str, path: str | None = None) -> str | None:
    """Installed version of a distribution (in ``path`` if given), or None."""
    if path:
        for d in metadata.distributions(path=[path]):
            if (d.metadata["Name"] or "").lower() == dist.lower():
                return d.version
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info(packages: Sequence[str], **extra: Any) -> dict[str, Any]:
    """CPU, platform, Python, load at start and the versions of ``packages``."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": {p: version(p) for p in packages},
        **extra,
    }


def job_args(**extra: Any) -> list[str]:
    """``--key value`` command-line arguments (underscores become dashes)."""
    out: list[str] = []
    for k, v in extra.items():
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def run_job(
    script: str | Path,
    job: str,
    tmp: Path,
    *,
    timeout: float,
    tag: str | None = None,
    argv: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``script --job JOB`` in a fresh interpreter (its own peak memory) and return the
    JSON it wrote, or a record of the timeout or failure (with the log's tail).

    The child writes ``<tmp>/<tag>.json`` (``--job-out``) and may write arrays to
    ``<tmp>/<tag>_arrays.npz`` (``--job-arrays``), whose path comes back as ``_arrays``.
    """
    tag = tag or job
    out, arrays, log = tmp / f"{tag}.json", tmp / f"{tag}_arrays.npz", tmp / f"{tag}.log"
    cmd = [
        sys.executable,
        str(Path(script).resolve()),
        "--job",
        job,
        "--job-out",
        str(out),
        "--job-arrays",
        str(arrays),
        *argv,
    ]
    print(f"[{now()}] job {tag} (timeout {timeout:.0f} s)", flush=True)
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the job's own process group
            proc.wait()
            return {"timed_out": True, "timeout_s": timeout, "wall_s": round(timeout, 1)}
    wall = time.perf_counter() - t0
    if rc != 0 or not out.exists():
        return {"failed": True, "returncode": rc, "log_tail": log.read_text()[-3000:]}
    res: dict[str, Any] = json.loads(out.read_text())
    res["job_wall_s"] = round(wall, 2)
    print(f"[{now()}]   done in {wall:.0f} s", flush=True)
    if arrays.exists():
        res["_arrays"] = str(arrays)
    return res
