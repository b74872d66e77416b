"""Verdicts over several training seeds: is a change per slice more than seed and sample noise?

Two runs evaluated on the same test samples, each trained with several seeds, are compared
per slice with a two-level bootstrap: every draw resamples the seeds of each side (with
replacement) and the test samples (with replacement, the same draw on both sides: the
samples are paired by ``sample_id``). The difference of the mean accuracies gets a
percentile interval and a two-sided p-value; a slice is ``improved`` or ``regressed`` only
when the interval excludes 0 (and the difference is at least ``min_effect``).

Seed resampling with few seeds underestimates the seed variance (a bootstrap of ``S``
values has variance ``(S - 1) / S`` of theirs), so each seed's offset from the mean of its
side is first widened by ``sqrt(S / (S - 1))``; with one seed on a side, only the samples
are resampled and the ``test`` column says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, invalid_parameter, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import SchemaError, format_items
from datacentric.slices.evaluate import SlicesArg, prediction_frame, resolve_slices

__all__ = [
    "RUN_COLUMNS",
    "SUMMARY_SCHEMA",
    "VERDICT_SCHEMA",
    "BootstrapDiff",
    "paired_bootstrap",
    "seed_runs",
    "seed_summary",
    "seed_verdict",
]

#: The columns a run table needs (one row per evaluated sample and training seed); any
#: other column (except these and ``image``, ``split``, ``confidence``, ``annotator``) is
#: slice metadata.
RUN_COLUMNS = ("sample_id", "seed", "label", "pred")
_NOT_METADATA = {*RUN_COLUMNS, "image", "split", "confidence", "annotator", "correct"}

TEST_BOTH = "bootstrap over seeds × samples"
TEST_SAMPLES = "bootstrap over samples only (1 seed on a side: seed noise not measured)"

VERDICT_SCHEMA: dict[str, pl.DataType] = {
    "slice": pl.Utf8(),
    "metric": pl.Utf8(),
    "n": pl.Int64(),
    "seeds_before": pl.Int64(),
    "seeds_after": pl.Int64(),
    "before": pl.Float64(),
    "before_low": pl.Float64(),
    "before_high": pl.Float64(),
    "after": pl.Float64(),
    "after_low": pl.Float64(),
    "after_high": pl.Float64(),
    "diff": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "p_value": pl.Float64(),
    "verdict": pl.Utf8(),
    "low_support": pl.Boolean(),
    "test": pl.Utf8(),
}

SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "slice": pl.Utf8(),
    "metric": pl.Utf8(),
    "n": pl.Int64(),
    "seeds": pl.Int64(),
    "mean": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "seed_min": pl.Float64(),
    "seed_max": pl.Float64(),
    "low_support": pl.Boolean(),
}

# draws × samples held in memory at once
_CELLS = 4_000_000


@dataclass(frozen=True)
class BootstrapDiff:
    """The result of :func:`paired_bootstrap` (``after - before``)."""

    before: float
    after: float
    diff: float
    before_ci: tuple[float, float]
    after_ci: tuple[float, float]
    ci: tuple[float, float]
    p_value: float


def _widen(x: np.ndarray) -> np.ndarray:
    """Widen each seed's offset from the side's mean by ``sqrt(S / (S - 1))``."""
    s = x.shape[0]
    if s < 2:
        return x
    offset = x.mean(axis=1, keepdims=True) - x.mean()
    return x + (math.sqrt(s / (s - 1)) - 1.0) * offset


def _draws(mats: Sequence[np.ndarray], n_boot: int, seed: int) -> list[np.ndarray]:
    """Bootstrap means of each (seeds × samples) matrix: seeds resampled per matrix, the
    samples with one draw shared by all matrices (paired)."""
    rng = np.random.default_rng(seed)
    n = mats[0].shape[1]
    out: list[list[np.ndarray]] = [[] for _ in mats]
    step = max(1, _CELLS // max(n, 1))
    for start in range(0, n_boot, step):
        m = min(step, n_boot - start)
        seed_w = [rng.multinomial(x.shape[0], np.full(x.shape[0], 1 / x.shape[0]), size=m)
                  / x.shape[0] for x in mats]  # fmt: skip
        sample_w = rng.multinomial(n, np.full(n, 1 / n), size=m) / n
        for j, (x, w) in enumerate(zip(mats, seed_w, strict=True)):
            out[j].append(np.einsum("bn,bn->b", w @ x, sample_w))
    return [np.concatenate(parts) for parts in out]


def _interval(
    values: np.ndarray, level: float, bounds: tuple[float, float] | None = None
) -> tuple[float, float]:
    """The percentile interval of ``values``, within ``bounds`` when given: the widened
    seed offsets can carry a draw past what a mean of the scores can be (an accuracy above
    1), so an interval of a mean is kept inside the scores' range."""
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    if bounds is not None:
        lo, hi = np.clip([lo, hi], bounds[0], bounds[1])
    return (float(lo), float(hi))


