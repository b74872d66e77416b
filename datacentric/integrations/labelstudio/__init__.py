"""Label Studio round trip: push flagged samples to annotators, pull their labels back.

Needs the ``labelstudio`` extra (``pip install 'datacentric[labelstudio]'``, the
label-studio-sdk 2.x client) only when a server is contacted; importing this package does not
import the SDK.

>>> from datacentric.integrations.labelstudio import label_config
>>> label_config(["cat", "dog"]).count("<Choice ")
2

Typical use::

    from datacentric.integrations.labelstudio import (
        LabelStudioClient, pull_annotations, push_review)
    client = LabelStudioClient("http://localhost:8080", token)   # or $LABEL_STUDIO_URL / _API_KEY
    push_review("data/", scan, project="Digits review", client=client,
                guide="annotation_guides/digits.md", predictions=preds)
    # ... annotators label in Label Studio ...
    result = pull_annotations("data/", project="Digits review", client=client)
    result.version, result.agreement["pairwise"]

A detection dataset goes through the same two calls with boxes: its images are pushed with
the current boxes to check and ``predicted_boxes=`` beside them, and the pull returns a
:class:`BoxPullResult` of box edits (see :mod:`.box_push`, :mod:`.box_pull`).

The same through the review-backend protocol: ``review.get_backend("labelstudio")``, or
``datacentric review push DIR --to labelstudio --project NAME``.
"""

from __future__ import annotations

from datacentric.integrations.labelstudio.backend import LabelStudioBackend
from datacentric.integrations.labelstudio.box_decision import BoxDecisions, decide_boxes
from datacentric.integrations.labelstudio.box_pull import BoxPullResult
from datacentric.integrations.labelstudio.boxes import (
    box_label_config,
    box_region,
    read_regions,
    region_pixels,
)
from datacentric.integrations.labelstudio.client import (
    LabelStudioClient,
    LabelStudioError,
    ServerUnavailableError,
)
from datacentric.integrations.labelstudio.config import (
    choice_result,
    instructions_html,
    label_config,
    result_label,
)
from datacentric.integrations.labelstudio.decision import Decisions, decide
from datacentric.integrations.labelstudio.pull import (
    FetchedAnnotations,
    PullResult,
    annotations_frame,
    apply_decisions,
    fetch_annotations,
    pull_annotations,
)
from datacentric.integrations.labelstudio.push import PushResult, push_review, review_items
from datacentric.integrations.labelstudio.state import ProjectState

__all__ = [
    "BoxDecisions",
    "BoxPullResult",
    "Decisions",
    "FetchedAnnotations",
    "LabelStudioBackend",
    "LabelStudioClient",
    "LabelStudioError",
    "ProjectState",
    "PullResult",
    "PushResult",
    "ServerUnavailableError",
    "annotations_frame",
    "apply_decisions",
    "box_label_config",
    "box_region",
    "choice_result",
    "decide",
    "decide_boxes",
    "fetch_annotations",
    "instructions_html",
    "label_config",
    "pull_annotations",
    "push_review",
    "read_regions",
    "region_pixels",
    "result_label",
    "review_items",
]
