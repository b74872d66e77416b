"""Small statistics used by slice metrics: Wilson intervals, two-proportion tests,
multinomial bootstrap of a confusion matrix."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "bootstrap_draws",
    "bootstrap_interval",
    "percentile_interval",
    "two_proportion_p",
    "wilson_interval",
]

Z95 = 1.959963984540054


def wilson_interval(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``k / n`` (``(nan, nan)`` when ``n == 0``).

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_p(k1: float, n1: float, k2: float, n2: float) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of ``k1/n1`` vs ``k2/n2``.

    Examples
    --------
    >>> round(two_proportion_p(90, 100, 70, 100), 5)
    0.00041
    >>> two_proportion_p(5, 10, 5, 10)
    1.0
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan
    pooled = (k1 + k2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 1.0 if k1 / n1 == k2 / n2 else 0.0
    z = (k1 / n1 - k2 / n2) / math.sqrt(var)
    return math.erfc(abs(z) / math.sqrt(2))


def bootstrap_draws(counts: np.ndarray, *, n_boot: int = 200, seed: int = 0) -> np.ndarray:
    """``n_boot`` multinomial resamples of cell counts, shape (n_boot, *counts.shape).

    Resampling ``n`` iid rows is the same as drawing the cell counts from a multinomial
    with the observed cell frequencies, so a confusion matrix of 10M rows is resampled
    as cheaply as one of 100.
    """
    n = int(counts.sum())
    flat = counts.ravel().astype(np.float64)
    if n == 0:
        return np.zeros((0, *counts.shape))
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, flat / flat.sum(), size=n_boot).reshape(n_boot, *counts.shape)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of finite ``values``."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return (float(lo), float(hi))


def bootstrap_interval(
    counts: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over rows, from cell counts alone.

    Parameters
    ----------
    counts : array
        Cell counts (any shape, e.g. a K×K confusion matrix).
    statistic : callable
        Maps a stack of resampled count arrays (B, *counts.shape) to B values.
    """
    draws = bootstrap_draws(counts, n_boot=n_boot, seed=seed)
    if draws.shape[0] == 0:
        return (math.nan, math.nan)
    return percentile_interval(statistic(draws), level)
