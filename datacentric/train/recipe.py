"""The `ModelRecipe` protocol every trainable model follows, and its `Predictions` result.

A recipe is the fixed model code of the data-centric loop: its hyper-parameters are set
once, and it is retrained on each new version of the data. Anything with the methods of
:class:`ModelRecipe` can be used wherever datacentric trains a model (cross-validation,
the loop, evaluation); :class:`~datacentric.train.SmallCNNRecipe` is the default one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np
import polars as pl

from datacentric._arrays import finite_rows
from datacentric._io import atomic_write
from datacentric.exceptions import SchemaError, format_items

if TYPE_CHECKING:
    from datacentric.dataset import Dataset

__all__ = ["ModelRecipe", "Predictions"]

_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Predictions:
    """Predicted class probabilities and embeddings, one row per sample.

    Parameters
    ----------
    sample_ids : list of str
        The samples, in row order.
    pred_probs : numpy.ndarray of shape (N, K)
        ``float64`` class probabilities. Rows must sum to 1 within 1e-3; rows off by more
        than 1e-12 are renormalised (on a copy). Columns follow the dataset's ``classes``.
    embeddings : numpy.ndarray of shape (N, D)
        ``float32`` features of each sample (a model's penultimate layer).
    classes : list of str, optional
        The class names of the ``pred_probs`` columns, when known.

    Raises
    ------
    SchemaError
        When the shapes disagree, values are not finite, or a row of ``pred_probs`` does
        not sum to 1.

    Examples
    --------
    >>> import numpy as np
    >>> p = Predictions(["a", "b"], np.array([[0.9, 0.1], [0.2, 0.8]]),
    ...                 np.zeros((2, 3)), classes=["cat", "dog"])
    >>> p.pred_probs.dtype, p.embeddings.dtype, p.predicted_labels()
    (dtype('float64'), dtype('float32'), ['cat', 'dog'])
    >>> p.to_polars().select("sample_id", "pred_label", "confidence").rows()
    [('a', 'cat', 0.9), ('b', 'dog', 0.8)]
    >>> p.take(["b"]).pred_probs
    array([[0.2, 0.8]])
    """

    sample_ids: list[str]
    pred_probs: np.ndarray
    embeddings: np.ndarray
    classes: list[str] | None = None

    def __post_init__(self) -> None:
        ids = [str(s) for s in self.sample_ids]
        probs = np.asarray(self.pred_probs, dtype=np.float64)
        emb = np.asarray(self.embeddings, dtype=np.float32)  # float32 (a memmap too): no copy
        n = len(ids)
        if probs.ndim != 2 or probs.shape[0] != n:
            raise SchemaError(
                f"Predictions: pred_probs must have shape (n_samples, n_classes) with "
                f"n_samples = {n}, received shape {probs.shape}. Pass one row per sample id."
            )
        if emb.ndim != 2 or emb.shape[0] != n:
            raise SchemaError(
                f"Predictions: embeddings must have shape (n_samples, dim) with n_samples = "
                f"{n}, received shape {emb.shape}. Pass one row per sample id."
            )
        if self.classes is not None and len(self.classes) != probs.shape[1]:
            raise SchemaError(
                f"Predictions: {len(self.classes)} classes but pred_probs has "
                f"{probs.shape[1]} columns; pass one class name per column."
            )
        if n:
            bad = ~(np.isfinite(probs).all(axis=1) & finite_rows(emb))
            sums = probs.sum(axis=1)
            bad |= (np.abs(sums - 1.0) > _SUM_TOLERANCE) | (probs < 0).any(axis=1)
            if bad.any():
                rows = [ids[i] for i in np.flatnonzero(bad)]
                raise SchemaError(
                    f"Predictions: {len(rows)} row(s) have non-finite values or pred_probs "
                    f"that are not probabilities summing to 1 (sample ids {format_items(rows)})."
                    " Apply a softmax to the model outputs and check the inputs of those rows."
                )
            off = np.abs(sums - 1.0) > 1e-12  # leave exact rows untouched (idempotent)
            if off.any():
                probs = probs.copy()
                probs[off] /= sums[off, None]
        object.__setattr__(self, "sample_ids", ids)
        object.__setattr__(self, "pred_probs", probs)
        object.__setattr__(self, "embeddings", emb)
        if self.classes is not None:
            object.__setattr__(self, "classes", [str(c) for c in self.classes])

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __repr__(self) -> str:
        return (
            f"Predictions({len(self)} samples, {self.pred_probs.shape[1]} classes, "
            f"embedding dim {self.embeddings.shape[1]})"
        )

    def predicted_indices(self) -> np.ndarray:
        """The most probable class of each row, as ``int64`` column indices."""
        return self.pred_probs.argmax(axis=1).astype(np.int64)

    def predicted_labels(self) -> list[str]:
        """The most probable class name of each row (needs ``classes``)."""
        if self.classes is None:
            raise SchemaError(
                "Predictions.predicted_labels: these predictions carry no class names; use "
                "predicted_indices() or build them with classes=[...]."
            )
        names = self.classes
        return [names[i] for i in self.predicted_indices()]

    def take(self, sample_ids: Sequence[str]) -> Predictions:
        """The rows of ``sample_ids``, in that order.

        Raises
        ------
        SchemaError
            When an id is not among these predictions.
        """
        index = {s: i for i, s in enumerate(self.sample_ids)}
        missing = [s for s in sample_ids if s not in index]
        if missing:
            raise SchemaError(
                f"Predictions.take: {len(missing)} sample id(s) have no prediction: "
                f"{format_items(missing)}. Predict on a dataset that contains them."
            )
        rows = np.array([index[s] for s in sample_ids], dtype=np.int64)
        return Predictions(
            [self.sample_ids[i] for i in rows],
            self.pred_probs[rows],
            self.embeddings[rows],
            classes=self.classes,
        )

    def to_polars(self) -> pl.DataFrame:
        """One row per sample: ``sample_id``, ``pred_index``, ``pred_label`` (when classes
        are known), ``confidence`` (the top probability), ``pred_probs`` and ``embedding``
        (fixed-size array columns)."""
        k = self.pred_probs.shape[1]
        d = self.embeddings.shape[1]
        idx = self.predicted_indices()
        cols: dict[str, pl.Series] = {
            "sample_id": pl.Series("sample_id", self.sample_ids, dtype=pl.Utf8),
            "pred_index": pl.Series("pred_index", idx, dtype=pl.Int64),
        }
        if self.classes is not None:
            cols["pred_label"] = pl.Series("pred_label", self.predicted_labels(), dtype=pl.Utf8)
        conf = self.pred_probs.max(axis=1) if len(self) else np.zeros(0)
        cols["confidence"] = pl.Series("confidence", conf, dtype=pl.Float64)
        cols["pred_probs"] = pl.Series("pred_probs", self.pred_probs, dtype=pl.Array(pl.Float64, k))
        cols["embedding"] = pl.Series("embedding", self.embeddings, dtype=pl.Array(pl.Float32, d))
        return pl.DataFrame(list(cols.values()))

    def save(self, path: str | Path) -> None:
        """Write to a ``.npz`` file (no pickle), atomically; read back with :meth:`load`."""
        extra: dict[str, Any] = {}
        if self.classes is not None:
            extra["classes"] = np.array(self.classes, dtype=np.str_)

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                np.savez(
                    fh,
                    sample_ids=np.array(self.sample_ids, dtype=np.str_),
                    pred_probs=self.pred_probs,
                    embeddings=self.embeddings,
                    **extra,
                )

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        """Read predictions written by :meth:`save` (no pickle; see :meth:`coerce`).

        Raises
        ------
        SchemaError
            The file is not such a ``.npz`` (not a zip, truncated, object arrays, no
            ``sample_ids`` or ``pred_probs``); the message names it.
        """
        from datacentric.train.prediction_files import id_list, read_npz, texts

        data = read_npz(path)
        if "sample_ids" not in data:
            raise SchemaError(
                f"predictions file {str(path)!r} has no 'sample_ids' array; Predictions.load "
                "reads files written by Predictions.save (use Predictions.coerce(path, ds) for "
                "pred_probs in manifest order)."
            )
        source = f"predictions file {str(path)!r}"
        classes = texts(data["classes"]) if "classes" in data else None
        emb = data.get("embeddings")
        ids = id_list(data["sample_ids"], source, "sample_ids")
        try:
            return cls(
                ids,
                data["pred_probs"],
                emb if emb is not None else np.zeros((len(ids), 0), np.float32),
                classes=classes,
            )
        except (SchemaError, ValueError, TypeError) as exc:  # shapes, dtypes, values
            raise SchemaError(f"{source}: {exc}") from None

    @classmethod
    def coerce(
        cls,
        obj: Any,
        ds: Dataset,
        *,
        allow_missing: bool = False,
        allow_extra: bool = False,
    ) -> Predictions:
        """Predictions of ``ds`` from any accepted form, checked and put in its order.

        The one entry for predictions from users (``scan``, ``slices evaluate``, the review
        tools and their CLI verbs); see :mod:`datacentric.train.coerce` for every check.

        Parameters
        ----------
        obj : Predictions, array (N, K), str or Path
            A ``Predictions`` (or anything with ``sample_ids`` and ``pred_probs``), class
            probabilities in manifest order, or a ``.npz`` (:meth:`save`, the
            ``predictions.npz`` that ``datacentric scan`` writes) or ``.npy`` file.
        ds : Dataset
        allow_missing : bool
            Accept samples without a prediction (the result has only those with one).
        allow_extra : bool
            Ignore (log) predictions of samples that ``ds`` does not have.

        Returns
        -------
        Predictions
            Rows in manifest order, columns in ``ds.classes`` order (reordered by name when
            the classes came in another order), ``classes=list(ds.classes)``.

        Raises
        ------
        SchemaError
            Missing, extra or repeated sample ids; other classes; values that are not
            probabilities; an unreadable file. The message names them.

        Examples
        --------
        >>> from datacentric import Dataset
        >>> ds = Dataset.from_arrays(np.zeros((2, 2, 2)), [0, 1], ["cat", "dog"])
        >>> p = Predictions(["1", "0"], np.array([[0.8, 0.2], [0.3, 0.7]]),
        ...                 np.zeros((2, 0)), classes=["dog", "cat"])
        >>> Predictions.coerce(p, ds).pred_probs.tolist()
        [[0.7, 0.3], [0.2, 0.8]]
        >>> Predictions.coerce(np.array([[0.5, 0.6], [1.0, 0.0]]), ds)
        Traceback (most recent call last):
        ...
        datacentric.exceptions.SchemaError: predictions: pred_probs rows must sum to 1 ...
        """
        from datacentric.train.coerce import coerce_predictions

        out = coerce_predictions(
            obj, ds, allow_missing=allow_missing, allow_extra=allow_extra, labels_ok=False
        )
        return cast(Predictions, out)  # labels_ok=False: never a frame


@runtime_checkable
class ModelRecipe(Protocol):
    """A trainable image classifier with fixed hyper-parameters (the model held fixed).

    Implementations keep their hyper-parameters from ``__init__`` (sklearn style), so
    :meth:`clone` gives an untrained copy and :meth:`get_params` describes it. Only
    ``isinstance`` checks the method names (it is ``runtime_checkable``), not signatures.

    Attributes
    ----------
    name : str
        A short identifier of the recipe, e.g. ``"small_cnn"``.

    Examples
    --------
    >>> from datacentric.train import ModelRecipe, SmallCNNRecipe
    >>> isinstance(SmallCNNRecipe(), ModelRecipe)
    True
    >>> isinstance(object(), ModelRecipe)
    False
    """

    name: str

    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> ModelRecipe:
        """Train on every labeled row of ``ds``, whatever its split; return ``self``.

        The caller chooses the training rows by filtering the dataset first, e.g.
        ``recipe.fit(ds.split("train"))``. Unlabeled rows are ignored. The same ``seed``
        must give the same model.
        """
        ...

    def predict(self, ds: Dataset, *, batch_size: int = 256) -> Predictions:
        """Predict every row of ``ds`` (labeled or not), in manifest order."""
        ...

    def save(self, path: str | Path) -> None:
        """Write hyper-parameters and trained weights to ``path``."""
        ...

    def load(self, path: str | Path) -> ModelRecipe:
        """Read a recipe written by :meth:`save` (weights with ``weights_only=True``)."""
        ...

    def clone(self) -> ModelRecipe:
        """A fresh, untrained recipe with the same hyper-parameters."""
        ...

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as keyword arguments of the constructor."""
        ...
