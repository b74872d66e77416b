"""`ScanContext`: the validated inputs a finder reads, with shared derived data cached."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from datacentric._arrays import finite_rows
from datacentric.dataset import Dataset, read_predicted_boxes
from datacentric.engine import Engine
from datacentric.exceptions import SchemaError, format_items
from datacentric.issues import knn as knn_module
from datacentric.issues.knn import KnnGraph, knn, normalize_rows

__all__ = ["ScanContext", "check_embeddings", "check_pred_probs"]

#: Engines whose workers are this machine's processes: the kNN graph is not sharded on them.
_SAME_MACHINE = ("local", "sequential")


def check_pred_probs(pred_probs: Any, n: int, classes: list[str]) -> np.ndarray:
    """Validate out-of-sample predicted probabilities: shape (n, K), finite, rows sum to 1.

    Examples
    --------
    >>> check_pred_probs([[0.5, 0.5]], 1, ["a", "b"]).shape
    (1, 2)
    >>> check_pred_probs([[0.5, 0.6]], 1, ["a", "b"])
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: pred_probs rows must sum to 1 ...
    """
    arr = np.asarray(pred_probs, dtype=np.float64)
    k = len(classes)
    if arr.ndim != 2 or arr.shape != (n, k):
        raise SchemaError(
            f"pred_probs must have shape (n_samples, n_classes) = ({n}, {k}), received shape "
            f"{arr.shape}. Pass one row per sample in manifest order and one column per class "
            f"in the order {classes!r}."
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad).tolist()
        raise SchemaError(
            f"pred_probs has NaN or infinite values in {len(rows)} row(s) (rows "
            f"{format_items(rows)}). Fix the model outputs; probabilities must be finite."
        )
    if (arr < 0).any() or (arr > 1).any():
        rows = np.flatnonzero(((arr < 0) | (arr > 1)).any(axis=1)).tolist()
        raise SchemaError(
            f"pred_probs must be probabilities in [0, 1]; {len(rows)} row(s) are outside (rows "
            f"{format_items(rows)}). If these are logits, apply a softmax first."
        )
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-3
    if off.any():
        rows = np.flatnonzero(off).tolist()
        raise SchemaError(
            f"pred_probs rows must sum to 1 (within 1e-3); {len(rows)} row(s) do not (rows "
            f"{format_items(rows)}, sums {format_items([round(float(s), 4) for s in sums[off]])})."
            " Normalise each row (p / p.sum(axis=1, keepdims=True)) or apply a softmax."
        )
    return arr


def check_embeddings(embeddings: Any, n: int) -> np.ndarray:
    """Validate embeddings: shape (n, D) with D >= 1 and all values finite.

    float32 input (a read-only memory map of a ``.npy`` included) is returned as is, not
    copied; the finiteness check reads it in row chunks.
    """
    if isinstance(embeddings, np.ndarray) and embeddings.dtype != np.float32:
        arr = embeddings.astype(np.float32)
    else:
        arr = np.asarray(embeddings, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
        raise SchemaError(
            f"embeddings must have shape (n_samples, dim) with n_samples = {n}, received shape "
            f"{arr.shape}. Pass one row per sample in manifest order."
        )
    bad = ~finite_rows(arr)
    if bad.any():
        rows = np.flatnonzero(bad).tolist()
        raise SchemaError(
            f"embeddings have NaN or infinite values in {len(rows)} row(s) (rows "
            f"{format_items(rows)}). Recompute them for those samples."
        )
    return arr


class ScanContext:
    """Everything a finder may read, validated once; expensive derived data cached.

    Parameters
    ----------
    dataset : Dataset
    pred_probs : array (N, K), optional
        Out-of-sample predicted probabilities, rows in manifest order.
    embeddings : array (N, D), optional
    annotations : polars.DataFrame, optional
        Several labels per sample: columns ``sample_id, annotator, label``.
    knn_k : int
        Neighbours computed once and shared by the embedding-based finders.
    progress : bool
        Show progress bars for long steps.
    image_stats : polars.DataFrame, optional
        Per-image statistics of ``dataset`` already computed (same rows, same order), so
        that :attr:`image_stats` does not decode every image again.
    predicted_boxes : polars.DataFrame, optional
        Out-of-sample predicted boxes of a detection dataset (``sample_id, label, x, y, w,
        h, score``; see :func:`~datacentric.dataset.predicted_boxes.read_predicted_boxes`), for the
        ObjectLab finders.
    engine : Engine, optional
        The scan's execution engine. :attr:`knn_graph` searches on it (sharded, see
        :func:`~datacentric.issues.knn.knn`) when the embeddings take the IVF path (more
        than :data:`~datacentric.issues.knn.HNSW_MAX` rows), the engine spreads work beyond
        this machine's processes (Ray; not ``local`` or ``sequential``) with more than one
        worker, and the embeddings can be sent to the workers (a memory-mapped ``.npy``, or
        small); otherwise, and by default, in this process, on every core.
    """

    def __init__(
        self,
        dataset: Dataset,
        pred_probs: Any = None,
        embeddings: Any = None,
        *,
        annotations: pl.DataFrame | None = None,
        knn_k: int = 10,
        progress: bool = False,
        image_stats: pl.DataFrame | None = None,
        engine: Engine | None = None,
        predicted_boxes: Any = None,
    ) -> None:
        self.dataset = dataset
        self.engine = engine
        n = len(dataset)
        if image_stats is not None:
            if image_stats["sample_id"].to_list() != dataset.sample_ids:
                raise SchemaError(
                    "image_stats must have one row per sample of the dataset, in manifest "
                    f"order; received {image_stats.height} rows for {n} samples."
                )
            self.__dict__["image_stats"] = image_stats  # the cached_property's slot
        self.pred_probs = (
            None if pred_probs is None else check_pred_probs(pred_probs, n, dataset.classes)
        )
        self.embeddings = None if embeddings is None else check_embeddings(embeddings, n)
        self.annotations = None if annotations is None else self._check_annotations(annotations)
        self.predicted_boxes = (
            None if predicted_boxes is None else read_predicted_boxes(predicted_boxes, dataset)
        )
        self.knn_k = knn_k
        self.progress = progress
        self._memo: dict[Hashable, Any] = {}

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per context and ``key``; later calls return the same object.

        Finders use this for derived data that several of them share (near-identical
        pairs for one parameter set, say). Treat the result as read-only.
        """
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def release(self) -> None:
        """Drop the cached derived data (thumbnails, image statistics, kNN graph, memos).

        ``scan`` calls this once every finder has run, so that their memory is free
        before the issue tables are assembled; a later access computes them again.
        """
        for name in ("thumbnails", "image_stats", "knn_graph", "normalized_embeddings"):
            self.__dict__.pop(name, None)
        self._memo.clear()

    # ------------------------------------------------------------------ inputs
    def _check_annotations(self, ann: pl.DataFrame) -> pl.DataFrame:
        need = ["sample_id", "annotator", "label"]
        missing = [c for c in need if c not in ann.columns]
        if missing:
            raise SchemaError(
                f"annotations need columns {need}, missing {missing}; received {ann.columns}."
            )
        ann = ann.select([pl.col(c).cast(pl.Utf8) for c in need])
        unknown = ann.filter(
            ~pl.col("sample_id").is_in(self.dataset.manifest["sample_id"].implode())
        )
        if unknown.height:
            raise SchemaError(
                f"annotations name {unknown.height} sample_id(s) not in the dataset: "
                f"{format_items(unknown['sample_id'].unique().to_list())}."
            )
        bad = ann.filter(
            pl.col("label").is_not_null() & ~pl.col("label").is_in(self.dataset.classes)
        )
        if bad.height:
            raise SchemaError(
                f"annotations have labels not among the classes {self.dataset.classes!r}: "
                f"{format_items(bad['label'].unique().to_list())}."
            )
        return ann

    def available(self) -> dict[str, str | None]:
        """Each requirement name → ``None`` if available, else the reason it is not."""
        m = self.dataset.manifest
        multi = (
            self.annotations is not None
            and self.annotations.group_by("sample_id").len()["len"].max()
        ) or 0
        return {
            "labels": None if m["label"].null_count() < m.height else "no sample has a label",
            "class_labels": None  # labels on samples, or on boxes
            if m["label"].null_count() < m.height
            or (self.dataset.annotations is not None and self.dataset.annotations.height)
            else "no sample or box has a label",
            "pred_probs": None if self.pred_probs is not None else "no pred_probs were given",
            "embeddings": None if self.embeddings is not None else "no embeddings were given",
            "images": None,
            "annotators": None
            if isinstance(multi, int) and multi >= 2
            else "no sample has labels from two or more annotators (pass annotations=)",
            "splits": None
            if m["split"].n_unique() >= 2
            else "the dataset has a single split; leakage needs train and test/val",
            "boxes": None
            if self.dataset.task == "detection"
            else "not a detection dataset (no boxes)",
            "predicted_boxes": None
            if self.predicted_boxes is not None
            else "no predicted_boxes were given",
        }

    # ------------------------------------------------------------------ derived, cached
    @cached_property
    def labels(self) -> np.ndarray:
        """Given labels as class indices, ``-1`` where null."""
        return self.dataset.label_indices()

    @cached_property
    def normalized_embeddings(self) -> np.ndarray:
        """L2-normalised float32 embeddings (cosine geometry), a copy in memory (the kNN
        graph does not need it: it normalises chunk by chunk)."""
        if self.embeddings is None:
            raise SchemaError("this finder needs embeddings; none were given.")
        return normalize_rows(self.embeddings)

    @cached_property
    def knn_graph(self) -> KnnGraph:
        """The ``knn_k`` nearest neighbours of every sample (cosine), computed once."""
        if self.embeddings is None:
            raise SchemaError("this finder needs embeddings; none were given.")
        return knn(self.embeddings, self.knn_k, engine=self.knn_engine)

    @property
    def knn_engine(self) -> Engine | None:
        """The engine :attr:`knn_graph` searches on, or ``None`` (in this process): see the
        ``engine`` parameter."""
        emb, eng = self.embeddings, self.engine
        # processes of this machine gain nothing: the in-process search already uses
        # every core, and the shards would pay for the index copies (measured: 100k rows
        # on 2 local workers 76 s vs 67 s in this process)
        if emb is None or eng is None or eng.workers <= 1 or eng.name in _SAME_MACHINE:
            return None
        if emb.shape[0] <= knn_module.HNSW_MAX or not knn_module.shippable(emb):
            return None
        return eng

    @cached_property
    def thumbnails(self) -> tuple[np.ndarray, np.ndarray]:
        """32×32 luma thumbnails and readability (see :mod:`datacentric.issues.pixels`)."""
        from datacentric.issues.pixels import thumbnails

        return thumbnails(self.dataset)

    @cached_property
    def image_stats(self) -> pl.DataFrame:
        """Per-image statistics (see :mod:`datacentric.issues.image_stats`), computed once."""
        from datacentric.issues.image_stats import compute_image_stats

        return compute_image_stats(self.dataset, progress=self.progress)
