"""`scan()`: run the issue finders over a dataset and collect a `ScanResult`."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options, validate_call
from datacentric.dataset import Dataset
from datacentric.dataset.readable import exclude_unreadable
from datacentric.engine import Engine, get_engine
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.issues.base import IssueFinder, concat_issue_tables
from datacentric.issues.context import ScanContext, check_embeddings, check_pred_probs
from datacentric.issues.registry import REGISTRY, FinderRegistry
from datacentric.issues.result import ScanResult

if TYPE_CHECKING:
    from datacentric.train import ModelRecipe

__all__ = ["resolve_finders", "scan"]

log = logging.getLogger(__name__)


def resolve_finders(
    finders: Sequence[str | IssueFinder] | None, registry: FinderRegistry = REGISTRY
) -> list[IssueFinder]:
    """Finder instances from names and/or instances (default: every registered finder)."""
    if finders is None:
        return [registry.get(name)() for name in registry.names()]
    if isinstance(finders, (str, IssueFinder)):
        finders = [finders]
    out: list[IssueFinder] = []
    for f in finders:
        if isinstance(f, IssueFinder):
            f.validate_params()  # an attribute may have changed since __init__
            out.append(f)
        elif isinstance(f, str):
            out.append(registry.get(f)())
        else:
            raise InvalidParameterError(
                f"finders must be names or IssueFinder instances, received {f!r} "
                f"({type(f).__name__}); available names are {registry.names()}."
            )
    return out


def _align(pred_ids: Sequence[str], ds: Dataset, what: str) -> np.ndarray:
    """Row order that puts predictions keyed by ``pred_ids`` into manifest order."""
    pos = {s: i for i, s in enumerate(pred_ids)}
    missing = [s for s in ds.sample_ids if s not in pos]
    if missing:
        raise SchemaError(
            f"{what} lack {len(missing)} sample(s) of the dataset, e.g. {missing[:5]}; compute "
            "them for every sample."
        )
    return np.array([pos[s] for s in ds.sample_ids], dtype=np.int64)


@validate_call(
    {
        "cross_validate": [Options(str, ("auto",)), "boolean"],
        "folds": [Interval(Integral, 2, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "progress": ["boolean"],
        "cache": ["boolean"],
    }
)
def scan(
    ds: Dataset,
    predictions: Any = None,
    embeddings: Any = None,
    *,
    finders: Sequence[str | IssueFinder] | None = None,
    annotations: pl.DataFrame | None = None,
    recipe: ModelRecipe | None = None,
    cross_validate: bool | str = "auto",
    folds: int = 5,
    seed: int = 0,
    registry: FinderRegistry = REGISTRY,
    progress: bool = False,
    engine: str | Engine | None = None,
    workers: int | None = None,
    address: str | None = None,
    cache: bool = True,
    predicted_boxes: Any = None,
) -> ScanResult:
    """Find label errors, duplicates, leakage, outliers, image problems and more.

    Parameters
    ----------
    ds : Dataset
    predictions : Predictions, array (N, K) or path, optional
        Out-of-sample predicted probabilities: a ``Predictions`` keyed by sample id (which
        also carries embeddings), an array in manifest order, or a ``.npz`` / ``.npy``
        file — the ``predictions.npz`` a previous scan wrote included. Read and checked by
        :meth:`datacentric.train.Predictions.coerce`: rows matched by sample id, classes
        matched by name (reordered when they are the dataset's in another order),
        probabilities checked.
    embeddings : array (N, D) or path, optional
        In manifest order (a ``.npy``, or a ``.npz`` with ``embeddings`` and
        ``sample_ids``); finite, one row per sample.
    finders : list of names or IssueFinder instances, optional
        Default: every registered finder with default parameters.
    annotations : polars.DataFrame, optional
        Several labels per sample (``sample_id, annotator, label``) for agreement checks.
    recipe : ModelRecipe or DetectorRecipe, optional
        The fixed model recipe used for cross-validation (default: the small CNN; on a
        detection dataset a :class:`~datacentric.train.DetectorRecipe`, default
        :class:`~datacentric.train.CenterNetRecipe`).
    cross_validate : {"auto", True, False}
        Compute out-of-sample pred_probs and embeddings by K-fold cross-validation when a
        selected finder needs them and they were not given (``"auto"``), always, or never.
    folds, seed : int
        Cross-validation folds and seed.
    registry : FinderRegistry
        Where finder names are looked up.
    progress : bool
        Progress bars and a line per step.
    engine : {"local", "sequential", "ray"} or Engine, optional
        Where the cross-validation folds run (:func:`datacentric.engine.get_engine`);
        default ``"local"``: every core of this machine. The scores are the same bits on
        every engine and for any number of workers. The shared kNN graph of more than
        :data:`~datacentric.issues.knn.HNSW_MAX` embeddings is searched on it too, in
        shards, when the embeddings are a memory-mapped ``.npy`` (a path) that every worker
        can read (see :class:`~datacentric.issues.context.ScanContext`).
    workers : int, optional
        Folds run in parallel (default: every core).
    address : str, optional
        The Ray cluster to use (``engine="ray"`` only).
    cache : bool
        Reuse the cross-validation folds a previous (maybe interrupted) scan of the same
        data, recipe, folds and seed cached under ``<root>/.datacentric/cache/cv/``.
    predicted_boxes : polars.DataFrame or path, optional
        Detection datasets: out-of-sample predicted boxes (``sample_id, label, x, y, w, h,
        score``; see :func:`~datacentric.dataset.read_predicted_boxes`) for the
        ``overlooked_box``, ``badly_located_box`` and ``swapped_box`` finders. When they
        are missing and such a finder (or one needing embeddings) is selected, a detection
        scan cross-validates the detector recipe (:func:`~datacentric.train.
        cross_val_predict_boxes`, ``folds`` folds over the images) for the predicted boxes
        and per-image embeddings (``cross_validate`` as for pred_probs; given boxes or
        embeddings are kept). The box finders (they require ``boxes``) are left out of the
        default finders of a classification dataset, so its scan is unchanged.

    Returns
    -------
    ScanResult
        One row per sample and issue type examined; ``samples`` holds every sample.

    Notes
    -----
    Before cross-validation, one streaming pass finds the images that cannot be used
    (missing, truncated, corrupt, over ``max_image_pixels``, or leading outside the dataset
    root): they are left out of training and prediction, logged with their count, listed in
    ``meta["excluded"]`` (``meta["n_excluded"]``: their number; ``None`` when no model was
    trained) and reported by the integrity finder as ``unreadable_image``. That finder sees
    every row; every other finder sees the readable rows only. The pass is the image
    statistics when a selected finder needs them anyway, so no image is decoded twice for it.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> imgs = np.random.default_rng(0).integers(0, 255, (30, 8, 8), dtype=np.uint8)
    >>> imgs[9] = imgs[3]
    >>> ds = Dataset.from_arrays(imgs, [0, 1, 2] * 10, ["a", "b", "c"])
    >>> result = scan(ds, finders=["exact_duplicate", "integrity"], cross_validate=False)
    >>> result.flagged("exact_duplicate")["sample_id"].to_list()
    ['9', '3']
    """
    eng = get_engine(engine, workers=workers, address=address)  # bad options fail now
    try:
        return _scan(
            ds, predictions, embeddings, finders, annotations, recipe, cross_validate, folds,
            seed, registry, progress, eng, cache, predicted_boxes,
        )  # fmt: skip
    finally:
        if eng is not engine:
            eng.close()


def _scan(
    ds: Dataset,
    predictions: Any,
    embeddings: Any,
    finders: Sequence[str | IssueFinder] | None,
    annotations: pl.DataFrame | None,
    recipe: ModelRecipe | None,
    cross_validate: bool | str,
    folds: int,
    seed: int,
    registry: FinderRegistry,
    progress: bool,
    eng: Engine,
    cache: bool,
    predicted_boxes: Any = None,
) -> ScanResult:
    chosen = resolve_finders(finders, registry)
    if finders is None and ds.task != "detection":  # box finders: detection only
        chosen = [f for f in chosen if "boxes" not in f.requires]
    names = [f.name for f in chosen]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidParameterError(f"finders given twice: {dup}; pass each finder once.")
    timings: dict[str, float] = {}
    pred_probs = None
    source = "given" if predictions is not None else None
    if embeddings is not None:
        from datacentric.train.coerce import coerce_embeddings

        embeddings = coerce_embeddings(embeddings, ds)
    if predictions is not None:
        from datacentric.train.recipe import Predictions

        given = Predictions.coerce(predictions, ds)
        pred_probs = given.pred_probs
        if embeddings is None and given.embeddings.shape[1] > 0:
            embeddings = given.embeddings
    needs_model = any(f.requires & {"pred_probs", "embeddings"} for f in chosen)
    has_labels = ds.manifest["label"].null_count() < len(ds)
    do_cv = cross_validate is True or (
        cross_validate == "auto" and needs_model and (pred_probs is None or embeddings is None)
    )
    # detection: the default detector, cross-validated, gives the missing predicted boxes and
    # embeddings (given predicted boxes win)
    needs_boxes = any("predicted_boxes" in f.requires for f in chosen) and predicted_boxes is None
    needs_emb = any("embeddings" in f.requires for f in chosen) and embeddings is None
    do_box_cv = ds.task == "detection" and (
        cross_validate is True or (cross_validate == "auto" and (needs_boxes or needs_emb))
    )
    box_source = None
    calibration: dict[str, Any] | None = None
    if predicted_boxes is not None:  # checked before minutes of cross-validation
        from datacentric.dataset import read_predicted_boxes

        predicted_boxes = read_predicted_boxes(predicted_boxes, ds)
        box_source = "given"
    detector = _detector(recipe) if do_box_cv else None
    stats: pl.DataFrame | None = None
    model_ds = ds
    excluded = pl.DataFrame(schema={"sample_id": pl.Utf8, "image": pl.Utf8, "reason": pl.Utf8})
    checked = (do_cv and has_labels) or do_box_cv
    if checked:
        from datacentric.train import cross_val_predict, cross_val_predict_boxes

        # One streaming pass finds the images the model cannot read (the image statistics
        # when a finder needs them anyway): they are left out of training and prediction,
        # and the integrity finder reports them.
        t0 = time.perf_counter()
        if _reads_image_stats(chosen):
            from datacentric.issues.image_stats import compute_image_stats

            stats = compute_image_stats(ds, progress=progress)
            timings["image_stats"] = time.perf_counter() - t0
        model_ds, excluded = exclude_unreadable(
            ds, None if stats is None else _unreadable_from_stats(ds, stats), progress=progress
        )
        timings["readable_check"] = time.perf_counter() - t0
        if excluded.height:
            out = ds.manifest["sample_id"].is_in(excluded["sample_id"].implode())
            keep = np.flatnonzero(~out.to_numpy())
            if pred_probs is not None:
                pred_probs = check_pred_probs(pred_probs, len(ds), list(ds.classes))[keep]
            if embeddings is not None:
                embeddings = check_embeddings(embeddings, len(ds))[keep]
        t0 = time.perf_counter()
        if detector is not None:
            boxes = cross_val_predict_boxes(
                model_ds, detector, folds=folds, seed=seed, progress=progress, engine=eng,
                cache=cache,
            )  # fmt: skip
            timings["cross_validation"] = time.perf_counter() - t0
            if predicted_boxes is None:
                predicted_boxes = boxes.boxes
                box_source = f"cross-validation ({folds} folds, {detector.name})"
                if boxes.calibration is not None:
                    calibration = boxes.calibration.to_dict()
            if embeddings is None:  # BoxPredictions are in model_ds's manifest order
                embeddings = boxes.embeddings
        else:
            preds = cross_val_predict(
                model_ds, recipe, folds=folds, seed=seed, progress=progress, engine=eng,
                cache=cache,
            )  # fmt: skip
            timings["cross_validation"] = time.perf_counter() - t0
            order = _align(list(preds.sample_ids), model_ds, "cross-validated predictions")
            if pred_probs is None:
                pred_probs = preds.pred_probs[order]
                source = f"cross-validation ({folds} folds, {getattr(recipe, 'name', 'small_cnn')})"
            if embeddings is None:
                embeddings = preds.embeddings[order]
    if excluded.height:  # integrity sees every row, the other finders the readable ones
        ctx_all = ScanContext(
            ds,
            annotations=annotations,
            progress=progress,
            image_stats=stats,
            predicted_boxes=predicted_boxes,
        )
        ctx = ScanContext(
            model_ds,
            pred_probs,
            embeddings,
            annotations=_rows_of(ctx_all.annotations, model_ds),
            progress=progress,
            image_stats=_rows_of(stats, model_ds),
            engine=eng,
            predicted_boxes=_rows_of(ctx_all.predicted_boxes, model_ds),
        )
    else:
        ctx = ctx_all = ScanContext(
            ds,
            pred_probs,
            embeddings,
            annotations=annotations,
            progress=progress,
            image_stats=stats,
            engine=eng,
            predicted_boxes=predicted_boxes,
        )

    tables: list[pl.DataFrame] = []
    shared_ids = [
        d.manifest.get_column("sample_id") for d in ([ds] if model_ds is ds else [ds, model_ds])
    ]
    skipped: dict[str, str] = {}
    statistics: dict[str, Any] = {}
    params: dict[str, dict[str, Any]] = {}
    for finder in _progress(chosen, progress):
        fctx = ctx_all if finder.all_rows else ctx
        available = fctx.available()
        missing = [available[r] for r in sorted(finder.requires) if available.get(r)]
        params[finder.name] = finder.get_params()
        if missing:
            skipped[finder.name] = "; ".join(str(m) for m in missing)
            log.info("skipping %s: %s", finder.name, skipped[finder.name])
            continue
        t0 = time.perf_counter()
        table = finder.check_output(finder.find(fctx))
        stats_fn = getattr(finder, "statistics", None)
        if callable(stats_fn):
            statistics[finder.name] = stats_fn(fctx)
        timings[finder.name] = time.perf_counter() - t0
        # its ids shared with the manifest's as soon as it is made: 16 or so tables are kept
        tables.append(concat_issue_tables([table], shared_ids))
    for c in (ctx, ctx_all):  # thumbnails, graph, statistics: not needed any more
        c.release()
    # one table of the finders' tables, not copied (see concat_issue_tables)
    issues = concat_issue_tables(tables, shared_ids)
    del tables
    keep_cols = ["sample_id", "label", "split", *ds.metadata_columns]
    if "annotator" in ds.manifest.columns:
        keep_cols.append("annotator")
    samples = ds.manifest.select(list(dict.fromkeys(keep_cols)))
    meta = {
        "root": str(ds.root) if ds.root else None,
        "version": ds.version,
        "n_samples": len(ds),
        "predictions": source,
        "embeddings": "given or cross-validation" if embeddings is not None else None,
        "predicted_boxes": box_source,
        # Platt constants fitted on the cross-validated boxes (None: not fitted)
        "score_calibration": calibration,
        # images left out of the model (None: not checked, no model was trained)
        "n_excluded": excluded.height if checked else None,
        "excluded": excluded.select("sample_id", "reason").to_dicts() if checked else None,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    used = None
    if pred_probs is not None:
        from datacentric.train.recipe import Predictions

        emb = embeddings if embeddings is not None else np.zeros((len(model_ds), 0), np.float32)
        used = Predictions(model_ds.sample_ids, pred_probs, emb, classes=list(ds.classes))
    return ScanResult(
        issues, samples, list(ds.classes), skipped, statistics, timings, params, meta, used,
        predicted_boxes=ctx.predicted_boxes,
    )  # fmt: skip


def _detector(recipe: Any) -> Any:
    """The detector a detection scan cross-validates: ``recipe``, or the default one."""
    from datacentric.train.detector import DetectorRecipe

    if recipe is None:
        from datacentric.train.centernet import CenterNetRecipe

        return CenterNetRecipe()
    if not isinstance(recipe, DetectorRecipe):
        raise InvalidParameterError(
            f"scan: parameter recipe must be a DetectorRecipe for a detection dataset, received "
            f"{type(recipe).__name__} (a classification recipe). Pass recipe=None for the "
            "default CenterNetRecipe, or a detector recipe."
        )
    return recipe


def _reads_image_stats(finders: Sequence[IssueFinder]) -> bool:
    """Whether a finder will decode every image anyway (its statistics serve as the pre-pass)."""
    return any("images" in f.requires or getattr(f, "check_images", False) for f in finders)


def _unreadable_from_stats(ds: Dataset, stats: pl.DataFrame) -> pl.DataFrame:
    """``sample_id, image, reason`` of the unreadable rows of image statistics."""
    bad = stats.filter(~pl.col("readable")).select("sample_id", pl.col("error").alias("reason"))
    return bad.join(ds.manifest.select("sample_id", "image"), on="sample_id", how="left").select(
        "sample_id", "image", "reason"
    )


def _rows_of(frame: pl.DataFrame | None, ds: Dataset) -> pl.DataFrame | None:
    """The rows of ``frame`` (keyed by ``sample_id``) that belong to ``ds``, order kept."""
    if frame is None:
        return None
    return frame.filter(pl.col("sample_id").is_in(ds.manifest["sample_id"].implode()))


def _progress(finders: list[IssueFinder], show: bool) -> Any:
    if not show:
        return finders
    from rich.progress import track

    return track(finders, description="Running issue finders")
