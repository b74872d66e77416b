"""``datacentric review ...``: send what needs a human to annotators and reviewers.

The verbs live next to their integration: Label Studio (``push``/``pull``) in
:mod:`datacentric.cli.review_labelstudio`, FiftyOne (``fiftyone``) in
:mod:`datacentric.cli.review_fiftyone`.
"""

from __future__ import annotations

from datacentric.cli._common import new_app
from datacentric.cli.review_fiftyone import register as _register_fiftyone
from datacentric.cli.review_labelstudio import register as _register_labelstudio

__all__ = ["app"]

app = new_app(
    "Human review: push flagged samples to Label Studio or FiftyOne, pull the verdicts back "
    "as a new dataset version with lineage."
)
_register_labelstudio(app)
_register_fiftyone(app)
