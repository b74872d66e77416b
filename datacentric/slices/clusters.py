"""Error-aware embedding clusters: groups of similar samples where the model errs more.

SliceLine finds slices that metadata columns can name; failures that no column names
(a lighting condition, a sub-type of a class) show up instead as regions of the model's
embedding space. :func:`error_clusters` clusters the L2-normalised embeddings with
k-means, measures each cluster's error rate against the rest (two-proportion z-test) and
names it after the metadata value most over-represented in it, with a ``where``
condition that approximates the cluster so it can be tracked as a YAML slice.
"""

from __future__ import annotations

import json
import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, invalid_parameter, validate_call
from datacentric.exceptions import InvalidParameterError
from datacentric.slices.sliceline import EncodedFeatures, _conjunction, encode_features
from datacentric.slices.stats import two_proportion_p

__all__ = ["error_clusters"]

CLUSTER_SCHEMA: dict[str, Any] = {
    "cluster": pl.Int64,
    "name": pl.Utf8,
    "n": pl.Int64,
    "n_errors": pl.Float64,
    "error_rate": pl.Float64,
    "error_ratio": pl.Float64,
    "p_value": pl.Float64,
    "dominant": pl.Utf8,
    "dominant_share": pl.Float64,
    "dominant_lift": pl.Float64,
    "where": pl.Utf8,
    "where_precision": pl.Float64,
    "where_recall": pl.Float64,
    "members": pl.List(pl.Int64),
}
_MAX_CARDINALITY = 50


