"""`cross_val_predict`: out-of-sample predicted probabilities and embeddings for every row.

Label-error and other model-based finders need predictions from a model that never saw
the row it predicts: otherwise a flexible model memorises a wrong label and agrees with
it. Stratified K-fold cross-validation gives every labeled row such a prediction.

Each fold is one task (:func:`run_fold` on a :class:`FoldTask`) run by an execution engine
(:mod:`datacentric.engine`: every local core by default, or a Ray cluster); the folds'
outputs are merged in fold order, so the result is bit-identical whatever the engine and
the number of workers. A finished fold of a dataset on disk is cached under
``<root>/.datacentric/cache/cv/`` and reused by a re-run (see :func:`clear_cv_cache`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from datacentric._io import atomic_write
from datacentric._validation import Interval, Options, validate_call
from datacentric.config import config_context, get_config
from datacentric.engine import Engine, TaskResources, get_engine
from datacentric.exceptions import (
    DatacentricError,
    InvalidDatasetError,
    InvalidParameterError,
    format_items,
)
from datacentric.train.recipe import ModelRecipe, Predictions

if TYPE_CHECKING:
    from datacentric.dataset import Dataset

__all__ = [
    "FoldTask",
    "clear_cv_cache",
    "cross_val_predict",
    "cv_cache_dir",
    "fold_resources",
    "run_fold",
]

logger = logging.getLogger(__name__)

EmbeddingMode = Literal["ensemble", "out_of_fold"]

#: Where the folds of a dataset on disk are cached, relative to its root.
CACHE_DIR = Path(".datacentric") / "cache" / "cv"


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
    engine: str | Engine | None = None,
    workers: int | None = None,
    address: str | None = None,
    cache: bool = True,
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
        Show a progress bar of folds done (across all workers).
    embeddings : {"ensemble", "out_of_fold"}
        ``"ensemble"`` (default): every row's embedding is the mean of all fold models'
        embeddings, so all rows share one embedding space and distances between any two
        rows (duplicates, outliers, nearest neighbours) are comparable. ``"out_of_fold"``:
        a labeled row's embedding comes from the model that predicted it (each fold in its
        own space; unlabeled rows still get the mean).
    engine : {"local", "sequential", "ray"} or Engine, optional
        Where the folds run (:func:`datacentric.engine.get_engine`); default ``"local"``:
        one fold per core of this machine, in worker processes. The result is the same
        bits on every engine. An engine object passed in is not closed.
    workers : int, optional
        Parallel folds (default: every core); see :func:`~datacentric.engine.get_engine`.
    address : str, optional
        The Ray cluster (``engine="ray"`` only).
    cache : bool
        Reuse (and write) the folds cached under ``<root>/.datacentric/cache/cv/`` for a
        dataset on disk, so a re-run after an interruption computes only the missing
        folds. In-memory datasets are never cached.

    Returns
    -------
    Predictions
        One row per row of ``ds``, in manifest order, with ``classes=ds.classes``.

    Raises
    ------
    InvalidParameterError
        When ``folds`` is not an integer >= 2, ``seed`` not an integer in [0, 2**32 - 1],
        ``recipe`` not a ModelRecipe (fit, predict, clone, save, load, get_params) or None,
        ``embeddings`` not one of its options (declared constraints, one message form), or
        the engine options are invalid.
    InvalidDatasetError
        When ``ds`` has fewer than two labeled rows.

    Notes
    -----
    The recipe and the dataset are sent to the workers by pickling. A recipe that cannot
    be pickled (e.g. a class defined inside a function) runs on the sequential engine,
    with a warning. The limits of :mod:`datacentric.config` in force here apply in the
    workers too.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> from datacentric.train import SmallCNNRecipe
    >>> rng = np.random.default_rng(0)
    >>> ds = Dataset.from_arrays(rng.integers(0, 255, (12, 8, 8), dtype=np.uint8),
    ...                          [0, 1] * 5 + [None, None], classes=["a", "b"])
    >>> preds = cross_val_predict(ds, SmallCNNRecipe(image_size=8, epochs=1), folds=2,
    ...                           engine="sequential")
    >>> preds.pred_probs.shape, preds.sample_ids == ds.sample_ids
    ((12, 2), True)
    """
    if recipe is None:
        from datacentric.train.small_cnn import SmallCNNRecipe

        recipe = SmallCNNRecipe()
    eng = get_engine(engine, workers=workers, address=address)
    try:
        return _cross_val_predict(ds, recipe, int(folds), seed, progress, embeddings, eng, cache)
    finally:
        if eng is not engine:
            eng.close()


