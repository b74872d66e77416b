"""Drift statistics computed from histograms on the reference's bins.

Every statistic here takes two count vectors on the same bins (the reference's and the
window's), so that windows can be summed from per-batch histograms and recomputed when late
rows arrive, without re-reading rows. Continuous metrics are binned on the reference's
quantiles and equal-width steps (:func:`quantile_edges`) with two open tail bins;
categorical metrics have one bin per reference category plus one for unseen values.

Which statistic decides (the *headline*) follows one documented rule, :func:`headline_method`
(the same rule as Evidently's data-drift preset, so verdicts are comparable):

====================  ==============================  =====================================
metric type           ``min(n_window, n_reference)``  headline (drift when ...)
====================  ==============================  =====================================
continuous            <= 1000                          ``ks``: KS p-value < alpha (family-wise)
continuous            > 1000                           ``wasserstein``: W1 / reference std >= t
categorical           <= 1000                          ``chi2``: chi-square p < alpha (2 x k)
categorical           > 1000                           ``jensen_shannon``: JS distance >= t
====================  ==============================  =====================================

KS p-values become significant for any tiny shift once n is large, so large samples use an
effect size instead. PSI is always computed and can be made to alert from the config.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = [
    "HEADLINE_N",
    "METHODS",
    "chi2_test",
    "headline_method",
    "jensen_shannon",
    "ks_binned",
    "psi",
    "quantile_edges",
    "wasserstein_binned",
]

#: Above this sample size (the smaller of window and reference) effect sizes decide.
HEADLINE_N = 1000
#: Every statistic the monitor computes for a distribution.
METHODS = ("psi", "ks", "ks_p_value", "jensen_shannon", "wasserstein", "chi2_p_value")
_EPS = 1e-4  # PSI: empty bins are given this share (the usual convention)


def quantile_edges(values: np.ndarray, n_bins: int = 32) -> np.ndarray:
    """Bin edges from the reference: its ``n_bins``-quantiles and ``n_bins`` equal-width
    steps from its minimum to its maximum, merged (unique, sorted).

    Quantiles alone leave wide bins in long tails, where a binned Wasserstein distance is
    then off by up to a bin width; the equal-width points bound every bin's width to
    ``range / n_bins`` and the quantiles every bin's reference mass to ``1 / n_bins``. A
    constant reference gets the edges ``[v, v]`` (one bin holding exactly ``v``).

    Bins are then ``(-inf, e0)``, ``[e0, e1)``, ..., ``[e_{k-1}, e_k]``, ``(e_k, inf)``: the
    first and last are tails the reference never reaches.

    Examples
    --------
    >>> quantile_edges(np.arange(101.0), n_bins=4).tolist()
    [0.0, 25.0, 50.0, 75.0, 100.0]
    >>> quantile_edges(np.array([0.0, 1.0, 2.0, 100.0]), n_bins=2).tolist()
    [0.0, 1.5, 50.0, 100.0]
    >>> quantile_edges(np.array([3.0, 3.0, 3.0])).tolist()
    [3.0, 3.0]
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.array([0.0, 0.0])
    qs = np.quantile(finite, np.linspace(0.0, 1.0, n_bins + 1))
    steps = np.linspace(qs[0], qs[-1], n_bins + 1)
    edges = np.unique(np.concatenate([qs, steps]))
    return np.repeat(edges, 2) if edges.size == 1 else edges


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts, dtype=np.float64)


def psi(ref: np.ndarray, cur: np.ndarray, groups: int | None = None) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over bins (empty bins: 1e-4).

    With ``groups``, adjacent bins are first merged into that many groups of about equal
    reference mass (the usual deciles for ``groups=10``), so that PSI does not depend on
    how finely the bins were cut.

    Examples
    --------
    >>> round(psi(np.array([25, 25, 25, 25]), np.array([40, 10, 40, 10]), groups=2), 6)
    0.0
    >>> round(psi(np.array([50, 50]), np.array([50, 50])), 6)
    0.0
    >>> round(psi(np.array([50, 50]), np.array([90, 10])), 3)
    0.879
    """
    r, c = _shares(ref.astype(np.float64)), _shares(cur.astype(np.float64))
    if groups is not None and r.size > groups:
        cum = np.cumsum(r) - r / 2.0  # the reference mass at each bin's middle
        group = np.minimum((cum * groups).astype(np.int64), groups - 1)
        r, c = np.bincount(group, r, groups), np.bincount(group, c, groups)
    r, c = np.maximum(r, _EPS), np.maximum(c, _EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen-Shannon *distance*: the square root of the divergence in nats (as scipy's
    ``jensenshannon`` and Evidently), in [0, sqrt(ln 2) = 0.833].

    Examples
    --------
    >>> round(jensen_shannon(np.array([1, 0]), np.array([0, 1])), 4)
    0.8326
    >>> jensen_shannon(np.array([3, 1]), np.array([6, 2]))
    0.0
    """
    p, q = _shares(ref.astype(np.float64)), _shares(cur.astype(np.float64))
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return float(math.sqrt(max(0.0, (kl(p) + kl(q)) / 2.0)))


