"""The `DetectorRecipe` protocol every trainable object detector follows, and `BoxPredictions`.

A detector recipe is to a detection dataset what a :class:`~datacentric.train.ModelRecipe`
is to a classification one: the fixed model code of the data-centric loop, with its
hyper-parameters set once, retrained on each version of the data. The two protocols share
``fit``, ``save``, ``load``, ``clone``, ``get_params`` and ``name``; they differ in what
``fit`` trains on (the boxes of ``ds.annotations``, not the manifest labels) and what
``predict`` returns (:class:`BoxPredictions`: boxes, scores and classes, plus one embedding
per image, instead of class probabilities). A detector declares ``task = "detection"``, so
``isinstance(recipe, DetectorRecipe)`` tells the two kinds apart (a classification recipe
has no ``task``). :class:`~datacentric.train.CenterNetRecipe` is the default one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import polars as pl

from datacentric._arrays import finite_rows
from datacentric.exceptions import SchemaError, format_items

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.train.box_calibration import ScoreCalibration

__all__ = ["BOX_PREDICTION_SCHEMA", "BoxPredictions", "DetectorRecipe"]

#: The columns and types of :attr:`BoxPredictions.boxes` (the scan's ``predicted_boxes``).
BOX_PREDICTION_SCHEMA: dict[str, type[pl.DataType]] = {
    "sample_id": pl.Utf8,
    "label": pl.Utf8,
    "x": pl.Float64,
    "y": pl.Float64,
    "w": pl.Float64,
    "h": pl.Float64,
    "score": pl.Float64,
}


@dataclass(frozen=True)
class BoxPredictions:
    """Predicted boxes of some images, and one embedding per image.

    Parameters
    ----------
    sample_ids : list of str
        The images, in row order of ``embeddings``.
    boxes : polars.DataFrame
        One row per predicted box: ``sample_id, label, x, y, w, h, score`` (pixels of the
        image: left, top, width, height; ``score`` in [0, 1]), grouped by image in the order
        of ``sample_ids``, highest score first within an image. An image may have no box.
        This is the ``predicted_boxes`` input of :func:`datacentric.issues.scan`.
    embeddings : numpy.ndarray of shape (N, D)
        ``float32`` features of each image (the detector's pooled backbone features).
    calibration : ScoreCalibration, optional
        The per-run score calibration already applied to ``score`` (set by
        :func:`~datacentric.train.cross_val_predict_boxes`; ``None``: the scores are the
        detector's own).

    Raises
    ------
    SchemaError
        A column missing, a box of an image not in ``sample_ids``, a non-finite value, a
        score outside [0, 1], or embeddings of the wrong shape.

    Examples
    --------
    >>> import polars as pl
    >>> boxes = pl.DataFrame({"sample_id": ["a"], "label": ["cat"], "x": [1.0], "y": [2.0],
    ...                       "w": [3.0], "h": [4.0], "score": [0.9]})
    >>> p = BoxPredictions(["a", "b"], boxes, np.zeros((2, 8)))
    >>> p, p.embeddings.dtype
    (BoxPredictions(2 images, 1 boxes, embedding dim 8), dtype('float32'))
    >>> p.take(["b"]).boxes.height
    0
    """

    sample_ids: list[str]
    boxes: pl.DataFrame
    embeddings: np.ndarray
    calibration: ScoreCalibration | None = None

    def __post_init__(self) -> None:
        ids = [str(s) for s in self.sample_ids]
        emb = np.asarray(self.embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(ids):
            raise SchemaError(
                f"BoxPredictions: embeddings must have shape (n_images, dim) with n_images = "
                f"{len(ids)}, received shape {emb.shape}. Pass one row per sample id."
            )
        missing = [c for c in BOX_PREDICTION_SCHEMA if c not in self.boxes.columns]
        if missing:
            raise SchemaError(
                f"BoxPredictions: boxes lack the column(s) {format_items(missing)} (received "
                f"{format_items(self.boxes.columns)}); pass {list(BOX_PREDICTION_SCHEMA)}."
            )
        boxes = self.boxes.select([pl.col(c).cast(t) for c, t in BOX_PREDICTION_SCHEMA.items()])
        xywh = boxes.select("x", "y", "w", "h", "score").to_numpy()
        unknown = boxes.filter(~pl.col("sample_id").is_in(ids))["sample_id"].unique()
        bad = ~np.isfinite(xywh).all(axis=1) | (xywh[:, 4] < 0) | (xywh[:, 4] > 1)
        if unknown.len() or bad.any() or not finite_rows(emb).all():
            raise SchemaError(
                f"BoxPredictions: {unknown.len()} image(s) not among the sample ids "
                f"({format_items(unknown.to_list())}), {int(bad.sum())} box(es) with a "
                "non-finite value or a score outside [0, 1], or non-finite embeddings. "
                "Check the detector's outputs."
            )
        object.__setattr__(self, "sample_ids", ids)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "embeddings", emb)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __repr__(self) -> str:
        return (
            f"BoxPredictions({len(self)} images, {self.boxes.height} boxes, "
            f"embedding dim {self.embeddings.shape[1]})"
        )

    def take(self, sample_ids: Sequence[str]) -> BoxPredictions:
        """The images ``sample_ids`` (their boxes and embeddings), in that order.

        Raises
        ------
        SchemaError
            When an id is not among these predictions.
        """
        index = {s: i for i, s in enumerate(self.sample_ids)}
        wanted = [str(s) for s in sample_ids]
        missing = [s for s in wanted if s not in index]
        if missing:
            raise SchemaError(
                f"BoxPredictions.take: {len(missing)} sample id(s) have no prediction: "
                f"{format_items(missing)}. Predict on a dataset that contains them."
            )
        order = pl.DataFrame({"sample_id": wanted, "_pos": range(len(wanted))})
        boxes = (
            self.boxes.with_row_index("_row")
            .join(order, on="sample_id", how="inner")
            .sort("_pos", "_row")
            .drop("_row", "_pos")
        )
        rows = np.array([index[s] for s in wanted], dtype=np.int64)
        return BoxPredictions(wanted, boxes, self.embeddings[rows], self.calibration)


@runtime_checkable
class DetectorRecipe(Protocol):
    """A trainable object detector with fixed hyper-parameters (the model held fixed).

    Like :class:`~datacentric.train.ModelRecipe` (sklearn-style parameters, :meth:`clone`,
    :meth:`get_params`), but trained on a detection dataset's boxes and predicting boxes.
    Only ``isinstance`` checks the names (it is ``runtime_checkable``), not signatures.

    Attributes
    ----------
    name : str
        A short identifier of the recipe, e.g. ``"centernet"``.
    task : str
        ``"detection"``.

    Examples
    --------
    >>> from datacentric.train import CenterNetRecipe, DetectorRecipe, SmallCNNRecipe
    >>> isinstance(CenterNetRecipe(), DetectorRecipe), isinstance(SmallCNNRecipe(), DetectorRecipe)
    (True, False)
    """

    name: str
    task: str

    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> DetectorRecipe:
        """Train on every image of ``ds`` and its boxes (images without boxes included, as
        images with nothing to find), whatever its split; return ``self``."""
        ...

    def predict(self, ds: Dataset, *, batch_size: int = 64) -> BoxPredictions:
        """Predicted boxes and an embedding for every image of ``ds``, in manifest order."""
        ...

    def save(self, path: str | Path) -> None:
        """Write hyper-parameters and trained weights to ``path``."""
        ...

    def load(self, path: str | Path) -> DetectorRecipe:
        """Read a recipe written by :meth:`save` (weights with ``weights_only=True``)."""
        ...

    def clone(self) -> DetectorRecipe:
        """A fresh, untrained recipe with the same hyper-parameters."""
        ...

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as keyword arguments of the constructor."""
        ...
