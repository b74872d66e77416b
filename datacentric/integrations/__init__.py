"""Integrations with human-review tools: Label Studio (annotators) and FiftyOne (reviewers).

Both implement one protocol, :class:`~datacentric.integrations.review.ReviewBackend`
(``push`` / ``pull`` with shared result types, a registry that a third tool joins with
``register_backend``). Each tool lives in its own sub-package behind a pip extra
(``labelstudio``, ``fiftyone``) and imports its heavy client only inside the functions that
need it.
"""
