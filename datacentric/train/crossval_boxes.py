"""`cross_val_predict_boxes`: out-of-sample predicted boxes and embeddings for every image.

The box finders (overlooked, badly located, swapped) compare the given boxes with a
detector's; a detector that trained on an image has learnt its mistakes and agrees with
them. K-fold cross-validation over the *images* gives every image boxes from a model that
never saw it (nor any of its boxes). This is :func:`~datacentric.train.cross_val_predict`
for detection: one task per fold through an execution engine (:mod:`datacentric.engine`:
local processes, or Ray), merged in fold order so that the result is bit-identical whatever
the engine and the number of workers; a finished fold of a dataset on disk is cached under
``<root>/.datacentric/cache/cv/`` (the key includes the boxes) and reused by a re-run.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from datacentric._io import atomic_write
from datacentric._validation import Interval, Options, validate_call
from datacentric.config import config_context, get_config
from datacentric.engine import Engine, get_engine
from datacentric.exceptions import DatacentricError, InvalidDatasetError, InvalidParameterError
from datacentric.train.box_calibration import fit_score_calibration
from datacentric.train.crossval import (
    _engine_gpus,
    _picklable_or_sequential,
    cv_cache_dir,
    fold_resources,
)
from datacentric.train.detector import BOX_PREDICTION_SCHEMA, BoxPredictions, DetectorRecipe

if TYPE_CHECKING:
    from datacentric.dataset import Dataset

__all__ = ["BoxFoldTask", "cross_val_predict_boxes", "image_folds", "run_box_fold"]

logger = logging.getLogger(__name__)

#: One fold's outputs: box rows (positions in ``predict_rows``), ``x, y, w, h, score``,
#: class indices, embeddings of ``predict_rows``.
FoldOutput = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@validate_call(
    {
        "recipe": [DetectorRecipe, None],
        "folds": [Interval(Integral, 2, None, closed="left")],
        "seed": [Interval(Integral, 0, 2**32 - 1)],
        "progress": ["boolean"],
        "embeddings": [Options(str, ("ensemble", "out_of_fold"))],
        "cache": ["boolean"],
        "calibrate": ["boolean"],
    }
)
def cross_val_predict_boxes(
    ds: Dataset,
    recipe: DetectorRecipe | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    progress: bool = False,
    embeddings: Literal["ensemble", "out_of_fold"] = "ensemble",
    engine: str | Engine | None = None,
    workers: int | None = None,
    address: str | None = None,
    cache: bool = True,
    calibrate: bool = True,
) -> BoxPredictions:
    """Out-of-sample predicted boxes and an embedding for every image of a detection dataset.

    The images (of every split, with or without boxes) are divided into ``folds`` folds
    (:func:`image_folds`: scikit-learn ``KFold`` with shuffling, seeded by ``seed``). For each
    fold a fresh ``recipe.clone()`` is trained on the images of the other folds and their
    boxes (with seed ``seed + fold``) and predicts the held-out images, so each image's boxes
    come from a model that never saw it.

    Parameters
    ----------
    ds : Dataset
        A detection dataset with at least two images.
    recipe : DetectorRecipe, optional
        The detector held fixed; default :class:`~datacentric.train.CenterNetRecipe` ``()``.
        It is not trained itself (only its clones are).
    folds : int
        Number of folds, >= 2; capped at the number of images.
    seed : int
        Seeds the fold assignment and each fold's training.
    progress : bool
        Show a progress bar of folds done (across all workers).
    embeddings : {"ensemble", "out_of_fold"}
        ``"ensemble"`` (default): an image's embedding is the mean of every fold model's, so
        all images share one embedding space (what duplicate and outlier finders compare).
        ``"out_of_fold"``: the embedding of the model that predicted the image's boxes.
    engine, workers, address
        Where the folds run, as for :func:`~datacentric.train.cross_val_predict`; the result
        is the same bits on every engine.
    cache : bool
        Reuse (and write) the folds cached under ``<root>/.datacentric/cache/cv/`` for a
        dataset on disk (the key covers the manifest, image files, boxes, recipe, folds,
        seed and versions). In-memory datasets are never cached.
    calibrate : bool
        Rescale the out-of-sample scores by Platt scaling fitted on this run's own boxes
        against the dataset's boxes (:func:`~datacentric.train.box_calibration.
        fit_score_calibration`: a box is right when a given box of its class overlaps it
        with IoU >= 0.5), so a score reads as the probability that the annotation agrees.
        The ranking of boxes is unchanged; the fit is ``BoxPredictions.calibration``
        (``None`` when there were too few right or wrong boxes to fit, scores unchanged).

    Returns
    -------
    BoxPredictions
        Every image of ``ds`` in manifest order; boxes grouped by image in that order.

    Raises
    ------
    InvalidParameterError
        Bad ``folds``, ``seed``, ``embeddings``, engine options, or a ``recipe`` that is not
        a :class:`~datacentric.train.DetectorRecipe` (a classification recipe, say).
    InvalidDatasetError
        When ``ds`` is not a detection dataset or has fewer than two images.

    Examples
    --------
    >>> import tempfile
    >>> from datacentric.datasets import load_detection_demo
    >>> from datacentric.train import CenterNetRecipe
    >>> ds = load_detection_demo(tempfile.mkdtemp(), n_scenes=8, size=48, commit=False)
    >>> recipe = CenterNetRecipe(image_size=48, epochs=1, min_steps=0)
    >>> pred = cross_val_predict_boxes(ds, recipe, folds=2,
    ...                                engine="sequential")
    >>> pred.sample_ids == ds.sample_ids, pred.boxes.columns[:3], pred.embeddings.shape
    (True, ['sample_id', 'label', 'x'], (8, 128))
    """
    if recipe is None:
        from datacentric.train.centernet import CenterNetRecipe

        recipe = CenterNetRecipe()
    if ds.task != "detection":
        raise InvalidDatasetError(
            f"cross_val_predict_boxes: the dataset is not a detection dataset (task "
            f"{ds.task!r}); use cross_val_predict for classification, or pass a dataset with "
            "boxes."
        )
    if len(ds) < 2:
        raise InvalidDatasetError(
            f"cross_val_predict_boxes: needs at least 2 images, received {len(ds)}. Add images."
        )
    eng = get_engine(engine, workers=workers, address=address)
    try:
        pred = _cross_val(ds, recipe, int(folds), seed, progress, embeddings, eng, cache)
    finally:
        if eng is not engine:
            eng.close()
    if not calibrate:
        return pred
    cal = fit_score_calibration(pred.boxes, ds.annotations)
    if cal is None:
        return pred
    logger.info(
        "cross_val_predict_boxes: scores calibrated, sigmoid(%.3f * logit + %.3f), fitted on "
        "%d boxes (%d confirmed by a given box)",
        cal.scale,
        cal.shift,
        cal.n_boxes,
        cal.n_right,
    )
    return BoxPredictions(pred.sample_ids, cal.apply(pred.boxes), pred.embeddings, cal)


def image_folds(n_images: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train positions, held-out positions)`` of each fold over ``n_images`` images.

    Shuffled K-fold (scikit-learn ``KFold``, ``random_state=seed``), ``folds`` capped at
    ``n_images``: every image is held out exactly once, and never in its fold's training set.

    Examples
    --------
    >>> [test.tolist() for _, test in image_folds(5, 2, seed=0)]
    [[0, 1, 2], [3, 4]]
    """
    from sklearn.model_selection import KFold

    n_splits = min(folds, n_images)
    if n_splits < folds:
        logger.warning(
            "cross_val_predict_boxes: only %d images, so %d folds instead of %d.",
            n_images,
            n_splits,
            folds,
        )
    splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(np.sort(a), np.sort(b)) for a, b in splitter.split(np.zeros((n_images, 1)))]


@dataclass(frozen=True, eq=False)
class BoxFoldTask:
    """One fold of :func:`cross_val_predict_boxes`: everything a worker needs (picklable).

    ``train_rows`` and ``predict_rows`` are manifest positions (``predict_rows`` sorted);
    ``recipe`` is untrained; ``cache_file`` is where the outputs go (``None``: not cached).
    """

    fold: int
    dataset: Dataset
    recipe: DetectorRecipe
    train_rows: np.ndarray
    predict_rows: np.ndarray
    seed: int
    config: dict[str, Any] = field(default_factory=dict)
    cache_file: str | None = None


def run_box_fold(task: BoxFoldTask) -> FoldOutput:
    """Train one fold's detector and predict its rows (see ``FoldOutput``); writes the cache
    file when the task names one."""
    ds = task.dataset
    manifest = ds.manifest
    with config_context(**task.config):
        model = task.recipe.clone()
        model.fit(ds._subset(manifest[task.train_rows]), seed=task.seed, progress=False)
        pred = model.predict(ds._subset(manifest[task.predict_rows]))
    ids = manifest["sample_id"].gather(task.predict_rows).to_list()
    if not isinstance(pred, BoxPredictions) or pred.sample_ids != ids:
        raise InvalidParameterError(
            f"cross_val_predict_boxes: {type(model).__name__}.predict must return "
            f"BoxPredictions with one image per sample in manifest order ({len(ids)} images); "
            f"received {type(pred).__name__}. Fix the recipe."
        )
    pos = {s: i for i, s in enumerate(ids)}
    index = {c: i for i, c in enumerate(ds.classes)}
    b = pred.boxes
    out = (
        np.array([pos[s] for s in b["sample_id"].to_list()], dtype=np.int64),
        b.select("x", "y", "w", "h", "score").to_numpy().astype(np.float64).reshape(-1, 5),
        np.array([index[c] for c in b["label"].to_list()], dtype=np.int64),
        np.asarray(pred.embeddings, dtype=np.float32),
    )
    if task.cache_file is not None:
        _write_fold(Path(task.cache_file), out)
    return out


def _cross_val(
    ds: Dataset,
    recipe: DetectorRecipe,
    folds: int,
    seed: int,
    progress: bool,
    embeddings: str,
    eng: Engine,
    cache: bool,
) -> BoxPredictions:
    n = len(ds)
    splits = image_folds(n, folds, seed)
    ensemble = embeddings == "ensemble"
    cache_dir = _cache_dir(ds, recipe, folds, seed, embeddings) if cache else None
    sent = recipe.clone()
    config = get_config()
    tasks = [
        BoxFoldTask(
            fold,
            ds,
            sent,
            train,
            np.arange(n) if ensemble else held_out,
            seed + fold,
            config,
            None if cache_dir is None else str(cache_dir / f"fold_{fold}.npz"),
        )
        for fold, (train, held_out) in enumerate(splits)
    ]
    outputs = {t.fold: r for t in tasks if (r := _read_fold(t)) is not None}
    if outputs:
        logger.info(
            "cross_val_predict_boxes: %d of %d folds reused from %s",
            len(outputs),
            len(tasks),
            cache_dir,
        )
    todo = [t for t in tasks if t.fold not in outputs]
    if todo:
        eng = _picklable_or_sequential(eng, sent)  # type: ignore[arg-type]
        results = eng.map(
            run_box_fold,
            todo,
            desc="cross-validation folds (detector)",
            progress=progress,
            resources=fold_resources(getattr(sent, "device", None), _engine_gpus(eng)),
        )
        outputs.update({t.fold: r for t, r in zip(todo, results, strict=True)})
    # merge in fold order: the same arithmetic whatever ran the folds (bit-identical)
    image_rows: list[np.ndarray] = []
    values: list[np.ndarray] = []
    classes: list[np.ndarray] = []
    emb: np.ndarray | None = None
    for task in tasks:
        rows, xywhs, labels, fold_emb = outputs[task.fold]
        held_out = splits[task.fold][1]
        in_rows = task.predict_rows[rows]  # manifest position of each box
        keep = np.isin(in_rows, held_out)
        image_rows.append(in_rows[keep])
        values.append(xywhs[keep])
        classes.append(labels[keep])
        if emb is None:
            emb = np.zeros((n, fold_emb.shape[1]), np.float64)
        if ensemble:
            emb += fold_emb / len(splits)
        else:
            emb[held_out] = fold_emb[np.searchsorted(task.predict_rows, held_out)]
    assert emb is not None  # at least two folds
    rows_all = np.concatenate(image_rows)
    order = np.argsort(rows_all, kind="stable")  # by image, each fold's box order kept
    xywh = np.concatenate(values)[order]
    ids = np.asarray(ds.sample_ids, dtype=object)
    names = np.asarray(ds.classes, dtype=object)
    boxes = pl.DataFrame(
        {
            "sample_id": ids[rows_all[order]].tolist(),
            "label": names[np.concatenate(classes)[order]].tolist(),
            **{c: xywh[:, j] for j, c in enumerate(("x", "y", "w", "h", "score"))},
        },
        schema=BOX_PREDICTION_SCHEMA,
    )
    return BoxPredictions(ds.sample_ids, boxes, emb.astype(np.float32))


def _cache_dir(
    ds: Dataset, recipe: DetectorRecipe, folds: int, seed: int, embeddings: str
) -> Path | None:
    """:func:`~datacentric.train.crossval.cv_cache_dir`'s key plus the boxes (a sibling folder)."""
    base = cv_cache_dir(ds, recipe, folds, seed, embeddings)  # type: ignore[arg-type]
    if base is None:
        return None
    h = hashlib.sha256(f"{base.name}\0boxes\0".encode())
    buf = io.BytesIO()
    ann = ds.annotations
    if ann is not None:
        ann.select("annotation_id", "sample_id", "label", "x", "y", "w", "h").write_csv(buf)
    h.update(buf.getvalue())
    return base.parent / f"boxes-{h.hexdigest()[:32]}"


def _write_fold(path: Path, out: FoldOutput) -> None:
    rows, xywhs, labels, emb = out

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, rows=rows, boxes=xywhs, labels=labels, embeddings=emb)

    try:
        atomic_write(path, write)
    except DatacentricError as exc:  # a read-only dataset still scans, uncached
        logger.warning("cross_val_predict_boxes: fold not cached (%s)", exc)


def _read_fold(task: BoxFoldTask) -> FoldOutput | None:
    """A cached fold's outputs, or ``None`` (none, unreadable, or not of this task's shape)."""
    if task.cache_file is None or not os.path.isfile(task.cache_file):
        return None
    try:
        with np.load(task.cache_file, allow_pickle=False) as data:
            out = (data["rows"], data["boxes"], data["labels"], data["embeddings"])
    except (OSError, ValueError, KeyError) as exc:
        logger.warning("cross_val_predict_boxes: ignoring unreadable cache %s (%s)",
                       task.cache_file, exc)  # fmt: skip
        return None
    rows, xywhs, labels, emb = out
    n, k = len(task.predict_rows), len(task.dataset.classes)
    fits = (
        rows.ndim == 1
        and xywhs.shape == (len(rows), 5)
        and labels.shape == rows.shape
        and emb.ndim == 2
        and emb.shape[0] == n
        and (not len(rows) or (rows.min() >= 0 and rows.max() < n))
        and (not len(labels) or (labels.min() >= 0 and labels.max() < k))
        and rows.dtype.kind == "i"
        and labels.dtype.kind == "i"
        and bool(np.isfinite(xywhs).all())
    )
    if not fits:
        logger.warning("cross_val_predict_boxes: ignoring cache %s of another shape",
                       task.cache_file)  # fmt: skip
        return None
    return out
