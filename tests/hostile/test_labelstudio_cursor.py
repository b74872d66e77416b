"""A damaged or tampered pull cursor in the Label Studio journal: an incremental pull refuses
to guess (one-line error naming the file, what is wrong and ``--full``), a full pull reads
every task and writes a fresh cursor; the rest of the journal still loads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import SchemaError
from datacentric.integrations.labelstudio import (
    LabelStudioClient,
    ProjectState,
    PullResult,
    choice_result,
    pull_annotations,
)
from datacentric.integrations.labelstudio.state import parse_time

URL, TITLE = "http://127.0.0.1:9", "Hostile cursor"
WHEN = "2026-12-07T12:00:00.000000Z"


class _Server(LabelStudioClient):
    """A client whose project holds one annotated task (no network)."""

    def __init__(self) -> None:
        super().__init__(URL, "t")
        self.queries: list[dict[str, Any]] = []

    def find_project(self, title: str) -> int | None:
        return 7

    def server_time(self) -> datetime | None:
        return parse_time(WHEN) + timedelta(seconds=2)

    def users(self) -> dict[int, str]:
        return {1: "ann@x"}

    def iter_tasks(self, project: int, **kw: Any) -> Iterator[dict[str, Any]]:
        self.queries.append(kw)
        ann = {"id": 3, "completed_by": 1, "result": choice_result("b"), "updated_at": WHEN}
        yield {"id": 11, "updated_at": WHEN, "data": {"sample_id": "0"}, "annotations": [ann]}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ds = Dataset.from_arrays(np.zeros((2, 4, 4)), ["a", "a"], classes=["a", "b"])
    ds = ds.to_folder(tmp_path / "d")
    ds.commit("two samples")
    return tmp_path / "d"


def _journal(root: Path, cursor: object) -> Path:
    path = ProjectState.load(root, URL, TITLE).path
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"project_id": 7, "tasks": {"0": 11}, "applied": {}, "cursor": cursor}
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize(
    ("cursor", "wrong"),
    [
        ("yesterday", "field 'cursor' is"),
        ([WHEN], "field 'cursor' is"),
        ({"seen": {}}, "'updated_at' is"),
        ({"updated_at": 1733572800}, "'updated_at' is"),
        ({"updated_at": "not a time"}, "'updated_at' is"),
        ({"updated_at": "2026-12-07T12:00:00\x00"}, "'updated_at' is"),
        ({"updated_at": "9999-12-31T00:00:00.000000Z"}, "lies in the future"),
        ({"updated_at": WHEN, "seen": ["11"]}, "'seen' is"),
        ({"updated_at": WHEN, "seen": {"eleven": WHEN}}, "'seen' maps"),
        ({"updated_at": WHEN, "seen": {"-1": WHEN}}, "'seen' maps"),
        ({"updated_at": WHEN, "seen": {"9" * 40: WHEN}}, "'seen' maps"),
        ({"updated_at": WHEN, "seen": {"11": 5}}, "'seen' maps"),
        ({"updated_at": WHEN, "read_at": "now"}, "'read_at' is"),
        ({"updated_at": WHEN, "read_at": 0}, "'read_at' is"),
        ({"updated_at": WHEN, "read_at": "3000-01-01T00:00:00.000000Z"}, "lies in the future"),
    ],
)
def test_tampered_cursor_asks_for_a_full_pull(root: Path, cursor: object, wrong: str) -> None:
    path = _journal(root, cursor)
    state = ProjectState.load(root, URL, TITLE)
    assert state.cursor is None and state.tasks == {"0": 11}  # the rest still loads
    assert state.cursor_problem is not None and wrong in state.cursor_problem
    server = _Server()
    with pytest.raises(SchemaError) as info:
        pull_annotations(root, project=TITLE, client=server)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and wrong in msg and "full=True" in msg
    assert server.queries == []  # refused before anything was read
    assert Dataset.open(root).version == 1

    full = pull_annotations(root, project=TITLE, client=server, full=True)
    assert isinstance(full, PullResult)
    assert (full.incremental, full.tasks_read, full.applied, full.version) == (False, 1, 1, 2)
    fresh = ProjectState.load(root, URL, TITLE)
    assert fresh.cursor_problem is None and fresh.cursor is not None
    assert (fresh.cursor.updated_at, fresh.cursor.seen) == (WHEN, {11: WHEN})
    assert fresh.cursor.read_at == "2026-12-07T12:00:02.000000Z"  # the server's clock
    again = pull_annotations(root, project=TITLE, client=server)
    assert again.incremental and again.applied == 0  # the stub lists task 11 as seen
    assert again.tasks_listed == 1 and again.tasks_read == 0


def test_a_garbled_seen_time_only_costs_a_reread(root: Path) -> None:
    _journal(root, {"updated_at": WHEN, "seen": {"11": "garbage"}})
    res = pull_annotations(root, project=TITLE, client=_Server())
    assert res.incremental and res.tasks_listed == 1 and res.tasks_read == 1
    assert res.applied == 1 and res.version == 2