def _cross_val_predict(
    ds: Dataset,
    recipe: ModelRecipe,
    folds: int,
    seed: int,
    progress: bool,
    embeddings: EmbeddingMode,
    eng: Engine,
    cache: bool,
) -> Predictions:
    labels = ds.label_indices()
    labeled = np.flatnonzero(labels >= 0)
    unlabeled = np.flatnonzero(labels < 0)
    if labeled.size < 2:
        raise InvalidDatasetError(
            f"cross_val_predict: needs at least 2 labeled rows, received {labeled.size} "
            f"(of {len(ds)} rows). Label more samples first."
        )
    splits = _fold_splits(labels[labeled], folds, seed, ds.classes)
    n, k = len(ds), len(ds.classes)
    ensemble = embeddings == "ensemble"
    cache_dir = cv_cache_dir(ds, recipe, folds, seed, embeddings) if cache else None
    sent = recipe.clone()  # untrained: no weights travel to the workers
    config = get_config()
    tasks: list[FoldTask] = []
    for fold, (train_pos, test_pos) in enumerate(splits):
        held_out = labeled[test_pos]
        # predict the held-out fold and the unlabeled rows (plus, for an ensemble
        # embedding, the training rows too) in one pass, in manifest order
        rows = np.arange(n) if ensemble else np.sort(np.concatenate([held_out, unlabeled]))
        tasks.append(
            FoldTask(
                fold,
                ds,
                sent,
                labeled[train_pos],
                rows,
                seed + fold,
                config,
                None if cache_dir is None else str(cache_dir / f"fold_{fold}.npz"),
            )
        )
    outputs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for task in tasks:
        found = _read_fold(task, k)
        if found is not None:
            outputs[task.fold] = found
    todo = [t for t in tasks if t.fold not in outputs]
    if len(outputs):
        logger.info(
            "cross_val_predict: %d of %d folds reused from %s", len(outputs), len(tasks), cache_dir
        )
    if todo:
        eng = _picklable_or_sequential(eng, sent)
        results = eng.map(
            run_fold,
            todo,
            desc="cross-validation folds",
            progress=progress,
            resources=fold_resources(getattr(sent, "device", None), _engine_gpus(eng)),
        )
        outputs.update({t.fold: r for t, r in zip(todo, results, strict=True)})
    # merge in fold order (the same arithmetic whatever ran the folds: bit-identical)
    probs = np.zeros((n, k))
    emb: np.ndarray | None = None
    filled = np.zeros(n, dtype=bool)
    for task in tasks:
        pred_probs, pred_emb = outputs[task.fold]
        rows = task.predict_rows
        held_out = labeled[splits[task.fold][1]]
        pos = np.searchsorted(rows, held_out)
        probs[held_out] = pred_probs[pos]
        filled[held_out] = True
        upos = np.searchsorted(rows, unlabeled)
        probs[unlabeled] += pred_probs[upos] / len(splits)
        if emb is None:
            emb = np.zeros((n, pred_emb.shape[1]), dtype=np.float64)
        if ensemble:
            emb += pred_emb / len(splits)
        else:
            emb[held_out] = pred_emb[pos]
            emb[unlabeled] += pred_emb[upos] / len(splits)
    if not filled[labeled].all() or emb is None:  # pragma: no cover - splitters cover all
        raise RuntimeError("cross_val_predict: some labeled rows were never held out")
    probs /= probs.sum(axis=1, keepdims=True)
    return Predictions(ds.sample_ids, probs, emb.astype(np.float32), classes=list(ds.classes))


