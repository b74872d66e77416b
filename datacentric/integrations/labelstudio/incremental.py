"""Read only the Label Studio tasks updated since the last pull (the pull cursor).

Label Studio (1.23) moves a task's ``updated_at`` whenever one of its annotations is created,
edited or deleted (``Annotation.save`` and ``delete`` call ``update_task``), and its Data
Manager filters tasks on it (``filter:tasks:updated_at``, type ``Datetime``). A pull with a
:class:`~.state.PullCursor` therefore

1. **lists** the id and ``updated_at`` of every annotated task updated since the cursor
   minus an overlap (``include="id,updated_at"``: no annotations, no data — a cheap call);
2. **reads** in full, by id (``selectedItems``), only the tasks whose ``updated_at`` is not
   the one the cursor saw — new annotations, edited ones, new tasks;
3. returns the **next cursor** (:meth:`ReadStats.next_cursor`); the caller saves it only
   after the new version is committed, so a pull interrupted before its commit is read
   again in full by the next one.

Which tasks must be listed again: every write the last pull could not see was still in
flight when that pull began reading, or came later, so its ``updated_at`` is at least the
server's clock at that moment (``read_at``: the HTTP ``Date`` of ``GET /health``, taken
before the first page) minus the time a write may take between stamping ``updated_at`` and
committing (:data:`OVERLAP_S`). The next pull lists from there, and reads only the listed
tasks the cursor did not see with that very ``updated_at``: a pull that starts a while
after the last write lists next to nothing. This assumes the clock that sends ``Date`` and
the one that stamps ``updated_at`` agree within the overlap (one host, as Label Studio is
deployed); a server that sends no ``Date`` is listed from the newest ``updated_at`` seen
minus the overlap instead. Nothing is ever applied twice either way: the journal's
``applied`` check decides that, not the cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from datacentric.integrations.labelstudio.client import LabelStudioClient
from datacentric.integrations.labelstudio.state import PullCursor, format_time, parse_time

__all__ = ["ANNOTATED", "OVERLAP_S", "ReadStats", "read_tasks", "stamp"]

#: Seconds a write may take between stamping ``updated_at`` and committing (see the module
#: docstring). Label Studio commits an annotation's writes at once (autocommit, no request
#: transaction); an import request runs in one transaction, measured here at ~0.7 s for
#: 500 tasks. An import of pre-annotated tasks that takes longer, running while a pull
#: begins, can be missed by the cursor: pull with ``full=True`` after one.
OVERLAP_S = 2.0
#: Task ids per request when reading changed tasks by id (keeps the query URL short).
_ID_CHUNK = 200
_HAS_ANNOTATIONS: dict[str, Any] = {
    "filter": "filter:tasks:total_annotations",
    "operator": "greater",
    "type": "Number",
    "value": 0,
}
#: Data Manager query: the tasks with at least one (not cancelled) annotation.
ANNOTATED: dict[str, Any] = {"filters": {"conjunction": "and", "items": [_HAS_ANNOTATIONS]}}


def stamp(value: object) -> str:
    """A task's ``updated_at`` in one canonical form (the SDK hands it over as a datetime or
    as the server's text, depending on the call); ``""`` when there is none.

    Examples
    --------
    >>> from datetime import timezone
    >>> stamp(datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc))
    '2026-12-07T12:00:00.000000Z'
    >>> stamp("2026-12-07T12:00:00Z"), stamp(None)
    ('2026-12-07T12:00:00.000000Z', '')
    """
    if isinstance(value, datetime):
        return format_time(value)
    if not value:
        return ""
    try:
        return format_time(parse_time(str(value)))
    except ValueError:
        return str(value)


def _annotated_since(since: str) -> dict[str, Any]:
    """Query: annotated tasks whose ``updated_at`` is ``since`` or later."""
    newer = {
        "filter": "filter:tasks:updated_at",
        "operator": "greater_or_equal",
        "type": "Datetime",
        "value": since,
    }
    return {"filters": {"conjunction": "and", "items": [_HAS_ANNOTATIONS, newer]}}


@dataclass
class ReadStats:
    """What a read found, filled in as its tasks are consumed.

    Attributes
    ----------
    incremental : bool
        Whether only tasks updated since a cursor were asked for.
    n_listed : int
        Tasks listed by id and ``updated_at`` to find what changed (0 for a full read).
    n_read : int
        Tasks read in full (with their annotations).
    known : dict
        task id → ``updated_at`` of every task listed or read (and those the previous
        cursor saw), for :meth:`next_cursor`.
    read_at : str or None
        The server's clock when the read began (:meth:`.LabelStudioClient.server_time`).
    """

    incremental: bool
    n_listed: int = 0
    n_read: int = 0
    known: dict[int, str] = field(default_factory=dict, repr=False)
    read_at: str | None = None

    def note(self, task: dict[str, Any]) -> None:
        """Record a task read in full."""
        self.n_read += 1
        when = stamp(task.get("updated_at"))
        if when:
            self.known[int(task["id"])] = when

    def next_cursor(
        self, previous: PullCursor | None, overlap_s: float = OVERLAP_S
    ) -> PullCursor | None:
        """The cursor to save once this read's decisions are committed.

        Its time is the newest ``updated_at`` known (never earlier than ``previous``'s, for
        an incremental read) and :attr:`read_at`; ``seen`` holds the known tasks the next
        pull will list again (from :meth:`~.state.PullCursor.start` on).

        Examples
        --------
        >>> s = ReadStats(incremental=False)
        >>> s.note({"id": 1, "updated_at": "2026-12-07T12:00:00.000000Z"})
        >>> s.note({"id": 2, "updated_at": "2026-12-07T12:00:09.000000Z"})
        >>> c = s.next_cursor(None)
        >>> c.updated_at, sorted(c.seen)
        ('2026-12-07T12:00:09.000000Z', [2])
        >>> s.read_at = "2026-12-07T12:01:00.000000Z"  # the read began a minute later
        >>> s.next_cursor(None).seen
        {}
        """
        times: dict[int, datetime] = {}
        for tid, when in self.known.items():
            try:
                times[tid] = parse_time(when)
            except ValueError:
                continue  # a task the server gave no readable time: read again next time
        candidates = [(t, self.known[tid]) for tid, t in times.items()]
        if self.incremental and previous is not None:
            candidates.append((parse_time(previous.updated_at), previous.updated_at))
        if not candidates:
            return None
        newest = max(candidates, key=lambda c: c[0])[1]
        cursor = PullCursor(newest, {}, self.read_at)
        start = cursor.start(overlap_s)
        cursor.seen = {tid: self.known[tid] for tid, t in times.items() if t >= start}
        return cursor


def read_tasks(
    client: LabelStudioClient,
    project_id: int,
    cursor: PullCursor | None,
    *,
    page_size: int = 500,
    overlap_s: float = OVERLAP_S,
) -> tuple[Iterator[dict[str, Any]], ReadStats]:
    """The annotated tasks of ``project_id`` to read, as a lazy iterator, and its stats.

    With ``cursor=None`` every annotated task is read (a full pull); otherwise only those
    updated since the cursor (module docstring). The tasks come page by page, so a caller
    that consumes them one at a time holds one page in memory; ``stats`` is complete once
    the iterator is exhausted. Server failures surface while iterating, as
    :class:`~.client.LabelStudioError`.
    """
    stats = ReadStats(incremental=cursor is not None)
    return _read(client, project_id, cursor, page_size, overlap_s, stats), stats


def _read(
    client: LabelStudioClient,
    pid: int,
    cursor: PullCursor | None,
    page_size: int,
    overlap_s: float,
    stats: ReadStats,
) -> Iterator[dict[str, Any]]:
    began = client.server_time()  # before anything is read (see PullCursor)
    stats.read_at = None if began is None else format_time(began)
    # no include= on full reads: with it, the 1.23 server returns annotations as bare ids
    # for imported ones
    if cursor is None:
        for task in client.iter_tasks(pid, query=ANNOTATED, fields="all", page_size=page_size):
            stats.note(task)
            yield task
        return
    listed: dict[int, str] = {}
    query = _annotated_since(cursor.since(overlap_s))
    for t in client.iter_tasks(
        pid, query=query, include="id,updated_at", page_size=max(page_size, 1000)
    ):
        listed[int(t["id"])] = stamp(t.get("updated_at"))
    stats.n_listed = len(listed)
    seen = cursor.seen
    changed = sorted(tid for tid, when in listed.items() if not when or seen.get(tid) != when)
    stats.known = dict(cursor.seen) | {t: w for t, w in listed.items() if w}
    for start in range(0, len(changed), _ID_CHUNK):
        ids = changed[start : start + _ID_CHUNK]
        by_id = {"filters": ANNOTATED["filters"], "selectedItems": {"all": False, "included": ids}}
        for task in client.iter_tasks(pid, query=by_id, fields="all", page_size=page_size):
            stats.note(task)
            yield task
