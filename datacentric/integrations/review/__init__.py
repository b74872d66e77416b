"""One interface for human review: push samples to a review tool, pull verdicts back.

:class:`ReviewBackend` is the protocol (``push(ds, items, ...) -> PushResult``,
``pull(ds, ...) -> PullResult``); Label Studio and FiftyOne implement it, and
:func:`register_backend` adds another. The CLI's ``datacentric review push --to NAME`` and
``review pull --from NAME`` go through :func:`get_backend`.

Where no person is at hand (demos, benchmarks), :func:`simulate_review` answers a review
queue from a ground truth and applies it through the same step as a FiftyOne pull
(:func:`apply_review`), with lineage source ``simulated-reviewer``. On a detection dataset
:func:`simulate_box_review` redraws the queued images' boxes as their true objects and
applies the box edits through the same step as a Label Studio box pull
(:func:`apply_box_edits`).

>>> from datacentric.integrations import review
>>> review.REGISTRY.names()[:2]
['labelstudio', 'fiftyone']
"""

from __future__ import annotations

from datacentric.integrations.review.apply import AppliedReview, apply_review
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
from datacentric.integrations.review.box_apply import apply_box_edits
from datacentric.integrations.review.results import PullResult, PushResult
from datacentric.integrations.review.simulated import simulate_review
from datacentric.integrations.review.simulated_boxes import simulate_box_review

__all__ = [
    "REGISTRY",
    "AppliedReview",
    "BackendRegistry",
    "PullResult",
    "PushResult",
    "ReviewBackend",
    "ReviewItems",
    "apply_box_edits",
    "apply_review",
    "check_options",
    "get_backend",
    "pull",
    "push",
    "register_backend",
    "simulate_box_review",
    "simulate_review",
]
