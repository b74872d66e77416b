"""Where the last FiftyOne pull ended, so that the next one reads only what changed since.

FiftyOne stamps every sample write — a tag added in the App, a label edited and saved,
``set_values``, our own push — with the sample's ``last_modified_at`` (UTC, from the
writer's clock). A pull remembers a cursor per dataset directory and FiftyOne dataset, in
``<root>/.datacentric/fiftyone/<name>.json``:

* ``at`` — samples last modified at or before it were read by an earlier pull;
* ``seen`` — FiftyOne sample id → ``last_modified_at`` of the samples read that were
  modified after ``at`` (the last :data:`MARGIN_S` seconds before the read).

The next pull asks FiftyOne for the ids and stamps of the samples modified after ``at``,
drops those whose stamp is the one in ``seen`` (unchanged since), and reads the rest.
``at`` stays :data:`MARGIN_S` behind the moment the read started, so a write stamped just
before the read but landing after it (a bulk tag in the App, a clock a little behind) is
still read next time; ``seen`` keeps those recent samples from being read again and again.

The cursor is written only after the pull's version is committed (or when there was
nothing to commit), so an outage at any point — FiftyOne unreachable, the commit failing,
the process killed — leaves the previous cursor, and the next pull reads those samples
again; lineage then skips whatever was already applied, so nothing is applied twice. A
missing, damaged or foreign cursor (another FiftyOne dataset of the same name, a dataset
version newer than the store's HEAD) means a full pull.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from datacentric._io import atomic_write_text
from datacentric.dataset.store import STORE_DIR

__all__ = ["MARGIN_S", "PullCursor", "cursor_path", "load_cursor", "next_cursor"]

log = logging.getLogger(__name__)

_FORMAT = 1
MARGIN_S = 2.0
"""Seconds ``at`` stays behind the start of the read (writes in flight, clock skew)."""

_EPOCH = datetime(1970, 1, 1)


def cursor_path(root: str | Path, name: str) -> Path:
    """Where the pull cursor of FiftyOne dataset ``name`` lives under a dataset root.

    Examples
    --------
    >>> cursor_path("/data/digits", "datacentric-digits").as_posix()
    '/data/digits/.datacentric/fiftyone/datacentric-digits.pull.json'
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "dataset"
    return Path(root) / STORE_DIR / "fiftyone" / f"{slug}.pull.json"


def _stamp(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


@dataclass
class PullCursor:
    """A pull cursor (see the module docstring).

    Attributes
    ----------
    name : str
        The FiftyOne dataset.
    dataset_id : str
        Its FiftyOne id (a dataset deleted and pushed again under the same name has another).
    at : datetime
        Naive UTC, as FiftyOne stores ``last_modified_at``.
    seen : dict
        FiftyOne sample id → ``last_modified_at`` (ISO text) of samples modified after ``at``.
    version : int or None
        The dataset version after the pull that wrote it.
    """

    name: str
    dataset_id: str
    at: datetime
    seen: dict[str, str] = field(default_factory=dict)
    version: int | None = None

    def unseen(self, ids: list[str], stamps: list[Any]) -> list[int]:
        """Positions of the samples (modified after ``at``) not read with this stamp before.

        Examples
        --------
        >>> c = PullCursor("d", "x", datetime(2026, 1, 1), {"a": "2026-01-01T00:00:01.000000"})
        >>> c.unseen(["a", "b", "a"], [datetime(2026, 1, 1, 0, 0, 1), datetime(2026, 1, 1, 0, 0, 1),
        ...                            datetime(2026, 1, 1, 0, 0, 2)])
        [1, 2]
        """
        return [
            i
            for i, (s, t) in enumerate(zip(ids, stamps, strict=True))
            if not isinstance(t, datetime) or self.seen.get(s) != _stamp(t)
        ]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": _FORMAT,
                "name": self.name,
                "dataset_id": self.dataset_id,
                "at": _stamp(self.at),
                "version": self.version,
                "seen": self.seen,
            },
            indent=0,
        )

    def save(self, root: str | Path) -> Path:
        """Write atomically to :func:`cursor_path`."""
        return atomic_write_text(cursor_path(root, self.name), self.to_json())


def load_cursor(
    root: str | Path, name: str, dataset_id: str, version: int | None
) -> PullCursor | None:
    """The cursor of the last pull of ``name`` into ``root``, or ``None`` (full pull) when
    there is none, or it is damaged, of another FiftyOne dataset, or newer than ``version``.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> load_cursor(root, "d", "x", 1) is None
    True
    >>> _ = PullCursor("d", "x", datetime(2026, 1, 1), version=1).save(root)
    >>> load_cursor(root, "d", "x", 1).at, load_cursor(root, "d", "other", 1)
    (datetime.datetime(2026, 1, 1, 0, 0), None)
    """
    path = cursor_path(root, name)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
            raise ValueError("not a pull cursor of this format")
        seen = raw["seen"]
        cur = PullCursor(
            name=str(raw["name"]),
            dataset_id=str(raw["dataset_id"]),
            at=datetime.fromisoformat(raw["at"]).replace(tzinfo=None),
            seen={str(k): str(v) for k, v in seen.items()},
            version=raw["version"] if isinstance(raw["version"], int) else None,
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        log.warning(
            "%s: the FiftyOne pull cursor cannot be read (%s); reading every sample this time "
            "(nothing is applied twice)",
            path,
            str(exc)[:200],
        )
        return None
    if cur.dataset_id != dataset_id or cur.name != name:
        log.info("%s is the cursor of another FiftyOne dataset; full pull", path)
        return None
    if cur.version is not None and (version is None or cur.version > version):
        log.warning(
            "%s was written at dataset version %s, newer than the store's version %s (restored "
            "or rolled back?); reading every sample this time",
            path,
            cur.version,
            version,
        )
        return None
    return cur


def next_cursor(
    previous: PullCursor | None,
    name: str,
    dataset_id: str,
    started: datetime,
    ids: list[str],
    stamps: list[Any],
    version: int | None,
) -> PullCursor:
    """The cursor after a pull that started reading at ``started`` (naive UTC) and saw the
    samples ``ids`` modified at ``stamps`` (every sample modified after ``previous.at``).

    Examples
    --------
    >>> t0 = datetime(2026, 1, 1, 12, 0, 0)
    >>> c = next_cursor(None, "d", "x", t0, ["a", "b"], [t0 - timedelta(seconds=60),
    ...                 t0 - timedelta(seconds=1)], 3)
    >>> c.at, sorted(c.seen)
    (datetime.datetime(2026, 1, 1, 11, 59, 58), ['b'])
    """
    real = [t for t in stamps if isinstance(t, datetime)]
    if not real:  # nothing modified since the previous cursor
        at = previous.at if previous is not None else _EPOCH
    else:
        # behind the start of the read by the margin, and never ahead of the newest stamp
        # (a writer whose clock is behind ours)
        at = min(max(real), started - timedelta(seconds=MARGIN_S))
        if previous is not None and previous.at > at:
            at = previous.at
    seen = {
        s: _stamp(t) for s, t in zip(ids, stamps, strict=True) if isinstance(t, datetime) and t > at
    }
    return PullCursor(name, dataset_id, at, seen, version)
