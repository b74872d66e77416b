"""FiftyOne as a :class:`~datacentric.integrations.review.ReviewBackend`.

An adapter over :func:`~datacentric.integrations.fiftyone.to_fiftyone` and
:func:`~datacentric.integrations.fiftyone.from_fiftyone`: ``target`` is the FiftyOne dataset
name (default ``datacentric-<folder name>``), ``items`` the scan to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError

if TYPE_CHECKING:
    from datacentric.integrations.fiftyone.pull import PullResult
    from datacentric.integrations.fiftyone.push import PushResult
    from datacentric.integrations.review import ReviewBackend, ReviewItems
    from datacentric.issues.result import ScanResult
    from datacentric.train.recipe import Predictions

__all__ = ["SCAN_FILE", "FiftyOneBackend", "as_scan"]

SCAN_FILE = "scan.parquet"
"""The scan pushed when no items are given: ``<dataset root>/scan.parquet``."""


class FiftyOneBackend:
    """Push the dataset with its issues, predictions and worst slices to a FiftyOne dataset;
    pull reviewer tags and label edits back.

    Examples
    --------
    >>> b = FiftyOneBackend()
    >>> b.name, sorted(b.pull_options)
    ('fiftyone', ['full', 'reviewer'])
    """

    name = "fiftyone"
    push_options: Mapping[str, str] = MappingProxyType(
        {
            "slices": "candidate slices for the worst-slice views (YAML path/text or Slices)",
            "worst_slices": "how many lowest-accuracy slices get a view",
            "min_slice_n": "smallest slice considered",
            "brain": "compute FiftyOne Brain uniqueness and mistakenness",
            "overwrite": "replace a same-named FiftyOne dataset datacentric did not create",
            "predicted_boxes": "detection: predicted boxes (Parquet path or DataFrame) to show",
            "review_queue": "a ranked review queue (DataFrame or ids): the review-queue view",
        }
    )
    pull_options: Mapping[str, str] = MappingProxyType(
        {
            "reviewer": "reviewer name for the lineage source",
            "full": "read every sample, not only those written since the last pull",
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
        """:func:`to_fiftyone` of ``ds`` with the issues of ``items`` (see :func:`as_scan`)."""
        from datacentric.integrations.fiftyone.push import to_fiftyone

        dataset = ds if isinstance(ds, Dataset) else Dataset.open(ds)
        return to_fiftyone(dataset, as_scan(dataset, items), predictions, name=target, **options)

    def pull(
        self,
        ds: Dataset | str | Path,
        *,
        target: str | None = None,
        commit: bool = True,
        message: str | None = None,
        **options: Any,
    ) -> PullResult:
        """:func:`from_fiftyone` of the FiftyOne dataset ``target``."""
        from datacentric.integrations.fiftyone.pull import from_fiftyone

        return from_fiftyone(ds, target, commit=commit, message=message, **options)


def as_scan(ds: Dataset, items: ReviewItems) -> ScanResult:
    """The scan to push for ``items``: a ScanResult as it is; an IssueTable (a review queue,
    a filtered issue table) wrapped as one (rows without ``is_issue`` count as flagged);
    ``None``: ``<dataset root>/scan.parquet``.

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset.from_arrays(np.zeros((2, 4, 4)), ["a", "b"], classes=["a", "b"])
    >>> queue = pl.DataFrame({"sample_id": ["1"], "issue_type": ["dark"], "severity": [0.7]})
    >>> as_scan(ds, queue).flagged().select("sample_id", "issue_type", "is_issue").rows()
    [('1', 'dark', True)]
    """
    from datacentric.issues.result import ScanResult

    if isinstance(items, ScanResult):
        return items
    if items is None:
        path = Path(ds.root) / SCAN_FILE if ds.root is not None else None
        if path is None or not path.is_file():
            raise InvalidParameterError(
                f"nothing to review: no items were given and there is no {path or SCAN_FILE}. "
                f"Run `datacentric scan DIR --out DIR/{SCAN_FILE}` first, or pass a scan "
                "(CLI: --scan FILE)."
            )
        return ScanResult.load(path)
    missing = [c for c in ("sample_id", "issue_type", "severity") if c not in items.columns]
    if missing:
        raise SchemaError(
            f"the items to push to FiftyOne lack the column(s) {missing}; received columns "
            f"{items.columns}. Pass a ScanResult, an IssueTable or a review queue."
        )
    defaults = {
        "is_issue": pl.lit(True),
        "suggested_label": pl.lit(None, pl.Utf8),
        "detail": pl.lit(None, pl.Utf8),
    }
    issues = items.with_columns(e.alias(c) for c, e in defaults.items() if c not in items.columns)
    cols = ["sample_id", "label", "split", *ds.metadata_columns]
    samples = ds.manifest.select(c for c in cols if c in ds.manifest.columns)
    return ScanResult(issues, samples, list(ds.classes), meta={"version": ds.version})


if TYPE_CHECKING:  # mypy checks that the class implements the protocol
    _conforms: ReviewBackend = FiftyOneBackend()
