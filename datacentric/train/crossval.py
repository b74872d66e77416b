"""`cross_val_predict`: out-of-sample predicted probabilities and embeddings for every row.

Label-error and other model-based finders need predictions from a model that never saw
the row it predicts: otherwise a flexible model memorises a wrong label and agrees with
it. Stratified K-fold cross-validation gives every labeled row such a prediction.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral
from typing import TYPE_CHECKING, Literal

import numpy as np

from datacentric._validation import Interval, Options, validate_call
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError, format_items
from datacentric.train.recipe import ModelRecipe, Predictions

if TYPE_CHECKING:
    from collections.abc import Callable

    from datacentric.dataset import Dataset

__all__ = ["cross_val_predict"]

logger = logging.getLogger(__name__)

EmbeddingMode = Literal["ensemble", "out_of_fold"]


@validate_call(
    {
        "recipe": [ModelRecipe, None],
        "folds": [Interval(Integral, 2, None, closed="left")],
        "seed": [Interval(Integral, 0, 2**32 - 1)],
        "progress": ["boolean"],
        "embeddings": [Options(str, ("ensemble", "out_of_fold"))],
    }
)
def cross_val_predict(
    ds: Dataset,
    recipe: ModelRecipe | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    progress: bool = False,
    embeddings: EmbeddingMode = "ensemble",
) -> Predictions:
    """Out-of-sample class probabilities and embeddings for every row of ``ds``.

    The labeled rows (of every split) are divided into ``folds`` stratified folds
    (scikit-learn ``StratifiedKFold`` with shuffling, seeded by ``seed``). For each fold a
    fresh ``recipe.clone()`` is trained on the other folds (with seed ``seed + fold``) and
    predicts the held-out fold, so each labeled row's ``pred_probs`` come from a model
    that never saw it. Unlabeled rows get the mean of all fold models' probabilities.

    Parameters
    ----------
    ds : Dataset
        The rows to predict; at least two must be labeled.
    recipe : ModelRecipe, optional
        The model held fixed; default :class:`~datacentric.train.SmallCNNRecipe` ``()``.
        It is not trained itself (only its clones are).
    folds : int
        Number of folds, >= 2. Capped at the number of labeled rows. A class with fewer
        rows than ``folds`` is allowed (it is logged as a warning): its rows are still
        predicted out of sample, but some fold models train without that class, and a
        class with a single row is never seen by the model that predicts that row.
    seed : int
        Seeds the fold assignment and each fold's training.
    progress : bool
        Show a progress bar over folds.
    embeddings : {"ensemble", "out_of_fold"}
        ``"ensemble"`` (default): every row's embedding is the mean of all fold models'
        embeddings, so all rows share one embedding space and distances between any two
        rows (duplicates, outliers, nearest neighbours) are comparable. ``"out_of_fold"``:
        a labeled row's embedding comes from the model that predicted it (each fold in its
        own space; unlabeled rows still get the mean).

    Returns
    -------
    Predictions
        One row per row of ``ds``, in manifest order, with ``classes=ds.classes``.

    Raises
    ------
    InvalidParameterError
        When ``folds`` is not an integer >= 2, ``seed`` not an integer in [0, 2**32 - 1],
        ``recipe`` not a ModelRecipe (fit, predict, clone, save, load, get_params) or None,
        or ``embeddings`` not one of its options (declared constraints, one message form).
    InvalidDatasetError
        When ``ds`` has fewer than two labeled rows.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> from datacentric.train import SmallCNNRecipe
    >>> rng = np.random.default_rng(0)
    >>> ds = Dataset.from_arrays(rng.integers(0, 255, (12, 8, 8), dtype=np.uint8),
    ...                          [0, 1] * 5 + [None, None], classes=["a", "b"])
    >>> preds = cross_val_predict(ds, SmallCNNRecipe(image_size=8, epochs=1), folds=2)
    >>> preds.pred_probs.shape, preds.sample_ids == ds.sample_ids
    ((12, 2), True)
    """
    if recipe is None:
        from datacentric.train.small_cnn import SmallCNNRecipe

        recipe = SmallCNNRecipe()
    labels = ds.label_indices()
    labeled = np.flatnonzero(labels >= 0)
    unlabeled = np.flatnonzero(labels < 0)
    if labeled.size < 2:
        raise InvalidDatasetError(
            f"cross_val_predict: needs at least 2 labeled rows, received {labeled.size} "
            f"(of {len(ds)} rows). Label more samples first."
        )
    splits = _fold_splits(labels[labeled], int(folds), seed, ds.classes)
    n, k = len(ds), len(ds.classes)
    manifest = ds.manifest
    ids = ds.sample_ids
    probs = np.zeros((n, k))
    emb_parts: list[np.ndarray] = []
    filled = np.zeros(n, dtype=bool)
    ensemble = embeddings == "ensemble"
    with _fold_bar(len(splits), progress) as advance:
        for fold, (train_pos, test_pos) in enumerate(splits):
            train_rows = labeled[train_pos]
            held_out = labeled[test_pos]
            model = recipe.clone()
            model.fit(ds._subset(manifest[train_rows]), seed=seed + fold, progress=False)
            # predict the held-out fold and the unlabeled rows (plus, for an ensemble
            # embedding, the training rows too) in one pass, in manifest order
            rows = np.arange(n) if ensemble else np.sort(np.concatenate([held_out, unlabeled]))
            pred = model.predict(ds._subset(manifest[rows]))
            _check_rows(pred, [ids[i] for i in rows], k, type(model).__name__)
            pos = np.searchsorted(rows, held_out)
            probs[held_out] = pred.pred_probs[pos]
            filled[held_out] = True
            upos = np.searchsorted(rows, unlabeled)
            probs[unlabeled] += pred.pred_probs[upos] / len(splits)
            if not emb_parts:
                emb_parts.append(np.zeros((n, pred.embeddings.shape[1]), dtype=np.float64))
            emb = emb_parts[0]
            if ensemble:
                emb += pred.embeddings / len(splits)
            else:
                emb[held_out] = pred.embeddings[pos]
                emb[unlabeled] += pred.embeddings[upos] / len(splits)
            advance()
    if not filled[labeled].all():  # pragma: no cover - splitters cover every row once
        raise RuntimeError("cross_val_predict: some labeled rows were never held out")
    probs /= probs.sum(axis=1, keepdims=True)
    return Predictions(ids, probs, emb_parts[0].astype(np.float32), classes=list(ds.classes))


def _fold_splits(
    y: np.ndarray, folds: int, seed: int, classes: list[str]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (when possible) K-fold positions over the labeled rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n_splits = min(folds, len(y))
    if n_splits < folds:
        logger.warning(
            "cross_val_predict: only %d labeled rows, so %d folds instead of %d.",
            len(y),
            n_splits,
            folds,
        )
    present, counts = np.unique(y, return_counts=True)
    small = [f"{classes[c]!r} ({m})" for c, m in zip(present, counts, strict=True) if m < n_splits]
    x = np.zeros((len(y), 1))
    if counts.max() >= n_splits:
        if small:
            logger.warning(
                "cross_val_predict: %d class(es) have fewer labeled rows than the %d folds: "
                "%s. Their rows are still predicted out of sample, but some fold models train "
                "without them.",
                len(small),
                n_splits,
                format_items(small),
            )
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # the small classes are reported above
            warnings.filterwarnings("ignore", message="The least populated class", module="sklearn")
            return list(splitter.split(x, y))
    logger.warning(
        "cross_val_predict: every class has fewer labeled rows than the %d folds, so the folds "
        "are not stratified (plain shuffled K-fold).",
        n_splits,
    )
    return list(KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(x))


def _check_rows(pred: Predictions, ids: list[str], k: int, who: str) -> None:
    if pred.sample_ids != ids or pred.pred_probs.shape[1] != k:
        raise InvalidParameterError(
            f"cross_val_predict: {who}.predict must return one row per sample in manifest order "
            f"and {k} probability columns; received {len(pred.sample_ids)} rows and "
            f"{pred.pred_probs.shape[1]} columns for {len(ids)} samples. Fix the recipe."
        )


@contextmanager
def _fold_bar(total: int, show: bool) -> Iterator[Callable[[], None]]:
    """Yield ``advance()``; a rich progress bar over folds when ``show``."""
    if not show:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]cross-validation folds"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("folds", total=total)
        yield lambda: bar.update(task, advance=1)
