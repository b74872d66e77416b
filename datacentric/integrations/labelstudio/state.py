"""The local journal of a dataset's Label Studio project: what was pushed, what was applied.

One JSON file per (server, project title) under ``<root>/.datacentric/labelstudio/``, written
atomically after every pushed chunk and after every pull. The server stays the authority on
which tasks exist (a push always looks tasks up by ``sample_id`` first), so a lost or stale
journal can cause no duplicate; the journal is what makes a pull apply each annotation once.

It also holds the pull **cursor** (:class:`PullCursor`): the newest task ``updated_at`` the
last committed pull read, and the tasks it read near that time, so the next pull asks the
server only for tasks updated since (see :mod:`.incremental`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlparse

from datacentric._io import atomic_write_text
from datacentric._read import check_fields, describe, read_json
from datacentric.dataset.store import STORE_DIR
from datacentric.exceptions import SchemaError

__all__ = ["ProjectState", "PullCursor", "format_time", "parse_time", "state_path"]

_FORMAT = 1


_LS_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # what the server's Data Manager filters parse
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII)  # format_time's
#: A cursor later than the local clock by more than this is refused (tampered or corrupt).
_FUTURE = timedelta(days=1)


def parse_time(text: str) -> datetime:
    """A Label Studio timestamp (ISO 8601, ``Z`` or an offset) as an aware UTC datetime.

    Raises ``ValueError`` when ``text`` is not one.

    Examples
    --------
    >>> parse_time("2026-12-07T12:00:00.123456Z").isoformat()
    '2026-12-07T12:00:00.123456+00:00'
    >>> parse_time("2026-12-07T13:00:00+01:00").hour
    12
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"not a timestamp: {text!r}")
    t = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)  # the server stores UTC
    return t.astimezone(timezone.utc)


def format_time(t: datetime) -> str:
    """``t`` as a Label Studio Data Manager filter value (UTC, microseconds, ``Z``).

    Examples
    --------
    >>> format_time(parse_time("2026-12-07T13:00:00+01:00"))
    '2026-12-07T12:00:00.000000Z'
    """
    return t.astimezone(timezone.utc).strftime(_LS_TIME)


@dataclass
class PullCursor:
    """Where the last committed pull of a project ended.

    Attributes
    ----------
    updated_at : str
        The newest task ``updated_at`` (server time) the pull read or listed.
    seen : dict
        task id → ``updated_at`` of the tasks the pull knew whose ``updated_at`` is at or
        after :meth:`start` (the next pull lists those again and reads only the ones that
        changed).
    read_at : str or None
        The server's clock (its HTTP ``Date``, to the second) when the pull began reading;
        ``None`` when the server sent none.

    Every write the pull could not see was still in flight when it began, or came after, so
    its ``updated_at`` is at least ``read_at`` minus the time a write takes to commit (the
    overlap); the next pull lists the tasks updated since then (:meth:`start`). Without
    ``read_at`` it starts from ``updated_at`` minus the overlap.

    Examples
    --------
    >>> c = PullCursor("2026-12-07T12:00:00.000000Z", read_at="2026-12-07T12:03:00.000000Z")
    >>> c.since(5.0)
    '2026-12-07T12:02:55.000000Z'
    >>> PullCursor("2026-12-07T12:00:00.000000Z").since(5.0)
    '2026-12-07T11:59:55.000000Z'
    """

    updated_at: str
    seen: dict[int, str] = field(default_factory=dict)
    read_at: str | None = None

    def start(self, overlap_s: float) -> datetime:
        """The earliest ``updated_at`` the next pull must list (see the class docstring)."""
        anchor = self.read_at if self.read_at is not None else self.updated_at
        return parse_time(anchor) - timedelta(seconds=overlap_s)

    def since(self, overlap_s: float) -> str:
        """:meth:`start` as a Data Manager filter value."""
        return format_time(self.start(overlap_s))

    def to_json(self) -> dict[str, object]:
        """The journal's ``cursor`` field."""
        return {
            "updated_at": self.updated_at,
            "read_at": self.read_at,
            "seen": {str(k): v for k, v in self.seen.items()},
        }


