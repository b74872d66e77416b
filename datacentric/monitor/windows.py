"""Window statistics from summed histograms: drift of every metric, CBPE and accuracy.

For each (window, slice) the histograms of all batches that touched the window are summed,
then compared with the reference histogram of the same slice; a slice the reference never
had (e.g. the rows of a new camera, from a ``by`` entry) is compared with the reference as a
whole, and marked ``reference="overall"``.

One row per statistic, columns of :data:`STATS_SCHEMA`. Statistics per metric: continuous
``psi, ks, ks_p_value, wasserstein, mean``; categorical ``psi, jensen_shannon,
chi2_p_value``; both ``missing_rate, missing_rate_reference``. The ``headline`` flag marks
the statistic that decides drift (``ks_p_value``, ``wasserstein``, ``chi2_p_value`` or
``jensen_shannon``, see :func:`~datacentric.monitor.drift.headline_method`). ``n`` and
``n_reference`` count rows, or boxes for the per-box metrics of a detector
(:data:`~datacentric.monitor.boxes.PER_BOX_METRICS`). Performance
rows (metric ``"performance"``): ``expected_accuracy`` (CBPE), ``reference_accuracy``,
``reference_expected_accuracy`` (CBPE on the reference rows), ``accuracy`` and
``n_labelled`` (on recorded labels). Metric ``"rows"``: ``n``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from datacentric.monitor import drift
from datacentric.monitor.boxes import PER_BOX_METRICS
from datacentric.monitor.hist import MetricSpec
from datacentric.monitor.profile import OVERALL, ReferenceProfile

__all__ = ["STATS_SCHEMA", "window_stats"]

STATS_SCHEMA: dict[str, pl.DataType] = {
    "window_start": pl.Datetime("us"),
    "slice": pl.String(),
    "metric": pl.String(),
    "statistic": pl.String(),
    "value": pl.Float64(),
    "n": pl.Int64(),
    "n_reference": pl.Int64(),
    "reference": pl.String(),
    "headline": pl.Boolean(),
}
_HEADLINE_STAT = {
    "ks": "ks_p_value",
    "wasserstein": "wasserstein",
    "chi2": "chi2_p_value",
    "jensen_shannon": "jensen_shannon",
}


def _dense(part: pl.DataFrame, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    counts, sums = np.zeros(n_bins, np.int64), np.zeros(n_bins)
    bins = part["bin"].to_numpy()
    np.add.at(counts, bins, part["count"].to_numpy())
    np.add.at(sums, bins, part["sum"].to_numpy())
    return counts, sums


def _metric_stats(
    spec: MetricSpec, counts: np.ndarray, sums: np.ndarray, ref: np.ndarray
) -> list[tuple[str, float, bool]]:
    """``(statistic, value, headline)`` for one metric in one (window, slice)."""
    cur, ref_dist = counts[:-1], ref[:-1]
    total, ref_total = int(counts.sum()), int(ref.sum())
    out = [
        ("missing_rate", counts[-1] / total if total else float("nan"), False),
        ("missing_rate_reference", ref[-1] / ref_total if ref_total else float("nan"), False),
    ]
    n_cur, n_ref = int(cur.sum()), int(ref_dist.sum())
    if n_cur == 0 or n_ref == 0:
        return out
    head = _HEADLINE_STAT[drift.headline_method(spec.kind, n_cur, n_ref)]
    groups = None if spec.kind == "categorical" else 10
    stats: list[tuple[str, float]] = [("psi", drift.psi(ref_dist, cur, groups))]
    if spec.kind == "categorical":
        stats += [
            ("jensen_shannon", drift.jensen_shannon(ref_dist, cur)),
            ("chi2_p_value", drift.chi2_test(ref_dist, cur)),
        ]
    else:
        d, p = drift.ks_binned(ref_dist, cur)
        tails = (
            sums[0] / cur[0] if cur[0] else 0.0,
            sums[len(cur) - 1] / cur[-1] if cur[-1] else 0.0,
        )
        edges = np.asarray(spec.edges)
        w = drift.wasserstein_binned(ref_dist, cur, edges, tails, spec.ref_std)
        stats += [
            ("ks", d),
            ("ks_p_value", p),
            ("wasserstein", w),
            ("mean", sums[:-1].sum() / n_cur),
        ]
    return out + [(name, float(v), name == head) for name, v in stats]


def window_stats(
    hist: pl.DataFrame,
    perf: pl.DataFrame,
    labels: pl.DataFrame | None,
    profile: ReferenceProfile,
) -> pl.DataFrame:
    """Statistics of every (window, slice) present in ``perf``.

    Parameters
    ----------
    hist : polars.DataFrame
        ``window_start, slice, metric, bin, count, sum`` summed over batches.
    perf : polars.DataFrame
        ``window_start, slice, n, n_scored, expected_correct`` summed over batches.
    labels : polars.DataFrame, optional
        ``window_start, slice, n_labelled, n_correct`` from recorded labels.
    profile : ReferenceProfile

    Returns
    -------
    polars.DataFrame
        Columns of :data:`STATS_SCHEMA`.
    """
    specs = {m.name: m for m in profile.metrics}
    rows: list[tuple[Any, ...]] = []
    parts = hist.partition_by(["window_start", "slice", "metric"], as_dict=True)
    label_map: dict[tuple[Any, str], tuple[int, int]] = {}
    if labels is not None:
        for w, s, nl, nc in labels.select(
            "window_start", "slice", "n_labelled", "n_correct"
        ).iter_rows():
            label_map[(w, s)] = (int(nl), int(nc))
    stat: str
    value: float | None
    for w, s, n, n_scored, exp in perf.select(
        "window_start", "slice", "n", "n_scored", "expected_correct"
    ).iter_rows():
        scope = s if s in profile.ref_counts else OVERALL
        ref_scope = "slice" if scope == s else "overall"
        n_ref = profile.ref_n[scope]
        rows.append((w, s, "rows", "n", float(n), n, n_ref, ref_scope, False))
        for name, spec in specs.items():
            part = parts.get((w, s, name))
            if part is None:
                continue
            counts, sums = _dense(part, spec.n_bins)
            ref = np.asarray(profile.ref_counts[scope][name], dtype=np.int64)
            # a per-box metric's sample is the boxes: they decide min_rows and the messages
            n_m, n_ref_m = (
                (int(counts.sum()), int(ref.sum())) if name in PER_BOX_METRICS else (n, n_ref)
            )
            for stat, value, head in _metric_stats(spec, counts, sums, ref):
                rows.append((w, s, name, stat, value, n_m, n_ref_m, ref_scope, head))
        ref_acc = profile.ref_accuracy.get(scope)
        perf_rows: list[tuple[str, float | None, int]] = []
        if profile.calibrator is not None and n_scored:
            perf_rows.append(("expected_accuracy", exp / n_scored, int(n_scored)))
        if ref_acc is not None:
            perf_rows.append(("reference_accuracy", ref_acc, n))
        ref_exp = profile.ref_expected_accuracy.get(scope)
        if ref_exp is not None:
            perf_rows.append(("reference_expected_accuracy", ref_exp, n))
        if (w, s) in label_map:
            nl, nc = label_map[(w, s)]
            perf_rows += [("n_labelled", float(nl), nl), ("accuracy", nc / nl if nl else None, nl)]
        for stat, value, n_stat in perf_rows:
            rows.append((w, s, "performance", stat, value, n_stat, n_ref, ref_scope, False))
    frame = pl.DataFrame(rows, schema=STATS_SCHEMA, orient="row")
    return frame.with_columns(
        computed_at=pl.lit(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    )
