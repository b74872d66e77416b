"""A third review backend in one module: a review tool kept in memory, registered here and
driven through ``datacentric review push --to memory`` / ``review pull --from memory``.

Nothing outside this file knows about it: the protocol, the registry and the CLI verbs are
enough.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from datacentric.integrations.review import (
    REGISTRY,
    PullResult,
    PushResult,
    ReviewItems,
    register_backend,
)
from datacentric.issues import ScanResult

runner = CliRunner()


class MemoryBackend:
    """Push: queue the flagged samples per target. Reviewers write ``verdicts[target][sample]
    = label``. Pull: relabel where the verdict differs from the label, one commit."""

    name = "memory"
    push_options: Mapping[str, str] = MappingProxyType({"limit": "queue the N worst only"})
    pull_options: Mapping[str, str] = MappingProxyType({"reviewer": "who reviewed"})

    def __init__(self) -> None:
        self.queues: dict[str, list[str]] = {}
        self.verdicts: dict[str, dict[str, str]] = {}

    def push(
        self,
        ds: Dataset | str | Path,
        items: ReviewItems = None,
        *,
        target: str | None = None,
        predictions: Any = None,
        limit: int | None = None,
    ) -> PushResult:
        t0 = time.perf_counter()
        assert isinstance(items, ScanResult)
        ids = items.flagged()["sample_id"].unique(maintain_order=True).to_list()[:limit]
        queue = self.queues.setdefault(target or "default", [])
        new = [s for s in ids if s not in queue]
        queue += new
        return PushResult(
            backend=self.name,
            target=target or "default",
            n_items=len(ids),
            created=len(new),
            updated=0,
            unchanged=len(ids) - len(new),
            seconds=time.perf_counter() - t0,
        )

    def pull(
        self,
        ds: Dataset | str | Path,
        *,
        target: str | None = None,
        commit: bool = True,
        message: str | None = None,
        reviewer: str = "someone",
    ) -> PullResult:
        t0 = time.perf_counter()
        dataset = ds if isinstance(ds, Dataset) else Dataset.open(ds)
        current = dict(dataset.manifest.select("sample_id", "label").rows())
        verdicts = self.verdicts.get(target or "default", {})
        todo = {s: lab for s, lab in verdicts.items() if current[s] != lab}
        if todo:
            dataset.relabel(
                list(todo), list(todo.values()), reason="memory review", source=f"memory:{reviewer}"
            )
        version = dataset.commit(message or "memory review") if todo and commit else None
        return PullResult(
            backend=self.name,
            target=target or "default",
            version=version,
            applied=len(todo),
            already_applied=len(verdicts) - len(todo),
            seconds=time.perf_counter() - t0,
        )


@pytest.fixture
def memory() -> Iterator[MemoryBackend]:
    with REGISTRY.scoped():
        backend = MemoryBackend()
        register_backend(backend)
        yield backend
    assert "memory" not in REGISTRY


def _dataset_with_scan(root: Path) -> tuple[Path, Path]:
    ds = Dataset.from_arrays(np.zeros((4, 4, 4)), ["a", "b", "a", "b"], classes=["a", "b"])
    ds = ds.to_folder(root / "ds")
    ds.commit("initial")
    issues = pl.DataFrame(
        {
            "sample_id": ["0", "1", "2", "3"],
            "issue_type": ["label"] * 4,
            "is_issue": [True, True, False, True],
            "severity": [0.5, 0.9, 0.1, 0.7],
            "suggested_label": ["b", "a", None, "a"],
            "detail": ["x"] * 4,
        }
    )
    samples = ds.manifest.select("sample_id", "label", "split")
    scan = ScanResult(issues, samples, ["a", "b"], meta={"version": ds.version}).save(
        root / "scan.parquet"
    )
    assert ds.root is not None
    return ds.root, scan


def _run(*args: str) -> str:
    res = runner.invoke(app, ["review", *args])
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def test_a_registered_backend_round_trips_through_the_cli(
    memory: MemoryBackend, tmp_path: Path
) -> None:
    root, scan = _dataset_with_scan(tmp_path)
    push = ["push", str(root), "--to", "memory", "--project", "q1", "--scan", str(scan)]
    out = _run(*push, "--option", "limit=2")
    assert "Pushed 2 item(s) to memory 'q1' (2 created, 0 updated, 0 unchanged)" in out
    assert memory.queues == {"q1": ["1", "3"]}  # worst first, limited by the backend option
    out = _run(*push)
    assert "Pushed 3 item(s) to memory 'q1' (1 created, 0 updated, 2 unchanged)" in out
    assert memory.queues == {"q1": ["1", "3", "0"]}

    memory.verdicts["q1"] = {"1": "a", "0": "a"}  # reviewers: relabel 1, keep 0
    pull = ["pull", str(root), "--from", "memory", "--project", "q1"]
    out = _run(*pull, "--reviewer", "ann", "--message", "memory round")
    assert "Pulled from memory 'q1': 1 decision(s) applied, 1 already applied earlier." in out
    assert "New version: 2" in out
    head = Dataset.open(root)
    assert head.version == 2
    assert head.changes().select("sample_id", "new", "source").rows() == [("1", "a", "memory:ann")]
    assert head.history().filter(pl.col("version") == 2)["message"].item() == "memory round"

    out = _run(*pull)
    assert "0 decision(s) applied, 2 already applied earlier" in out and "Nothing to commit" in out
    assert Dataset.open(root).version == 2


def test_flags_the_backend_does_not_take_are_refused(memory: MemoryBackend, tmp_path: Path) -> None:
    root, scan = _dataset_with_scan(tmp_path)
    res = runner.invoke(
        app, ["review", "push", str(root), "--to", "memory", "--scan", str(scan), "--no-brain"]
    )
    out = " ".join(res.output.split())
    assert res.exit_code == 1
    assert "--brain do(es) not apply to `review push` with the memory backend" in out
    assert "'--limit'" in out and memory.queues == {}


def test_registry_scoping_and_names(memory: MemoryBackend) -> None:
    assert REGISTRY.names() == ["labelstudio", "fiftyone", "memory"]
    res = runner.invoke(app, ["review", "pull", ".", "--from", "nope"])
    assert "the registered backends are ['labelstudio', 'fiftyone', 'memory']" in " ".join(
        res.output.split()
    )
