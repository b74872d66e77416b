"""Near-identical pairs of samples, from embeddings (kNN) and from perceptual hashes.

Shared by the ``near_duplicate``, ``leakage`` and ``label_inconsistency`` finders so that a
pair is found one way everywhere.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datacentric.issues.knn import KnnGraph

__all__ = [
    "PAIR_SCHEMA",
    "clusters",
    "embedding_pairs",
    "exact_pairs",
    "phash_pairs",
    "relative_radius",
]

PAIR_SCHEMA: dict[str, pl.DataType] = {
    "i": pl.Int64(),
    "j": pl.Int64(),
    "distance": pl.Float64(),
    "method": pl.Utf8(),
    "radius": pl.Float64(),
}
_EPS = 1e-6


def relative_radius(graph: KnnGraph, threshold: float) -> float:
    """``threshold`` × the median nearest-neighbour distance (cleanlab's near-duplicate rule).

    Examples
    --------
    >>> g = KnnGraph(np.array([[1], [0]]), np.array([[0.2], [0.4]], dtype=np.float32))
    >>> round(relative_radius(g, 0.5), 4)
    0.15
    """
    if graph.k == 0:
        return 0.0
    return float(threshold * max(float(np.median(graph.distances[:, 0])), _EPS))


def embedding_pairs(graph: KnnGraph, radius: float) -> pl.DataFrame:
    """Pairs ``i < j`` whose cosine distance is at most ``radius``, from a kNN graph."""
    if graph.k == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    rows, cols = np.nonzero(graph.distances <= radius)
    i = rows.astype(np.int64)
    j = graph.indices[rows, cols].astype(np.int64)
    d = graph.distances[rows, cols].astype(np.float64)
    frame = pl.DataFrame({"i": np.minimum(i, j), "j": np.maximum(i, j), "distance": d})
    frame = frame.group_by("i", "j").agg(pl.col("distance").min())
    return frame.with_columns(
        pl.lit("embedding").alias("method"), pl.lit(float(radius)).alias("radius")
    ).sort("i", "j")


def exact_pairs(keys: pl.Series) -> pl.DataFrame:
    """Pairs of rows with equal, non-null ``keys`` (each row linked to its group's first row)."""
    frame = pl.DataFrame({"key": keys}).with_row_index("row").drop_nulls("key")
    first = frame.group_by("key").agg(pl.col("row").min().alias("first"))
    pairs = frame.join(first, on="key").filter(pl.col("row") != pl.col("first"))
    return pairs.select(
        pl.col("first").cast(pl.Int64).alias("i"),
        pl.col("row").cast(pl.Int64).alias("j"),
        pl.lit(0.0).alias("distance"),
        pl.lit("exact").alias("method"),
        pl.lit(0.0).alias("radius"),
    ).sort("i", "j")


def phash_pairs(hashes: pl.Series, max_hamming: int, max_bucket: int = 200) -> pl.DataFrame:
    """Pairs whose 64-bit perceptual hashes differ in at most ``max_hamming`` bits.

    Uses the pigeonhole principle: split the hash into ``max_hamming + 1`` bands; two
    hashes within that distance agree exactly on at least one band, so only rows sharing
    a band value are compared. Buckets larger than ``max_bucket`` (e.g. many blank
    images) are compared only within their first ``max_bucket`` members.
    Distance is reported as ``hamming / 64``.
    """
    h_all = hashes.cast(pl.UInt64).fill_null(0).to_numpy().astype(np.uint64)
    idx = np.flatnonzero(hashes.is_not_null().to_numpy())
    h = h_all[idx]
    bands = max(1, min(max_hamming + 1, 16))
    width = 64 // bands
    cand_i: list[np.ndarray] = []
    cand_j: list[np.ndarray] = []
    for b in range(bands):
        shift = np.uint64(b * width)
        mask = np.uint64((1 << width) - 1) if width < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
        vals = (h >> shift) & mask
        order = np.argsort(vals, kind="stable")
        sorted_vals = vals[order]
        starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
        ends = np.r_[starts[1:], sorted_vals.shape[0]]
        for s, e in zip(starts, ends, strict=True):
            if e - s < 2:
                continue
            members = order[s : min(e, s + max_bucket)]
            a, c = np.triu_indices(members.shape[0], k=1)
            cand_i.append(members[a])
            cand_j.append(members[c])
    if not cand_i:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    ci = np.concatenate(cand_i)
    cj = np.concatenate(cand_j)
    xor = h[ci] ^ h[cj]
    ham = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
    keep = ham <= max_hamming
    gi, gj = idx[ci[keep]], idx[cj[keep]]
    frame = pl.DataFrame(
        {
            "i": np.minimum(gi, gj).astype(np.int64),
            "j": np.maximum(gi, gj).astype(np.int64),
            "distance": ham[keep].astype(np.float64) / 64.0,
        }
    )
    frame = frame.group_by("i", "j").agg(pl.col("distance").min())
    return frame.with_columns(
        pl.lit("phash").alias("method"), pl.lit(max_hamming / 64.0).alias("radius")
    ).sort("i", "j")


def clusters(n: int, pairs: pl.DataFrame) -> np.ndarray:
    """Connected components of the pair graph: a cluster id per row, ``-1`` for singletons.

    Examples
    --------
    >>> p = pl.DataFrame({"i": [0, 3], "j": [1, 4]})
    >>> clusters(5, p).tolist()
    [0, 0, -1, 1, 1]
    """
    parent = np.arange(n)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return int(root)

    for i, j in zip(pairs["i"].to_list(), pairs["j"].to_list(), strict=True):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([find(x) for x in range(n)]) if n else np.zeros(0, dtype=np.int64)
    sizes = np.bincount(roots, minlength=n) if n else roots
    out = np.full(n, -1, dtype=np.int64)
    in_cluster = sizes[roots] >= 2 if n else np.zeros(0, dtype=bool)
    _, ids = np.unique(roots[in_cluster], return_inverse=True)
    out[in_cluster] = ids
    return out
