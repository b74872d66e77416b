"""The CI gate: fail when any slice regresses beyond a bound; Markdown, JUnit XML, JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import polars as pl

from datacentric._io import atomic_write_text
from datacentric._markdown import md_escape
from datacentric._validation import Interval, validate_call
from datacentric.slices.compare import compare, higher_is_better, is_proportion
from datacentric.slices.result import SliceMetrics

__all__ = ["GateResult", "check"]

_TOLERANCE = 1e-9  # a change of exactly max_drop is allowed, despite float rounding


@dataclass
class GateResult:
    """Outcome of :func:`check`: one row per slice with ``status`` pass / fail / skip."""

    table: pl.DataFrame
    metric: str
    max_drop: float
    min_n: int

    @property
    def passed(self) -> bool:
        """Whether no slice failed."""
        return not (self.table["status"] == "fail").any()

    @property
    def failures(self) -> pl.DataFrame:
        """The failing slices, worst first."""
        return self.table.filter(pl.col("status") == "fail").sort("change", nulls_last=False)

    def to_markdown(
        self,
        *,
        title: str = "Slice gate",
        unit: str = "slice",
        what: str | None = None,
        count: str = "n_current",
    ) -> str:
        """A summary for a pull-request comment or a CI job summary.

        ``title``, ``unit`` (the first column's name), ``what`` (the metric's description,
        default :attr:`metric`) and ``count`` (the table column shown as ``n``) let another
        gate over the same table, e.g. the per-class gate of an export, use this layout.
        """
        counts = {s: int((self.table["status"] == s).sum()) for s in ("pass", "fail", "skip")}
        head = f"✅ **{title} passed**" if self.passed else f"❌ **{title} failed**"
        lines = [
            f"{head} — {md_escape(what or self.metric)}, max drop {self.max_drop:.3f}, "
            f"min n {self.min_n}: "
            f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped.",
            "",
            f"| status | {unit} | n | baseline | current | change | 95% CI | p |",
            "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |",
        ]
        order = {"fail": 0, "skip": 2, "pass": 1}
        for r in sorted(
            self.table.iter_rows(named=True),
            key=lambda r: (order[r["status"]], r["change"] if r["change"] is not None else 0),
        ):
            icon = {"pass": "✅", "fail": "❌", "skip": "⚪"}[r["status"]]
            ci = f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" if r["ci_low"] is not None else ""
            lines.append(
                f"| {icon} | {md_escape(r['slice'])} | {r[count] or ''} | "
                f"{_fmt(r['baseline'])} | "
                f"{_fmt(r['current'])} | {_fmt(r['change'], signed=True)} | {ci} | "
                f"{_fmt(r['p_value'])} |"
            )
        fails = self.failures
        if fails.height:
            lines += ["", "**Why it failed:**"]
            lines += [
                f"- {md_escape(r['slice'])}: {md_escape(r['reason'])}"
                for r in fails.iter_rows(named=True)
            ]
        return "\n".join(lines) + "\n"

    def to_junit(self) -> str:
        """JUnit XML: one test case per slice (failure / skipped as such)."""
        n_fail = int((self.table["status"] == "fail").sum())
        n_skip = int((self.table["status"] == "skip").sum())
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<testsuite name="datacentric.slices" tests="{self.table.height}" '
            f'failures="{n_fail}" skipped="{n_skip}" errors="0">',
        ]
        for r in self.table.iter_rows(named=True):
            name = quoteattr(f"{self.metric}[{r['slice']}]")
            out.append(f'  <testcase classname="datacentric.slices.gate" name={name}>')
            if r["status"] == "fail":
                out.append(
                    f"    <failure message={quoteattr(r['reason'])}>{escape(r['reason'])}</failure>"
                )
            elif r["status"] == "skip":
                out.append(f"    <skipped message={quoteattr(r['reason'])}/>")
            out.append("  </testcase>")
        out.append("</testsuite>")
        return "\n".join(out) + "\n"

    def to_json(self) -> str:
        """Machine-readable result."""
        rows = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in self.table.iter_rows(named=True)
        ]
        return json.dumps(
            {
                "passed": self.passed,
                "metric": self.metric,
                "max_drop": self.max_drop,
                "min_n": self.min_n,
                "slices": rows,
            },
            indent=1,
        )

    def write(
        self,
        *,
        markdown: str | Path | None = None,
        junit: str | Path | None = None,
        json_path: str | Path | None = None,
    ) -> None:
        """Write any of the three outputs (atomically)."""
        for path, text in (
            (markdown, self.to_markdown),
            (junit, self.to_junit),
            (json_path, self.to_json),
        ):
            if path is None:
                continue
            atomic_write_text(path, text())


def _fmt(v: Any, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:+.4f}" if signed else f"{v:.4f}"


@validate_call(
    {
        "baseline": [SliceMetrics],
        "current": [SliceMetrics],
        "metric": [str],
        "max_drop": [Interval(Real, 0, None, closed="left")],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "require_significant": ["boolean"],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
    }
)
def check(
    baseline: SliceMetrics,
    current: SliceMetrics,
    *,
    metric: str = "accuracy",
    max_drop: float = 0.02,
    min_n: int = 30,
    require_significant: bool = False,
    alpha: float = 0.05,
) -> GateResult:
    """Gate ``current`` against ``baseline``: a slice fails when ``metric`` drops by more
    than ``max_drop`` (absolute), even when the overall value holds.

    Slices with fewer than ``min_n`` rows in either run are skipped (reported, not
    hidden); a slice of the baseline missing from the current run fails; new slices pass.
    With ``require_significant`` a drop must also be significant at ``alpha``.

    Examples
    --------
    >>> import polars as pl
    >>> from datacentric.slices.metrics import METRICS_SCHEMA
    >>> def run(acc_dark):
    ...     rows = [{"slice": s, "n": 500, "metric": "accuracy", "support": 500, "value": v,
    ...              "ci_low": None, "ci_high": None, "delta_vs_overall": 0.0,
    ...              "p_value": None, "low_support": False}
    ...             for s, v in (("overall", 0.9), ("dark", acc_dark))]
    ...     return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))
    >>> check(run(0.88), run(0.80), max_drop=0.02).passed
    False
    >>> check(run(0.88), run(0.87), max_drop=0.02).passed
    True
    """
    cmp = compare(baseline, current, metric=metric, alpha=alpha)
    status: list[str] = []
    reason: list[str] = []
    for r in cmp.iter_rows(named=True):
        if r["status"] == "missing":
            status.append("fail")
            reason.append("slice is in the baseline but missing from the current results")
        elif r["status"] == "empty":
            status.append("skip")
            reason.append("low support: the slice has no rows in one of the runs")
        elif r["status"] == "new":
            status.append("pass")
            reason.append("new slice (no baseline)")
        elif min(r["support_baseline"], r["support_current"]) < min_n:
            status.append("skip")
            n = min(r["support_baseline"], r["support_current"])
            reason.append(f"low support: n={n} < {min_n}")
        elif (
            -r["change"] if higher_is_better(metric) else r["change"]
        ) > max_drop + _TOLERANCE and (
            not require_significant or r["significant"] or not is_proportion(metric)
        ):
            status.append("fail")
            p = f", p={r['p_value']:.3g}" if r["p_value"] is not None else ""
            verb = "dropped" if higher_is_better(metric) else "rose"
            reason.append(
                f"{metric} {verb} {abs(r['change']):.4f} ({r['baseline']:.4f} → "
                f"{r['current']:.4f}{p}), more than the allowed {max_drop:.4f}"
            )
        else:
            status.append("pass")
            reason.append(f"change {r['change']:+.4f} within the allowed drop {max_drop:.4f}")
    table = cmp.rename({"status": "comparison"}).with_columns(
        pl.Series("status", status), pl.Series("reason", reason)
    )
    return GateResult(table=table, metric=metric, max_drop=float(max_drop), min_n=min_n)
