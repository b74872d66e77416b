"""Incremental pulls against a real Label Studio server: a pull reads only the tasks updated
since the last committed one (new annotations, edited ones), applies nothing twice, and a pull
interrupted before its commit is read again by the next one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.datasets import load_ground_truth
from datacentric.integrations.labelstudio import (
    LabelStudioClient,
    ProjectState,
    PullResult,
    choice_result,
    pull_annotations,
    push_review,
)
from tests.integration.labelstudio._server import LabelStudioServer

N = 40
PROJECT = "Digits incremental"


def _pull(root: Path, client: LabelStudioClient, **kw: Any) -> PullResult:
    res = pull_annotations(root, project=PROJECT, client=client, **kw)
    assert isinstance(res, PullResult)
    return res


def _label(root: Path, sid: str) -> str:
    return str(Dataset.open(root).manifest.filter(pl.col("sample_id") == sid)["label"].item())


def test_incremental_pull_reads_only_what_changed(
    ls_server: LabelStudioServer, demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = Dataset.open(demo_dir)
    client = LabelStudioClient(ls_server.url, ls_server.token)
    pushed = push_review(
        ds,
        pl.DataFrame({"sample_id": ds.sample_ids[:N]}),
        project=PROJECT,
        client=client,
        document_root=ls_server.document_root,
    )
    truth = dict(load_ground_truth(demo_dir).select("sample_id", "true_label").rows())
    current = dict(ds.manifest.select("sample_id", "label").rows())
    me = client.whoami()["id"]
    sids = list(pushed.task_ids)

    def wrong(sid: str) -> str:  # a class that is neither the current nor the true label
        return next(c for c in ds.classes if c not in (current[sid], truth[sid]))

    ann: dict[str, int] = {}
    for sid in sids[:10]:
        a = client.sdk.annotations.create(
            id=pushed.task_ids[sid], result=choice_result(wrong(sid)), completed_by=me
        )
        ann[sid] = int(a.id)

    first = _pull(demo_dir, client)  # no cursor yet: a full read
    assert (first.incremental, first.tasks_read, first.applied) == (False, 10, 10)
    assert first.version == ds.version + 1
    cursor = ProjectState.load(demo_dir, client.url, PROJECT).cursor
    assert cursor is not None and len(cursor.seen) <= 10

    noop = _pull(demo_dir, client)
    assert (noop.incremental, noop.tasks_read, noop.applied, noop.version) == (True, 0, 0, None)
    assert noop.tasks_listed <= 10  # only tasks within the overlap of the cursor are listed

    # an annotation edited after it was pulled comes back as a change
    edited = sids[0]
    client.sdk.annotations.update(id=ann[edited], result=choice_result(truth[edited]))
    # and new annotations on three more tasks
    for sid in sids[10:13]:
        client.sdk.annotations.create(
            id=pushed.task_ids[sid], result=choice_result(wrong(sid)), completed_by=me
        )
    changed = _pull(demo_dir, client)
    assert (changed.incremental, changed.tasks_read) == (True, 4)
    assert set(changed.decisions["sample_id"]) == {edited, *sids[10:13]}
    assert changed.applied == 4 and changed.version == first.version + 1
    assert _label(demo_dir, edited) == truth[edited]

    # an outage between read and commit: the cursor does not move, the next pull reads the
    # same tasks again and commits them once
    for sid in sids[13:16]:
        client.sdk.annotations.create(
            id=pushed.task_ids[sid], result=choice_result(wrong(sid)), completed_by=me
        )
    before = ProjectState.load(demo_dir, client.url, PROJECT)
    real_commit = Dataset.commit

    def fail_once(self: Dataset, *args: Any, **kwargs: Any) -> int:
        monkeypatch.setattr(Dataset, "commit", real_commit)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(Dataset, "commit", fail_once)
    with pytest.raises(OSError, match="simulated"):
        _pull(demo_dir, client)
    after_failure = ProjectState.load(demo_dir, client.url, PROJECT)
    assert after_failure.cursor == before.cursor and after_failure.applied == before.applied
    assert Dataset.open(demo_dir).version == changed.version
    resumed = _pull(demo_dir, client)
    assert (resumed.tasks_read, resumed.applied) == (3, 3)
    assert resumed.version == changed.version + 1
    assert all(_label(demo_dir, s) == wrong(s) for s in sids[13:16])
    assert _pull(demo_dir, client).tasks_read == 0

    # commit=False changes nothing in the journal: the next pull reads the same task
    client.sdk.annotations.create(
        id=pushed.task_ids[sids[16]], result=choice_result(wrong(sids[16])), completed_by=me
    )
    assert _pull(demo_dir, client, commit=False).tasks_read == 1
    assert _pull(demo_dir, client).tasks_read == 1

    # a full re-read sees every annotated task and applies nothing twice
    full = _pull(demo_dir, client, full=True)
    assert (full.incremental, full.tasks_read, full.applied, full.version) == (False, 17, 0, None)
    assert full.already_applied == 17
    # each sample relabeled once per annotation change: the edited one twice (wrong, fixed)
    final = Dataset.open(demo_dir)
    assert final.lineage(edited)["new"].to_list() == [wrong(edited), truth[edited]]
    assert all(final.lineage(s).height == 1 for s in sids[1:17])