def default_n_clusters(n: int) -> int:
    """``round(sqrt(n / 20))`` clamped to [4, 64] (and to ``n``).

    Examples
    --------
    >>> default_n_clusters(100), default_n_clusters(20_000), default_n_clusters(10**7)
    (4, 32, 64)
    """
    return max(1, min(n, max(4, min(64, round(math.sqrt(n / 20))))))


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster assignment of each row with seeded faiss k-means."""
    import faiss

    km = faiss.Kmeans(
        x.shape[1],
        k,
        niter=25,
        seed=seed,
        verbose=False,
        min_points_per_centroid=1,
        max_points_per_centroid=512,
    )
    km.train(x)
    _, assign = km.index.search(x, 1)
    return assign.ravel().astype(np.int64)


def _metadata_features(metadata: pl.DataFrame, n_bins: int) -> EncodedFeatures:
    """Encode the usable metadata columns (skips ids and other high-cardinality columns)."""

    def discrete(dtype: pl.DataType) -> bool:
        return (
            dtype.is_integer()
            or dtype in (pl.Utf8, pl.Boolean, pl.Categorical)
            or isinstance(dtype, pl.Enum)
        )

    keep = [
        name
        for name, dtype in metadata.schema.items()
        if dtype.is_float() or (discrete(dtype) and metadata[name].n_unique() <= _MAX_CARDINALITY)
    ]
    return encode_features(metadata.select(keep), n_bins=n_bins)


def _describe(
    members: np.ndarray,
    enc: EncodedFeatures,
    shares: list[np.ndarray],
    lifts: list[np.ndarray],
    min_share: float,
    max_predicates: int,
) -> tuple[tuple[str, float, float] | None, dict | None, float, float]:
    """Dominant value of one cluster and a where-condition approximating it (greedy).

    Candidates are values covering at least ``min_share`` of the cluster with lift > 1,
    tried by decreasing lift; a predicate is added while it raises the precision and the
    cluster recall stays at least ``min_share``.
    """
    cand = []
    for f in range(len(enc.names)):
        for v in np.flatnonzero((shares[f] >= min_share) & (lifts[f] > 1.0)):
            cand.append((-float(lifts[f][v]), -float(shares[f][v]), enc.labels[f][v], f, int(v)))
    if not cand:
        return None, None, math.nan, math.nan
    cand.sort()
    dominant = (cand[0][2], -cand[0][1], -cand[0][0])
    in_cluster = np.zeros(enc.codes[0].shape[0], dtype=bool)
    in_cluster[members] = True
    mask = np.ones_like(in_cluster)
    chosen: list[tuple[int, int]] = []
    precision, recall = 0.0, 1.0
    for _, _, _, feat, value in cand:
        if len(chosen) >= max_predicates or any(feat == g for g, _ in chosen):
            continue
        trial = mask & (enc.codes[feat] == value)
        hit = int((trial & in_cluster).sum())
        p, r = hit / max(int(trial.sum()), 1), hit / members.size
        if not chosen or (p > precision and r >= min_share):
            chosen.append((feat, value))
            mask, precision, recall = trial, p, r
    where = _conjunction([enc.wheres[f][v] for f, v in sorted(chosen)])
    return dominant, where, precision, recall


@validate_call(
    {
        "embeddings": ["array-like"],
        "errors": ["array-like"],
        "metadata": [pl.DataFrame, None],
        "n_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "min_size": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "min_share": [Interval(Real, 0, 1, closed="both")],
        "max_predicates": [Interval(Integral, 1, None, closed="left")],
    }
)
def error_clusters(
    embeddings: np.ndarray,
    errors: np.ndarray,
    metadata: pl.DataFrame | None = None,
    *,
    n_clusters: int | None = None,
    min_size: int = 20,
    seed: int = 0,
    n_bins: int = 5,
    min_share: float = 0.5,
    max_predicates: int = 3,
) -> pl.DataFrame:
    """Cluster the embeddings and rank the clusters by how much more the model errs there.

    Parameters
    ----------
    embeddings : numpy.ndarray of shape (N, D)
        One vector per sample (e.g. a model's penultimate layer); L2-normalised here.
    errors : numpy.ndarray of shape (N,)
        Per-sample error in [0, 1] (``1 - correct``).
    metadata : polars.DataFrame, optional
        N rows of metadata used to name each cluster and to build its ``where``.
        Columns with more than 50 distinct non-float values (ids) are ignored.
    n_clusters : int, optional
        k of k-means; defaults to ``round(sqrt(N / 20))`` clamped to [4, 64].
    min_size : int
        Clusters with fewer members are left out.
    seed : int
        Seed of k-means.
    n_bins : int
        Quantile bins for float metadata.
    min_share : float
        A metadata value names a cluster when it covers at least this share of it.
    max_predicates : int
        Most predicates in a cluster's ``where``.

    Returns
    -------
    polars.DataFrame
        One row per cluster, highest ``error_ratio`` (cluster error rate / overall) first:
        ``cluster, name, n, n_errors, error_rate, error_ratio, p_value`` (two-sided,
        cluster vs the rest), ``dominant, dominant_share, dominant_lift`` (the metadata
        value with the highest lift among those covering ``min_share`` of the cluster),
        ``where`` (JSON, null without a dominant value), ``where_precision,
        where_recall`` (how well ``where`` matches the cluster) and ``members`` (row
        indices).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> emb = np.vstack([rng.normal(c, 0.1, (50, 4)) for c in np.eye(4)])
    >>> err = np.repeat([0.0, 0.0, 0.0, 1.0], 50)
    >>> meta = pl.DataFrame({"site": np.repeat(["a", "b", "c", "d"], 50)})
    >>> out = error_clusters(emb, err, meta, n_clusters=4)
    >>> out.select("name", "n", "error_rate", "where").row(0)
    ('cluster ... (mostly site=d, 100%)', 50, 1.0, '{"site": "d"}')
    """
    x = np.asarray(embeddings, dtype=np.float32)
    e = np.asarray(errors, dtype=np.float64).ravel()
    if x.ndim != 2 or x.shape[0] != e.shape[0] or x.shape[0] == 0:
        raise InvalidParameterError(
            f"embeddings must be (N, D) with N = len(errors) > 0; received shapes {x.shape} "
            f"and {e.shape}. Pass one embedding row per error value."
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(e))) or e.min() < 0 or e.max() > 1:
        raise InvalidParameterError(
            "embeddings must be finite and errors finite values in [0, 1] (1 - correct)."
        )
    if metadata is not None and metadata.height != x.shape[0]:
        raise InvalidParameterError(
            f"metadata has {metadata.height} rows but embeddings {x.shape[0]}; pass one "
            "metadata row per embedding."
        )
    n = x.shape[0]
    k = default_n_clusters(n) if n_clusters is None else n_clusters
    if k > n:
        raise invalid_parameter(
            "error_clusters",
            "n_clusters",
            n_clusters,
            f"an integer in [1, {n}] (at most one cluster per sample) or None",
            fix="Pass fewer clusters, or n_clusters=None for the default.",
        )
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)
    assign = _kmeans(x, k, seed)

    sizes = np.bincount(assign, minlength=k)
    err_sum = np.bincount(assign, weights=e, minlength=k)
    total_err, overall = float(e.sum()), float(e.mean())
    enc = _metadata_features(metadata, n_bins) if metadata is not None else None
    tables: list[np.ndarray] = []
    if enc is not None:
        for codes, d in zip(enc.codes, enc.domains, strict=True):
            tables.append(np.bincount(assign * d + codes, minlength=k * d).reshape(k, d))
    order = np.argsort(assign, kind="stable")
    bounds = np.r_[0, np.cumsum(sizes)]
    rows: list[dict[str, Any]] = []
    for c in range(k):
        if sizes[c] < min_size:
            continue
        members = order[bounds[c] : bounds[c + 1]]
        rate = err_sum[c] / sizes[c]
        dominant, where, prec, rec = None, None, math.nan, math.nan
        if enc is not None and enc.names:
            shares = [t[c] / sizes[c] for t in tables]
            lifts = [
                s / np.maximum(t.sum(axis=0) / n, 1e-300)
                for s, t in zip(shares, tables, strict=True)
            ]
            dominant, where, prec, rec = _describe(
                members, enc, shares, lifts, min_share, max_predicates
            )
        name = f"cluster {c}"
        if dominant is not None:
            name += f" (mostly {dominant[0]}, {dominant[1]:.0%})"
        rows.append(
            {
                "cluster": c,
                "name": name,
                "n": int(sizes[c]),
                "n_errors": float(err_sum[c]),
                "error_rate": rate,
                "error_ratio": rate / overall if overall > 0 else math.nan,
                "p_value": two_proportion_p(
                    err_sum[c], sizes[c], total_err - err_sum[c], n - sizes[c]
                ),
                "dominant": dominant[0] if dominant else None,
                "dominant_share": dominant[1] if dominant else None,
                "dominant_lift": dominant[2] if dominant else None,
                "where": json.dumps(where) if where is not None else None,
                "where_precision": prec,
                "where_recall": rec,
                "members": members.tolist(),
            }
        )
    out = pl.DataFrame(rows, schema=CLUSTER_SCHEMA)
    return out.sort(["error_ratio", "cluster"], descending=[True, False], nulls_last=True)