def bootstrap_p(d: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference" from the draws ``d`` of a difference:
    ``min(1, 2 min(P*(d <= 0), P*(d >= 0)))``, each share with the usual +1.

    Examples
    --------
    >>> bootstrap_p(np.array([0.1, 0.2, 0.3, -0.1]))
    0.8
    """
    n = len(d)
    low = (np.count_nonzero(d <= 0) + 1) / (n + 1)
    high = (np.count_nonzero(d >= 0) + 1) / (n + 1)
    return float(min(1.0, 2 * min(low, high)))


def _range(*mats: np.ndarray) -> tuple[float, float]:
    """The smallest and largest score of the matrices (a mean cannot leave it)."""
    return (min(float(m.min()) for m in mats), max(float(m.max()) for m in mats))


@validate_call(
    {
        "n_boot": [Interval(Integral, 100, None, closed="left")],
        "level": [Interval(Real, 0, 1, closed="neither")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def paired_bootstrap(
    before: Any, after: Any, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> BootstrapDiff:
    """Mean of ``after`` minus mean of ``before``, with a two-level bootstrap interval.

    Parameters
    ----------
    before, after : array of shape (seeds, samples)
        A per-sample score (1/0: correct or not) of each seed's model; column ``j`` of both
        is the same test sample. The two sides may have different numbers of seeds.
    n_boot : int
        Bootstrap draws (at least 100).
    level : float
        Level of the intervals.
    seed : int
        Seed of the resampling.

    Returns
    -------
    BootstrapDiff
        The means, their difference, the percentile intervals of all three and the
        two-sided p-value ``min(1, 2 min(P*(d <= 0), P*(d >= 0)))`` (with the usual +1).

    Examples
    --------
    >>> a = np.array([[1, 0, 1, 1], [1, 1, 0, 1]])
    >>> r = paired_bootstrap(a, a)
    >>> r.diff, r.p_value, r.ci[0] < 0 < r.ci[1]
    (0.0, 1.0, True)
    """
    a = np.atleast_2d(np.asarray(before, dtype=np.float64))
    b = np.atleast_2d(np.asarray(after, dtype=np.float64))
    if (
        a.ndim != 2
        or b.ndim != 2
        or a.shape[1] != b.shape[1]
        or a.shape[1] == 0
        or not (a.size and b.size)
    ):
        raise invalid_parameter(
            "paired_bootstrap",
            "before, after",
            f"shapes {a.shape} and {b.shape}",
            "two (seeds, samples) arrays with the same, non-zero number of samples",
            fix="Give both sides the scores of the same test samples, in the same order.",
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise invalid_parameter(
            "paired_bootstrap",
            "before, after",
            "scores with NaN or infinite values",
            "finite scores",
            fix="Score every sample of every seed (e.g. 1 correct, 0 wrong).",
        )
    da, db = _draws([_widen(a), _widen(b)], int(n_boot), int(seed))
    d = db - da
    diff = float(b.mean() - a.mean())
    p = bootstrap_p(d)
    low, high = _range(a, b)
    return BootstrapDiff(
        before=float(a.mean()),
        after=float(b.mean()),
        diff=diff,
        before_ci=_interval(da, level, _range(a)),
        after_ci=_interval(db, level, _range(b)),
        ci=_interval(d, level, (low - high, high - low)),
        p_value=p,
    )


# --------------------------------------------------------------------------- run tables
@validate_call({"ds": [Dataset], "predictions": [list, tuple], "split": [str, None]})
def seed_runs(
    ds: Dataset, predictions: Sequence[Any], *, split: str | None = "test"
) -> pl.DataFrame:
    """One run table from the predictions of several seeds of the same recipe and data.

    Parameters
    ----------
    ds : Dataset
        The dataset the predictions are of (the labels and slice metadata come from it).
    predictions : list
        One prediction set per seed, anything :func:`~datacentric.slices.prediction_frame`
        takes (e.g. ``.npz`` files); the ``i``-th gets ``seed = i``.
    split : str or None
        The evaluated split (``None``: every labelled row); every one of its labelled
        samples needs a prediction in every set.

    Returns
    -------
    polars.DataFrame
        ``seed`` then the manifest columns (``image`` dropped), ``pred`` and ``confidence``
        of the evaluated samples, for :func:`seed_verdict` and :func:`seed_summary`.

    Examples
    --------
    >>> ds = Dataset.from_arrays(np.zeros((3, 2, 2)), ["a", "b", "a"], ["a", "b"])
    >>> p = [pl.DataFrame({"sample_id": ["0", "1", "2"], "pred": [x, "b", "a"]}) for x in "ab"]
    >>> seed_runs(ds, p, split=None).select("seed", "sample_id", "pred").rows()[:4]
    [(0, '0', 'a'), (0, '1', 'b'), (0, '2', 'a'), (1, '0', 'b')]
    """
    if not predictions:
        raise invalid_parameter(
            "seed_runs", "predictions", "an empty list", "one prediction set per seed",
            fix="Pass the predictions of at least one trained model.",
        )  # fmt: skip
    rows = ds.manifest.filter(pl.col("label").is_not_null())
    if split is not None:
        rows = rows.filter(pl.col("split") == split)
    if rows.height == 0:
        raise invalid_parameter(
            "seed_runs", "split", split, "a split with labelled rows",
            fix="Pass the split the predictions were made for (or None for every row).",
        )  # fmt: skip
    rows = rows.drop("image", strict=False)
    out = []
    for i, p in enumerate(predictions):
        frame = rows.join(prediction_frame(ds, p), on="sample_id", how="left")
        lacking = frame.filter(pl.col("pred").is_null())["sample_id"].to_list()
        if lacking:
            name = f"{p}" if isinstance(p, (str, Path)) else f"prediction set {i}"
            raise SchemaError(
                f"{name}: {len(lacking)} evaluated sample(s) have no prediction: "
                f"{format_items(lacking)}. Predict every sample of the split."
            )
        out.append(frame.select(pl.lit(i, dtype=pl.Int64).alias("seed"), pl.all()))
    return pl.concat(out, how="vertical")


def _check_run(run: pl.DataFrame, name: str) -> pl.DataFrame:
    missing = [c for c in RUN_COLUMNS if c not in run.columns]
    if missing:
        raise SchemaError(
            f"{name}: the run table lacks column(s) {', '.join(map(repr, missing))}; it needs "
            f"{', '.join(RUN_COLUMNS)} (one row per evaluated sample and seed). Build it from "
            "the predictions of each seed (the loop writes it as seed_predictions.parquet)."
        )
    if run.height == 0:
        raise SchemaError(f"{name}: the run table has no rows (no evaluated sample).")
    run = run.filter(pl.col("label").is_not_null())
    dup = run.select("sample_id", "seed").is_duplicated()
    if dup.any():
        first = run.filter(dup).row(0, named=True)
        raise SchemaError(
            f"{name}: sample {first['sample_id']!r} appears more than once for seed "
            f"{first['seed']!r}. Give one prediction per sample and seed."
        )
    return run.with_columns(
        pl.col("sample_id").cast(pl.Utf8),
        (pl.col("pred").cast(pl.Utf8) == pl.col("label").cast(pl.Utf8)).alias("correct"),
    )


def _matrix(run: pl.DataFrame, ids: list[str]) -> np.ndarray:
    """(seeds × samples) correctness, samples in the order of ``ids``."""
    wide = (
        run.select("sample_id", pl.col("seed").cast(pl.Utf8), pl.col("correct").cast(pl.Float64))
        .pivot(on="seed", index="sample_id", values="correct")
        .join(pl.DataFrame({"sample_id": ids}), on="sample_id", how="right")
    )
    return wide.drop("sample_id").to_numpy().T


def _complete_ids(run: pl.DataFrame) -> set[str]:
    """Samples evaluated by every seed of a run."""
    seeds = run["seed"].n_unique()
    counts = run.group_by("sample_id").len()
    return set(counts.filter(pl.col("len") == seeds)["sample_id"].to_list())


def _groups(features: pl.DataFrame, slices: SlicesArg, metric: str) -> list[tuple[str, np.ndarray]]:
    """``(slice name, row mask)``, overall first, restricted to one class for ``recall[c]``."""
    metadata = [c for c in features.columns if c not in _NOT_METADATA]
    resolved = resolve_slices(slices, features, metadata)
    keep = np.ones(features.height, dtype=bool)
    if metric.startswith("recall[") and metric.endswith("]"):
        keep = (features["label"].cast(pl.Utf8) == metric[7:-1]).to_numpy()
    elif metric != "accuracy":
        raise invalid_parameter(
            "seed_verdict",
            "metric",
            metric,
            "'accuracy' or 'recall[<class>]'",
            fix="The seed bootstrap scores each sample as right or wrong; pass 'accuracy' or "
            "the recall of one class.",
        )
    groups = [("overall", keep)]
    for s in resolved:
        groups.append((s.name, keep & s.mask(features).fill_null(False).to_numpy()))
    return groups


def _prepare(
    runs: Sequence[pl.DataFrame], names: Sequence[str]
) -> tuple[list[pl.DataFrame], list[str], pl.DataFrame]:
    checked = [_check_run(r, n) for r, n in zip(runs, names, strict=True)]
    common = set.intersection(*(_complete_ids(r) for r in checked))
    ids = sorted(common)
    last = checked[-1]
    first_seed = last["seed"].min()
    features = (
        last.filter(pl.col("seed") == first_seed)
        .join(pl.DataFrame({"sample_id": ids}), on="sample_id", how="right")
        .select(pl.exclude("seed", "pred", "correct"))
    )
    return checked, ids, features


@validate_call(
    {
        "before": [pl.DataFrame],
        "after": [pl.DataFrame],
        "metric": [str],
        "level": [Interval(Real, 0, 1, closed="neither")],
        "n_boot": [Interval(Integral, 100, None, closed="left")],
        "min_effect": [Interval(Real, 0, 1, closed="left")],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def seed_verdict(
    before: pl.DataFrame,
    after: pl.DataFrame,
    slices: SlicesArg = None,
    *,
    metric: str = "accuracy",
    level: float = 0.95,
    n_boot: int = 2000,
    min_effect: float = 0.0,
    min_n: int = 30,
    seed: int = 0,
) -> pl.DataFrame:
    """Per slice: before and after (mean over seeds, with intervals), the difference with its
    interval and p-value, and a verdict that accounts for seed and sample noise.

    Parameters
    ----------
    before, after : polars.DataFrame
        Run tables: ``sample_id, seed, label, pred`` (one row per evaluated sample and
        training seed) and any metadata columns the slices use. Only the samples every seed
        of both runs evaluated are compared (paired by ``sample_id``); slices and labels
        are taken from ``after``.
    slices : path, YAML text, list of Slice/SliceSpec, or None
        ``None``: one slice per value of each metadata column.
    metric : str
        ``"accuracy"`` or ``"recall[<class>]"`` (accuracy on the samples of that class).
    level : float
        Level of the intervals (default 95 %).
    n_boot : int
        Bootstrap draws.
    min_effect : float
        A significant difference smaller than this (in absolute value) is still
        ``no significant change``.
    min_n : int
        Slices with fewer paired samples are marked ``low_support`` (still tested).
    seed : int
        Seed of the resampling (each slice draws from the same seed).

    Returns
    -------
    polars.DataFrame
        :data:`VERDICT_SCHEMA`, overall first, then the slices worst difference first.
        ``verdict`` is ``improved``, ``regressed``, ``no significant change`` or ``empty``
        (no paired sample in the slice); ``test`` names the bootstrap used.

    Examples
    --------
    >>> def run(seeds, right):  # 200 samples, the first `right` of them predicted right
    ...     return pl.DataFrame([{"sample_id": str(i), "seed": s, "label": "a",
    ...                           "pred": "a" if i < right else "b"}
    ...                          for s in seeds for i in range(200)])
    >>> v = seed_verdict(run([0, 1, 2], 120), run([3, 4, 5], 160), n_boot=500)
    >>> v.select("slice", "n", "before", "after", "verdict").rows()
    [('overall', 200, 0.6, 0.8, 'improved')]
    """
    (a, b), ids, features = _prepare([before, after], ["before", "after"])
    ma, mb = _matrix(a, ids), _matrix(b, ids)
    test = TEST_BOTH if min(ma.shape[0], mb.shape[0]) >= 2 else TEST_SAMPLES
    rows = []
    for name, mask in _groups(features, slices, metric):
        n = int(mask.sum())
        row: dict[str, Any] = {
            "slice": name,
            "metric": metric,
            "n": n,
            "seeds_before": ma.shape[0],
            "seeds_after": mb.shape[0],
            "verdict": "empty",
            "low_support": n < min_n,
            "test": test,
        }
        if n:
            r = paired_bootstrap(ma[:, mask], mb[:, mask], n_boot=n_boot, level=level, seed=seed)
            lo, hi = r.ci
            verdict = "no significant change"
            if abs(r.diff) >= min_effect and (lo > 0 or hi < 0):
                verdict = "improved" if lo > 0 else "regressed"
            row |= {
                "before": r.before,
                "before_low": r.before_ci[0],
                "before_high": r.before_ci[1],
                "after": r.after,
                "after_low": r.after_ci[0],
                "after_high": r.after_ci[1],
                "diff": r.diff,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": r.p_value,
                "verdict": verdict,
            }
        rows.append(row)
    out = pl.DataFrame(rows, schema=VERDICT_SCHEMA)
    return pl.concat([out.head(1), out.slice(1).sort("diff", "slice", nulls_last=True)])


@validate_call(
    {
        "run": [pl.DataFrame],
        "metric": [str],
        "level": [Interval(Real, 0, 1, closed="neither")],
        "n_boot": [Interval(Integral, 100, None, closed="left")],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def seed_summary(
    run: pl.DataFrame,
    slices: SlicesArg = None,
    *,
    metric: str = "accuracy",
    level: float = 0.95,
    n_boot: int = 2000,
    min_n: int = 30,
    seed: int = 0,
) -> pl.DataFrame:
    """Per slice: the mean of ``metric`` over the seeds of one run, its interval (the same
    seeds × samples bootstrap as :func:`seed_verdict`) and the range of the seeds' values.

    Parameters are those of :func:`seed_verdict`, for one run table.

    Returns
    -------
    polars.DataFrame
        :data:`SUMMARY_SCHEMA`, overall first, then the slices worst mean first.

    Examples
    --------
    >>> run = pl.DataFrame([{"sample_id": str(i), "seed": s, "label": "a",
    ...                      "pred": "a" if i < 150 + 10 * s else "b"}
    ...                     for s in (0, 1, 2) for i in range(200)])
    >>> s = seed_summary(run, n_boot=500)
    >>> s.select("slice", "seeds", "mean", "seed_min", "seed_max").rows()
    [('overall', 3, 0.8, 0.75, 0.85)]
    """
    (r,), ids, features = _prepare([run], ["run"])
    m = _matrix(r, ids)
    rows = []
    for name, mask in _groups(features, slices, metric):
        n = int(mask.sum())
        row: dict[str, Any] = {
            "slice": name,
            "metric": metric,
            "n": n,
            "seeds": m.shape[0],
            "low_support": n < min_n,
        }
        if n:
            x = m[:, mask]
            (draws,) = _draws([_widen(x)], int(n_boot), int(seed))
            per_seed = x.mean(axis=1)
            lo, hi = _interval(draws, level, _range(x))
            row |= {
                "mean": float(x.mean()),
                "ci_low": lo,
                "ci_high": hi,
                "seed_min": float(per_seed.min()),
                "seed_max": float(per_seed.max()),
            }
        rows.append(row)
    out = pl.DataFrame(rows, schema=SUMMARY_SCHEMA)
    return pl.concat([out.head(1), out.slice(1).sort("mean", "slice", nulls_last=True)])
