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


def with_node(pair: tuple[Any, Any]) -> tuple[Any, dict[str, Any]]:
    """``fn(item)`` and where it ran (node and process), for ``pair = (fn, item)``."""
    fn, item = pair
    return fn(item), _where()


class _Where:
    """An engine that runs another engine's tasks and records the nodes that ran them."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.name, self.workers = engine, engine.name, engine.workers
        self.where: list[dict[str, Any]] = []

    def map(self, fn: Any, items: Any, **kwargs: Any) -> list[Any]:
        out = self.engine.map(with_node, [(fn, item) for item in items], **kwargs)
        self.where += [where for _, where in out]
        return [result for result, _ in out]

    def close(self) -> None:
        """The wrapped engine is the caller's to close."""

    def __enter__(self) -> _Where:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sharded_knn(engine: Any, dir: str) -> dict[str, Any]:
    """IVF kNN of a memory-mapped ``.npy`` in ``dir``, sharded on the cluster vs in-process."""
    import numpy as np

    import datacentric.issues.knn as knn_mod

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(12, 16))
    x = centres[rng.integers(0, 12, 3_000)] + 0.3 * rng.normal(size=(3_000, 16))
    path = Path(dir) / "emb.npy"
    np.save(path, x.astype(np.float32))
    base = np.load(path, mmap_mode="r")
    chunk, knn_mod.QUERY_CHUNK = knn_mod.QUERY_CHUNK, 128  # 24 chunks -> 6 shards
    try:
        here = knn_mod.knn(base, 10, method="ivf")
        where = _Where(engine)
        there = knn_mod.knn(base, 10, method="ivf", engine=where)
    finally:
        knn_mod.QUERY_CHUNK = chunk
    return {
        "indices_equal": bool(np.array_equal(here.indices, there.indices)),
        "distances_equal": bool(np.array_equal(here.distances, there.distances)),
        "not_self": bool((here.indices != np.arange(3_000)[:, None]).all()),
        "tasks": len(where.where),
        "in_ray_workers": all(w["pid"] != os.getpid() for w in where.where),
        # which nodes ran the shards is Ray's choice (fast tasks often all go to one)
        "nodes": len({w["node"] for w in where.where}),
        "files_after": sorted(p.name for p in Path(dir).iterdir()),
    }
