"""FiftyOne visual review: push samples, issues, predictions and slices; pull verdicts back.

Needs the ``fiftyone`` extra (``pip install 'datacentric[fiftyone]'``). Importing this
package does not import FiftyOne; each function imports it when called, after setting
quiet, offline defaults (telemetry off — see :mod:`._env`).

* :func:`to_fiftyone` — create or incrementally update a persistent FiftyOne dataset:
  images, ``ground_truth``/``predictions``, one field per issue score, ``issue:<type>``
  tags, metadata/slice fields, embeddings, FiftyOne Brain uniqueness/mistakenness, and
  saved views per issue type and per worst slice.
* :func:`launch_app` — serve the App on 127.0.0.1, opened on the worst-issues view.
* :func:`from_fiftyone` — reviewer tags (``confirmed_issue``, ``not_an_issue``,
  ``relabel:<class>``) and label edits → a new dataset version with lineage.
* :class:`FiftyOneBackend` — the two above as a review backend (``review push --to fiftyone``).

A detection dataset is pushed as ``Detections`` (boxes with their ``annotation_id``, predicted
boxes, per-box ``issue:<type>`` label tags and severities, views of the flagged boxes), and
boxes moved, resized, deleted, added or relabelled in FiftyOne are pulled back as box edits
with lineage (see ``docs/fiftyone.md``, "Boxes").

Examples
--------
>>> import datacentric.integrations.fiftyone as dcfo
>>> sorted(dcfo.__all__)[:3]
['AppSession', 'FiftyOneBackend', 'FiftyOneError']
>>> dcfo.WORST_ISSUES_VIEW
'worst-issues'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datacentric.integrations.fiftyone._env import FiftyOneError
    from datacentric.integrations.fiftyone.app import AppSession, launch_app
    from datacentric.integrations.fiftyone.backend import FiftyOneBackend
    from datacentric.integrations.fiftyone.brain import compute_brain
    from datacentric.integrations.fiftyone.pull import PullResult, from_fiftyone
    from datacentric.integrations.fiftyone.push import PushResult, default_name, to_fiftyone
    from datacentric.integrations.fiftyone.records import Records, WorstSlice, build_records
    from datacentric.integrations.fiftyone.views import WORST_ISSUES_VIEW

__all__ = [
    "WORST_ISSUES_VIEW",
    "AppSession",
    "FiftyOneBackend",
    "FiftyOneError",
    "PullResult",
    "PushResult",
    "Records",
    "WorstSlice",
    "build_records",
    "compute_brain",
    "default_name",
    "from_fiftyone",
    "launch_app",
    "to_fiftyone",
]

_WHERE = {
    "FiftyOneError": "_env",
    "AppSession": "app",
    "launch_app": "app",
    "FiftyOneBackend": "backend",
    "compute_brain": "brain",
    "PullResult": "pull",
    "from_fiftyone": "pull",
    "PushResult": "push",
    "default_name": "push",
    "to_fiftyone": "push",
    "Records": "records",
    "WorstSlice": "records",
    "build_records": "records",
    "WORST_ISSUES_VIEW": "views",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
