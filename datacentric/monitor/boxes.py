"""Detection monitoring: a detector's predicted boxes as monitored metrics.

A reference and the production batches may carry the boxes a detector predicted for their
rows (the predicted-box table of ``docs/detection.md``: ``sample_id, label, x, y, w, h,
score`` in pixels, matched to the rows by ``sample_id``). Only the boxes the application
keeps count: those with ``score >= score_threshold`` (0.5 by default, fixed in the store's
profile). From them come four metrics, histogrammed per window and slice and judged by the
same drift statistics and alert keys as every input metric:

===================  ==========  =====================================================
metric               one value   what
===================  ==========  =====================================================
``box_count``        per image   kept boxes on the image (an image without one: 0)
``box_area``         per box     ``w * h / (width * height)``: the box's share of its image
``box_confidence``   per box     the box's score
``box_class``        per box     the box's label (categorical: the predicted-class mix)
===================  ==========  =====================================================

Per-box metrics count boxes, not images: a window's ``box_area`` histogram holds every kept
box of the window's images in that slice (an image is in a slice, so are its boxes), and the
sample size that picks the deciding statistic (KS or Wasserstein, chi-square or
Jensen-Shannon) is the number of boxes. ``box_area`` is relative to the image, so the rows
need their image size: ``width`` and ``height`` columns (pixels), or ``image`` paths they are
read from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import polars as pl

from datacentric.dataset.predicted_boxes import check_predicted_boxes
from datacentric.exceptions import LimitExceededError, SchemaError, format_items
from datacentric.monitor.schema import SAMPLE_ID

__all__ = [
    "BOX_AREA",
    "BOX_CLASS",
    "BOX_CONFIDENCE",
    "BOX_COUNT",
    "BOX_METRICS",
    "MAX_BOXES_PER_IMAGE",
    "PER_BOX_METRICS",
    "box_rows",
    "boxes_digest",
    "check_image_sizes",
    "read_boxes",
]

BOX_COUNT, BOX_AREA, BOX_CONFIDENCE, BOX_CLASS = (
    "box_count", "box_area", "box_confidence", "box_class",
)  # fmt: skip
#: The metrics derived from boxes, in the order they are added to the default metrics.
BOX_METRICS = (BOX_COUNT, BOX_AREA, BOX_CONFIDENCE, BOX_CLASS)
#: The metrics with one value per box (the others have one per image).
PER_BOX_METRICS = (BOX_AREA, BOX_CONFIDENCE, BOX_CLASS)
#: More boxes than this on one image (or in all, per image of the batch) is refused: a
#: detector keeps at most a few hundred (COCO evaluates 100), and a larger table for a small
#: batch is a mistake or a row bomb.
MAX_BOXES_PER_IMAGE = 1000
_SIZE = ("width", "height")


def _row_count(boxes: Any) -> int | None:
    """The rows of a box table, without reading a file's data (None: unknown yet)."""
    if isinstance(boxes, pl.DataFrame):
        return boxes.height
    if isinstance(boxes, (str, PurePath)):
        path = Path(boxes)
        if path.suffix.lower() == ".parquet" and path.is_file():
            try:
                return int(pl.scan_parquet(path, glob=False).select(pl.len()).collect().item())
            except (pl.exceptions.PolarsError, OSError, ValueError):
                return None  # read_parquet names the problem
    if isinstance(boxes, Mapping):
        lengths = [len(v) for v in boxes.values() if hasattr(v, "__len__")]
        return max(lengths, default=0)
    return None


def read_boxes(boxes: Any, frame: pl.DataFrame, *, name: str = "boxes") -> pl.DataFrame:
    """Read and check the predicted boxes of ``frame``'s rows.

    Parameters
    ----------
    boxes : polars.DataFrame, mapping of columns, or path to a ``.parquet`` file
        One row per box: ``sample_id, label, x, y, w, h, score`` (pixels; ``score`` in
        [0, 1]); an optional ``prediction_id``.
    frame : polars.DataFrame
        The rows the boxes belong to (a ``sample_id`` column).
    name : str
        The parameter's name, starting the messages about a table.

    Returns
    -------
    polars.DataFrame
        ``prediction_id, sample_id, label, x, y, w, h, score``.

    Raises
    ------
    LimitExceededError
        More than :data:`MAX_BOXES_PER_IMAGE` boxes per row of ``frame``, or on one image
        (checked before a file's rows are read).
    InvalidAnnotationError
        A box of a sample that is not a row of ``frame``, a NaN, infinite, zero or negative
        size, a score outside [0, 1]; the message names the boxes.
    SchemaError, InvalidParameterError
        Not a table, a missing column or one of the wrong kind.

    Examples
    --------
    >>> rows = pl.DataFrame({"sample_id": ["a", "b"]})
    >>> box = {"sample_id": ["c"], "label": ["cat"], "x": [0], "y": [0], "w": [2], "h": [2],
    ...        "score": [0.9]}
    >>> read_boxes(box, rows)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidAnnotationError: boxes: 1 annotation(s) with problem ...
    """
    n_rows = frame.height
    most = MAX_BOXES_PER_IMAGE * max(n_rows, 1)
    n = _row_count(boxes)
    if n is not None and n > most:
        raise LimitExceededError(
            f"{name}: {n:,} boxes for {n_rows:,} row(s), more than {MAX_BOXES_PER_IMAGE:,} "
            f"per image ({most:,}). Pass the boxes of this batch's rows only, kept at the "
            "detector's score threshold."
        )
    ids = frame[SAMPLE_ID].cast(pl.String)
    out = check_predicted_boxes(boxes, None, ids, unit_scores=True, name=name)
    per = out.group_by(SAMPLE_ID).len().filter(pl.col("len") > MAX_BOXES_PER_IMAGE)
    if per.height:
        worst = per.sort("len", descending=True).head(5)
        named = [f"{s} ({k:,})" for s, k in worst.rows()]
        raise LimitExceededError(
            f"{name}: {per.height} image(s) with more than {MAX_BOXES_PER_IMAGE:,} boxes: "
            f"{format_items(named, total=per.height)}. Pass the detector's kept boxes, "
            "not its raw candidates."
        )
    return out


