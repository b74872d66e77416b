"""The local journal of a dataset's Label Studio project: what was pushed, what was applied.

One JSON file per (server, project title) under ``<root>/.datacentric/labelstudio/``, written
atomically after every pushed chunk and after every pull. The server stays the authority on
which tasks exist (a push always looks tasks up by ``sample_id`` first), so a lost or stale
journal can cause no duplicate; the journal is what makes a pull apply each annotation once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from datacentric._io import atomic_write_text
from datacentric._read import check_fields, describe, read_json
from datacentric.dataset.store import STORE_DIR
from datacentric.exceptions import SchemaError

__all__ = ["ProjectState", "state_path"]

_FORMAT = 1


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
    """

    path: Path
    url: str
    project: str
    project_id: int | None = None
    tasks: dict[str, int] = field(default_factory=dict)
    applied: dict[str, str] = field(default_factory=dict)

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
            {"project_id": "int|null", "tasks": "dict|null", "applied": "dict|null"},
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
        return cls(
            path,
            url,
            project,
            project_id=raw.get("project_id"),
            tasks={str(k): int(v) for k, v in tasks.items()},
            applied={str(k): str(v) for k, v in applied.items()},
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
        }
        return atomic_write_text(self.path, json.dumps(body, indent=1, sort_keys=True))
