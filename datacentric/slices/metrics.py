"""Metrics by slice with intervals and significance: ``evaluate_frame`` and ``evaluate``.

The heavy lifting is one polars ``group_by`` per distinct set of slice columns, down to
sufficient statistics — counts per (slice columns, true class, predicted class,
confidence bin) and the summed confidence. Every slice over those columns is then a
filter on that small cube, and every metric, interval and test is computed from its
confusion matrix. Rows are never materialised per slice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from datacentric._validation import Interval, SequenceOf, validate_call
from datacentric.exceptions import InvalidParameterError, SchemaError, format_items
from datacentric.slices.stats import (
    bootstrap_draws,
    bootstrap_interval,
    percentile_interval,
    two_proportion_p,
    wilson_interval,
)

__all__ = ["METRICS_SCHEMA", "SliceLike", "confusion_metrics", "evaluate_frame"]

OVERALL = "overall"
METRICS_SCHEMA: dict[str, pl.DataType] = {
    "slice": pl.Utf8(),
    "n": pl.Int64(),
    "metric": pl.Utf8(),
    "support": pl.Int64(),
    "value": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "delta_vs_overall": pl.Float64(),
    "p_value": pl.Float64(),
    "low_support": pl.Boolean(),
}
_CELL, _CONF = "__cell", "__conf"
_CONF_SCALE = float(2**32)


class SliceLike(Protocol):
    """What evaluation needs of a slice (``datacentric.slices.spec.Slice`` has it)."""

    name: str
    expr: pl.Expr
    columns: tuple[str, ...]


def _macro(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Macro precision, recall, F1 of a stack of confusion matrices (B, K, K).

    Averaged over the classes that occur in the slice (as truth or as prediction),
    with 0 for an undefined precision/recall (scikit-learn's ``zero_division=0``).
    """
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(np.float64)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    present = (support + predicted) > 0
    prec = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    rec = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    k = np.maximum(present.sum(axis=-1), 1)
    return (
        (prec * present).sum(-1) / k,
        (rec * present).sum(-1) / k,
        (f1 * present).sum(-1) / k,
    )