def check_image_sizes(frame: pl.DataFrame, what: str) -> None:
    """Refuse rows without a usable image size (``box_area`` is relative to it)."""
    missing = [c for c in _SIZE if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"the {what} has no {format_items(missing)} column(s) (received "
            f"{format_items(frame.columns, limit=12)}); box_area is a box's share of its "
            "image. Add the image sizes in pixels as 'width' and 'height', or 'image' paths "
            "to read them from."
        )
    for col in _SIZE:
        x = pl.col(col).cast(pl.Float64)
        bad = frame.with_row_index("__row").filter((x.is_nan() | (x <= 0)).fill_null(False))
        if bad.height:
            raise SchemaError(
                f"{what} column {col!r} has {bad.height} value(s) that are not a positive "
                f"size ({format_items(bad[col].head(5).to_list())} at rows "
                f"{format_items(bad['__row'].head(10).to_list(), total=bad.height)}). Write "
                "the image's size in pixels, or null where unknown."
            )


def box_rows(
    frame: pl.DataFrame, boxes: pl.DataFrame, threshold: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``frame`` with ``box_count``, and the kept boxes with the per-box metrics.

    Parameters
    ----------
    frame : polars.DataFrame
        The rows (``sample_id``, ``width``, ``height``).
    boxes : polars.DataFrame
        From :func:`read_boxes`.
    threshold : float
        Boxes with a lower score are left out.

    Returns
    -------
    tuple of polars.DataFrame
        The rows with ``box_count`` (0 for an image without a kept box), and one row per kept
        box: ``sample_id, box_area, box_confidence, box_class`` and ``row``, the index of its
        image in ``frame`` (an image of unknown size gives a null ``box_area``, counted as
        missing).

    Examples
    --------
    >>> rows = pl.DataFrame({"sample_id": ["a", "b"], "width": [10, 10], "height": [10, 20]})
    >>> boxes = pl.DataFrame({"sample_id": ["a", "a", "b"], "label": ["cat", "dog", "cat"],
    ...     "x": [0.0] * 3, "y": [0.0] * 3, "w": [5.0, 2.0, 4.0], "h": [2.0, 2.0, 5.0],
    ...     "score": [0.9, 0.3, 0.6]})
    >>> counted, kept = box_rows(rows, boxes, 0.5)
    >>> counted["box_count"].to_list(), kept.rows()
    ([1, 1], [('a', 0.1, 0.9, 'cat', 0), ('b', 0.1, 0.6, 'cat', 1)])
    """
    kept = boxes.filter(pl.col("score") >= threshold)
    counts = kept.group_by(SAMPLE_ID).len(name=BOX_COUNT)
    counted = (
        frame.join(counts, on=SAMPLE_ID, how="left", maintain_order="left").with_columns(
            pl.col(BOX_COUNT).fill_null(0).cast(pl.Int64)
        )
        if kept.height
        else frame.with_columns(pl.lit(0, pl.Int64).alias(BOX_COUNT))
    )
    size = frame.select(
        pl.col(SAMPLE_ID).cast(pl.String),
        (pl.col("width").cast(pl.Float64) * pl.col("height").cast(pl.Float64)).alias("__area"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
    )
    # every box names a row (read_boxes checked it): the inner join drops nothing
    per_box = kept.join(size, on=SAMPLE_ID, how="inner", maintain_order="left").select(
        SAMPLE_ID,
        (pl.col("w") * pl.col("h") / pl.col("__area")).alias(BOX_AREA),
        pl.col("score").alias(BOX_CONFIDENCE),
        pl.col("label").alias(BOX_CLASS),
        "row",
    )
    return counted, per_box


def boxes_digest(boxes: pl.DataFrame) -> bytes:
    """A digest of a box table's content, independent of its row order."""
    cols = ["sample_id", "label", "x", "y", "w", "h", "score"]
    hashes = np.sort(boxes.select(cols).hash_rows(seed=11).to_numpy())
    return hashlib.blake2b(hashes.tobytes(), digest_size=16).digest()