def ks_binned(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic on the binned CDFs, and its p-value.

    The statistic is the largest CDF difference at the bin edges, a lower bound of the exact
    KS statistic (exact when every value sits on an edge); the p-value is the asymptotic
    Kolmogorov distribution at ``sqrt(n m / (n + m)) * D``, so both err towards "no drift".

    Examples
    --------
    >>> d, p = ks_binned(np.array([100, 100, 0]), np.array([0, 100, 100]))
    >>> d, p < 1e-10
    (0.5, True)
    """
    n, m = float(ref.sum()), float(cur.sum())
    if n == 0 or m == 0:
        return float("nan"), float("nan")
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    en = math.sqrt(n * m / (n + m))
    return d, float(min(1.0, special.kolmogorov((en + 0.12 + 0.11 / en) * d)))


def wasserstein_binned(
    ref: np.ndarray,
    cur: np.ndarray,
    edges: np.ndarray,
    cur_tail_means: tuple[float, float],
    ref_std: float,
) -> float:
    """Wasserstein-1 distance on binned CDFs, divided by the reference standard deviation.

    ``ref`` and ``cur`` count the ``len(edges) + 1`` bins of :func:`quantile_edges` (two
    tails around ``len(edges) - 1`` interior bins). Inside the reference range the integral
    of ``|F_ref - F_cur|`` is taken with the CDFs at the bin edges (error at most one bin
    width per unit of mass moved; trapezoid rule between edges); the tails are exact: the
    reference has no mass there, so they add ``below * (e0 - mean_below)`` and
    ``above * (mean_above - e_k)`` (shares and means of the window's values in each tail).

    Examples
    --------
    >>> edges = np.array([0.0, 1.0, 2.0])
    >>> ref, cur = np.array([0, 50, 50, 0]), np.array([0, 0, 50, 50])
    >>> wasserstein_binned(ref, cur, edges, (0.0, 3.0), ref_std=1.0)
    1.25
    """
    n, m = float(ref.sum()), float(cur.sum())
    if n == 0 or m == 0:
        return float("nan")
    fr, fc = np.cumsum(ref) / n, np.cumsum(cur) / m
    widths = np.diff(edges)
    gap = np.abs(fr - fc)  # at edge i (i = 0..k): the CDF after the tail and i interior bins
    k = len(widths)
    inner = float(np.sum((gap[:k] + gap[1 : k + 1]) / 2.0 * widths))
    below, above = cur[0] / m, cur[-1] / m
    lo_mean, hi_mean = cur_tail_means
    tails = 0.0
    if below > 0:
        tails += below * max(0.0, float(edges[0]) - lo_mean)
    if above > 0:
        tails += above * max(0.0, hi_mean - float(edges[-1]))
    scale = ref_std if ref_std > 0 else 1.0
    return float((inner + tails) / scale)


def chi2_test(ref: np.ndarray, cur: np.ndarray) -> float:
    """p-value of Pearson's chi-square test of homogeneity of the two count vectors (a
    2 x k contingency table; categories neither sample has are left out). Both samples
    are treated as samples, so a small reference does not make noise look like drift.

    Examples
    --------
    >>> chi2_test(np.array([500, 500]), np.array([50, 50]))
    1.0
    >>> chi2_test(np.array([500, 500]), np.array([90, 10])) < 1e-10
    True
    """
    n, m = float(ref.sum()), float(cur.sum())
    if m == 0 or n == 0:
        return float("nan")
    keep = (ref + cur) > 0
    table = np.vstack([ref[keep], cur[keep]]).astype(np.float64)
    if table.shape[1] < 2:
        return 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / (n + m)
    stat = float(np.sum((table - expected) ** 2 / expected))
    return float(special.chdtrc(table.shape[1] - 1, stat))


def headline_method(kind: str, n_window: int, n_reference: int) -> str:
    """The statistic that decides drift for a metric of ``kind`` at these sample sizes.

    Examples
    --------
    >>> headline_method("continuous", 200, 50_000), headline_method("continuous", 5000, 50_000)
    ('ks', 'wasserstein')
    >>> headline_method("categorical", 200, 50_000), headline_method("categorical", 5000, 9000)
    ('chi2', 'jensen_shannon')
    """
    small = min(n_window, n_reference) <= HEADLINE_N
    if kind == "categorical":
        return "chi2" if small else "jensen_shannon"
    return "ks" if small else "wasserstein"
