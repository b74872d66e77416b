"""SliceLine: the top-k slices (conjunctions of feature = value) where a model errs most.

An implementation of *SliceLine: Fast, Linear-Algebra-based Slice Finding for ML Model
Debugging* (Sagadeeva & Boehm, SIGMOD 2021) on numpy and scipy.sparse. Features are
one-hot encoded; the slice lattice is enumerated level by level, where a level-``L``
candidate joins two level-``L-1`` slices that share ``L-2`` predicates and never holds
two values of one feature; candidates are pruned by size (``min_support``) and by the
paper's upper bounds on size, error and maximum error against the current top-k.

Evaluation computes, for every candidate ``S``, the paper's indicator ``X @ S.T == L``
aggregated by rows (size, error sum, max error). Candidates sharing the same features
are evaluated together: the rows' one-hot row-wise (Khatri-Rao) product over those
features has one non-zero per row, so ``errors @ K`` and ``1 @ K`` (a sparse
product computed with :func:`numpy.bincount`) give every candidate's statistics in one
``O(n)`` pass instead of ``O(n · nnz)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from datacentric._validation import Interval, validate_call
from datacentric.exceptions import InvalidParameterError, SchemaError, format_items

__all__ = [
    "SLICELINE_CONSTRAINTS",
    "EncodedFeatures",
    "default_min_support",
    "encode_features",
    "sliceline",
]

_N_BINS = [Interval(Integral, 1, None, closed="left")]
#: What SliceLine's parameters accept (shared with :func:`~datacentric.slices.discover`).
SLICELINE_CONSTRAINTS: dict[str, list[Any]] = {
    "k": [Interval(Integral, 1, None, closed="left")],
    "max_level": [Interval(Integral, 1, None, closed="left")],
    "alpha": [Interval(Real, 0, 1, closed="right")],
    "min_support": [Interval(Integral, 1, None, closed="left"), None],
    "n_bins": _N_BINS,
}

_DENSE_LIMIT = 1 << 22  # largest per-feature-set domain counted with a dense bincount
SLICE_SCHEMA: dict[str, Any] = {
    "rank": pl.Int64,
    "score": pl.Float64,
    "n": pl.Int64,
    "error_rate": pl.Float64,
    "mean_error_ratio": pl.Float64,
    "level": pl.Int64,
    "definition": pl.Utf8,
    "where": pl.Utf8,
}


@dataclass
class EncodedFeatures:
    """Columns encoded as integer codes, with a readable label and a where-dict per code.

    ``codes[f][i]`` is the value index of row ``i`` in feature ``f``; ``labels[f][v]`` is
    e.g. ``"vendor=vendor_c"`` and ``wheres[f][v]`` the slice condition selecting it.
    """

    names: list[str]
    codes: list[np.ndarray]
    labels: list[list[str]]
    wheres: list[list[dict[str, Any]]]

    @property
    def domains(self) -> np.ndarray:
        """Number of values of each feature."""
        return np.array([len(lab) for lab in self.labels], dtype=np.int64)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _bin_float(name: str, s: pl.Series, n_bins: int) -> tuple[np.ndarray, list[str], list[dict]]:
    v = s.cast(pl.Float64).fill_nan(None)
    vals = v.drop_nulls().to_numpy()
    edges: np.ndarray = np.zeros(0)
    if vals.size:
        qs = np.quantile(vals, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
        edges = np.unique([float(f"{q:.3g}") for q in qs])
        edges = edges[(edges > vals.min()) & (edges <= vals.max())]
    labels: list[str] = []
    wheres: list[dict] = []
    if vals.size:
        for i in range(edges.size + 1):
            lo = float(edges[i - 1]) if i > 0 else None
            hi = float(edges[i]) if i < edges.size else None
            if lo is None and hi is None:
                labels.append(f"{name} is not null")
                wheres.append({"not": {name: {"is_null": True}}})
            elif lo is None:
                labels.append(f"{name}<{_fmt(hi)}")  # type: ignore[arg-type]
                wheres.append({name: {"lt": hi}})
            elif hi is None:
                labels.append(f"{name}>={_fmt(lo)}")
                wheres.append({name: {"gte": lo}})
            else:
                labels.append(f"{name} in [{_fmt(lo)}, {_fmt(hi)})")
                wheres.append({"all": [{name: {"gte": lo}}, {name: {"lt": hi}}]})
    codes = np.searchsorted(edges, v.fill_null(0.0).to_numpy(), side="right").astype(np.int32)
    if v.null_count():
        codes[v.is_null().to_numpy()] = len(labels)
        labels.append(f"{name}=null")
        wheres.append({name: {"is_null": True}})
    return codes, labels, wheres


@validate_call({"X": [pl.DataFrame], "n_bins": _N_BINS})
def encode_features(X: pl.DataFrame, *, n_bins: int = 5) -> EncodedFeatures:  # noqa: N803
    """Encode every column of ``X`` as integer codes for slicing.

    String, categorical, boolean and integer columns keep their values; float columns
    are cut into ``n_bins`` quantile bins (edges rounded to 3 significant digits). A
    null becomes its own value (``col=null``).

    Examples
    --------
    >>> enc = encode_features(pl.DataFrame({"a": ["y", "x", None], "b": [0.1, 0.5, 0.9]}),
    ...                       n_bins=2)
    >>> enc.labels
    [['a=x', 'a=y', 'a=null'], ['b<0.5', 'b>=0.5']]
    >>> [c.tolist() for c in enc.codes]
    [[1, 0, 2], [0, 1, 1]]
    """
    enc = EncodedFeatures([], [], [], [])
    bad = [
        c
        for c, t in X.schema.items()
        if not (
            t.is_numeric() or t in (pl.Utf8, pl.Boolean, pl.Categorical) or isinstance(t, pl.Enum)
        )
    ]
    if bad:
        raise SchemaError(
            f"slice features must be string, categorical, boolean, integer or float columns; "
            f"columns {format_items(bad)} have other types. Drop them or cast them first."
        )
    for name in X.columns:
        s = X[name]
        if s.dtype.is_float():
            codes, labels, wheres = _bin_float(name, s, n_bins)
        else:
            if s.dtype == pl.Categorical or isinstance(s.dtype, pl.Enum):
                s = s.cast(pl.Utf8)
            uniq = s.drop_nulls().unique().sort().to_list()
            labels = [f"{name}={u}" for u in uniq]
            wheres = [{name: u} for u in uniq]
            codes = (
                s.replace_strict(uniq, np.arange(len(uniq)), return_dtype=pl.Int32)
                .fill_null(len(uniq))
                .to_numpy()
                .astype(np.int32)
            )
            if s.null_count():
                labels.append(f"{name}=null")
                wheres.append({name: {"is_null": True}})
        enc.names.append(name)
        enc.codes.append(codes)
        enc.labels.append(labels)
        enc.wheres.append(wheres)
    return enc


def default_min_support(n: int) -> int:
    """The default minimum slice size: ``max(32, ceil(0.01 n))``.

    Examples
    --------
    >>> default_min_support(1000), default_min_support(1_000_000)
    (32, 10000)
    """
    return max(32, math.ceil(0.01 * n))


def _score(ss: np.ndarray, se: np.ndarray, e_avg: float, n: int, alpha: float) -> np.ndarray:
    """SliceLine score: ``α·((se/ss)/ē − 1) − (1−α)·(n/ss − 1)``; ``-inf`` for empty slices."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = alpha * ((se / ss) / e_avg - 1.0) - (1.0 - alpha) * (n / ss - 1.0)
    return np.where(ss > 0, sc, -np.inf)


