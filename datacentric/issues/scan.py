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
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.issues.base import IssueFinder
from datacentric.issues.context import ScanContext
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
    recipe : ModelRecipe, optional
        The fixed model recipe used for cross-validation (default: the small CNN).
    cross_validate : {"auto", True, False}
        Compute out-of-sample pred_probs and embeddings by K-fold cross-validation when a
        selected finder needs them and they were not given (``"auto"``), always, or never.
    folds, seed : int
        Cross-validation folds and seed.
    registry : FinderRegistry
        Where finder names are looked up.
    progress : bool
        Progress bars and a line per step.

    Returns
    -------
    ScanResult

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
    chosen = resolve_finders(finders, registry)
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
    if do_cv and has_labels:
        from datacentric.train import cross_val_predict

        t0 = time.perf_counter()
        preds = cross_val_predict(ds, recipe, folds=folds, seed=seed, progress=progress)
        timings["cross_validation"] = time.perf_counter() - t0
        order = _align(list(preds.sample_ids), ds, "cross-validated predictions")
        if pred_probs is None:
            pred_probs = preds.pred_probs[order]
            source = f"cross-validation ({folds} folds, {getattr(recipe, 'name', 'small_cnn')})"
        if embeddings is None:
            embeddings = preds.embeddings[order]
    ctx = ScanContext(ds, pred_probs, embeddings, annotations=annotations, progress=progress)
    available = ctx.available()

    tables: list[pl.DataFrame] = []
    skipped: dict[str, str] = {}
    statistics: dict[str, Any] = {}
    params: dict[str, dict[str, Any]] = {}
    for finder in _progress(chosen, progress):
        missing = [available[r] for r in sorted(finder.requires) if available.get(r)]
        params[finder.name] = finder.get_params()
        if missing:
            skipped[finder.name] = "; ".join(str(m) for m in missing)
            log.info("skipping %s: %s", finder.name, skipped[finder.name])
            continue
        t0 = time.perf_counter()
        table = finder.check_output(finder.find(ctx))
        stats_fn = getattr(finder, "statistics", None)
        if callable(stats_fn):
            statistics[finder.name] = stats_fn(ctx)
        timings[finder.name] = time.perf_counter() - t0
        tables.append(table)
    issues = (
        pl.concat(tables, how="diagonal_relaxed")
        if tables
        else pl.DataFrame(
            schema={
                "sample_id": pl.Utf8,
                "issue_type": pl.Utf8,
                "is_issue": pl.Boolean,
                "severity": pl.Float64,
                "suggested_label": pl.Utf8,
                "detail": pl.Utf8,
            }
        )
    )
    keep = ["sample_id", "label", "split", *ds.metadata_columns]
    if "annotator" in ds.manifest.columns:
        keep.append("annotator")
    samples = ds.manifest.select(list(dict.fromkeys(keep)))
    meta = {
        "root": str(ds.root) if ds.root else None,
        "version": ds.version,
        "n_samples": len(ds),
        "predictions": source,
        "embeddings": "given or cross-validation" if embeddings is not None else None,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    used = None
    if pred_probs is not None:
        from datacentric.train.recipe import Predictions

        emb = embeddings if embeddings is not None else np.zeros((len(ds), 0), np.float32)
        used = Predictions(ds.sample_ids, pred_probs, emb, classes=list(ds.classes))
    return ScanResult(
        issues, samples, list(ds.classes), skipped, statistics, timings, params, meta, used
    )


def _progress(finders: list[IssueFinder], show: bool) -> Any:
    if not show:
        return finders
    from rich.progress import track

    return track(finders, description="Running issue finders")
