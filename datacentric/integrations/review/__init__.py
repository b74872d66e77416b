"""One interface for human review: push samples to a review tool, pull verdicts back.

:class:`ReviewBackend` is the protocol (``push(ds, items, ...) -> PushResult``,
``pull(ds, ...) -> PullResult``); Label Studio and FiftyOne implement it, and
:func:`register_backend` adds another. The CLI's ``datacentric review push --to NAME`` and
``review pull --from NAME`` go through :func:`get_backend`.

>>> from datacentric.integrations import review
>>> review.REGISTRY.names()[:2]
['labelstudio', 'fiftyone']
"""

from __future__ import annotations

from datacentric.integrations.review.backend import (
    REGISTRY,
    BackendRegistry,
    ReviewBackend,
    ReviewItems,
    check_options,
    get_backend,
    pull,
    push,
    register_backend,
)
from datacentric.integrations.review.results import PullResult, PushResult

__all__ = [
    "REGISTRY",
    "BackendRegistry",
    "PullResult",
    "PushResult",
    "ReviewBackend",
    "ReviewItems",
    "check_options",
    "get_backend",
    "pull",
    "push",
    "register_backend",
]