def _score_ub(
    ss: np.ndarray, se: np.ndarray, sm: np.ndarray, e_avg: float, min_sup: int, n: int, alpha: float
) -> np.ndarray:
    """The paper's score upper bound from bounds on size, error sum and max error.

    The score is monotone in the size between ``min_sup`` and ``ss``, so its maximum is
    at one of ``min_sup``, ``se/sm`` (where the error bound ``s·sm`` stops binding), ``ss``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.column_stack(
            [np.full(ss.shape, float(min_sup)), np.maximum(se / sm, min_sup), ss]
        ).astype(np.float64)
        err = np.minimum(s * sm[:, None], se[:, None])
        sc = (alpha * (err / e_avg - s) - (1.0 - alpha) * (n - s)) / s
        ub = np.max(sc, axis=1)
    return np.nan_to_num(ub, nan=-np.inf)


def _evaluate(
    cand: np.ndarray,
    enc: EncodedFeatures,
    offsets: np.ndarray,
    feat_of: np.ndarray,
    errors: np.ndarray,
    binary: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Size, error sum and max error of each candidate (rows of sorted one-hot columns)."""
    p = cand.shape[0]
    ss, se, sm = np.zeros(p), np.zeros(p), np.zeros(p)
    feats = feat_of[cand]
    local = cand - offsets[feats]
    dom = enc.domains
    groups, inverse = np.unique(feats, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    for g, fs in enumerate(groups):
        rows = np.flatnonzero(inverse == g)
        dims = dom[fs]
        strides = np.cumprod(np.r_[dims[1:], 1][::-1])[::-1]
        ccode = local[rows] @ strides
        size = int(np.prod(dims))
        dt = np.int32 if size < 2**31 else np.int64
        rcode = enc.codes[fs[0]].astype(dt, copy=False)
        for f, d in zip(fs[1:], dims[1:], strict=True):
            rcode = rcode * dt(d) + enc.codes[f].astype(dt)
        if size > _DENSE_LIMIT:  # count only the candidates' cells
            uniq = np.unique(ccode)
            pos = np.minimum(np.searchsorted(uniq, rcode), uniq.size - 1)
            hit = uniq[pos] == rcode
            rcode, w, ccode, size = pos[hit], errors[hit], np.searchsorted(uniq, ccode), uniq.size
        else:
            w = errors
        ss[rows] = np.bincount(rcode, minlength=size)[ccode]
        se[rows] = np.bincount(rcode, weights=w, minlength=size)[ccode]
        if not binary:
            mx = np.zeros(size)
            np.maximum.at(mx, rcode, w)
            sm[rows] = mx[ccode]
    if binary:
        sm = (se > 0).astype(np.float64)
    return ss, se, sm


def _candidates(
    cols: np.ndarray,
    stats: np.ndarray,
    level: int,
    feat_of: np.ndarray,
    m: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Join level-``L-1`` slices into level-``L`` candidates with min-of-parents bounds.

    Returns the candidates (sorted one-hot columns) whose ``L(L-1)/2`` parent pairs are
    all present, and their bounds ``(ss, se, sm)`` (the minimum over all parents).
    """
    w = cols.shape[0]
    if level == 2:
        i, j = np.triu_indices(w, 1)
    else:
        s = sparse.csr_matrix(
            (np.ones(cols.size, np.int32), (np.repeat(np.arange(w), level - 1), cols.ravel())),
            shape=(w, m),
        )
        g = sparse.triu(s @ s.T, k=1).tocoo()
        sel = g.data == level - 2
        i, j = g.row[sel].astype(np.int64), g.col[sel].astype(np.int64)
    merged = np.sort(np.concatenate([cols[i], cols[j]], axis=1), axis=1)
    if level > 2:  # drop the L-2 shared predicates (adjacent duplicates after sorting)
        keep = np.ones(merged.shape, dtype=bool)
        keep[:, 1:] = merged[:, 1:] != merged[:, :-1]
        merged = merged[keep].reshape(-1, level)
    ok = np.all(np.diff(feat_of[merged], axis=1) > 0, axis=1)  # no two values of one feature
    merged, i, j = merged[ok], i[ok], j[ok]
    if merged.shape[0] == 0:
        return np.zeros((0, level), np.int64), np.zeros((0, 3))
    if float(m) ** level < 2.0**62:
        ids = merged @ (m ** np.arange(level - 1, -1, -1, dtype=np.int64))
    else:
        ids = np.unique(merged, axis=0, return_inverse=True)[1].ravel()
    order = np.argsort(ids, kind="stable")
    ids_s = ids[order]
    starts = np.flatnonzero(np.r_[True, ids_s[1:] != ids_s[:-1]])
    counts = np.diff(np.r_[starts, ids_s.size])
    bounds = np.minimum(stats[i], stats[j])[order]
    bounds = np.minimum.reduceat(bounds, starts, axis=0)
    full = counts == level * (level - 1) // 2  # every parent survived
    return merged[order[starts]][full], bounds[full]


class _TopK:
    """The best slices so far; ties with the k-th score are kept (cut at the end)."""

    def __init__(self, k: int, width: int) -> None:
        self.k = k
        self.cols = np.zeros((0, width), np.int64)
        self.stats = np.zeros((0, 4))  # score, size, error sum, level

    def add(self, cols: np.ndarray, score: np.ndarray, ss: np.ndarray, se: np.ndarray) -> None:
        pad = np.full((cols.shape[0], self.cols.shape[1]), -1, np.int64)
        pad[:, : cols.shape[1]] = cols
        st = np.column_stack([score, ss, se, np.full(score.shape, cols.shape[1])])
        self.cols = np.vstack([self.cols, pad])
        self.stats = np.vstack([self.stats, st])
        if self.stats.shape[0] > self.k:
            kth = np.sort(self.stats[:, 0])[::-1][self.k - 1]
            keep = self.stats[:, 0] >= kth
            self.cols, self.stats = self.cols[keep], self.stats[keep]

    def threshold(self) -> float:
        """Score a candidate must reach to enter: the k-th best once full, else 0."""
        if self.stats.shape[0] < self.k:
            return 0.0
        return float(np.sort(self.stats[:, 0])[::-1][self.k - 1])


@validate_call({"X": [pl.DataFrame], "errors": ["array-like"], **SLICELINE_CONSTRAINTS})
def sliceline(
    X: pl.DataFrame,  # noqa: N803 (the paper's and scikit-learn's name)
    errors: np.ndarray,
    *,
    k: int = 10,
    max_level: int = 3,
    alpha: float = 0.95,
    min_support: int | None = None,
    n_bins: int = 5,
) -> pl.DataFrame:
    """Find the top-k slices of ``X`` where ``errors`` are high (SliceLine, SIGMOD 2021).

    A slice is a conjunction of up to ``max_level`` predicates ``column=value``. Its
    score is ``α·((e_S/|S|)/ē − 1) − (1−α)·(n/|S| − 1)``: positive when the slice's mean
    error is high enough relative to ``ē`` to outweigh its being small. Only slices with
    ``|S| >= min_support`` and a positive score are returned.

    Parameters
    ----------
    X : polars.DataFrame
        One row per sample; string, categorical, boolean and integer columns are used as
        they are, float columns are cut into ``n_bins`` quantile bins.
    errors : numpy.ndarray of shape (n,)
        Per-row error in [0, 1], e.g. ``1 - correct``.
    k : int
        Number of slices to return.
    max_level : int
        Largest number of predicates in a slice.
    alpha : float
        Weight of the error term against the size term, in (0, 1]. Default 0.95, the
        SliceLine paper's setting: with 0.6 a slice must hold a large share of the rows
        before any error rate can outweigh the size penalty (at 10 % overall error it
        needs about 7 % of the rows), so small, badly served groups go unreported.
    min_support : int, optional
        Smallest slice size; defaults to :func:`default_min_support` (``max(32, 1% of n)``).
    n_bins : int
        Quantile bins per float column.

    Returns
    -------
    polars.DataFrame
        ``rank, score, n, error_rate, mean_error_ratio, level, definition, where``, best
        first (ties broken by ``definition``); ``where`` is the slice condition as JSON.

    Examples
    --------
    >>> X = pl.DataFrame({"a": ["x", "y"] * 50, "b": ["u"] * 50 + ["v"] * 50})
    >>> err = ((X["a"] == "x") & (X["b"] == "v")).cast(float).to_numpy()
    >>> out = sliceline(X, err, k=2, min_support=10)
    >>> out.select("rank", "definition", "n", "error_rate").rows()[0]
    (1, 'a=x & b=v', 25, 1.0)
    >>> out["where"][0]
    '{"all": [{"a": "x"}, {"b": "v"}]}'
    """
    errors = np.asarray(errors, dtype=np.float64).ravel()
    n = X.height
    if errors.shape[0] != n:
        raise InvalidParameterError(
            f"errors must have one value per row of X ({n}), received {errors.shape[0]}."
        )
    if n == 0 or X.width == 0:
        raise InvalidParameterError(
            f"X must have rows and columns, received shape {X.shape}. Pass the slice features."
        )
    if not np.all(np.isfinite(errors)) or errors.min() < 0 or errors.max() > 1:
        raise InvalidParameterError(
            "errors must be finite values in [0, 1] (e.g. 1 - correct); received values "
            f"in [{np.nanmin(errors)}, {np.nanmax(errors)}] or non-finite ones."
        )
    min_sup = default_min_support(n) if min_support is None else min_support
    enc = encode_features(X, n_bins=n_bins)
    e_avg = float(errors.mean())
    if e_avg <= 0:
        return pl.DataFrame(schema=SLICE_SCHEMA)
    binary = bool(np.all((errors == 0) | (errors == 1)))
    dom = enc.domains
    offsets = np.r_[0, np.cumsum(dom)[:-1]].astype(np.int64)
    m = int(dom.sum())
    feat_of = np.repeat(np.arange(dom.size), dom)

    # level 1: one slice per one-hot column
    cols = np.arange(m, dtype=np.int64)[:, None]
    ss, se, sm = _evaluate(cols, enc, offsets, feat_of, errors, binary)
    top = _TopK(k, max_level)
    level = 1
    while True:
        sc = _score(ss, se, e_avg, n, alpha)
        ok = (ss >= min_sup) & (sc > 0)
        top.add(cols[ok], sc[ok], ss[ok], se[ok])
        work = (ss >= min_sup) & (se > 0)  # parents for the next level
        cols, stats = cols[work], np.column_stack([ss, se, sm])[work]
        if cols.shape[0] == 0 or level >= min(max_level, X.width):
            break
        level += 1
        cols, bounds = _candidates(cols, stats, level, feat_of, m)
        ub = _score_ub(bounds[:, 0], bounds[:, 1], bounds[:, 2], e_avg, min_sup, n, alpha)
        thr = top.threshold()
        keep = (bounds[:, 0] >= min_sup) & (ub > 0) & (ub >= thr - 1e-9 * (1.0 + abs(thr)))
        cols = cols[keep]
        if cols.shape[0] == 0:
            break
        ss, se, sm = _evaluate(cols, enc, offsets, feat_of, errors, binary)
    return _to_frame(top, enc, feat_of, offsets, e_avg)


def _to_frame(
    top: _TopK, enc: EncodedFeatures, feat_of: np.ndarray, offsets: np.ndarray, e_avg: float
) -> pl.DataFrame:
    rows = []
    for cols, (score, ss, se, level) in zip(top.cols, top.stats, strict=True):
        preds = [(int(feat_of[c]), int(c - offsets[feat_of[c]])) for c in cols if c >= 0]
        definition = " & ".join(enc.labels[f][v] for f, v in preds)
        rows.append(
            (
                -score,
                definition,
                score,
                ss,
                se,
                level,
                _conjunction([enc.wheres[f][v] for f, v in preds]),
            )
        )
    rows.sort(key=lambda r: (r[0], r[1]))
    rows = rows[: top.k]
    return pl.DataFrame(
        {
            "rank": list(range(1, len(rows) + 1)),
            "score": [r[2] for r in rows],
            "n": [int(r[3]) for r in rows],
            "error_rate": [r[4] / r[3] for r in rows],
            "mean_error_ratio": [r[4] / r[3] / e_avg for r in rows],
            "level": [int(r[5]) for r in rows],
            "definition": [r[1] for r in rows],
            "where": [json.dumps(r[6]) for r in rows],
        },
        schema=SLICE_SCHEMA,
    )


def _conjunction(preds: list[dict[str, Any]]) -> dict[str, Any]:
    """One where-dict for a conjunction, flattening nested ``all`` lists."""
    flat: list[dict[str, Any]] = []
    for p in preds:
        flat.extend(p["all"] if set(p) == {"all"} else [p])
    return flat[0] if len(flat) == 1 else {"all": flat}
