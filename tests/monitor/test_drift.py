"""Drift statistics from histograms against exact values on raw samples."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from datacentric.monitor import drift
from datacentric.monitor.hist import MetricSpec, bin_codes


def _binned(ref: np.ndarray, cur: np.ndarray, n_bins: int = 64) -> tuple[np.ndarray, ...]:
    edges = drift.quantile_edges(ref, n_bins)
    spec = MetricSpec("x", "continuous", tuple(edges))
    r = np.bincount(bin_codes(pl.DataFrame({"x": ref}), spec), minlength=spec.n_bins)[:-1]
    c = np.bincount(bin_codes(pl.DataFrame({"x": cur}), spec), minlength=spec.n_bins)[:-1]
    return r, c, edges


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.5, 3.0])
def test_binned_wasserstein_and_ks_match_exact(shift: float) -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 1, 50_000), rng.normal(shift, 1.2, 20_000)
    r, c, edges = _binned(ref, cur)
    tails = (cur[cur < edges[0]].mean() if (cur < edges[0]).any() else 0.0,
             cur[cur > edges[-1]].mean() if (cur > edges[-1]).any() else 0.0)  # fmt: skip
    w = drift.wasserstein_binned(r, c, edges, tails, float(ref.std()))
    exact = stats.wasserstein_distance(ref, cur) / ref.std()
    assert w == pytest.approx(exact, abs=0.01 + 0.02 * exact)
    d, _ = drift.ks_binned(r, c)
    exact_d = stats.ks_2samp(ref, cur).statistic
    assert exact_d - 0.02 <= d <= exact_d + 1e-12  # a lower bound, close with 64 bins


def test_psi_js_chi2_known_values() -> None:
    same = np.array([100, 200, 300])
    assert drift.psi(same, same * 2) == 0.0
    assert drift.jensen_shannon(same, same) == 0.0
    assert drift.chi2_test(same, same) == pytest.approx(1.0)
    js = drift.jensen_shannon(np.array([1, 1]), np.array([1, 3]))
    from scipy.spatial.distance import jensenshannon

    assert js == pytest.approx(jensenshannon([0.5, 0.5], [0.25, 0.75]))
    ref, cur = np.array([500, 300, 200]), np.array([200, 300, 500])
    p = stats.chi2_contingency(np.vstack([ref, cur]), correction=False).pvalue
    assert drift.chi2_test(ref, cur) == pytest.approx(p)


def test_headline_rule() -> None:
    assert drift.headline_method("continuous", 1000, 10**6) == "ks"
    assert drift.headline_method("continuous", 1001, 1001) == "wasserstein"
    assert drift.headline_method("categorical", 10, 10**6) == "chi2"
    assert drift.headline_method("categorical", 10**6, 10**6) == "jensen_shannon"