def confusion_metrics(
    cm: np.ndarray,
    bins: np.ndarray | None = None,
    classes: Sequence[str] = (),
    *,
    rest: np.ndarray | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """All metrics of one slice from its confusion matrix (and calibration bins).

    Parameters
    ----------
    cm : array (K, K)
        Counts, rows = true class, columns = predicted class.
    bins : array (n_bins, 3), optional
        Per confidence bin: rows, correct rows, summed confidence — for the expected
        calibration error.
    classes : sequence of str
        Class names for per-class recall.
    rest : array (K, K), optional
        Confusion matrix of every row *not* in the slice, for the p-values.

    Returns
    -------
    list of dict
        ``metric, value, ci_low, ci_high, p_value`` per metric: accuracy (Wilson
        interval, two-proportion z-test against the rest), macro precision / recall / F1
        (multinomial bootstrap interval), per-class recall ``recall[<class>]`` (Wilson,
        z-test), and ``ece`` (bootstrap interval) when bins are given.

    Examples
    --------
    >>> cm = np.array([[8, 2], [1, 9]])
    >>> m = {r["metric"]: r for r in confusion_metrics(cm, classes=["a", "b"])}
    >>> m["accuracy"]["value"], round(m["recall[a]"]["value"], 2)
    (0.85, 0.8)
    """
    n = float(cm.sum())
    correct = float(np.trace(cm))
    out: list[dict[str, Any]] = []
    rest_n = float(rest.sum()) if rest is not None else 0.0
    rest_c = float(np.trace(rest)) if rest is not None else 0.0

    def p_vs_rest(k: float, m: float, rk: float, rm: float) -> float:
        return two_proportion_p(k, m, rk, rm) if rest is not None and rm > 0 else math.nan

    lo, hi = wilson_interval(correct, n)
    out.append(
        {
            "metric": "accuracy",
            "support": int(n),
            "value": correct / n if n else math.nan,
            "ci_low": lo,
            "ci_high": hi,
            "p_value": p_vs_rest(correct, n, rest_c, rest_n),
        }
    )
    prec, rec, f1 = (float(x[0]) for x in _macro(cm[None]))
    draws = bootstrap_draws(cm, n_boot=n_boot, seed=seed)
    boot = _macro(draws) if draws.shape[0] else (np.zeros(0),) * 3
    for name, value, idx in (
        ("macro_precision", prec, 0),
        ("macro_recall", rec, 1),
        ("macro_f1", f1, 2),
    ):
        lo, hi = percentile_interval(boot[idx])
        out.append(
            {
                "metric": name,
                "support": int(n),
                "value": value if n else math.nan,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": math.nan,
            }
        )
    support = cm.sum(axis=1)
    rest_support = rest.sum(axis=1) if rest is not None else np.zeros_like(support)
    for c, name in enumerate(classes):
        k, m = float(cm[c, c]), float(support[c])
        if m == 0:
            continue
        lo, hi = wilson_interval(k, m)
        rk = float(rest[c, c]) if rest is not None else 0.0
        out.append(
            {
                "metric": f"recall[{name}]",
                "support": int(m),
                "value": k / m,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": p_vs_rest(k, m, rk, float(rest_support[c])),
            }
        )
    if bins is not None and bins[:, 0].sum() > 0:

        def ece(b: np.ndarray) -> np.ndarray:
            rows = b[..., 0]
            total = np.maximum(rows.sum(axis=-1), 1)
            acc = np.divide(b[..., 1], rows, out=np.zeros(rows.shape), where=rows > 0)
            conf = np.divide(b[..., 2], rows, out=np.zeros(rows.shape), where=rows > 0)
            return np.asarray((np.abs(acc - conf) * rows).sum(axis=-1) / total)

        value = float(ece(bins[None])[0])
        lo, hi = _ece_interval(bins, ece, n_boot, seed)
        out.append(
            {
                "metric": "ece",
                "support": int(n),
                "value": value,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": math.nan,
            }
        )
    return out


def _ece_interval(bins: np.ndarray, ece: Any, n_boot: int, seed: int) -> tuple[float, float]:
    """Bootstrap ECE: resample (bin, correct?) cells; mean confidence per bin held fixed."""
    rows, correct, conf = bins[:, 0], bins[:, 1], bins[:, 2]
    mean_conf = np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)
    cells = np.stack([correct, rows - correct], axis=1)  # (n_bins, 2)

    def stat(d: np.ndarray) -> np.ndarray:
        r = d.sum(axis=-1)
        b = np.stack([r, d[..., 0], r * mean_conf], axis=-1)
        return np.asarray(ece(b))

    return bootstrap_interval(cells, stat, n_boot=n_boot, seed=seed)


def _lazy(frame: pl.DataFrame | pl.LazyFrame | str | Path) -> pl.LazyFrame:
    """The evaluation rows as a lazy query (a Parquet path is scanned, never loaded)."""
    if isinstance(frame, pl.DataFrame):
        return frame.lazy()
    if isinstance(frame, pl.LazyFrame):
        return frame
    path = Path(frame)
    if path.suffix.lower() != ".parquet" or not path.is_file():
        raise InvalidParameterError(
            f"evaluate_frame: frame must be a polars DataFrame/LazyFrame or an existing "
            f".parquet file, received {str(path)!r}. Write the predictions table as Parquet."
        )
    try:
        lf = pl.scan_parquet(path, glob=False)
        lf.collect_schema()
    except Exception as exc:
        raise SchemaError(
            f"evaluation file {str(path)!r} is not a readable Parquet file "
            f"({' '.join(str(exc).split())[:200]}); write it again."
        ) from None
    return lf


