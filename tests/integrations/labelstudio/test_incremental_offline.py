"""The incremental reader against a stand-in server that applies the Data Manager's filters:
what is listed, what is read, and the cursor, including a write committed during a long read
(its timestamp older than the newest task the read saw)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from datacentric.integrations.labelstudio import LabelStudioClient
from datacentric.integrations.labelstudio.incremental import OVERLAP_S, read_tasks
from datacentric.integrations.labelstudio.state import format_time, parse_time

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return format_time(T0 + timedelta(seconds=seconds))


class _Server(LabelStudioClient):
    """Tasks id → updated_at (None: no annotation); a clock; the Data Manager's filters."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", "t")
        self.tasks: dict[int, str | None] = {}
        self.now = 0.0
        self.requests: list[str] = []

    def server_time(self) -> datetime | None:
        return (T0 + timedelta(seconds=self.now)).replace(microsecond=0)

    def iter_tasks(self, project: int, **kw: Any) -> Iterator[dict[str, Any]]:
        query = kw.get("query") or {}
        items = (query.get("filters") or {}).get("items") or []
        since = next(
            (parse_time(i["value"]) for i in items if i["filter"] == "filter:tasks:updated_at"),
            None,
        )
        chosen = (query.get("selectedItems") or {}).get("included")
        self.requests.append("list" if kw.get("include") else "read")
        for tid in sorted(self.tasks):
            when = self.tasks[tid]  # read page by page: later writes show on later pages
            if when is None or (since is not None and parse_time(when) < since):
                continue
            if chosen is not None and tid not in chosen:
                continue
            yield {"id": tid, "updated_at": when, "annotations": [{"id": tid}]}


def _pull(server: _Server, cursor: Any) -> tuple[list[int], Any, Any]:
    tasks, stats = read_tasks(server, 1, cursor)
    ids = [int(t["id"]) for t in tasks]
    return ids, stats, stats.next_cursor(cursor)


def test_lists_from_the_start_of_the_last_read_and_reads_what_changed() -> None:
    server = _Server()
    server.tasks = {i: at(i) for i in range(1, 11)} | {11: None}  # annotated at 1..10 s
    server.now = 60.0
    ids, stats, cursor = _pull(server, None)
    assert ids == list(range(1, 11)) and not stats.incremental and stats.n_read == 10
    assert cursor.updated_at == at(10) and cursor.read_at == at(60) and cursor.seen == {}

    server.now = 120.0  # nothing changed: nothing listed since 58 s, nothing read
    ids, stats, cursor = _pull(server, cursor)
    assert ids == [] and stats.incremental and (stats.n_listed, stats.n_read) == (0, 0)
    assert server.requests[-1] == "list" and cursor.read_at == at(120)

    server.tasks[3] = at(130)  # an edit, and a first annotation on task 11
    server.tasks[11] = at(131)
    server.now = 200.0
    ids, stats, cursor = _pull(server, cursor)
    assert ids == [3, 11] and (stats.n_listed, stats.n_read) == (2, 2)
    assert cursor.updated_at == at(131)


def test_a_write_committed_during_a_long_read_is_not_missed() -> None:
    server = _Server()
    server.tasks = {1: at(0), 2: at(5)}
    server.now = 10.0
    # the full read begins at 10 s; meanwhile task 1 is re-stamped at 9.5 s (a write in
    # flight when the read began) and committed after its page was read; task 2 is updated
    # at 30 s, before its page is read
    tasks, stats = read_tasks(server, 1, None)
    first = next(tasks)
    server.tasks[1] = at(10 - OVERLAP_S / 4)
    server.tasks[2] = at(30)
    rest = list(tasks)
    assert [first["id"], *[t["id"] for t in rest]] == [1, 2]
    cursor = stats.next_cursor(None)
    assert cursor.updated_at == at(30)  # newer than task 1's new stamp
    server.now = 100.0
    ids, _, _ = _pull(server, cursor)
    assert ids == [1]  # listed from 10 s - overlap, not from 30 s - overlap


def test_without_a_server_clock_it_lists_from_the_newest_time_seen() -> None:
    server = _Server()
    server.server_time = lambda: None  # type: ignore[method-assign]
    server.tasks = {1: at(0), 2: at(10)}
    ids, stats, cursor = _pull(server, None)
    assert cursor.read_at is None and cursor.updated_at == at(10) and cursor.seen == {2: at(10)}
    ids, stats, cursor = _pull(server, cursor)
    assert ids == [] and stats.n_listed == 1  # task 2 listed again (seen, unchanged), not read
