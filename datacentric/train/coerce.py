"""Predictions from any source, checked against a dataset: one path for every entry point.

Predictions reach datacentric as a :class:`~datacentric.train.Predictions`, an ``(N, K)``
array of probabilities in manifest order, a polars frame of predicted labels
(``sample_id, pred[, confidence]``) or a file of any of these (``.npz`` written by
:meth:`Predictions.save` — the ``predictions.npz`` that ``datacentric scan`` writes —,
``.npy``, ``.parquet``, ``.csv``). :func:`coerce_predictions` reads and checks them all the
same way, so ``scan``, ``slices evaluate/discover``, the FiftyOne and Label Studio pushes and
their CLI verbs agree on what they accept:

- rows are matched by ``sample_id`` (an array without ids is in manifest order and needs one
  row per sample); a repeated id, an id the dataset does not have, or (unless allowed) a
  sample without a prediction is a :class:`SchemaError` naming them;
- class names are matched by name: the dataset's classes in another order are put back in
  its order (logged), other names are a :class:`SchemaError` naming both lists, and without
  names the number of columns must be the number of classes;
- probabilities must be finite, within [0, 1] (1e-6 tolerance; tiny excursions are
  clipped) and sum to 1 per row (within 1e-3); a confidence must be in [0, 1] (null means
  unknown); embeddings must be finite, one row per prediction;
- a file that cannot be read (not a zip, truncated, object arrays that would need pickle,
  wrong dtypes or shapes) is a one-line :class:`SchemaError` naming the file. Nothing is
  ever unpickled, and a small file cannot expand to gigabytes (``.npz`` members may expand at
  most 100-fold beyond 64 MiB).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from datacentric._arrays import finite_rows
from datacentric.exceptions import InvalidParameterError, format_items
from datacentric.train.prediction_files import (
    fail,
    id_list,
    read_npy,
    read_npz,
    read_table,
    reason,
    texts,
)

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.train.recipe import Predictions

__all__ = [
    "PROB_TOLERANCE",
    "SUM_TOLERANCE",
    "coerce_embeddings",
    "coerce_predictions",
]

log = logging.getLogger(__name__)

#: How far outside [0, 1] a probability may stray from float rounding (it is clipped).
PROB_TOLERANCE = 1e-6
#: How far a row of probabilities may sum from 1 (it is renormalised).
SUM_TOLERANCE = 1e-3
_SUFFIXES = (".npz", ".npy", ".parquet", ".csv")
_FORMS = (
    "a Predictions, an (N, K) array of probabilities in manifest order, a polars frame with "
    "sample_id, pred[, confidence], or a .npz (Predictions.save / scan's predictions.npz), "
    ".npy, .parquet or .csv file"
)


@dataclass
class _Probs:
    """Probability-form predictions as read, before checking against a dataset."""

    ids: list[str] | None
    probs: Any
    emb: Any
    classes: list[str] | None
    source: str


# --------------------------------------------------------------------------- files
def _probs_from_npz(path: Path, source: str) -> _Probs:
    data = read_npz(path)
    ids = None
    if "sample_ids" in data:
        ids = id_list(data["sample_ids"], source, "sample_ids")
    classes = None
    if "classes" in data:
        c = data["classes"]
        if c.ndim != 1 or c.dtype.kind not in "US":
            raise fail(
                source, f"classes must be a 1-D array of names, received {c.dtype} {c.shape}."
            )
        classes = texts(c)
    return _Probs(ids, data["pred_probs"], data.get("embeddings"), classes, source)


def _from_path(path: Path, ds: Dataset) -> _Probs | pl.DataFrame:
    source = f"predictions file {str(path)!r}"
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidParameterError(
            f"{source} must be .npz (Predictions.save, or the predictions.npz that "
            "`datacentric scan` writes), .npy (N x K probabilities in manifest order), "
            f".parquet or .csv (sample_id, pred[, confidence]); received {path.name!r}."
        )
    if not path.is_file():
        raise InvalidParameterError(f"{source} does not exist (resolved to {path.resolve()}).")
    if suffix == ".npz":
        return _probs_from_npz(path, source)
    if suffix == ".npy":
        return _Probs(None, read_npy(path, source), None, None, source)
    return read_table(path, source, len(ds) + 11)


# --------------------------------------------------------------------------- checks
def _rows_text(idx: np.ndarray, ids: Sequence[str]) -> str:
    rows = [int(i) for i in idx[:10]]
    return f"rows {format_items(rows)} (sample ids {format_items([ids[i] for i in rows])})"


def _match_ids(
    ids: list[str],
    ds: Dataset,
    source: str,
    *,
    allow_missing: bool,
    allow_extra: bool,
) -> tuple[np.ndarray, list[str]]:
    """(rows of the predictions in manifest order, their sample ids)."""
    seen: dict[str, int] = {}
    dup: list[str] = []
    for i, s in enumerate(ids):
        if s in seen:
            dup.append(s)
        else:
            seen[s] = i
    if dup:
        raise fail(
            source,
            f"{len(set(dup))} sample id(s) have more than one prediction: "
            f"{format_items(sorted(set(dup)))}. Keep one row per sample.",
        )
    known = set(ds.sample_ids)
    extra = [s for s in ids if s not in known]
    if extra and not allow_extra:
        raise fail(
            source,
            f"{len(extra)} sample id(s) are not in the dataset: {format_items(extra)} "
            f"(dataset ids e.g. {format_items(ds.sample_ids[:3])}). Predict this dataset "
            "(version), or select its rows first (Predictions.take(ds.sample_ids)).",
        )
    if extra:
        log.info("%s: ignoring %d prediction(s) of samples not in the dataset", source, len(extra))
    missing = [s for s in ds.sample_ids if s not in seen]
    if missing and not allow_missing:
        raise fail(
            source,
            f"{len(missing)} sample(s) of the dataset have no prediction: "
            f"{format_items(missing)}. Predict every sample of the dataset.",
        )
    order = [s for s in ds.sample_ids if s in seen]
    return np.array([seen[s] for s in order], dtype=np.int64), order


def _class_order(names: list[str] | None, k: int, ds: Dataset, source: str) -> np.ndarray | None:
    """Column permutation into ``ds.classes`` order (None: already in order)."""
    classes = list(ds.classes)
    if names is None:
        if k != len(classes):
            raise fail(
                source,
                f"the predictions have {k} class columns but the dataset has {len(classes)} "
                f"classes {classes!r}; pass predictions of a model trained on these classes "
                "(one column per class, in this order).",
            )
        return None
    if len(names) != k:
        raise fail(
            source,
            f"names {len(names)} classes {names!r} but pred_probs has {k} class columns; "
            "write one class name per column.",
        )
    if names == classes:
        return None
    if len(set(names)) == len(names) and set(names) == set(classes):
        log.info(
            "%s: class columns %s are reordered to the dataset's order %s", source, names, classes
        )
        pos = {c: i for i, c in enumerate(names)}
        return np.array([pos[c] for c in classes], dtype=np.int64)
    raise fail(
        source,
        f"the predictions' classes {names!r} are not the dataset's classes {classes!r} "
        f"({len(names)} vs {len(classes)} classes). Predict with a model trained on the "
        "dataset's classes.",
    )


def _check_probs(probs: np.ndarray, ids: Sequence[str], source: str) -> np.ndarray:
    """Finite, in [0, 1] within tolerance, rows summing to 1; returns a clipped float64 copy."""
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise fail(
            source,
            f"pred_probs has NaN or infinite values in {idx.size} row(s), {_rows_text(idx, ids)}."
            " Fix the model outputs of those samples; probabilities must be finite.",
        )
    out_of_range = ((probs < -PROB_TOLERANCE) | (probs > 1 + PROB_TOLERANCE)).any(axis=1)
    if out_of_range.any():
        idx = np.flatnonzero(out_of_range)
        lo, hi = float(probs[idx].min()), float(probs[idx].max())
        raise fail(
            source,
            f"pred_probs must be probabilities in [0, 1]; {idx.size} row(s) are outside "
            f"(values from {lo:.4g} to {hi:.4g}), {_rows_text(idx, ids)}. If these are "
            "logits, apply a softmax first.",
        )
    probs = np.clip(probs, 0.0, 1.0)
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        idx = np.flatnonzero(off)
        shown = format_items([round(float(s), 4) for s in sums[idx]])
        raise fail(
            source,
            f"pred_probs rows must sum to 1 (within {SUM_TOLERANCE:g}); {idx.size} row(s) do "
            f"not (sums {shown}), {_rows_text(idx, ids)}. Apply a softmax to logits, or divide "
            "each row by its sum (p / p.sum(axis=1, keepdims=True)).",
        )
    return probs


def _check_embeddings(emb: Any, n: int, ids: Sequence[str], source: str) -> np.ndarray | None:
    arr = np.asarray(emb)
    if arr.dtype.kind not in "fiub":
        raise fail(source, f"embeddings must be numbers, received dtype {arr.dtype}.")
    if arr.ndim != 2 or arr.shape[0] != n:
        raise fail(
            source,
            f"embeddings must have shape (n_samples, dim) = ({n}, D), received shape "
            f"{arr.shape}. Pass one row per prediction.",
        )
    if arr.shape[1] == 0:
        return None
    arr = np.asarray(arr, dtype=np.float32)  # float32 (a read-only memmap too): not copied
    bad = ~finite_rows(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise fail(
            source,
            f"embeddings have NaN or infinite values in {idx.size} row(s), "
            f"{_rows_text(idx, ids)}. Recompute them for those samples.",
        )
    return arr


def _probs_array(arr: Any, source: str) -> np.ndarray:
    try:
        probs = np.asarray(arr)
    except Exception as exc:
        raise fail(source, f"pred_probs is not an array ({reason(exc)}).") from None
    if probs.dtype.kind not in "fiub":
        raise fail(
            source,
            f"pred_probs must be numbers (float probabilities), received dtype {probs.dtype}.",
        )
    if probs.ndim != 2 or probs.shape[1] == 0:
        raise fail(
            source,
            f"pred_probs must have shape (n_samples, n_classes), received shape {probs.shape}.",
        )
    return probs.astype(np.float64)


def _finish_probs(
    raw: _Probs, ds: Dataset, *, allow_missing: bool, allow_extra: bool
) -> Predictions:
    from datacentric.train.recipe import Predictions

    source = raw.source
    probs = _probs_array(raw.probs, source)
    n = probs.shape[0]
    if raw.ids is None:
        if n != len(ds):
            raise fail(
                source,
                f"pred_probs without sample ids must have one row per sample in manifest "
                f"order: {len(ds)} rows, received {n} (shape {probs.shape}). Save them with "
                "their ids (Predictions.save) or predict every sample.",
            )
        ids = list(ds.sample_ids)
    else:
        ids = raw.ids
        if len(ids) != n:
            raise fail(
                source,
                f"has {len(ids)} sample ids but pred_probs has {n} rows; write one row per id.",
            )
    perm = _class_order(raw.classes, probs.shape[1], ds, source)
    emb = None if raw.emb is None else _check_embeddings(raw.emb, n, ids, source)
    rows, order = _match_ids(ids, ds, source, allow_missing=allow_missing, allow_extra=allow_extra)
    probs = probs[rows]
    if perm is not None:
        probs = probs[:, perm]
    probs = _check_probs(probs, order, source)
    emb_out = emb[rows] if emb is not None else np.zeros((len(order), 0), np.float32)
    return Predictions(order, probs, emb_out, classes=list(ds.classes))


def _finish_frame(
    frame: pl.DataFrame, ds: Dataset, source: str, *, allow_missing: bool, allow_extra: bool
) -> pl.DataFrame:
    """``sample_id, pred, confidence`` in manifest order, preds among ``ds.classes``."""
    missing = [c for c in ("sample_id", "pred") if c not in frame.columns]
    if missing:
        raise fail(
            source,
            f"a predictions table needs columns sample_id and pred (optionally confidence); "
            f"missing {format_items(missing)}, received {format_items(frame.columns)}.",
        )
    ids_col = frame["sample_id"]
    if ids_col.dtype not in (pl.Utf8, pl.Categorical) and not ids_col.dtype.is_integer():
        raise fail(source, f"sample_id must be text, received dtype {ids_col.dtype}.")
    frame = frame.with_columns(pl.col("sample_id").cast(pl.Utf8))
    if frame["sample_id"].null_count():
        idx = np.flatnonzero(frame["sample_id"].is_null().to_numpy())
        raise fail(
            source,
            f"sample_id is null in {idx.size} row(s) (rows {format_items(idx[:10].tolist())}). "
            "Every prediction needs its sample id.",
        )
    ids = frame["sample_id"].to_list()
    classes = list(ds.classes)
    pred = frame["pred"]
    if pred.null_count():
        idx = np.flatnonzero(pred.is_null().to_numpy())
        raise fail(
            source,
            f"pred is null in {idx.size} row(s), {_rows_text(idx, ids)}. Drop the rows that "
            "have no prediction.",
        )
    if pred.dtype.is_integer():
        bad = (pred < 0) | (pred >= len(classes))
        if bad.any():
            idx = np.flatnonzero(bad.to_numpy())
            raise fail(
                source,
                f"integer pred values index the {len(classes)} classes {classes!r}; "
                f"{idx.size} row(s) are outside 0..{len(classes) - 1} "
                f"({format_items(pred.gather(idx[:10]).to_list())}), {_rows_text(idx, ids)}.",
            )
        names = [classes[int(i)] for i in pred.to_list()]
    elif pred.dtype in (pl.Utf8, pl.Categorical, pl.Enum) or isinstance(
        pred.dtype, (pl.Categorical, pl.Enum)
    ):
        names = [str(x) for x in pred.cast(pl.Utf8).to_list()]
        known = set(classes)
        unknown = [i for i, x in enumerate(names) if x not in known]
        if unknown:
            idx = np.array(unknown)
            vals = sorted({names[i] for i in unknown})
            raise fail(
                source,
                f"pred has {len(vals)} value(s) that are not the dataset's classes: "
                f"{format_items(vals)} (classes {classes!r}), {_rows_text(idx, ids)}. "
                "Predict with a model trained on these classes.",
            )
    else:
        raise fail(
            source,
            f"pred must be class names (text) or class indices (integers), received dtype "
            f"{pred.dtype}.",
        )
    conf: pl.Series
    if "confidence" in frame.columns:
        c = frame["confidence"]
        if not (c.dtype.is_numeric() or c.dtype == pl.Null):
            raise fail(
                source,
                f"confidence must be numbers in [0, 1] (null if unknown), received dtype "
                f"{c.dtype}.",
            )
        conf = c.cast(pl.Float64)
        bad = conf.is_not_null() & (conf.is_nan() | (conf < 0) | (conf > 1))
        if bad.any():
            idx = np.flatnonzero(bad.fill_null(False).to_numpy())
            shown = format_items(conf.gather(idx[:10]).to_list())
            raise fail(
                source,
                f"confidence must be a probability in [0, 1] (null if unknown); {idx.size} "
                f"row(s) are not ({shown}), {_rows_text(idx, ids)}. Use the predicted class's "
                "probability (a softmax output).",
            )
    else:
        conf = pl.Series("confidence", [None] * frame.height, dtype=pl.Float64)
    rows, order = _match_ids(ids, ds, source, allow_missing=allow_missing, allow_extra=allow_extra)
    take = pl.Series(rows, dtype=pl.Int64)
    return pl.DataFrame(
        {
            "sample_id": pl.Series(order, dtype=pl.Utf8),
            "pred": pl.Series(names, dtype=pl.Utf8).gather(take),
            "confidence": conf.gather(take).alias("confidence"),
        }
    )


# --------------------------------------------------------------------------- entry points
def coerce_predictions(
    obj: Any,
    ds: Dataset,
    *,
    allow_missing: bool = False,
    allow_extra: bool = False,
    labels_ok: bool = True,
    what: str = "predictions",
) -> Predictions | pl.DataFrame:
    """Read and check predictions of ``ds`` from any accepted form (see the module docstring).

    Parameters
    ----------
    obj : Predictions, array, polars.DataFrame, str or Path
        The predictions (an object with ``sample_ids`` and ``pred_probs`` is read like a
        ``Predictions``).
    ds : Dataset
        The dataset they are of: its ``sample_ids`` and ordered ``classes``.
    allow_missing : bool
        Accept samples of ``ds`` without a prediction (the result then has fewer rows).
    allow_extra : bool
        Ignore (log) predictions of samples that ``ds`` does not have, instead of an error.
    labels_ok : bool
        Accept predicted labels (a frame ``sample_id, pred[, confidence]``); else only
        probabilities are accepted.
    what : str
        How messages name in-memory predictions.

    Returns
    -------
    Predictions or polars.DataFrame
        ``Predictions`` (rows in manifest order, columns in ``ds.classes`` order,
        ``classes=ds.classes``) for probability forms; a frame ``sample_id, pred,
        confidence`` (manifest order, ``pred`` among ``ds.classes``, ``confidence`` Float64
        or null) for predicted labels.

    Raises
    ------
    SchemaError
        Any check of the module docstring fails; the message names the file (or ``what``),
        the offending ids/rows or classes, and the fix.
    InvalidParameterError
        ``obj`` is of no accepted type, or a path does not exist / has another suffix.
    """
    if isinstance(obj, (str, Path)):
        got: _Probs | pl.DataFrame = _from_path(Path(obj), ds)
    elif isinstance(obj, pl.DataFrame):
        got = obj
    elif hasattr(obj, "pred_probs") and hasattr(obj, "sample_ids"):
        classes = getattr(obj, "classes", None)
        got = _Probs(
            [str(s) for s in obj.sample_ids],
            obj.pred_probs,
            getattr(obj, "embeddings", None),
            None if classes is None else [str(c) for c in classes],
            what,
        )
    elif isinstance(obj, (np.ndarray, list, tuple)):
        got = _Probs(None, obj, None, None, what)
    else:
        raise InvalidParameterError(f"{what} must be {_FORMS}; received {type(obj).__name__}.")
    if isinstance(got, pl.DataFrame):
        source = f"predictions file {str(obj)!r}" if isinstance(obj, (str, Path)) else what
        if not labels_ok:
            raise fail(
                source,
                f"holds predicted labels ({format_items(got.columns)}), but class "
                "probabilities are needed: pass pred_probs (the .npz that Predictions.save or "
                "`datacentric scan` writes, or an N x K .npy in manifest order).",
            )
        return _finish_frame(got, ds, source, allow_missing=allow_missing, allow_extra=allow_extra)
    return _finish_probs(got, ds, allow_missing=allow_missing, allow_extra=allow_extra)


def coerce_embeddings(obj: Any, ds: Dataset, *, what: str = "embeddings") -> np.ndarray:
    """Embeddings of every sample of ``ds``, in manifest order, as checked ``float32``.

    ``obj`` is an ``(N, D)`` array in manifest order, a ``.npy`` file of one, or a ``.npz``
    with ``embeddings`` (and ``sample_ids``, which are then matched to the dataset).

    Raises
    ------
    SchemaError
        Not 2-D numbers, not one row per sample, no columns, NaN or infinite values, or an
        unreadable file (named).
    """
    ids: list[str] | None = None
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        source = f"embeddings file {str(path)!r}"
        suffix = path.suffix.lower()
        if suffix not in (".npy", ".npz") or not path.is_file():
            raise InvalidParameterError(
                f"{source} must be an existing .npy (N x D, manifest order) or .npz file "
                f"(with embeddings and sample_ids), received {path.name!r}."
            )
        if suffix == ".npy":
            arr: Any = read_npy(path, source, mmap=True)
        else:
            data = read_npz(path, keys=("sample_ids", "embeddings"), what="embeddings")
            if "embeddings" not in data:
                raise fail(source, "has no 'embeddings' array.")
            arr = data["embeddings"]
            if "sample_ids" in data:
                ids = id_list(data["sample_ids"], source, "sample_ids")
    else:
        source = what
        arr = obj
    try:
        emb = np.asarray(arr)
    except Exception as exc:
        raise fail(source, f"is not an array ({reason(exc)}).") from None
    n = emb.shape[0] if emb.ndim else 0
    row_ids = ids if ids is not None else list(ds.sample_ids)
    if ids is None and n != len(ds):
        raise fail(
            source,
            f"embeddings must have shape (n_samples, dim) with n_samples = {len(ds)} (manifest "
            f"order), received shape {emb.shape}.",
        )
    if ids is not None and len(ids) != n:
        raise fail(source, f"has {len(ids)} sample ids but {n} embedding rows.")
    checked = _check_embeddings(emb, n, row_ids if len(row_ids) == n else [""] * n, source)
    if checked is None:
        raise fail(source, f"embeddings have no columns (shape {emb.shape}).")
    if ids is not None:
        rows, _ = _match_ids(ids, ds, source, allow_missing=False, allow_extra=False)
        checked = checked[rows]
    return checked
