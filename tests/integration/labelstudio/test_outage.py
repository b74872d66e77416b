"""A push interrupted by a server outage names what was kept and resumes without duplicates."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.integrations.labelstudio import (
    LabelStudioClient,
    ProjectState,
    ServerUnavailableError,
    choice_result,
    pull_annotations,
    push_review,
)
from tests.integration.labelstudio._server import LabelStudioServer

N, CHUNK = 120, 20


def test_push_resumes_after_outage(fresh_server: LabelStudioServer, demo_dir: Path) -> None:
    ds = Dataset.open(demo_dir)
    items = pl.DataFrame(
        {
            "sample_id": ds.sample_ids[:N],
            "issue_type": ["label"] * N,
            "severity": [1.0 - i / N for i in range(N)],
            "detail": [f"planted detail {i}" for i in range(N)],
        }
    )
    client = LabelStudioClient(fresh_server.url, fresh_server.token, retries=2, backoff=0.05)
    chunks: list[int] = []

    def crash_after_two(done: int, total: int) -> None:
        chunks.append(done)
        if len(chunks) == 2:
            fresh_server.kill()

    kw = {
        "project": "Digits outage",
        "client": client,
        "chunk_size": CHUNK,
        "document_root": fresh_server.document_root,
    }
    with pytest.raises(ServerUnavailableError) as info:
        push_review(ds, items, on_chunk=crash_after_two, **kw)
    msg = str(info.value)
    assert chunks == [CHUNK, 2 * CHUNK]
    assert f"import {CHUNK} tasks into project" in msg and "after 3 attempts" in msg
    assert f"Pushed {2 * CHUNK} of {N} new tasks" in msg and "kept" in msg
    assert "Run the same push again to resume" in msg and fresh_server.token not in msg
    state = ProjectState.load(demo_dir, client.url, "Digits outage")
    assert len(state.tasks) == 2 * CHUNK  # the journal kept what was pushed

    fresh_server.start()  # same data dir, same port
    resumed = push_review(ds, items, **kw)
    assert (resumed.created, resumed.existing) == (N - 2 * CHUNK, 2 * CHUNK)
    tasks = list(client.iter_tasks(resumed.project_id))
    ids = [t["data"]["sample_id"] for t in tasks]
    assert len(ids) == N and set(ids) == set(items["sample_id"])
    # still worst first across the interruption
    order = [t["data"]["sample_id"] for t in sorted(tasks, key=lambda t: t["id"])]
    assert order == items["sample_id"].to_list()


def test_pull_during_outage_applies_nothing(
    fresh_server: LabelStudioServer, demo_dir: Path
) -> None:
    ds = Dataset.open(demo_dir)
    client = LabelStudioClient(fresh_server.url, fresh_server.token, retries=1, backoff=0.05)
    items = pl.DataFrame({"sample_id": ds.sample_ids[:3]})
    pushed = push_review(ds, items, project="Digits pull outage", client=client, images="data-uri")
    tid = pushed.task_ids[ds.sample_ids[0]]
    client.sdk.annotations.create(id=tid, result=choice_result("9"), completed_by=1)
    fresh_server.kill()
    with pytest.raises(ServerUnavailableError) as info:
        pull_annotations(demo_dir, project=pushed.project_id, client=client)
    msg = str(info.value)
    assert f"get project {pushed.project_id} failed after 2 attempts" in msg
    assert f"Nothing was applied: the dataset stays at version {ds.version}" in msg
    assert fresh_server.token not in msg
    assert Dataset.open(demo_dir).version == ds.version
