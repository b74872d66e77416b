"""A process killed mid-commit leaves the previous version intact; racing writers never
interleave. These run real child processes and kill them with SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from datacentric.dataset import Dataset, VersionStore

WORKER = str(Path(__file__).with_name("_store_worker.py"))


def _make_store(root: Path, n: int, ids: list[str] | None = None) -> None:
    ids = ids or [f"s{i}" for i in range(n)]
    manifest = pl.DataFrame(
        {"sample_id": ids, "image": [f"{i}.png" for i in ids], "label": ["a"] * len(ids)}
    )
    Dataset(manifest, ["a", "b"], root).commit("initial")


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, WORKER, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _check_consistent(root: Path) -> list[int]:
    """Every version reachable from HEAD reads back with a matching hash."""
    store = VersionStore(root)
    versions = [i.version for i in store.history()]
    assert versions == list(range(store.head() or 0, 0, -1))
    for v in versions:
        manifest, changes, info = store.read(v, verify=True)
        assert manifest.height == info.n_samples
        assert changes.height == info.n_changes
    return versions


@pytest.mark.parametrize("point", ["manifest", "rename", "head"])
def test_kill_at_each_commit_step_leaves_previous_version(tmp_path: Path, point: str) -> None:
    _make_store(tmp_path, 50)
    before = pl.read_parquet(tmp_path / ".datacentric/versions/0001/manifest.parquet")
    signal_file = tmp_path / "ready"
    proc = _spawn("hang", str(tmp_path), point, str(signal_file))
    deadline = time.time() + 60
    while not signal_file.exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.time() < deadline, "worker never reached the kill point"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert _check_consistent(tmp_path) == [1]
    ds = Dataset.open(tmp_path, check_images="none")
    assert ds.version == 1
    assert ds.manifest.equals(before)
    # the next commit works and gets the next number; debris was set aside, not deleted
    ds.relabel(["s1"], ["b"], reason="after crash")
    assert ds.commit("after crash") == 2
    assert _check_consistent(tmp_path) == [2, 1]
    assert (
        Dataset.open(tmp_path, check_images="none")
        .manifest.filter(pl.col("sample_id") == "s1")["label"]
        .item()
        == "b"
    )
    if point == "rename":
        assert any(
            p.name.startswith(".orphan-0002")
            for p in (tmp_path / ".datacentric/versions").iterdir()
        )


def test_random_kills_during_commit_loop_never_corrupt(tmp_path: Path) -> None:
    _make_store(tmp_path, 20_000)
    rng = random.Random(7)
    for _ in range(6):
        proc = _spawn("loop", str(tmp_path))
        time.sleep(rng.uniform(1.0, 2.5))  # import time ~1 s, then commits in a loop
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        versions = _check_consistent(tmp_path)
        head = Dataset.open(tmp_path, check_images="none")
        # each committed flip inverts the first 5000 labels relative to its parent
        n_b = int((head.manifest["label"].head(5000) == "b").sum())
        assert n_b == (5000 if (len(versions) - 1) % 2 == 1 else 0)
    assert len(_check_consistent(tmp_path)) > 1, "no commit finished in any run; slow machine?"


def test_two_racing_writers_never_interleave(tmp_path: Path) -> None:
    n = 8
    ids = [f"w{w}_{i}" for w in (1, 2) for i in range(n)]
    _make_store(tmp_path, 0, ids)
    procs = [_spawn("race", str(tmp_path), w, str(n)) for w in ("1", "2")]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
    versions = _check_consistent(tmp_path)
    assert len(versions) == 1 + 2 * n
    store = VersionStore(tmp_path)
    seen: list[str] = []
    for v in sorted(versions)[1:]:
        _, changes, info = store.read(v)
        # exactly this commit's single edit, on top of everything committed before it
        assert changes.height == 1
        seen.append(changes["sample_id"].item())
        assert info.parent == v - 1
        manifest = store.read(v)[0]
        assert set(manifest.filter(pl.col("label") == "b")["sample_id"].to_list()) == set(seen)
    assert sorted(seen) == sorted(ids)
    final = Dataset.open(tmp_path, check_images="none")
    assert (final.manifest["label"] == "b").all()
