"""Binning and histograms by (window, slice, metric) without a Python loop over rows.

Rows are grouped into *cells*: one cell per distinct (window, slice membership) pair, where
the membership of a row is the set of slices it belongs to (packed into 63-bit words). A
batch has few cells (windows x combinations of slice values) however many rows it has. Each
metric's values are binned on the reference's bins (``np.searchsorted``) and counted per
(cell, bin) with one ``np.bincount``; a slice's histogram in a window is then the sum of the
histograms of the cells that belong to it (a small matrix product). A row in several slices
counts once in each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

__all__ = ["BatchHistograms", "MetricSpec", "bin_codes", "histograms"]


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is binned: edges from the reference (quantiles and equal-width steps,
    see :func:`~datacentric.monitor.drift.quantile_edges`), or reference categories.

    Bins: continuous ``[below e0, k interior bins, above e_k, missing]``; categorical
    ``[one per category, unseen, missing]``.

    Examples
    --------
    >>> spec = MetricSpec("x", "continuous", edges=(0.0, 1.0, 2.0))
    >>> spec.n_bins, bin_codes(pl.DataFrame({"x": [-1.0, 0.0, 1.5, 2.0, 9.0, None]}), spec)
    (5, array([0, 1, 2, 2, 3, 4], dtype=int32))
    >>> cat = MetricSpec("p", "categorical", categories=("a", "b"))
    >>> bin_codes(pl.DataFrame({"p": ["b", "z", None]}), cat)
    array([1, 2, 3], dtype=int32)
    """

    name: str
    kind: str
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    ref_std: float = 1.0

    @property
    def n_bins(self) -> int:
        """Bins including the missing bin (the last one)."""
        if self.kind == "categorical":
            return len(self.categories) + 2
        return len(self.edges) + 2

    @property
    def missing_bin(self) -> int:
        """Index of the bin of null and NaN values."""
        return self.n_bins - 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "categories": list(self.categories),
            "ref_std": self.ref_std,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(d["name"], d["kind"], tuple(d["edges"]), tuple(d["categories"]), d["ref_std"])


