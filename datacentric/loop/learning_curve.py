"""A data-collection estimate for one slice: its learning curve, extrapolated.

The recipe is trained on 25/50/75/100 % of the slice's training rows (the rest of the
training set fixed), over the loop's seeds; the slice's accuracy against the number of its
training rows is fitted with a power law ``acc = a − b · n^(−c)`` (or, when that fit fails
or is poor, a log-linear ``acc = a + b · log n``), and the fit says how many more samples of
the slice would reach a target accuracy — or that it is not reachable within
``max_factor`` times the slice's size.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, SequenceOf, validate_call
from datacentric.dataset import Dataset
from datacentric.engine import Engine
from datacentric.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from datacentric.train import ModelRecipe

__all__ = [
    "MIN_R2",
    "fit_learning_curve",
    "samples_needed",
    "slice_learning_curve",
]

#: A fit explaining less of the variance than this is not used to extrapolate.
MIN_R2 = 0.5


def _r2(y: np.ndarray, fitted: np.ndarray) -> float:
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - fitted) ** 2)) / ss if ss > 0 else 0.0


@validate_call({"n": ["array-like"], "accuracy": ["array-like"]})
def fit_learning_curve(n: Sequence[float], accuracy: Sequence[float]) -> dict[str, Any]:
    """Fit accuracy against training-set size.

    A power law ``a − b · n^(−c)`` (``0 <= a <= 1``, ``b >= 0``, ``0 < c <= 3``) first; when it
    fails or its R² is below :data:`MIN_R2`, a log-linear ``a + b · log n``; when that is
    poor too, no model (``"none"``).

    Parameters
    ----------
    n : array-like
        Training rows of the slice at each point (> 0).
    accuracy : array-like
        The slice's accuracy at each point (0–1).

    Returns
    -------
    dict
        ``model`` (``"power"``, ``"log"`` or ``"none"``), ``params`` (``a, b, c`` or
        ``a, b``), ``r2``.

    Examples
    --------
    >>> n = [100, 200, 300, 400]
    >>> fit = fit_learning_curve(n, [0.95 - 2 * x ** -0.5 for x in n])
    >>> fit["model"], [round(v, 3) for v in fit["params"].values()]
    ('power', [0.95, 2.0, 0.5])
    """
    x = np.asarray(n, dtype=np.float64)
    y = np.asarray(accuracy, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise InvalidParameterError(
            f"fit_learning_curve: n and accuracy must be two lists of the same length >= 3; "
            f"received shapes {x.shape} and {y.shape}. Train on at least 3 sizes."
        )
    if not (np.all(np.isfinite(x)) and np.all(x > 0) and np.all(np.isfinite(y))):
        raise InvalidParameterError(
            "fit_learning_curve: n must be finite and > 0 and accuracy finite; received "
            f"n={x.tolist()}, accuracy={y.tolist()}."
        )
    from scipy.optimize import curve_fit

    def power(v: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return a - b * np.power(v, -c)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (a, b, c), _ = curve_fit(
                power,
                x,
                y,
                p0=(min(1.0, float(y.max()) + 0.05), 1.0, 0.5),
                bounds=([0.0, 0.0, 1e-3], [1.0, np.inf, 3.0]),
                maxfev=20000,
            )
        r2 = _r2(y, power(x, a, b, c))
        if r2 >= MIN_R2:
            params = {"a": float(a), "b": float(b), "c": float(c)}
            return {"model": "power", "params": params, "r2": r2}
    except (RuntimeError, ValueError):
        pass
    slope, icpt = np.polyfit(np.log(x), y, 1)
    r2 = _r2(y, icpt + slope * np.log(x))
    if r2 >= MIN_R2 and slope > 0:
        return {"model": "log", "params": {"a": float(icpt), "b": float(slope)}, "r2": r2}
    return {"model": "none", "params": {}, "r2": r2}


@validate_call(
    {
        "fit": [dict],
        "n_now": [Interval(Integral, 1, None, closed="left")],
        "target": [Interval(Real, 0, 1, closed="both")],
        "max_factor": [Interval(Real, 1, None, closed="left")],
    }
)
def samples_needed(
    fit: dict[str, Any], n_now: int, target: float, *, max_factor: float = 10.0
) -> dict[str, Any]:
    """How many more training rows of the slice the fitted curve needs to reach ``target``.

    Returns
    -------
    dict
        ``additional`` (an int >= 0, or ``None``) and ``statement``: the estimate, or why
        there is none (no usable fit; the curve's ceiling is below the target; more than
        ``max_factor`` times the slice's size).

    Examples
    --------
    >>> fit = {"model": "power", "params": {"a": 0.95, "b": 2.0, "c": 0.5}, "r2": 1.0}
    >>> samples_needed(fit, 400, 0.9)["additional"]
    1200
    >>> samples_needed(fit, 400, 0.96)["statement"]
    'not reachable: the fitted ceiling is 0.950, below the target 0.960'
    """
    model, p = fit.get("model"), fit.get("params") or {}
    limit = max_factor * n_now
    n: float
    if model == "power":
        if p["a"] <= target:
            return {
                "additional": None,
                "statement": f"not reachable: the fitted ceiling is {p['a']:.3f}, below the "
                f"target {target:.3f}",
            }
        n = (p["b"] / (p["a"] - target)) ** (1.0 / p["c"]) if p["b"] > 0 else 0.0
    elif model == "log":
        n = math.exp((target - p["a"]) / p["b"]) if p["b"] > 0 else math.inf
    else:
        return {"additional": None, "statement": "no estimate: the learning curve fits poorly"}
    if n > limit:
        return {
            "additional": None,
            "statement": f"not reachable within {max_factor:g}× the slice's size "
            f"({round(limit)} training rows)",
        }
    extra = max(0, math.ceil(n - n_now - 1e-9))
    return {
        "additional": extra,
        "statement": f"about {extra} more training samples of the slice reach "
        f"{target:.3f} (fit: {model}, R² {fit['r2']:.2f})",
    }


@validate_call(
    {
        "ds": [Dataset],
        "seeds": [SequenceOf(Integral)],
        "shares": [SequenceOf(Real)],
        "target": [Interval(Real, 0, 1, closed="both")],
        "train_split": [str],
        "eval_split": [str],
        "engine": [Engine],
    }
)
def slice_learning_curve(
    ds: Dataset,
    recipe: ModelRecipe,
    in_slice: pl.Expr,
    *,
    seeds: Sequence[int],
    target: float,
    engine: Engine,
    shares: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    train_split: str = "train",
    eval_split: str = "test",
) -> dict[str, Any]:
    """Train on shares of the slice's training rows (the rest fixed); fit and extrapolate.

    Parameters
    ----------
    ds : Dataset
        Readable rows of the training and evaluation splits.
    recipe : ModelRecipe
    in_slice : polars.Expr
        The slice's predicate on the manifest.
    seeds : sequence of int
        Every share is trained with each seed; the slice's accuracy is their mean.
    target : float
        The accuracy the estimate aims at (e.g. the overall accuracy).
    engine : Engine
    shares : sequence of float
        Shares of the slice's training rows, in (0, 1] (a nested, seeded draw: each share's
        rows contain the smaller shares').
    train_split, eval_split : str

    Returns
    -------
    dict
        ``curve`` (rows ``share, n, accuracy``), the fit of :func:`fit_learning_curve`,
        ``n_now``, ``target`` and the estimate of :func:`samples_needed`.
    """
    from datacentric.loop.seeds import train_seeds
    from datacentric.slices import prediction_frame

    if not shares or any(not 0 < s <= 1 for s in shares):
        raise InvalidParameterError(
            f"slice_learning_curve: shares must be in (0, 1]; received {list(shares)}."
        )
    m = ds.manifest
    in_train = m.select((in_slice.fill_null(False)) & (pl.col("split") == train_split))
    slice_ids = m.filter(in_train.to_series())["sample_id"].to_list()
    if len(slice_ids) < 2:
        raise InvalidParameterError(
            f"slice_learning_curve: the slice has {len(slice_ids)} training rows; a learning "
            "curve needs several."
        )
    order = np.random.default_rng(int(seeds[0])).permutation(len(slice_ids))
    evaluated = m.filter((pl.col("split") == eval_split) & in_slice.fill_null(False))
    curve = []
    for share in sorted(set(float(s) for s in shares)):
        k = max(1, round(share * len(slice_ids)))
        dropped = {slice_ids[i] for i in order[k:]}
        sub = ds.filter(~pl.col("sample_id").is_in(list(dropped)))
        _, preds = train_seeds(
            sub, recipe, list(seeds), train_split=train_split, eval_split=eval_split,
            engine=engine,
        )  # fmt: skip
        accs = []
        for p in preds:
            f = evaluated.select("sample_id", "label").join(
                prediction_frame(sub, p), on="sample_id", how="inner"
            )
            right = (f["label"] == f["pred"]).to_numpy()
            accs.append(float(right.mean()) if right.size else float("nan"))
        curve.append({"share": share, "n": k, "accuracy": float(np.mean(accs))})
    table = pl.DataFrame(curve)
    fit = (
        fit_learning_curve(table["n"].to_list(), table["accuracy"].to_list())
        if table.height >= 3
        else {"model": "none", "params": {}, "r2": 0.0}
    )
    return {
        "curve": table,
        "fit": fit,
        "n_now": len(slice_ids),
        "target": target,
        **samples_needed(fit, len(slice_ids), target),
    }