@dataclass(frozen=True, eq=False)
class FoldTask:
    """One cross-validation fold, everything a worker needs (picklable, seed included).

    Attributes
    ----------
    fold : int
    dataset : Dataset
        The whole dataset (on disk: its manifest and root; in memory: with its arrays).
    recipe : ModelRecipe
        An untrained recipe; the task trains a clone of it.
    train_rows, predict_rows : numpy.ndarray
        Manifest positions to train on and (sorted) to predict.
    seed : int
        The training seed of this fold.
    config : dict
        The :mod:`datacentric.config` limits to apply in the worker.
    cache_file : str or None
        Where to write the fold's outputs (``None``: not cached).
    """

    fold: int
    dataset: Dataset
    recipe: ModelRecipe
    train_rows: np.ndarray
    predict_rows: np.ndarray
    seed: int
    config: dict[str, Any] = field(default_factory=dict)
    cache_file: str | None = None


def run_fold(task: FoldTask) -> tuple[np.ndarray, np.ndarray]:
    """Train one fold's model and predict its rows: ``(pred_probs, embeddings)`` of
    ``task.predict_rows``, in that order. Writes the cache file when the task names one."""
    ds = task.dataset
    manifest = ds.manifest
    with config_context(**task.config):
        model = task.recipe.clone()
        model.fit(ds._subset(manifest[task.train_rows]), seed=task.seed, progress=False)
        pred = model.predict(ds._subset(manifest[task.predict_rows]))
    ids = manifest["sample_id"].gather(task.predict_rows).to_list()
    _check_rows(pred, ids, len(ds.classes), type(model).__name__)
    out = (np.asarray(pred.pred_probs), np.asarray(pred.embeddings))
    if task.cache_file is not None:
        _write_fold(Path(task.cache_file), *out)
    return out


def _write_fold(path: Path, probs: np.ndarray, emb: np.ndarray) -> None:
    """Write a fold's outputs atomically (a reader never sees half a file; two workers
    writing the same fold write the same bytes, and the last rename wins)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, pred_probs=probs, embeddings=emb)

    try:
        atomic_write(path, write)
    except DatacentricError as exc:  # a read-only dataset still scans, uncached
        logger.warning("cross_val_predict: fold not cached (%s)", exc)


def _read_fold(task: FoldTask, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A cached fold's outputs, or ``None`` when there is none (or it does not fit)."""
    if task.cache_file is None or not os.path.isfile(task.cache_file):
        return None
    try:
        with np.load(task.cache_file, allow_pickle=False) as data:
            probs, emb = data["pred_probs"], data["embeddings"]
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("cross_val_predict: ignoring unreadable cache %s (%s)", task.cache_file, exc)
        return None
    rows = len(task.predict_rows)
    if probs.shape != (rows, k) or emb.ndim != 2 or emb.shape[0] != rows:
        logger.warning("cross_val_predict: ignoring cache %s of another shape", task.cache_file)
        return None
    return probs, emb