def _collect(plans: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    """Run the plans one by one with the streaming engine (memory bounded by the chunks and
    the aggregates, not the rows). Not ``pl.collect_all``: it shares the common scan between
    the plans by caching it, which holds every row in memory (measured: 2.8 GB at 30 M rows)."""
    return [plan.collect(engine="streaming") for plan in plans]


@validate_call(
    {
        "frame": [pl.DataFrame, pl.LazyFrame, str, Path],
        "label": [str],
        "pred": [str],
        "confidence": [str, None],
        "classes": [SequenceOf(str), None],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "n_boot": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def evaluate_frame(
    frame: pl.DataFrame,
    slices: Sequence[SliceLike],
    *,
    label: str = "label",
    pred: str = "pred",
    confidence: str | None = None,
    classes: Sequence[str] | None = None,
    min_n: int = 30,
    n_bins: int = 10,
    n_boot: int = 200,
    seed: int = 0,
) -> pl.DataFrame:
    """Metrics overall and for each slice of a frame of predictions.

    Parameters
    ----------
    frame : polars.DataFrame, polars.LazyFrame or path of a ``.parquet`` file
        One row per evaluated sample: the true class, the predicted class, optional
        confidence (probability of the predicted class) and the slice columns. A lazy
        frame or Parquet file is never loaded: every pass is a streaming aggregation
        (``collect(engine="streaming")``) down to counts per slice cell, so 100 M rows ×
        50 slices stay within a few hundred MB (``benchmarks/bench_scale_knn.py``).
    slices : sequence of Slice
        Expanded slices (``name``, boolean ``expr``, ``columns``).
    label, pred, confidence : str
        Column names.
    classes : sequence of str, optional
        Class order for per-class recall (default: sorted union of labels and predictions).
    min_n : int
        Slices with fewer rows are marked ``low_support`` (still reported, never hidden).
    n_bins : int
        Confidence bins of the expected calibration error.
    n_boot, seed : int
        Bootstrap resamples for the macro metrics and ECE intervals.

    Returns
    -------
    polars.DataFrame
        :data:`METRICS_SCHEMA`: ``slice, n, metric, value, ci_low, ci_high,
        delta_vs_overall, p_value, low_support``; the first slice is ``"overall"``.
    """
    names = [s.name for s in slices]
    dup = sorted({x for x in names if names.count(x) > 1} | ({OVERALL} & set(names)))
    if dup:
        raise SchemaError(
            f"slice names must be unique and not {OVERALL!r}; received duplicates {dup}."
        )
    lf = _lazy(frame)
    columns = lf.collect_schema().names()
    missing = sorted({c for s in slices for c in s.columns} - set(columns))
    if missing:
        raise SchemaError(
            f"slices use column(s) {missing} that the evaluation frame lacks; it has {columns}."
        )
    for col in (label, pred):
        if col not in columns:
            raise SchemaError(
                f"evaluation needs a {col!r} column; received columns {columns}. Pass "
                "label=/pred= naming the true and predicted class columns."
            )
    if confidence is not None and confidence not in columns:
        raise SchemaError(
            f"confidence column {confidence!r} is missing (columns {columns}); the "
            "calibration error needs it for every row. Pass confidence=None to skip the ECE."
        )
    keep = lf.filter(pl.col(label).is_not_null() & pl.col(pred).is_not_null())
    # distinct values by group_by (bounded when streaming; concat + unique held every row)
    labels_df, preds_df, counts_df = _collect(
        [
            keep.group_by(pl.col(label).cast(pl.Utf8).alias("v")).agg(pl.len()),
            keep.group_by(pl.col(pred).cast(pl.Utf8).alias("v")).agg(pl.len()),
            keep.select(
                pl.len().alias("n"),
                (pl.col(confidence).null_count() if confidence is not None else pl.lit(0)).alias(
                    "nc"
                ),
            ),
        ]
    )
    values = list({*labels_df["v"].to_list(), *preds_df["v"].to_list()})
    n_keep, n_null_conf = int(counts_df["n"][0]), int(counts_df["nc"][0])
    cls = sorted(values) if classes is None else [str(c) for c in classes]
    k = len(cls)
    if n_keep == 0:
        raise SchemaError("no row has both a label and a prediction; nothing to evaluate.")
    unknown = sorted(set(values) - set(cls))
    if unknown:
        raise SchemaError(
            f"labels/predictions {format_items(sorted(unknown))} are not among the classes "
            f"{cls!r}; pass classes= including them."
        )
    enum = pl.Enum(cls)
    lab = pl.col(label).cast(pl.Utf8).cast(enum).to_physical().cast(pl.Int32)
    prd = pl.col(pred).cast(pl.Utf8).cast(enum).to_physical().cast(pl.Int32)
    if confidence is not None:
        if n_null_conf:
            raise SchemaError(
                f"confidence column {confidence!r} is missing or empty in {n_null_conf} of "
                f"{n_keep} rows; the calibration error needs it for every row. Fill it, "
                "or pass confidence=None to skip the ECE."
            )
        conf = pl.col(confidence).cast(pl.Float64)
        bin_expr = (conf * n_bins).floor().clip(0, n_bins - 1).cast(pl.Int32)
    else:
        conf, bin_expr = pl.lit(0.0), pl.lit(0, pl.Int32)
    # one integer per (true class, predicted class, confidence bin): a single group key
    cell = ((lab * k + prd) * n_bins + bin_expr).alias(_CELL)
    slice_cols = sorted({c for s in slices for c in s.columns})
    # confidences summed as integers (units of 2**-32): the same sum in any order, so the
    # result does not depend on how the streaming engine splits the rows (exact to 1e-9)
    fixed = (conf * _CONF_SCALE).round().cast(pl.Int64)
    work = keep.select(*slice_cols, cell, fixed.alias(_CONF))

    by_cols: dict[tuple[str, ...], list[SliceLike]] = {}
    for sl in slices:
        by_cols.setdefault(tuple(sorted(set(sl.columns))), []).append(sl)
    plans = [
        work.group_by([*cols, _CELL]).agg(pl.len().alias("__n"), pl.col(_CONF).sum().alias("__cs"))
        for cols in [(), *by_cols]
    ]
    cubes = _collect(plans)  # each group_by streams over the rows

    def stats(c: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        cells = c[_CELL].to_numpy()
        n = c["__n"].to_numpy()
        b = cells % n_bins
        lp = cells // n_bins
        lab_i, prd_i = lp // k, lp % k
        cm = np.zeros((k, k), dtype=np.int64)
        bins = np.zeros((n_bins, 3), dtype=np.float64)
        np.add.at(cm, (lab_i, prd_i), n)
        np.add.at(bins[:, 0], b, n)
        np.add.at(bins[:, 1], b, n * (lab_i == prd_i))
        np.add.at(bins[:, 2], b, c["__cs"].to_numpy().astype(np.float64) / _CONF_SCALE)
        return cm, bins

    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c, group in zip(cubes[1:], by_cols.values(), strict=True):
        for sl in group:
            results[sl.name] = stats(c.filter(sl.expr))
    overall_cm, overall_bins = stats(cubes[0])
    use_bins = confidence is not None
    rows: list[dict[str, Any]] = []
    overall_rows = confusion_metrics(
        overall_cm, overall_bins if use_bins else None, cls, n_boot=n_boot, seed=seed
    )
    ref = {r["metric"]: r["value"] for r in overall_rows}
    n_all = int(overall_cm.sum())
    for r in overall_rows:
        rows.append(
            {
                "slice": OVERALL,
                "n": n_all,
                **r,
                "delta_vs_overall": 0.0,
                "low_support": n_all < min_n,
            }
        )
    for s in slices:
        cm, bins = results[s.name]
        n = int(cm.sum())
        metric_rows = confusion_metrics(
            cm, bins if use_bins else None, cls, rest=overall_cm - cm, n_boot=n_boot, seed=seed
        )
        for r in metric_rows:
            overall_value = ref.get(r["metric"], math.nan)
            rows.append(
                {
                    "slice": s.name,
                    "n": n,
                    **r,
                    "delta_vs_overall": r["value"] - overall_value,
                    "low_support": n < min_n,
                }
            )
    table = pl.DataFrame(rows, schema=METRICS_SCHEMA)
    return table.with_columns(pl.col(pl.Float64).fill_nan(None))
