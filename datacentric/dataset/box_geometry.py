"""Box geometry shared by every layer: corner coordinates and intersection over union.

Boxes are ``x, y, w, h`` in pixels (the annotation and predicted-box tables); IoU works on
corners ``x1, y1, x2, y2``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["box_iou", "paired_iou", "xyxy"]


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


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of ``a[i]`` and ``b[i]`` (``x1, y1, x2, y2`` rows): ``(n,)``.

    Examples
    --------
    >>> a = np.array([[0, 0, 2, 2.0], [0, 0, 1, 1]])
    >>> paired_iou(a, np.array([[1, 0, 3, 2.0], [0, 0, 1, 1]]))
    array([0.33333333, 1.        ])
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0.0, None)
    inter_area = inter.prod(axis=1)
    union = (a[:, 2:] - a[:, :2]).prod(axis=1) + (b[:, 2:] - b[:, :2]).prod(axis=1) - inter_area
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter_area / union, 0.0)
