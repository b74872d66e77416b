"""k-nearest neighbours by cosine similarity, without ever building an N×N matrix.

Two backends, both from faiss:

- ``"exact"``: ``IndexFlatIP`` — blocked BLAS products with a fused top-k heap; exact.
- ``"hnsw"``: ``IndexHNSWFlat`` (M=32, efConstruction=80, efSearch=64) — approximate,
  recall@10 ≈ 0.99 on 100k × 128 clustered vectors, several times faster at scale.

``method="auto"`` (default) is exact up to :data:`EXACT_MAX` base rows and HNSW above.
Vectors are L2-normalised float32, so inner product = cosine similarity and
``distance = 1 - similarity`` (in [0, 2]).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from datacentric._validation import Interval, Options, validate_call

__all__ = ["EXACT_MAX", "KnnGraph", "knn", "normalize_rows"]

EXACT_MAX = 30_000
_METHODS = ("auto", "exact", "hnsw")


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows as float32 (zero rows stay zero).

    Examples
    --------
    >>> normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


@dataclass(frozen=True)
class KnnGraph:
    """Neighbours of every query row: ``indices`` and cosine ``distances`` (ascending), (N, k)."""

    indices: np.ndarray
    distances: np.ndarray

    @property
    def k(self) -> int:
        """Neighbours per row."""
        return int(self.indices.shape[1])


def _index(base: np.ndarray, method: str) -> Any:
    import faiss

    faiss.omp_set_num_threads(max(1, min(os.cpu_count() or 1, 8)))
    dim = base.shape[1]
    index: Any
    if method == "exact":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
    index.add(base)
    return index


@validate_call(
    {
        "k": [Interval(Integral, 1, None, closed="left")],
        "method": [Options(str, _METHODS)],
        "normalized": ["boolean"],
    }
)
def knn(
    base: np.ndarray,
    k: int,
    query: np.ndarray | None = None,
    *,
    method: str = "auto",
    normalized: bool = False,
) -> KnnGraph:
    """The ``k`` nearest rows of ``base`` for every row of ``query`` (default: ``base``).

    When ``query`` is ``base`` itself, each row's own index is excluded.

    Parameters
    ----------
    base : array (N, D)
    k : int
        Neighbours per query row (capped at the number of candidates).
    query : array (M, D), optional
    method : {"auto", "exact", "hnsw"}
        See the module docstring.
    normalized : bool
        Whether rows are already L2-normalised float32.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn(x, 1).indices.ravel().tolist()
    [1, 0, 1]
    """
    b = np.ascontiguousarray(base, np.float32) if normalized else normalize_rows(base)
    self_query = query is None
    if query is None:
        q = b
    else:
        q = np.ascontiguousarray(query, np.float32) if normalized else normalize_rows(query)
    n_base, m = b.shape[0], q.shape[0]
    k_eff = max(0, min(k, n_base - 1 if self_query else n_base))
    if k_eff == 0 or m == 0:
        return KnnGraph(np.zeros((m, k_eff), np.int64), np.zeros((m, k_eff), np.float32))
    chosen = method if method != "auto" else ("exact" if n_base <= EXACT_MAX else "hnsw")
    index = _index(b, chosen)
    extra = 1 if self_query else 0
    sims, idx = index.search(q, k_eff + extra)
    if self_query:
        # drop each row's own index wherever it landed (exact copies tie with it),
        # else the last candidate
        is_self = idx == np.arange(m)[:, None]
        drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k_eff)
        keep = np.ones_like(idx, dtype=bool)
        keep[np.arange(m), drop] = False
        idx = idx[keep].reshape(m, k_eff)
        sims = sims[keep].reshape(m, k_eff)
    missing = idx < 0  # HNSW may return fewer than asked for tiny graphs
    dist = np.clip(1.0 - sims, 0.0, 2.0).astype(np.float32)
    dist[missing] = 2.0
    idx = np.where(missing, 0, idx).astype(np.int64)
    return KnnGraph(idx, dist)
