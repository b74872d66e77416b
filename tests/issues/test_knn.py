"""kNN equals brute force (exact) and nearly so (HNSW); self is excluded."""

from __future__ import annotations

import numpy as np
import pytest

from datacentric.exceptions import InvalidParameterError
from datacentric.issues.knn import knn, normalize_rows


def _brute(x: np.ndarray, k: int) -> np.ndarray:
    xn = normalize_rows(x).astype(np.float64)
    dist = 1 - xn @ xn.T
    np.fill_diagonal(dist, np.inf)
    return np.argsort(dist, axis=1, kind="stable")[:, :k], dist


def test_exact_matches_brute_force() -> None:
    x = np.random.default_rng(1).normal(size=(300, 12))
    g = knn(x, 5, method="exact")
    expect, dist = _brute(x, 5)
    assert np.array_equal(np.sort(g.indices, axis=1), np.sort(expect, axis=1))
    assert np.allclose(g.distances, np.take_along_axis(dist, g.indices, axis=1), atol=1e-5)
    assert (np.diff(g.distances, axis=1) >= -1e-6).all()


def test_hnsw_has_high_recall() -> None:
    x = np.random.default_rng(2).normal(size=(3000, 16))
    g = knn(x, 10, method="hnsw")
    expect, _ = _brute(x, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(g.indices, expect, strict=True)])
    assert recall > 0.95
    assert not (g.indices == np.arange(3000)[:, None]).any()


def test_exact_copies_never_list_themselves() -> None:
    x = np.random.default_rng(3).normal(size=(50, 8))
    x[10:20] = x[0]  # eleven identical rows
    g = knn(x, 3, method="exact")
    assert not (g.indices == np.arange(50)[:, None]).any()
    assert np.allclose(g.distances[0], 0.0, atol=1e-6)


def test_query_against_other_base_and_small_inputs() -> None:
    g = knn(np.eye(3), 2, query=np.array([[1.0, 0.1, 0.0]]))
    assert g.indices.tolist() == [[0, 1]]
    assert knn(np.ones((1, 3)), 5).k == 0  # nothing to compare with
    with pytest.raises(InvalidParameterError, match="method"):
        knn(np.eye(3), 1, method="annoy")