def fold_resources(device: object, engine_gpus: float | None) -> TaskResources | None:
    """What one fold task asks its engine for, from the recipe's ``device`` parameter.

    Parameters
    ----------
    device : str or None
        The recipe's ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``); anything
        else (a recipe without a ``device`` parameter) asks for nothing special.
    engine_gpus : float or None
        The most GPUs one node of the engine has (:meth:`RayEngine.node_gpus
        <datacentric.engine.ray.RayEngine.node_gpus>`), or ``None`` for an engine that runs
        the tasks on this machine and does not schedule by resources (local, sequential).

    Returns
    -------
    TaskResources or None
        ``TaskResources(num_cpus=1, num_gpus=1)`` when the fold will train on CUDA:
        ``"cuda"``/``"cuda:N"`` always (on a Ray cluster without GPUs that is a one-line
        ``EngineError``, not a wait); ``"auto"`` only on an engine that reports a node with
        at least one GPU. ``"auto"`` is resolved where the fold *runs*, not in this
        process (a driver without a GPU may send folds to GPU nodes), and the engines that
        report no GPUs (``None``) ignore resources anyway. ``None`` otherwise: the engine's
        default of one CPU.

    Examples
    --------
    >>> fold_resources("auto", 4.0)
    TaskResources(num_cpus=1, num_gpus=1)
    >>> fold_resources("auto", 0.0) is None, fold_resources("cpu", 4.0) is None
    (True, True)
    >>> fold_resources("cuda:1", None)
    TaskResources(num_cpus=1, num_gpus=1)
    """
    if not isinstance(device, str):
        return None
    if device.startswith("cuda") or (device == "auto" and (engine_gpus or 0) >= 1):
        return TaskResources(num_cpus=1, num_gpus=1)
    return None


def _engine_gpus(eng: Engine) -> float | None:
    """``eng.node_gpus()`` for an engine that schedules by resources (Ray), else ``None``."""
    probe = getattr(eng, "node_gpus", None)
    return float(probe()) if callable(probe) else None


def _picklable_or_sequential(eng: Engine, recipe: ModelRecipe) -> Engine:
    """``eng``, or the sequential engine when the recipe cannot travel to worker processes."""
    if eng.name != "local" or eng.workers == 1:
        return eng  # Ray pickles with cloudpickle (classes defined anywhere travel)
    try:
        pickle.dumps(recipe)
    except Exception as exc:  # pickling raises many types (PicklingError, AttributeError ...)
        logger.warning(
            "cross_val_predict: the recipe %s cannot be sent to worker processes (%s); the "
            "folds run one after another in this process. Define the recipe class at module "
            "level to use every core.",
            type(recipe).__name__,
            exc,
        )
        return get_engine("sequential")
    return eng


def cv_cache_dir(
    ds: Dataset, recipe: ModelRecipe, folds: int, seed: int, embeddings: str = "ensemble"
) -> Path | None:
    """Where the folds of this cross-validation are cached, or ``None`` (not cacheable).

    The folder name is a SHA-256 of everything the folds depend on: the manifest (every
    column, in order), each image file's size and modification time, the classes, the
    recipe's class and parameters, ``folds``, ``seed``, the embedding mode and the versions
    of datacentric and torch. In-memory datasets (no root) and recipes whose parameters
    are not plain JSON are not cached.
    """
    if ds.root is None or getattr(ds, "_arrays", None) is not None:
        return None
    try:
        params = json.dumps(recipe.get_params(), sort_keys=True)
    except (TypeError, ValueError):
        return None
    h = hashlib.sha256()
    buf = io.BytesIO()
    ds.manifest.write_csv(buf)
    h.update(buf.getvalue())
    root = Path(ds.root)
    for rel in ds.manifest["image"].to_list():
        try:
            st = (root / str(rel)).stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{rel}\0missing\n".encode())
    h.update(
        json.dumps(
            {
                "classes": list(ds.classes),
                "recipe": f"{type(recipe).__module__}.{type(recipe).__qualname__}",
                "name": getattr(recipe, "name", ""),
                "params": params,
                "folds": folds,
                "seed": seed,
                "embeddings": embeddings,
                "datacentric": _version("datacentric"),
                "torch": _version("torch"),
            },
            sort_keys=True,
        ).encode()
    )
    return root / CACHE_DIR / h.hexdigest()[:32]


def clear_cv_cache(root: str | Path) -> int:
    """Delete the cached folds of the dataset at ``root``; return how many files went.

    The same as ``rm -r <root>/.datacentric/cache/cv``. Safe while nothing scans it.
    """
    folder = Path(root) / CACHE_DIR
    if not folder.is_dir():
        return 0
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder)
    return count


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


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
