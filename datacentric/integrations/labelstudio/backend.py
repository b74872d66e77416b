"""Label Studio as a :class:`~datacentric.integrations.review.ReviewBackend`.

An adapter over :func:`push_review` and :func:`pull_annotations`: ``target`` is the project
title, the options are those functions' keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from datacentric._validation import invalid_parameter
from datacentric.integrations.labelstudio.box_pull import BoxPullResult
from datacentric.integrations.labelstudio.pull import PullResult, pull_annotations
from datacentric.integrations.labelstudio.push import PushResult, push_review

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.integrations.review import ReviewBackend, ReviewItems
    from datacentric.train.recipe import Predictions

__all__ = ["LabelStudioBackend"]

_CONNECTION = {
    "client": "a LabelStudioClient (instead of url/token)",
    "url": "server URL (default $LABEL_STUDIO_URL)",
    "token": "API token (default $LABEL_STUDIO_API_KEY; never printed)",
}


class LabelStudioBackend:
    """Push samples to a Label Studio project as tasks; pull the annotators' majority vote.

    Examples
    --------
    >>> b = LabelStudioBackend()
    >>> b.name, "guide" in b.push_options, "page_size" in b.pull_options
    ('labelstudio', True, True)
    """

    name = "labelstudio"
    push_options: Mapping[str, str] = MappingProxyType(
        {
            **_CONNECTION,
            "guide": "annotation guide (path or AnnotationGuide) shown as the instructions",
            "issue_types": "push only items of these issue types",
            "limit": "push only the N worst samples",
            "images": "auto | local-files | data-uri",
            "document_root": "the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT",
            "chunk_size": "tasks per import request",
            "model_version": "recorded on every pre-annotation",
            "predicted_boxes": "boxes: the detector's boxes (DataFrame or .parquet), shown "
            "read-only",
            "on_chunk": "callback on_chunk(created_so_far, to_create)",
        }
    )
    pull_options: Mapping[str, str] = MappingProxyType(
        {
            **_CONNECTION,
            "page_size": "tasks per page when reading",
            "full": "read every annotated task again (default: only those updated since the "
            "last pull)",
            "iou_threshold": "boxes: least IoU for two boxes to be one object (0.5)",
            "max_regions": "boxes: an annotation with more regions is skipped",
        }
    )

    def push(
        self,
        ds: Dataset | str | Path,
        items: ReviewItems = None,
        *,
        target: str | None = None,
        predictions: Predictions | None = None,
        **options: Any,
    ) -> PushResult:
        """:func:`push_review` to the project titled ``target``; ``items=None`` pushes the
        last loop's review queue."""
        return push_review(ds, items, project=_project(target), predictions=predictions, **options)

    def pull(
        self,
        ds: Dataset | str | Path,
        *,
        target: str | None = None,
        commit: bool = True,
        message: str | None = None,
        **options: Any,
    ) -> PullResult | BoxPullResult:
        """:func:`pull_annotations` of the project titled ``target``."""
        return pull_annotations(
            ds, project=_project(target), commit=commit, message=message, **options
        )


def _project(target: str | None) -> str:
    """The project title: this backend's required ``target`` (its value checked as
    :func:`push_review`'s ``project``)."""
    if not target:
        raise invalid_parameter(
            "LabelStudioBackend",
            "target",
            target,
            "a Label Studio project title",
            fix="Pass target='...' (CLI: --project NAME).",
        )
    return target


if TYPE_CHECKING:  # mypy checks that the class implements the protocol
    _conforms: ReviewBackend = LabelStudioBackend()
