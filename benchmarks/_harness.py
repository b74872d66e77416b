"""What every benchmark script shares: timestamps, peak memory, versions, machine facts."""

from __future__ import annotations

import os
import platform
import resource
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

__all__ = ["machine_info", "now", "peak_mib", "version"]


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
