"""Integrity: rows that cannot be used as they are — no label, no readable image, gaps."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric.issues.base import IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["IntegrityFinder"]


@register_finder
class IntegrityFinder(IssueFinder):
    """Basic integrity of every row; one row per sample and check.

    Reports ``missing_label`` (label is null; not for a detection dataset, whose labels
    are on its boxes: see the ``box_geometry`` finder), ``unreadable_image`` (the image cannot be
    used: missing, corrupt, truncated, larger than ``max_image_pixels`` or linked from
    outside the dataset — the reason, and for a large image its size and the limit, is in
    ``detail``) and
    ``null_metadata`` (a metadata column is empty, so slices cannot place the sample).
    Labels outside the classes, duplicate ids and paths leaving the dataset directory are
    rejected when the dataset is loaded, so they never reach a scan. It sees every row even
    when the scan leaves unreadable images out of the model (``all_rows``).

    Parameters
    ----------
    check_images : bool
        Decode every image to find unreadable ones (default True).

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> ds = Dataset.from_arrays(np.zeros((3, 2, 2)), ["a", None, "a"], ["a"],
    ...                          metadata={"site": ["x", "y", None]})
    >>> t = IntegrityFinder().find(ScanContext(ds)).filter(pl.col("is_issue"))
    >>> t[["sample_id", "issue_type"]].rows()
    [('1', 'missing_label'), ('2', 'null_metadata')]
    """

    name = "integrity"
    requires = frozenset()
    description = "Missing label, unreadable image or empty metadata."
    reports = ("missing_label", "unreadable_image", "null_metadata")
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"check_images": ["boolean"]}
    all_rows = True

    def __init__(self, check_images: bool = True) -> None:
        self.check_images = check_images

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Check labels, images and metadata of every row."""
        ds = ctx.dataset
        m = ds.manifest
        ids = ds.sample_ids
        parts = []
        if ds.task != "detection":  # a detection manifest has no labels (they are on boxes)
            missing = m["label"].is_null().to_numpy()
            parts.append(
                issue_table(
                    "missing_label",
                    ids,
                    missing,
                    missing.astype(float),
                    [
                        "No label: annotate it, or keep it out of training." if x else None
                        for x in missing
                    ],
                )
            )
        if self.check_images:
            stats = ctx.image_stats
            bad = ~stats["readable"].to_numpy()
            errors = stats["error"].to_list()
            parts.append(
                issue_table(
                    "unreadable_image",
                    ids,
                    bad,
                    bad.astype(float),
                    [
                        f"Image cannot be used: {e}. Restore or remove the file." if b else None
                        for b, e in zip(bad, errors, strict=True)
                    ],
                )
            )
        meta = ds.metadata_columns
        if meta:
            nulls = m.select(meta).select(pl.all().is_null()).to_numpy()
            any_null = np.asarray(nulls.any(axis=1), dtype=bool)
            detail = [
                "Empty metadata: "
                + ", ".join(c for c, z in zip(meta, row, strict=True) if z)
                + ". Slices on these columns cannot place the sample; fill them in."
                if a
                else None
                for a, row in zip(any_null, nulls, strict=True)
            ]
            parts.append(issue_table("null_metadata", ids, any_null, nulls.mean(axis=1), detail))
        return pl.concat(parts)
