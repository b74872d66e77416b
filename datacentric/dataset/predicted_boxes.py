"""Predicted boxes: a detector's output for a detection dataset, read and checked once.

The scan's box finders (``scan(..., predicted_boxes=)``) and the detection metrics
(``evaluate_detection(ds, pred_boxes)``) take the same table, through
:func:`read_predicted_boxes`: one reader, one set of checks, one message form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import polars as pl

from datacentric._read import check_frame, read_parquet
from datacentric.dataset.annotations import check_annotations
from datacentric.dataset.core import Dataset
from datacentric.exceptions import (
    InvalidAnnotationError,
    InvalidParameterError,
    SchemaError,
    format_items,
)

__all__ = ["PREDICTED_BOX_COLUMNS", "check_predicted_boxes", "read_predicted_boxes"]

#: The required columns of a predicted box table (``prediction_id`` is optional: row numbers).
PREDICTED_BOX_COLUMNS: tuple[str, ...] = ("sample_id", "label", "x", "y", "w", "h", "score")
_KINDS = {"sample_id": "string", "label": "string", **dict.fromkeys("xywh", "number"),
          "score": "number"}  # fmt: skip
_TYPES: dict[str, type[pl.DataType]] = {
    "prediction_id": pl.Utf8,
    "sample_id": pl.Utf8,
    "label": pl.Utf8,
    **dict.fromkeys("xywh", pl.Float64),
    "score": pl.Float64,
}
_WHAT = "predicted boxes"
_FIX = (
    "A predicted-boxes table has one row per box: sample_id, label, x, y, w, h (pixels) and "
    "score, as a polars DataFrame or a .parquet file."
)


def _frame(boxes: Any, name: str) -> tuple[pl.DataFrame, str]:
    """The table and the name its messages start with (the file, or ``name``)."""
    if isinstance(boxes, (str, PurePath)):
        path = Path(boxes)
        if path.suffix.lower() != ".parquet" or not path.is_file():
            raise InvalidParameterError(
                f"{name} must be a polars DataFrame or an existing .parquet file; "
                f"received {str(path)!r}. {_FIX}"
            )
        return read_parquet(path, what=_WHAT, fix=_FIX, columns=_KINDS), str(path)
    if isinstance(boxes, pl.DataFrame):
        return check_frame(boxes, _KINDS, name, what=_WHAT, fix=_FIX), name
    if isinstance(boxes, Mapping):
        try:
            frame = pl.DataFrame(dict(boxes))
        except Exception as exc:
            raise InvalidParameterError(
                f"{name}: the columns given as a mapping do not form a table "
                f"({' '.join(str(exc).split()[:12])}). {_FIX}"
            ) from None
        return check_frame(frame, _KINDS, name, what=_WHAT, fix=_FIX), name
    raise InvalidParameterError(
        f"{name} must be a polars DataFrame, a mapping of columns or a .parquet "
        f"path; received {type(boxes).__name__}. {_FIX}"
    )


def read_predicted_boxes(boxes: Any, dataset: Dataset, *, unit_scores: bool = True) -> pl.DataFrame:
    """Read and check a detector's predicted boxes for a detection dataset.

    Parameters
    ----------
    boxes : polars.DataFrame, mapping of columns, or path to a ``.parquet`` file
        One row per predicted box: ``sample_id, label, x, y, w, h, score`` (pixels: left,
        top, width, height; ``score`` the detector's confidence) and an optional
        ``prediction_id`` (default: the row number). An image without a box has no row.
    dataset : Dataset
        A detection dataset: every ``sample_id`` must be one of its samples and every
        ``label`` one of its classes.
    unit_scores : bool, default True
        Require scores in [0, 1] (the box finders: ObjectLab reads them as probabilities).
        ``False`` accepts any finite score (COCO evaluation only ranks them).

    Returns
    -------
    polars.DataFrame
        ``prediction_id, sample_id, label, x, y, w, h, score`` with these types.

    Raises
    ------
    InvalidParameterError
        ``boxes`` is not a table, a mapping or an existing ``.parquet`` file.
    SchemaError
        A column missing or of the wrong kind, a file that is not Parquet or claims more
        rows than its size holds, or a dataset that is not a detection dataset.
    InvalidAnnotationError
        An empty value, a NaN/infinite coordinate, a zero or negative size, an unknown class
        or sample, a repeated ``prediction_id``, or a score that is missing, not finite or
        (with ``unit_scores``) outside [0, 1]; the message names the rows.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> ds = Dataset.from_arrays(np.zeros((1, 8, 8)), [None], ["cat"])
    >>> ds = Dataset(ds.manifest, ["cat"], arrays=np.zeros((1, 8, 8)), task="detection")
    >>> read_predicted_boxes({"sample_id": ["0"], "label": ["cat"], "x": [1], "y": [1],
    ...     "w": [2], "h": [2], "score": [0.9]}, ds).row(0)
    ('0', '0', 'cat', 1.0, 1.0, 2.0, 2.0, 0.9)
    >>> read_predicted_boxes({"sample_id": ["0"], "label": ["cat"], "x": [1], "y": [1],
    ...     "w": [0], "h": [2], "score": [0.9]}, ds)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidAnnotationError: predicted_boxes: 1 annotation(s) with ...
    """
    if dataset.task != "detection":
        raise SchemaError(
            f"predicted_boxes are for detection datasets; this dataset's task is "
            f"{dataset.task!r}. Pass predictions= (probabilities) for classification."
        )
    return check_predicted_boxes(
        boxes, dataset.classes, dataset.manifest["sample_id"], unit_scores=unit_scores
    )


def check_predicted_boxes(
    boxes: Any,
    classes: Sequence[str] | None,
    sample_ids: Sequence[str] | pl.Series,
    *,
    unit_scores: bool = True,
    name: str = "predicted_boxes",
) -> pl.DataFrame:
    """Read and check a predicted-box table against known samples (and classes).

    The checks of :func:`read_predicted_boxes` without a dataset: ``sample_ids`` are the
    samples the boxes may name; ``classes`` the labels they may have (``None``: any
    non-empty label, e.g. for the monitor, where a class the reference never predicted is
    drift, not an error). ``name`` starts the messages about a table (a file's path starts
    those about a file).

    Examples
    --------
    >>> check_predicted_boxes({"sample_id": ["a"], "label": ["cat"], "x": [0], "y": [0],
    ...     "w": [4], "h": [4], "score": [1.5]}, None, ["a"], name="boxes")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidAnnotationError: boxes: 1 box(es) with a score that is not ...
    """
    frame, source = _frame(boxes, name)
    numbered = "prediction_id" not in frame.columns
    if numbered:
        frame = frame.with_columns(pl.int_range(pl.len()).cast(pl.Utf8).alias("prediction_id"))
    try:
        frame = frame.select(pl.col(c).cast(t) for c, t in _TYPES.items())
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(
            f"{source}: prediction_id {frame.schema['prediction_id']} cannot be read as text "
            f"({' '.join(str(exc).split()[:12])}). {_FIX}"
        ) from None
    if classes is None:
        classes = frame["label"].drop_nulls().unique().to_list()
    checked = frame.rename({"prediction_id": "annotation_id"})
    if numbered:  # row numbers: the same ids as integers, cheaper to check for repeats
        checked = checked.with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("annotation_id")
        )
    check_annotations(checked, classes, sample_ids, source=source)
    ok = pl.col("score").is_finite()
    if unit_scores:
        ok = ok & (pl.col("score") >= 0) & (pl.col("score") <= 1)
    bad = frame.with_row_index("row").filter(~ok.fill_null(False))
    if bad.height:
        named = [f"{p} (row {r}): score {s}"
                 for r, p, s in bad.select("row", "prediction_id", "score").rows()]  # fmt: skip
        want = "a number in [0, 1]" if unit_scores else "a finite number"
        fix = "apply a sigmoid to logits" if unit_scores else "drop boxes without a score"
        raise InvalidAnnotationError(
            f"{source}: {bad.height} box(es) with a score that is not {want}: "
            f"{format_items(named)}. Fix: pass the detector's confidence ({fix}).",
            rows=bad["prediction_id"].to_list(),
        )
    return frame
