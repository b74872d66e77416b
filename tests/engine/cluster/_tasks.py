"""Module-level task functions the Ray tests send to the cluster (workers import them)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from datacentric.exceptions import UnknownLabelError


def _where() -> dict[str, Any]:
    import ray

    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


def square(item: dict[str, Any]) -> dict[str, Any]:
    """``item["x"]`` squared after ``item["sleep"]`` seconds (early items finish last)."""
    time.sleep(item.get("sleep", 0))
    return {"value": item["x"] * item["x"], **_where()}


def fail_on(item: dict[str, Any]) -> int:
    """Raise a DatacentricError (after ``sleep``) for the items in ``bad``; the others succeed."""
    time.sleep(item.get("sleep", 0))
    if item["x"] in item["bad"]:
        raise UnknownLabelError(
            f"row {item['x']}: label 'zebra' is not among the classes ['cat', 'dog']; "
            "fix the manifest.",
            rows=[item["x"]],
        )
    return int(item["x"])


def crash(item: dict[str, Any]) -> int:
    """A plain bug (not a DatacentricError) raised in the task."""
    raise KeyError(f"no column {item['x']!r}")


def resources(item: dict[str, Any]) -> dict[str, float]:
    """The resources Ray assigned to this task."""
    import ray

    return {k: float(v) for k, v in ray.get_runtime_context().get_assigned_resources().items()}


def slow_shard(item: dict[str, Any]) -> str:
    """Write shard ``i`` once, after ``sleep`` seconds; log every start and every write.

    The shard is skipped when it exists (as a cache would), written to a temp name and
    renamed (so a killed attempt leaves no shard), and each write appends one line to
    ``writes.log`` so the test can count them.
    """
    root = Path(item["dir"])
    i = item["i"]
    with (root / "starts.log").open("a") as log:
        log.write(json.dumps({"i": i, "pid": os.getpid(), **_where()}) + "\n")
    shard = root / f"shard-{i:03d}.json"
    if shard.exists():
        return shard.read_text()
    time.sleep(item["sleep"])
    body = json.dumps({"i": i, "value": i * 10})
    tmp = root / f".shard-{i:03d}.{os.getpid()}.tmp"
    tmp.write_text(body)
    os.replace(tmp, shard)
    with (root / "writes.log").open("a") as log:
        log.write(f"{i}\n")
    return body


def gpu_facts(engine: Any) -> dict[str, Any]:
    """What cross-validation reads from the engine to decide a fold's GPU request."""
    from datacentric.train.crossval import _engine_gpus, fold_resources

    gpus = _engine_gpus(engine)
    return {"node_gpus": gpus, "auto": repr(fold_resources("auto", gpus))}
