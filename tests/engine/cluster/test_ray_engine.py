"""RayEngine on a real 2-node Ray cluster (and a local Ray), driven from inside its namespace.

The engine-level checks share one driver (one connection, one batch of maps) to keep the
Ray tests within CI's time; each test asserts on its own part of the answer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

import pytest

from tests.engine.cluster.ray_cluster import RayCluster

TASKS = "tests.engine.cluster._tasks"

BATCH: dict[str, dict[str, Any]] = {
    "nodes": {"op": "nodes"},
    # Early items sleep longest, so they finish last: the order must come from the input.
    "order": {
        "op": "map",
        "fn": f"{TASKS}:square",
        "items": [{"x": x, "sleep": 0.1 * (6 - x)} for x in range(6)],
        "progress": True,
        "desc": "sq",
    },
    "empty": {"op": "map", "fn": f"{TASKS}:square", "items": []},
    "datacentric_error": {
        "op": "map",
        "fn": f"{TASKS}:fail_on",
        # items 2 and 3 fail; 3 fails first (2 sleeps): the caller sees item 2's error
        "items": [{"x": x, "bad": [2, 3], "sleep": 0.5 * (x == 2)} for x in range(5)],
    },
    "bug": {"op": "map", "fn": f"{TASKS}:crash", "items": [{"x": "y"}]},
    "resources": {
        "op": "map",
        "fn": f"{TASKS}:resources",
        "items": [{}, {}],
        "resources": {"num_cpus": 0.5, "num_gpus": 0},
    },
    "gpu": {
        "op": "map",
        "fn": f"{TASKS}:resources",
        "items": [{}],
        "desc": "cross-validation folds",
        "resources": {"num_cpus": 1, "num_gpus": 1},
    },
    "gpu_facts": {"op": "call", "fn": f"{TASKS}:gpu_facts"},
}


@pytest.fixture(scope="module")
def answer(ray_cluster: RayCluster) -> dict[str, Any]:
    """One driver runs every op of BATCH on one connection."""
    if ray_cluster.worker_lost:
        ray_cluster.restart_worker()
    knn_dir = ray_cluster.root / "knn"  # the cluster's nodes read the .npy written here
    knn_dir.mkdir(exist_ok=True)
    sharded_knn = {"op": "call", "fn": f"{TASKS}:sharded_knn", "kwargs": {"dir": str(knn_dir)}}
    return ray_cluster.driver({"op": "batch", "specs": {**BATCH, "sharded_knn": sharded_knn}})


def test_cluster_has_two_nodes_on_loopback_only(answer: dict[str, Any]) -> None:
    nodes = answer["batch"]["nodes"]
    assert nodes["alive"] == 2
    assert nodes["cpus"] == 2
    assert nodes["ips"] == ["127.0.0.1"]
    assert answer["workers"] == 2  # an existing cluster: its CPUs
    assert answer["initialized_after_close"] is False  # close() disconnected the driver


def test_map_returns_results_in_input_order_across_both_nodes(answer: dict[str, Any]) -> None:
    results = answer["batch"]["order"]["results"]
    assert [r["value"] for r in results] == [0, 1, 4, 9, 16, 25]
    assert len({r["node"] for r in results}) == 2  # both nodes ran tasks
    assert "sq (ray)" in answer["log"] and "6/6" in answer["log"]  # one bar, all tasks


def test_empty_map_submits_nothing(answer: dict[str, Any]) -> None:
    assert answer["batch"]["empty"] == {"results": []}


def test_datacentric_error_in_a_task_is_raised_as_itself(answer: dict[str, Any]) -> None:
    error = answer["batch"]["datacentric_error"]["error"]
    assert error["type"] == "UnknownLabelError"
    assert error["module"] == "datacentric.exceptions"
    assert "RayTaskError" not in error["mro"]  # the class itself, not Ray's wrapper
    assert error["message"] == (
        "row 2: label 'zebra' is not among the classes ['cat', 'dog']; fix the manifest."
    )
    assert error["cause"] is not None and "RayTaskError" in error["cause"]  # remote traceback


def test_a_bug_in_a_task_is_raised_as_itself(answer: dict[str, Any]) -> None:
    error = answer["batch"]["bug"]["error"]
    assert error["type"] == "KeyError"
    assert "no column 'y'" in error["message"]


def test_task_resources_reach_ray(answer: dict[str, Any]) -> None:
    assert answer["batch"]["resources"]["results"] == [{"CPU": 0.5}, {"CPU": 0.5}]


def test_folds_ask_for_no_gpu_on_a_cluster_without_gpus(answer: dict[str, Any]) -> None:
    # the test cluster's nodes start with --num-gpus=0: device="auto" asks for none
    assert answer["batch"]["gpu_facts"]["results"] == {"node_gpus": 0.0, "auto": "None"}


def test_a_gpu_task_on_a_cluster_without_gpus_fails_instead_of_waiting(
    answer: dict[str, Any],
) -> None:
    error = answer["batch"]["gpu"]["error"]
    assert error["type"] == "EngineError"
    assert error["message"] == (
        "engine='ray': a task needs 1 CPU and 1 GPU but the largest node has 1 CPU and 0 GPU "
        "on the cluster at '127.0.0.1:6379', so the tasks of 'cross-validation folds' would "
        "wait forever. Lower the resources, or add such a node to the cluster."
    )


def test_sharded_knn_on_the_cluster_equals_the_in_process_search(answer: dict[str, Any]) -> None:
    """knn(engine=) on the 2-node cluster: Ray workers memory-map the caller's .npy by its
    path and load the index from the file written next to it; the same bits as in-process."""
    got = answer["batch"]["sharded_knn"]["results"]
    assert 1 <= got.pop("nodes") <= 2  # Ray places the 6 short tasks (often on one node)
    assert got == {
        "indices_equal": True,
        "distances_equal": True,
        "not_self": True,
        "tasks": 6,
        "in_ray_workers": True,  # not in the driver's process
        "files_after": ["emb.npy"],  # the index file is removed after the search
    }


def test_local_ray_is_started_and_shut_down(cluster: RayCluster) -> None:
    """address=None starts a Ray of its own (workers CPUs) and close() leaves nothing."""
    local = cluster.root / "local"
    local.mkdir()
    driver = cluster.driver_proc(
        {
            "op": "map",
            "connect": False,
            "workers": 2,
            "fn": f"{TASKS}:square",
            "items": [{"x": 3}, {"x": 4}],
        },
        env={"RAY_TMPDIR": str(local)},
    )
    answer = driver.result()
    assert answer["workers"] == 2
    assert [r["value"] for r in answer["results"]] == [9, 16]
    assert answer["initialized_after_close"] is False
    left = subprocess.run(
        ["pgrep", "-af", str(local)], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    assert [line for line in left if "pgrep" not in line] == []
    assert any(local.iterdir())  # it really ran under RAY_TMPDIR


def test_a_killed_driver_takes_its_local_ray_with_it(cluster: RayCluster) -> None:
    """SIGKILL of the process that started a local Ray (OOM killer, kill -9): no Ray process
    it started survives it (Ray ties them to the driver)."""
    local = cluster.root / "killed"
    local.mkdir()
    driver = cluster.driver_proc(
        {
            "op": "map",
            "connect": False,
            "workers": 1,
            "fn": f"{TASKS}:square",
            "items": [{"x": 1, "sleep": 60}],
        },
        env={"RAY_TMPDIR": str(local)},
    )

    def ours() -> list[str]:
        out = subprocess.run(["pgrep", "-af", str(local)], capture_output=True, text=True)
        return [line for line in out.stdout.splitlines() if "pgrep" not in line]

    deadline = time.monotonic() + 60
    while not any("raylet" in line for line in ours()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any("raylet" in line for line in ours()), "the local Ray did not start"
    os.kill(driver.proc.pid, signal.SIGKILL)  # the driver only, not its process group
    driver.proc.wait()
    deadline = time.monotonic() + 20
    while ours() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ours() == []
