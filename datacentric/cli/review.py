"""``datacentric review ...``: send what needs a human to annotators and reviewers.

``push --to NAME`` / ``pull --from NAME`` work with every review backend
(:mod:`datacentric.cli.review_verbs`); ``fiftyone`` adds the FiftyOne App
(:mod:`datacentric.cli.review_fiftyone`). How each backend's results are printed lives next
to it (:mod:`datacentric.cli.review_labelstudio`, :mod:`datacentric.cli.review_fiftyone`).
"""

from __future__ import annotations

from datacentric.cli import review_labelstudio as _labelstudio  # noqa: F401 (printers)
from datacentric.cli._common import new_app
from datacentric.cli.review_fiftyone import register as _register_fiftyone
from datacentric.cli.review_verbs import register as _register_verbs

__all__ = ["app"]

app = new_app(
    "Human review: push flagged samples to Label Studio, FiftyOne or another review backend, "
    "pull the verdicts back as a new dataset version with lineage."
)
_register_verbs(app)
_register_fiftyone(app)
