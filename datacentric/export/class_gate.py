"""The per-class gate of a compressed export: :func:`datacentric.slices.check` on each
class's recall instead of each slice's accuracy."""

from __future__ import annotations

from numbers import Integral, Real

import polars as pl

from datacentric._validation import Interval, validate_call
from datacentric.slices.gate import GateResult, check
from datacentric.slices.metrics import OVERALL
from datacentric.slices.result import SliceMetrics

__all__ = ["CLASS_METRIC", "class_check"]

#: ``GateResult.metric`` of a class gate; its table's ``slice`` column holds class names.
CLASS_METRIC = "recall per class"


@validate_call(
    {
        "baseline": [SliceMetrics],
        "current": [SliceMetrics],
        "max_drop": [Interval(Real, 0, None, closed="left")],
        "min_n": [Interval(Integral, 0, None, closed="left")],
    }
)
def class_check(
    baseline: SliceMetrics, current: SliceMetrics, *, max_drop: float = 0.01, min_n: int = 30
) -> GateResult:
    """Gate ``current`` against ``baseline`` class by class: a class fails when its recall
    over all evaluated rows (``recall[<class>]`` of the ``overall`` slice) drops by more than
    ``max_drop`` (absolute).

    The rule, interval and test are :func:`datacentric.slices.check`'s (Newcombe's interval
    of the change, a two-proportion z-test); classes with fewer than ``min_n`` evaluated rows
    are skipped (listed, not hidden). The result's ``table`` has one row per class of the
    baseline, in the baseline's class order, with the class name in ``slice``; its ``metric``
    is :data:`CLASS_METRIC`.

    Examples
    --------
    >>> from datacentric.slices.metrics import METRICS_SCHEMA
    >>> def run(recall_b):
    ...     rows = [{"slice": "overall", "n": 200, "metric": f"recall[{c}]", "support": 100,
    ...              "value": v, "ci_low": None, "ci_high": None, "delta_vs_overall": 0.0,
    ...              "p_value": None, "low_support": False}
    ...             for c, v in (("a", 0.9), ("b", recall_b))]
    ...     return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))
    >>> gate = class_check(run(0.9), run(0.7), max_drop=0.05)
    >>> gate.passed, gate.failures["slice"].to_list()
    (False, ['b'])
    >>> class_check(run(0.9), run(0.88), max_drop=0.05).passed
    True
    """
    base = baseline.table.filter(pl.col("slice") == OVERALL)
    cur = current.table.filter(pl.col("slice") == OVERALL)
    names = [
        m[len("recall[") : -1]
        for m in base["metric"].unique(maintain_order=True).to_list()
        if m.startswith("recall[") and m.endswith("]")
    ]
    tables = []
    for c in names:
        t = check(
            SliceMetrics(base), SliceMetrics(cur), metric=f"recall[{c}]", max_drop=max_drop,
            min_n=min_n,
        ).table  # fmt: skip
        tables.append(t.with_columns(pl.lit(c).alias("slice")))
    if tables:
        table = pl.concat(tables, how="vertical")
    else:  # no class has an evaluated row: an empty gate passes
        table = check(
            SliceMetrics(base), SliceMetrics(cur), metric="accuracy", max_drop=max_drop
        ).table.clear()
    return GateResult(table=table, metric=CLASS_METRIC, max_drop=float(max_drop), min_n=min_n)
