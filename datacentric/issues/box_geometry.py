"""Box geometry: given boxes that reach outside their image."""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from datacentric.issues.base import IssueFinder, issue_table
from datacentric.issues.boxes import given_boxes
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["BoxGeometryFinder"]


@register_finder
class BoxGeometryFinder(IssueFinder):
    """Integrity of every given box, from ``ds.box_problems()``; one row per box.

    A loaded detection dataset has already refused empty values, NaN coordinates, zero
    sizes, unknown classes and samples (see docs/detection.md), so what remains is a box
    reaching outside its image (the size read from the image header): flagged, with the
    reason in ``detail`` and the problem in ``problem``, severity the fraction of the box's
    area outside the image (at least 0.05, so a sliver still shows). An image whose header
    cannot be read is skipped (the image finders report it). Detection datasets only.

    Examples
    --------
    >>> from datacentric.testing import make_detection_check_context
    >>> t = BoxGeometryFinder().find(make_detection_check_context()).filter(pl.col("is_issue"))
    >>> t.select("annotation_id", "problem").rows()  # box "b5" overhangs its image
    [('b5', 'outside_image')]
    """

    name = "box_geometry"
    requires = frozenset({"boxes"})
    description = "Boxes reaching outside their image."
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    all_rows = True

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Check every given box against its image's size."""
        ds = ctx.dataset
        boxes = given_boxes(ds).select("annotation_id", "sample_id", "x", "y", "w", "h")
        problems = (
            ds.box_problems()
            .group_by("annotation_id", maintain_order=True)
            .agg(
                pl.col("problem").str.join(", "),
                pl.col("reason").str.join("; "),
            )
        )
        sizes = ds.image_sizes().select("sample_id", "width", "height")
        t = boxes.join(problems, on="annotation_id", how="left", maintain_order="left").join(
            sizes, on="sample_id", how="left", maintain_order="left"
        )
        inside_w = (
            pl.min_horizontal(pl.col("x") + pl.col("w"), pl.col("width"))
            - pl.max_horizontal(pl.col("x"), pl.lit(0.0))
        ).clip(0.0)
        inside_h = (
            pl.min_horizontal(pl.col("y") + pl.col("h"), pl.col("height"))
            - pl.max_horizontal(pl.col("y"), pl.lit(0.0))
        ).clip(0.0)
        t = t.with_columns(
            pl.when(pl.col("problem").is_not_null())
            .then(
                pl.max_horizontal(
                    (1.0 - inside_w * inside_h / (pl.col("w") * pl.col("h"))).fill_null(1.0),
                    pl.lit(0.05),
                )
            )
            .otherwise(0.0)
            .alias("severity")
        )
        bad = t["problem"].is_not_null()
        return issue_table(
            self.name,
            t["sample_id"],
            bad,
            t["severity"],
            [
                None if r is None else f"{r[:1].upper()}{r[1:]}. Redraw or clip it to the image."
                for r in t["reason"].to_list()
            ],
            annotation_id=t["annotation_id"],
            problem=t["problem"],
        )
