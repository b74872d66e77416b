"""`evaluate`: a dataset + predictions + slice definitions → `SliceMetrics`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, invalid_parameter, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError, format_items
from datacentric.slices.metrics import evaluate_frame
from datacentric.slices.result import SliceMetrics

__all__ = ["evaluate", "prediction_frame", "resolve_slices"]

log = logging.getLogger(__name__)

SlicesArg = str | Path | Sequence[Any] | None


def prediction_frame(ds: Dataset, predictions: Any) -> pl.DataFrame:
    """``sample_id, pred, confidence`` of the samples of ``ds`` that have a prediction.

    Accepts everything :func:`datacentric.train.coerce.coerce_predictions` does: a
    ``datacentric.train.Predictions`` (or anything with ``sample_ids`` and ``pred_probs``),
    an (N, K) array of probabilities in manifest order, a polars frame with ``sample_id``
    and ``pred`` (class names, or integer indices into ``ds.classes``) and optionally
    ``confidence``, or a ``.npz`` / ``.npy`` / ``.parquet`` / ``.csv`` file of one. Rows are
    matched by sample id (repeated or unknown ids are errors; samples may lack one), class
    columns by name, and probabilities and confidences are checked (finite, in [0, 1]).
    ``confidence`` is the probability of the predicted class (null when unknown).
    """
    from datacentric.train.coerce import coerce_predictions

    got = coerce_predictions(predictions, ds, allow_missing=True)
    if isinstance(got, pl.DataFrame):
        return got
    classes = ds.classes
    probs = got.pred_probs
    arg = probs.argmax(axis=1)
    return pl.DataFrame(
        {
            "sample_id": pl.Series(got.sample_ids, dtype=pl.Utf8),
            "pred": pl.Series([classes[i] for i in arg], dtype=pl.Utf8),
            "confidence": pl.Series(probs[np.arange(len(arg)), arg], dtype=pl.Float64),
        }
    )


def resolve_slices(slices: SlicesArg, frame: pl.DataFrame, metadata: Sequence[str]) -> list[Any]:
    """Expanded slices from a YAML path/string, spec/slice objects, or ``None`` (one slice
    per value of every metadata column)."""
    from datacentric.slices.spec import Slice, SliceSpec, expand_slices, load_slices

    if slices is None:
        if not metadata:
            return []
        text = "slices:\n" + "".join(f"  - by: {c}\n" for c in metadata)
        specs: list[Any] = load_slices(text, columns=frame.columns)
    elif isinstance(slices, (str, Path)):
        specs = load_slices(slices, columns=frame.columns)
    else:
        specs = list(slices)
    out: list[Any] = []
    pending: list[Any] = []
    for s in specs:
        if isinstance(s, Slice):
            out.append(s)
        elif isinstance(s, SliceSpec):
            pending.append(s)
        else:
            raise InvalidParameterError(
                f"slices must be a YAML file/text or Slice/SliceSpec objects; received "
                f"{type(s).__name__}."
            )
    return out + expand_slices(pending, frame)


@validate_call(
    {
        "ds": [Dataset],
        "split": [str, None],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "n_boot": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "model": [str, None],
    }
)
def evaluate(
    ds: Dataset,
    predictions: Any,
    slices: SlicesArg = None,
    *,
    split: str | None = "test",
    min_n: int = 30,
    n_boot: int = 200,
    seed: int = 0,
    model: str | None = None,
) -> SliceMetrics:
    """Accuracy, macro precision/recall/F1, per-class recall and calibration error, overall
    and per slice, with 95 % intervals, the difference to overall and a significance test.

    Parameters
    ----------
    ds : Dataset
    predictions : Predictions, polars.DataFrame, array or path
        See :func:`prediction_frame` (samples outside the evaluated split need none).
    slices : path, YAML text, list of Slice/SliceSpec, or None
        ``None``: one slice per value of each metadata column.
    split : str or None
        Evaluate only this split (default ``"test"``); ``None`` for every labelled row.
    min_n : int
        Slices with fewer rows are marked ``low_support``.
    model : str, optional
        A name for the model, stored in ``meta``.

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset.from_arrays(np.zeros((6, 2, 2)), ["a", "a", "b", "b", "a", "b"],
    ...                          ["a", "b"], metadata={"site": ["x", "x", "x", "y", "y", "y"]})
    >>> preds = pl.DataFrame({"sample_id": [str(i) for i in range(6)],
    ...                       "pred": ["a", "a", "b", "a", "b", "b"]})
    >>> m = evaluate(ds, preds, split=None, min_n=1)
    >>> m.metric("accuracy")[["slice", "n", "value"]].rows()
    [('site=y', 3, 0.3333333333333333), ('overall', 6, 0.6666666666666666), ('site=x', 3, 1.0)]
    """
    m = ds.manifest
    if split is not None:
        splits = sorted(set(m["split"].drop_nulls().to_list()))
        if split not in splits:
            raise invalid_parameter(
                "evaluate",
                "split",
                split,
                f"a split of the dataset ({', '.join(map(repr, splits))}) or None",
                fix=f"The dataset's split {split!r} has no rows: pass one that has, or "
                "split=None to use every labelled row.",
            )
        m = m.filter(pl.col("split") == split)
    preds = prediction_frame(ds, predictions)
    frame = m.filter(pl.col("label").is_not_null()).join(preds, on="sample_id", how="left")
    lacking = frame.filter(pl.col("pred").is_null())["sample_id"].to_list()
    if lacking:
        raise SchemaError(
            f"{len(lacking)} evaluated sample(s) have no prediction: {format_items(lacking)}. "
            "Predict every sample of the split."
        )
    metadata = [c for c in ds.metadata_columns if c not in ("annotator",)]
    resolved = resolve_slices(slices, frame, metadata)
    n_null_conf = frame["confidence"].null_count()
    has_conf = n_null_conf == 0
    if 0 < n_null_conf < frame.height:
        log.warning(
            "confidence is missing for %d of %d rows; the calibration error (ece) is skipped",
            n_null_conf,
            frame.height,
        )
    table = evaluate_frame(
        frame,
        resolved,
        label="label",
        pred="pred",
        confidence="confidence" if has_conf else None,
        classes=ds.classes,
        min_n=min_n,
        n_boot=n_boot,
        seed=seed,
    )
    meta = {
        "root": str(ds.root) if ds.root else None,
        "version": ds.version,
        "split": split,
        "n_rows": frame.height,
        "classes": ds.classes,
        "min_n": min_n,
        "model": model,
        "slices": {s.name: s.definition for s in resolved},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return SliceMetrics(table, meta)
