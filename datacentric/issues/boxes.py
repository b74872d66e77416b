"""Boxes for the box-level finders: the given boxes (IoU and corners re-exported from
:mod:`datacentric.dataset.box_geometry`).

Predicted boxes (a scan input) are read by
:func:`datacentric.dataset.predicted_boxes.read_predicted_boxes`.
"""

from __future__ import annotations

import polars as pl

from datacentric.dataset import Dataset
from datacentric.dataset.annotations import empty_annotations
from datacentric.dataset.box_geometry import box_iou, xyxy

__all__ = ["box_iou", "given_boxes", "xyxy"]


def given_boxes(dataset: Dataset) -> pl.DataFrame:
    """The dataset's boxes (an empty box table for a dataset without any)."""
    boxes = dataset.annotations
    return empty_annotations() if boxes is None else boxes
