"""Boxes for the box-level finders: predicted boxes (a scan input) and a vectorised IoU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._read import check_parquet_rows
from datacentric.dataset import Dataset
from datacentric.dataset.annotations import check_annotations, empty_annotations
from datacentric.exceptions import InvalidAnnotationError, SchemaError, format_items

__all__ = [
    "PREDICTED_BOX_COLUMNS",
    "box_iou",
    "check_predicted_boxes",
    "given_boxes",
    "xyxy",
]

#: The columns of a predicted box table (``prediction_id`` is optional: row numbers).
PREDICTED_BOX_COLUMNS = ("sample_id", "label", "x", "y", "w", "h", "score")
_TYPES: dict[str, type[pl.DataType]] = {
    "prediction_id": pl.Utf8,
    "sample_id": pl.Utf8,
    "label": pl.Utf8,
    "x": pl.Float64,
    "y": pl.Float64,
    "w": pl.Float64,
    "h": pl.Float64,
    "score": pl.Float64,
}


def check_predicted_boxes(boxes: Any, dataset: Dataset) -> pl.DataFrame:
    """Validate out-of-sample predicted boxes of a detection dataset.

    Parameters
    ----------
    boxes : polars.DataFrame, mapping of columns, or path to a ``.parquet`` file
        One row per predicted box: ``sample_id, label, x, y, w, h, score`` (pixels, left,
        top, width, height; ``score`` the detector's confidence in [0, 1]); an optional
        ``prediction_id`` (default: the row number). Images without a box have no row.
    dataset : Dataset
        A detection dataset: every ``sample_id`` must be in it and every ``label`` one of
        its classes.

    Returns
    -------
    polars.DataFrame
        ``prediction_id, sample_id, label, x, y, w, h, score`` with these types.

    Raises
    ------
    SchemaError
        A column missing or of the wrong type, a score outside [0, 1], or a dataset that
        is not a detection dataset.
    InvalidAnnotationError
        A box with an empty value, a NaN/infinite coordinate, a zero or negative size, an
        unknown class or sample, or a repeated ``prediction_id``, naming the rows.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> ds = Dataset.from_arrays(np.zeros((1, 8, 8)), [None], ["cat"])
    >>> ds = Dataset(ds.manifest, ["cat"], arrays=np.zeros((1, 8, 8)), task="detection")
    >>> check_predicted_boxes({"sample_id": ["0"], "label": ["cat"], "x": [1], "y": [1],
    ...     "w": [2], "h": [2], "score": [0.9]}, ds)["prediction_id"].to_list()
    ['0']
    >>> check_predicted_boxes({"sample_id": ["0"], "label": ["cat"], "x": [1], "y": [1],
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
    if isinstance(boxes, (str, Path)):
        path = Path(boxes)
        if path.suffix != ".parquet" or not path.is_file():
            raise SchemaError(
                f"predicted_boxes: {str(path)!r} is not a .parquet file; pass a polars "
                "DataFrame or the path of a Parquet file with sample_id, label, x, y, w, h, "
                "score."
            )
        try:
            rows = int(pl.scan_parquet(path, glob=False).select(pl.len()).collect().item())
            check_parquet_rows(path, rows, path.stat().st_size, what="predicted boxes",
                               fix="Write it again with DataFrame.write_parquet.")  # fmt: skip
            boxes = pl.read_parquet(path, glob=False)
        except SchemaError:
            raise
        except Exception as exc:
            raise SchemaError(
                f"predicted_boxes: {path} cannot be read as Parquet "
                f"({' '.join(str(exc).split()[:12])}). Write it again with DataFrame.write_parquet."
            ) from exc
    if not isinstance(boxes, pl.DataFrame):
        try:
            boxes = pl.DataFrame(boxes)
        except Exception as exc:
            raise SchemaError(
                f"predicted_boxes must be a polars DataFrame (or columns as a mapping); "
                f"received {type(boxes).__name__} ({' '.join(str(exc).split()[:10])})."
            ) from exc
    missing = [c for c in PREDICTED_BOX_COLUMNS if c not in boxes.columns]
    if missing:
        raise SchemaError(
            f"predicted_boxes lack column(s) {missing}; received columns "
            f"{format_items(boxes.columns)}. A predicted box table needs sample_id, label, "
            "x, y, w, h (pixels) and score."
        )
    if "prediction_id" not in boxes.columns:
        boxes = boxes.with_columns(pl.int_range(pl.len()).cast(pl.Utf8).alias("prediction_id"))
    try:
        boxes = boxes.select(pl.col(c).cast(t) for c, t in _TYPES.items())
    except pl.exceptions.PolarsError as exc:
        got = {c: str(boxes.schema[c]) for c in _TYPES}
        raise SchemaError(
            f"predicted_boxes columns have the wrong types {got} "
            f"({' '.join(str(exc).split()[:12])}). Ids and labels are text; x, y, w, h and "
            "score numbers."
        ) from exc
    check_annotations(
        boxes.rename({"prediction_id": "annotation_id"}),
        dataset.classes,
        dataset.manifest["sample_id"],
        source="predicted_boxes",
    )
    bad = boxes.with_row_index("row").filter(
        ~(pl.col("score").is_finite() & (pl.col("score") >= 0) & (pl.col("score") <= 1)).fill_null(
            False
        )
        | pl.col("score").is_null()
    )
    if bad.height:
        named = [f"{p} (row {r}): score {s}" for r, p, s in bad.select("row", "prediction_id",
                 "score").rows()]  # fmt: skip
        raise InvalidAnnotationError(
            f"predicted_boxes: {bad.height} box(es) with a score that is not a number in "
            f"[0, 1]: {format_items(named)}. Fix: pass the detector's confidence (apply a "
            "sigmoid to logits).",
            rows=bad["prediction_id"].to_list(),
        )
    return boxes


def xyxy(frame: pl.DataFrame) -> np.ndarray:
    """``x, y, w, h`` columns as an ``(n, 4)`` array of ``x1, y1, x2, y2``.

    Examples
    --------
    >>> xyxy(pl.DataFrame({"x": [1.0], "y": [2.0], "w": [3.0], "h": [4.0]})).tolist()
    [[1.0, 2.0, 4.0, 6.0]]
    """
    a = frame.select("x", "y", "w", "h").to_numpy().astype(np.float64).reshape(-1, 4)
    return np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], axis=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of ``x1, y1, x2, y2`` boxes: ``(len(a), len(b))``.

    Examples
    --------
    >>> box_iou(np.array([[0, 0, 2, 2.0]]), np.array([[1, 0, 3, 2.0], [5, 5, 6, 6.0]])).round(3)
    array([[0.333, 0.   ]])
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0.0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def given_boxes(dataset: Dataset) -> pl.DataFrame:
    """The dataset's boxes (an empty box table for a dataset without any)."""
    boxes = dataset.annotations
    return empty_annotations() if boxes is None else boxes