def _values(frame: pl.DataFrame, name: str) -> np.ndarray:
    return frame[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


def bin_codes(frame: pl.DataFrame, spec: MetricSpec) -> np.ndarray:
    """The bin of every row of ``frame`` for ``spec`` (``int32``)."""
    if spec.kind == "categorical":
        cats = list(spec.categories)
        col = pl.col(spec.name).cast(pl.String)
        expr = (
            pl.when(col.is_null())
            .then(pl.lit(spec.missing_bin, pl.Int32))
            .otherwise(
                col.replace_strict(
                    cats, list(range(len(cats))), default=len(cats), return_dtype=pl.Int32
                )
            )
        )
        return frame.select(expr).to_series().to_numpy().astype(np.int32, copy=False)
    x = _values(frame, spec.name)
    edges = np.asarray(spec.edges, dtype=np.float64)
    codes = np.searchsorted(edges[:-1], x, side="right").astype(np.int32)
    codes[x > edges[-1]] = len(edges)
    codes[np.isnan(x)] = spec.missing_bin
    return codes


@dataclass
class BatchHistograms:
    """Histograms of one batch (or the reference) by window and slice.

    Attributes
    ----------
    windows : list
        Window starts (``datetime``), in increasing order.
    slices : list of str
        Slice names (the first is ``"overall"``).
    counts : dict
        Metric → int64 array (windows, slices, bins).
    sums : dict
        Continuous metric → float array (windows, slices, bins): the sum of the values.
    n : numpy.ndarray
        Rows per (window, slice).
    scored : numpy.ndarray
        Rows with a confidence per (window, slice).
    expected_correct : numpy.ndarray
        Sum of calibrated confidences per (window, slice) (CBPE); zeros without calibration.
    """

    windows: list[Any]
    slices: list[str]
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    n: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    scored: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    expected_correct: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def hist_frame(self) -> pl.DataFrame:
        """Long form ``window_start, slice, metric, bin, count, sum`` of the non-zero bins."""
        parts = []
        for metric, counts in self.counts.items():
            w, s, b = np.nonzero(counts)
            sums = self.sums.get(metric)
            parts.append(
                pl.DataFrame(
                    {
                        "window_start": pl.Series([self.windows[i] for i in w]).cast(
                            pl.Datetime("us")
                        ),
                        "slice": pl.Series([self.slices[i] for i in s], dtype=pl.String),
                        "metric": pl.Series([metric] * len(w), dtype=pl.String),
                        "bin": pl.Series(b, dtype=pl.Int32),
                        "count": pl.Series(counts[w, s, b], dtype=pl.Int64),
                        "sum": pl.Series(
                            sums[w, s, b] if sums is not None else np.zeros(len(w)),
                            dtype=pl.Float64,
                        ),
                    }
                )
            )
        return pl.concat(parts) if parts else pl.DataFrame()

    def perf_frame(self) -> pl.DataFrame:
        """Long form ``window_start, slice, n, n_scored, expected_correct`` (n > 0 only)."""
        w, s = np.nonzero(self.n)
        return pl.DataFrame(
            {
                "window_start": pl.Series([self.windows[i] for i in w]).cast(pl.Datetime("us")),
                "slice": pl.Series([self.slices[i] for i in s], dtype=pl.String),
                "n": pl.Series(self.n[w, s], dtype=pl.Int64),
                "n_scored": pl.Series(self.scored[w, s], dtype=pl.Int64),
                "expected_correct": pl.Series(self.expected_correct[w, s], dtype=pl.Float64),
            }
        )


def _cells(
    frame: pl.DataFrame, masks: Sequence[pl.Expr], window: pl.Expr
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    """Cell index per row, and per cell its window index and slice membership (bool)."""
    n_slices = len(masks)
    # with_columns broadcasts literals (the reference's window, an all-rows slice) to the height
    cols = frame.with_columns(
        window.alias("__window"), *[m.alias(f"__m{j}") for j, m in enumerate(masks)]
    )
    bools = cols.select([f"__m{j}" for j in range(n_slices)]).to_numpy().astype(bool, copy=False)
    packed = np.packbits(bools, axis=1, bitorder="little")  # (rows, ceil(S / 8)) bytes
    n_words = max(1, -(-packed.shape[1] // 8))
    packed = np.pad(packed, ((0, 0), (0, n_words * 8 - packed.shape[1])))
    words = np.ascontiguousarray(packed).view("<u8").astype(np.int64)  # (rows, words)
    win = cols["__window"]
    windows = win.unique().sort()
    w_idx = np.searchsorted(windows.to_physical().to_numpy(), win.to_physical().to_numpy())
    if n_slices + int(windows.len()).bit_length() <= 62:
        # one int64 key per row: (window index << n_slices) | membership bits
        key = (w_idx.astype(np.int64) << n_slices) | words[:, 0]
        uniq_keys = np.sort(pl.Series(key).unique().to_numpy())
        cell = np.searchsorted(uniq_keys, key)
        bits = uniq_keys & ((1 << n_slices) - 1)
        member = ((bits[:, None] >> np.arange(n_slices)[None, :]) & 1).astype(bool)
        return cell.astype(np.int64), uniq_keys >> n_slices, member, windows.to_list()
    names = ["__window", *[f"__w{w}" for w in range(n_words)]]
    keys = pl.DataFrame({"__window": w_idx, **{f"__w{w}": words[:, w] for w in range(n_words)}})
    uniq = keys.unique().sort(names).with_row_index("__cell")
    cell = keys.join(uniq, on=names, how="left", maintain_order="left")["__cell"].to_numpy()
    unpacked = np.unpackbits(
        uniq.select(names[1:]).to_numpy().astype("<u8").view(np.uint8).reshape(uniq.height, -1),
        axis=1,
        bitorder="little",
    )
    member = unpacked[:, :n_slices].astype(bool)
    return cell.astype(np.int64), uniq["__window"].to_numpy(), member, windows.to_list()


def _fold(agg: np.ndarray, per_cell: np.ndarray) -> np.ndarray:
    """Sum per-cell values into (window, slice): ``agg @ per_cell`` without BLAS, whose
    worker threads stall when the CPU is shared (einsum without optimisation stays in C)."""
    spec = "wsc,cb->wsb" if per_cell.ndim == 2 else "wsc,c->ws"
    return np.einsum(spec, agg, per_cell.astype(np.float64, copy=False), optimize=False)


def histograms(
    frame: pl.DataFrame,
    slices: Sequence[tuple[str, pl.Expr]],
    metrics: Sequence[MetricSpec],
    window: pl.Expr,
    calibrated: np.ndarray | None = None,
    items: tuple[pl.DataFrame, np.ndarray, Sequence[MetricSpec]] | None = None,
) -> BatchHistograms:
    """Histograms of ``frame`` by (window, slice) for every metric.

    Parameters
    ----------
    frame : polars.DataFrame
        Rows with the metric and slice columns.
    slices : sequence of (name, boolean expression)
        The slices; include ``("overall", pl.lit(True))`` to get the whole batch.
    metrics : sequence of MetricSpec
    window : polars.Expr
        The window start of each row (a constant for the reference).
    calibrated : numpy.ndarray, optional
        Calibrated confidence per row (NaN when unknown), summed for CBPE.
    items : (polars.DataFrame, numpy.ndarray, sequence of MetricSpec), optional
        Things that belong to rows (a detector's predicted boxes), the row of ``frame`` each
        belongs to, and their metrics: each item is counted in the window and slices of its
        row (its cell), so slices are never evaluated on the items.

    Examples
    --------
    >>> frame = pl.DataFrame({"v": ["a", "b", "a"], "x": [0.5, 1.5, 9.0]})
    >>> spec = MetricSpec("x", "continuous", edges=(0.0, 1.0, 2.0))
    >>> h = histograms(frame, [("overall", pl.lit(True)), ("v=a", pl.col("v") == "a")],
    ...                [spec], pl.lit(0))
    >>> h.slices, h.counts["x"][0].tolist(), h.n.tolist()
    (['overall', 'v=a'], [[0, 1, 1, 1, 0], [0, 1, 0, 1, 0]], [[3, 2]])
    """
    names = [name for name, _ in slices]
    cell, win_idx, member, windows = _cells(frame, [e for _, e in slices], window)
    n_cells, n_win = member.shape[0], len(windows)
    # per window: (slices x cells) membership, to sum cell histograms into slice histograms
    agg = np.zeros((n_win, len(names), n_cells))
    for c in range(n_cells):
        agg[win_idx[c], :, c] = member[c]
    out = BatchHistograms(windows, names)
    sources = [(frame, cell, metrics)]
    if items is not None:
        item_frame, owner, item_metrics = items
        sources.append((item_frame, cell[np.asarray(owner, dtype=np.int64)], item_metrics))
    for source, cells, specs in sources:
        for spec in specs:
            codes = bin_codes(source, spec)
            key = cells * spec.n_bins + codes
            size = n_cells * spec.n_bins
            counts = np.bincount(key, minlength=size).reshape(n_cells, spec.n_bins)
            out.counts[spec.name] = np.rint(_fold(agg, counts)).astype(np.int64)
            if spec.kind == "continuous":
                # NaN/null rows sit in the missing bin, whose sum is never used; infinities
                # never get here (validate_batch and build_profile refuse them)
                x = _values(source, spec.name)
                x = np.where(np.isnan(x), 0.0, x)
                sums = np.bincount(key, weights=x, minlength=size).reshape(n_cells, spec.n_bins)
                out.sums[spec.name] = _fold(agg, sums)
    rows = np.bincount(cell, minlength=n_cells).astype(np.float64)
    out.n = np.rint(_fold(agg, rows)).astype(np.int64)
    if calibrated is not None:
        ok = ~np.isnan(calibrated)
        scored = np.bincount(cell, weights=ok.astype(np.float64), minlength=n_cells)
        exp = np.bincount(cell, weights=np.where(ok, calibrated, 0.0), minlength=n_cells)
        out.scored = np.rint(_fold(agg, scored)).astype(np.int64)
        out.expected_correct = _fold(agg, exp)
    else:
        out.scored = np.zeros_like(out.n)
        out.expected_correct = np.zeros(out.n.shape)
    return out
