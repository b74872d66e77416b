"""Integrations with human-review tools: Label Studio (annotators) and FiftyOne (reviewers).

Each lives in its own sub-package behind a pip extra (``labelstudio``, ``fiftyone``) and imports
its heavy client only inside the functions that need it.
"""
