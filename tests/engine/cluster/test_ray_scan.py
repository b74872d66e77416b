"""A scan on the real 2-node Ray cluster: the same result as on this machine, through a node
failure and through a killed-and-restarted scan (the fold cache of the engine's
cross-validation)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from tests.engine.cluster import _scans
from tests.engine.cluster.ray_cluster import RayCluster

SCAN = "tests.engine.cluster._scans:run_scan"


def _scan_spec(root: Path, out: Path, recipe: dict[str, Any], cache: bool) -> dict[str, Any]:
    kwargs = {"root": str(root), "out": str(out), "recipe_spec": recipe, "cache": cache}
    return {"op": "call", "fn": SCAN, "kwargs": kwargs}


def _assert_same_scan(got: Path, want: Path) -> None:
    for table in ("issues", "samples"):
        a, b = pl.read_parquet(got / f"{table}.parquet"), pl.read_parquet(want / f"{table}.parquet")
        assert a.equals(b), f"{table} differ"
    for array in ("pred_probs", "embeddings"):
        a, b = np.load(got / f"{array}.npy"), np.load(want / f"{array}.npy")
        assert a.dtype == b.dtype and np.array_equal(a, b), f"{array} differ (bit for bit)"


def _reference(tmp: Path, root: Path, recipe: dict[str, Any]) -> Path:
    """The scan of ``root`` on this machine, one fold after another (today's path)."""
    out = tmp / "reference"
    _scans.run_scan("sequential", str(root), str(out), recipe, cache=False)
    return out


def _fold_log(log: Path) -> list[dict[str, Any]]:
    path = log / "folds.log"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _wait_for(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def work(cluster: RayCluster, request: pytest.FixtureRequest) -> Path:
    """A folder on the filesystem the cluster shares (only its network is private)."""
    path = cluster.root / request.node.name.replace("[", "-").replace("]", "")
    path.mkdir()
    return path


def test_scan_on_the_cluster_equals_the_local_scan(cluster: RayCluster, work: Path) -> None:
    root = _scans.make_dataset(work / "data")
    recipe = {"name": "small_cnn"}
    want = _reference(work, root, recipe)
    answer = cluster.driver(_scan_spec(root, work / "ray", recipe, cache=False))
    assert "error" not in answer, answer
    _assert_same_scan(work / "ray", want)


def test_a_killed_scan_resumes_from_its_finished_folds(cluster: RayCluster, work: Path) -> None:
    root = _scans.make_dataset(work / "data")
    log = work / "log"
    log.mkdir()
    recipe = {"name": "slow_prior", "log": str(log), "delay": 2.0}
    want = _reference(work, root, {"name": "slow_prior"})
    cache = root / ".datacentric/cache/cv"
    driver = cluster.driver_proc(_scan_spec(root, work / "first", recipe, cache=True))
    _wait_for("a finished fold", lambda: list(cache.rglob("fold_*.npz")))
    os.killpg(driver.proc.pid, signal.SIGKILL)  # the whole scan dies (Ctrl-C, OOM, preemption)
    driver.proc.wait()
    done = {int(p.stem.split("_")[1]) for p in cache.rglob("fold_*.npz")}
    assert 1 <= len(done) < 3
    before = len(_fold_log(log))

    answer = cluster.driver(_scan_spec(root, work / "again", recipe, cache=True))
    assert "error" not in answer, answer
    _assert_same_scan(work / "again", want)
    refit = sorted(e["seed"] - 4 for e in _fold_log(log)[before:] if e["event"] == "start")
    assert refit == sorted({0, 1, 2} - done)  # only the unfinished folds ran again


def test_a_worker_node_killed_mid_scan_changes_nothing(cluster: RayCluster, work: Path) -> None:
    root = _scans.make_dataset(work / "data")
    log = work / "log"
    log.mkdir()
    recipe = {"name": "slow_prior", "log": str(log), "delay": 3.0}
    want = _reference(work, root, {"name": "slow_prior"})  # the delay changes no number
    worker_node = cluster.worker_node
    assert worker_node is not None
    driver = cluster.driver_proc(_scan_spec(root, work / "ray", recipe, cache=True))
    try:
        # a fold is training on the worker node: kill that node (raylet and its workers)
        victim = _wait_for(
            "a fold on the worker node",
            lambda: [e for e in _fold_log(log) if e["node"] == worker_node],
        )[0]
        cluster.kill_worker()
        answer = driver.result(timeout=120)
    finally:
        cluster.worker_lost = True  # the next test that needs two nodes restarts it
    assert "error" not in answer, answer
    _assert_same_scan(work / "ray", want)
    events = _fold_log(log)
    ends = sorted(e["seed"] for e in events if e["event"] == "end")
    assert ends == [4, 5, 6]  # every fold finished once: no fold lost, none twice
    starts = [e for e in events if e["event"] == "start" and e["seed"] == victim["seed"]]
    assert len(starts) == 2 and starts[1]["node"] != worker_node  # retried on the head
    shards = sorted(p.name for p in (root / ".datacentric/cache/cv").rglob("*") if p.is_file())
    assert shards == ["fold_0.npz", "fold_1.npz", "fold_2.npz"]  # one per fold, no temp file
