"""Render :class:`~datacentric.loop.active_curve.ActiveLearningCurves`: the learning curve of
each selection strategy (accuracy against labels, mean over seeds with t intervals) and how
many labels each needs to match random selection with all of its labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from datacentric.report.charts import line_chart_svg
from datacentric.report.html import metric_cards, page, section, table_html
from datacentric.report.markdown import markdown_header, markdown_table

if TYPE_CHECKING:
    from datacentric.loop.active_curve import ActiveLearningCurves

__all__ = ["render_active_html", "render_active_markdown"]


def _chart(curves: ActiveLearningCurves) -> str:
    """Random first (the solid line), then the others; whiskers for random and the best."""
    s = curves.summary()
    labels = sorted(set(s["n_labels"].to_list()))
    match = curves.labels_to_match()
    others = match.filter(pl.col("strategy") != "random")["strategy"].to_list()
    names = (["random"] if "random" in curves.strategies else []) + others
    whiskers = set(names[:2])
    series: dict[str, list[float | None]] = {}
    intervals: dict[str, tuple[list[float | None], list[float | None]]] = {}
    for name in names:
        g = {
            n: (a, lo, hi)
            for n, a, lo, hi in s.filter(pl.col("strategy") == name)
            .select("n_labels", "accuracy", "ci_low", "ci_high")
            .rows()
        }
        series[name] = [g[n][0] if n in g else None for n in labels]
        if name in whiskers:
            intervals[name] = (
                [g[n][1] if n in g else None for n in labels],
                [g[n][2] if n in g else None for n in labels],
            )
    ref = match.filter(pl.col("strategy") == "random")
    target = float(ref["target_accuracy"][0]) if ref.height else None
    return line_chart_svg(
        [str(n) for n in labels],
        series,
        intervals=intervals,
        reference=target,
        reference_label=None if target is None else f"random, all labels: {target:.3f}",
        title="Test accuracy vs number of labels (mean over seeds; 95 % t interval for "
        + " and ".join(sorted(whiskers))
        + ")",
        value_format="{:.3f}",
        value_labels=False,
        y_max=1.0,
        height=380,
    )


def _match_table(curves: ActiveLearningCurves) -> pl.DataFrame:
    def pct(v: float | None) -> str:  # a bootstrap draw that never got there counts 1.5
        return "never" if v is None or v >= 1.5 else f"{v:.0%}"

    rows = [
        {
            "strategy": r["strategy"],
            "accuracy, all labels": r["final_accuracy"],
            "labels to match random": "never" if r["labels"] is None else f"{r['labels']:.0f}",
            "share of random's labels": pct(r["share"]),
            "95 % interval": f"[{pct(r['share_low'])}, {pct(r['share_high'])}]",
            "per seed": ", ".join(pct(v) for v in r["per_seed"]),
        }
        for r in curves.labels_to_match().iter_rows(named=True)
    ]
    return pl.DataFrame(rows)


def _facts(curves: ActiveLearningCurves) -> tuple[list[str], dict[str, object]]:
    m = curves.meta
    n_final = m.get("initial", 0) + m.get("rounds", 0) * m.get("batch", 0)
    chips = [
        f"{m.get('recipe', 'recipe')}",
        f"seeds {m.get('seeds')}",
        f"pool {m.get('pool')}, test {m.get('test')}",
    ]
    best = curves.labels_to_match().filter(pl.col("strategy") != "random").row(0, named=True)
    cards: dict[str, object] = {
        "Labels (seed set → last round)": f"{m.get('initial')} → {n_final}",
        "Batch per round": m.get("batch"),
        "Best strategy": best["strategy"],
        "Its share of random's labels": None if best["share"] is None else f"{best['share']:.0%}",
    }
    return chips, cards


_FORMATS = {"accuracy, all labels": "{:.3f}"}


def render_active_html(curves: ActiveLearningCurves) -> str:
    """A self-contained HTML page: the curves chart and the labels-to-match table."""
    chips, cards = _facts(curves)
    return page(
        "What to label next: learning curves",
        [
            metric_cards(cards),
            section(
                "Learning curves",
                _chart(curves),
                intro="Each strategy starts from the same random seed set per seed and adds a "
                "batch per round; the red line is random selection's accuracy with all its "
                "labels.",
            ),
            section(
                "Labels needed to match random",
                table_html(_match_table(curves), formats=_FORMATS),
                intro="Where each mean curve first reaches random's final accuracy; interval: "
                "paired bootstrap over seeds and test images (never: not reached in that share "
                "of the draws). Random itself may get there before its last round when its "
                "curve flattens.",
            ),
        ],
        chips=chips,
    )


def render_active_markdown(curves: ActiveLearningCurves) -> str:
    """Markdown: the facts, the labels-to-match table and the mean curves as a table."""
    chips, cards = _facts(curves)
    s = curves.summary().select("strategy", "n_labels", "accuracy", "ci_low", "ci_high")
    wide = s.with_columns(
        pl.format(
            "{} [{}, {}]",
            pl.col("accuracy").round(3),
            pl.col("ci_low").round(3),
            pl.col("ci_high").round(3),
        ).alias("cell")
    ).pivot("strategy", index="n_labels", values="cell")
    lines = [
        *markdown_header("What to label next: learning curves", chips, cards, {}),
        "",
        "## Labels needed to match random",
        "",
        markdown_table(_match_table(curves), formats=_FORMATS),
        "",
        "## Test accuracy by number of labels (mean [95 % t interval] over seeds)",
        "",
        markdown_table(wide.sort("n_labels"), max_rows=None),
        "",
    ]
    return "\n".join(lines)