def _read_cursor(raw: object) -> tuple[PullCursor | None, str | None]:
    """(cursor, None) or (None, what is wrong with it)."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        return None, f"its field 'cursor' is {describe(raw)}, not an object"
    when, seen, read_at = raw.get("updated_at"), raw.get("seen", {}), raw.get("read_at")
    for name, value in (("updated_at", when), ("read_at", read_at)):
        if value is None and name == "read_at":
            continue
        if not isinstance(value, str) or not _CANONICAL.fullmatch(value):
            return None, (
                f"its cursor's {name!r} is {describe(value)}, not a timestamp like "
                "'2026-12-07T12:00:00.000000Z'"
            )
        if parse_time(value) > datetime.now(timezone.utc) + _FUTURE:
            return None, f"its cursor's {name!r} {value!r} lies in the future"
    if not isinstance(seen, dict):
        return None, f"its cursor's 'seen' is {describe(seen)}, not an object"
    out: dict[int, str] = {}
    for k, v in seen.items():
        ok_key = isinstance(k, str) and k.isascii() and k.isdigit() and len(k) < 19
        if not ok_key or not isinstance(v, str):
            return None, (
                f"its cursor's 'seen' maps {describe(k)} to {describe(v)}; expected task ids "
                "to timestamps"
            )
        out[int(k)] = v
    return PullCursor(str(when), out, read_at), None


def state_path(root: str | Path, url: str, project: str) -> Path:
    """Where the journal of ``project`` on the server at ``url`` lives.

    Examples
    --------
    >>> state_path("/data", "http://127.0.0.1:8080", "Digits review").name
    '127.0.0.1_8080__digits-review.json'
    """
    u = urlparse(url)
    host = f"{u.hostname or 'server'}_{u.port or (443 if u.scheme == 'https' else 80)}"
    slug = re.sub(r"[^a-z0-9]+", "-", project.lower()).strip("-") or "project"
    return Path(root) / STORE_DIR / "labelstudio" / f"{host}__{slug}.json"


@dataclass
class ProjectState:
    """Journal contents.

    Attributes
    ----------
    path : Path
    url, project : str
        Server and project title.
    project_id : int or None
    tasks : dict
        sample_id → task id of every task known to be on the server.
    applied : dict
        annotation id (str) → its ``updated_at`` when a pull applied it.
    cursor : PullCursor or None
        Where the last committed pull ended (``None``: the next pull reads every task).
    cursor_problem : str or None
        Why the journal's cursor could not be read (a damaged or tampered file); an
        incremental pull then refuses to guess and asks for a full one.
    """

    path: Path
    url: str
    project: str
    project_id: int | None = None
    tasks: dict[str, int] = field(default_factory=dict)
    applied: dict[str, str] = field(default_factory=dict)
    cursor: PullCursor | None = None
    cursor_problem: str | None = None

    @classmethod
    def load(cls, root: str | Path, url: str, project: str) -> ProjectState:
        """Read the journal (an empty one when there is none yet).

        Raises
        ------
        SchemaError
            When the journal is damaged (not JSON, truncated, fields of the wrong type); the
            message says to delete it (a push rebuilds it from the server).
        """
        path = state_path(root, url, project)
        if not path.is_file():
            return cls(path, url, project)
        fix = (
            "Delete it: the next push rebuilds it from the server (tasks are looked up by "
            "sample_id)."
        )
        what = "the Label Studio journal of a project"
        raw = check_fields(
            read_json(path, what=what, fix=fix),
            {
                "project_id": "int|null",
                "tasks": "dict|null",
                "applied": "dict|null",
            },
            str(path),
            what=what,
            fix=fix,
        )
        tasks = raw.get("tasks") or {}
        applied = raw.get("applied") or {}
        for name, values, ok, expected in (
            ("tasks", tasks, lambda v: isinstance(v, int) and not isinstance(v, bool), "task ids"),
            ("applied", applied, lambda v: isinstance(v, str), "times"),
        ):
            bad = next((k for k, v in values.items() if not ok(v)), None)
            if bad is not None:
                raise SchemaError(
                    f"{path}: field {name!r} maps {describe(bad)} to {describe(values[bad])}; "
                    f"expected {expected} (in {what}). {fix}"
                )
        cursor, problem = _read_cursor(raw.get("cursor"))
        return cls(
            path,
            url,
            project,
            project_id=raw.get("project_id"),
            tasks={str(k): int(v) for k, v in tasks.items()},
            applied={str(k): str(v) for k, v in applied.items()},
            cursor=cursor,
            cursor_problem=problem,
        )

    def save(self) -> Path:
        """Write the journal atomically."""
        body = {
            "format": _FORMAT,
            "url": self.url,
            "project": self.project,
            "project_id": self.project_id,
            "tasks": self.tasks,
            "applied": self.applied,
            "cursor": None if self.cursor is None else self.cursor.to_json(),
        }
        return atomic_write_text(self.path, json.dumps(body, indent=1, sort_keys=True))
