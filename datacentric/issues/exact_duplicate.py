"""Exact duplicates: samples whose decoded pixels are identical."""

from __future__ import annotations

import polars as pl

from datacentric.issues.base import ISSUE_SCHEMA, IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["ExactDuplicateFinder"]

_EXTRA_SCHEMA: dict[str, pl.DataType] = {
    "cluster_id": pl.Int64(),
    "cluster_size": pl.Int64(),
    "keep": pl.Boolean(),
    "duplicate_of": pl.Utf8(),
}


def _label(x: str | None) -> str:
    return "unlabeled" if x is None else x


@register_finder
class ExactDuplicateFinder(IssueFinder):
    """Groups of pixel-identical images (same decoded pixels, whatever the file bytes).

    Samples are grouped by ``pixel_hash`` from
    :func:`~datacentric.issues.image_stats.compute_image_stats` (BLAKE2b-128 of the decoded
    pixels and their shape). The table has one row per readable sample; unreadable images
    have no row (the ``integrity`` finder reports them). Every member of a group of two or
    more has ``is_issue`` True. Extra columns:

    - ``cluster_id`` (Int64): the group, numbered 0, 1, ... in manifest order of first
      appearance; null for unique images.
    - ``cluster_size`` (Int64): copies in the group, 1 for unique images.
    - ``keep`` (bool): True for the copy to keep, the first in manifest order (and for
      unique images), False for the others.
    - ``duplicate_of`` (Utf8): for a copy to drop, the sample id of the kept copy; null
      otherwise.

    Severity is 1.0 for the copies to drop, 0.5 for the kept copy of a group, 0.0 for
    unique images. ``detail`` says which copy to keep, and notes when the copies have
    different labels (also a labelling error) or sit in different splits (leakage).

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric.dataset import Dataset
    >>> imgs = np.stack([np.full((8, 8), v, np.uint8) for v in (10, 20, 10, 10)])
    >>> ds = Dataset.from_arrays(imgs, ["a", "a", "a", "b"], classes=["a", "b"])
    >>> t = ExactDuplicateFinder().find(ScanContext(ds))
    >>> t.select("sample_id", "is_issue", "cluster_id", "keep", "duplicate_of").rows()
    [('0', True, 0, True, None), ('1', False, None, True, None), ('2', True, 0, False, '0'), \
('3', True, 0, False, '0')]
    >>> print(t["detail"][3])
    Exact duplicate of 0 (pixel-identical; 3 copies in cluster 0), labelled differently: \
'b' here vs 'a' on 0. Keep one copy, with the right label.
    """

    name = "exact_duplicate"
    requires = frozenset({"images"})
    description = "Pixel-identical images: keep one copy of each."

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """One row per readable sample; duplicate groups by identical pixel hash."""
        m = ctx.dataset.manifest.select("sample_id", "label", "split")
        s = (
            ctx.image_stats.select("sample_id", "readable", "pixel_hash")
            .join(m, on="sample_id", how="left", maintain_order="left")
            .filter(pl.col("readable"))
            .with_row_index("_pos")
        )
        if s.height == 0:
            return pl.DataFrame(schema={**ISSUE_SCHEMA, **_EXTRA_SCHEMA})
        s = s.with_columns(
            pl.len().over("pixel_hash").cast(pl.Int64).alias("cluster_size"),
            pl.col("_pos").min().over("pixel_hash").alias("_first"),
        )
        firsts = (
            s.filter(pl.col("cluster_size") >= 2)
            .select("_first")
            .unique()
            .sort("_first")
            .with_row_index("cluster_id")
            .with_columns(pl.col("cluster_id").cast(pl.Int64))
        )
        s = s.join(firsts, on="_first", how="left", maintain_order="left").with_columns(
            (pl.col("_pos") == pl.col("_first")).alias("keep")
        )
        kept = s.filter(pl.col("keep")).select(
            pl.col("_first"),
            pl.col("sample_id").alias("_kept_id"),
            pl.col("label").alias("_kept_label"),
        )
        s = s.join(kept, on="_first", how="left", maintain_order="left")
        groups = (
            s.filter(pl.col("cluster_size") >= 2)
            .group_by("cluster_id")
            .agg(
                pl.col("sample_id").alias("_members"),
                pl.col("label").alias("_labels"),
                pl.col("split").unique(maintain_order=True).alias("_splits"),
            )
        )
        info = {row[0]: row[1:] for row in groups.iter_rows()}
        # one sentence per duplicate row; the other rows (nearly all) have none
        details: list[str | None] = [None] * s.height
        in_cluster = s.filter(pl.col("cluster_id").is_not_null()).select(
            "_pos", "label", "cluster_id", "cluster_size", "keep", "_kept_id", "_kept_label"
        )
        for pos, label, cid, size, keep, kept_id, kept_label in in_cluster.iter_rows():
            members, labels, splits = info[cid]
            if keep:
                shown = ", ".join(members[:5]) + (" ..." if len(members) > 5 else "")
                text = f"Kept copy of cluster {cid} ({size} pixel-identical copies: {shown}); "
                text += "remove the others."
                distinct = sorted({_label(x) for x in labels})
                if len(distinct) > 1:
                    text += f" The copies are labelled differently: {', '.join(distinct)}."
            else:
                text = f"Exact duplicate of {kept_id} (pixel-identical; {size} copies in "
                text += f"cluster {cid})"
                if label != kept_label:
                    text += (
                        f", labelled differently: {_label(label)!r} here vs "
                        f"{_label(kept_label)!r} on {kept_id}. Keep one copy, with the right "
                        "label."
                    )
                else:
                    text += ". Keep one."
            if len(splits) > 1:
                text += f" The copies span splits {', '.join(map(str, splits))} (leakage)."
            details[pos] = text
        dup = s["cluster_size"] >= 2
        table = issue_table(
            self.name,
            s["sample_id"],
            dup,
            s.select(
                pl.when(pl.col("cluster_size") < 2)
                .then(0.0)
                .when(pl.col("keep"))
                .then(0.5)
                .otherwise(1.0)
            ).to_series(),
            details,
            cluster_id=s["cluster_id"],
            cluster_size=s["cluster_size"],
            keep=s["keep"],
            duplicate_of=s.select(
                pl.when(pl.col("keep")).then(None).otherwise(pl.col("_kept_id"))
            ).to_series(),
        )
        return self.check_output(table)
