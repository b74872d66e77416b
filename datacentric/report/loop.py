"""Render the data loop of an :class:`~datacentric.loop.log.ExperimentLog` as one
self-contained HTML page or as Markdown: the learning curve of the data iterations, accuracy
by slice before and after, issues found, what was fixed, confusion matrices, review queue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any

import polars as pl
import polars.selectors as cs

from datacentric.dataset import Dataset
from datacentric.exceptions import DatacentricError, InvalidParameterError
from datacentric.loop.log import ExperimentLog
from datacentric.loop.review_queue import review_line
from datacentric.report import html as h
from datacentric.report.charts import bar_chart_svg, grouped_bar_chart_svg, line_chart_svg
from datacentric.report.html import Formatter, format_value
from datacentric.report.markdown import markdown_header, markdown_table, md_text
from datacentric.report.slices import ALPHA, STATUS_BADGES, _num, _p, _View, change_plot

__all__ = ["line_chart_svg", "render_loop_html", "render_loop_markdown", "render_loop_report"]

_PCT, _PP = "{:.1%}", (lambda v: f"{100 * float(v):+.1f} pp")
_REVIEW_COLS = [
    *("rank", "sample_id", "issue_type", "issue_types", "p_wrong", "slice_weight", "priority"),
    *("severity", "suggested_label", "label", "detail"),
]
_CM = "true \\ pred"
# a table of a section: heading, frame, formats, max rows, CSS class per cell (HTML only)
TableSpec = tuple[str, pl.DataFrame, dict[str, Formatter], "int | None", "dict[str, Any] | None"]
Section = tuple[str, str, str, list[TableSpec]]  # anchor, title, intro, tables


# --------------------------------------------------------------------------- data
def _name(r: Mapping[str, Any]) -> str:
    return "baseline" if int(r["iteration"]) == 0 else f"iteration {r['iteration']}"


def _count(frame: pl.DataFrame, *by: str) -> pl.DataFrame:
    return (
        frame.group_by(*by).len("n").sort("n", *by, descending=[True] + [False] * len(by))
        if frame.height
        else frame
    )


class _Loop:
    """Everything the report shows, read once from the experiment log at ``root``."""

    cmp: pl.DataFrame | None

    def __init__(self, source: ExperimentLog | str | Path, top: int) -> None:
        self.log = source if isinstance(source, ExperimentLog) else ExperimentLog(source)
        self.root, self.top = self.log.root, top
        self.records = self.log.records()
        if not self.records:
            raise InvalidParameterError(
                f"no loop iterations are recorded under {self.log.path};"
                " run the loop first (`datacentric loop DIR`)."
            )
        # the latest kept state (a rejected slice intervention is not one); the review
        # queue of the latest fix iteration (an intervention fixes nothing)
        self.first, self.last = self.records[0], self.log.last_kept() or self.records[-1]
        # the headline metric: accuracy, or mAP@0.5 on a detection dataset
        self.metric = str(self.last.get("metric") or "accuracy")
        self.label = "mAP@0.5" if self.metric == "map50" else "accuracy"
        self.detection = self.metric != "accuracy"
        self.fixed = next(
            (r for r in reversed(self.records) if "intervention" not in r), self.records[0]
        )
        self.base, self.current = (
            self.log.metrics(int(r["iteration"])) for r in (self.first, self.last)
        )
        self.cmp, self.shown, self.cmp_formats, self.summary = (
            _View(self.current, self.metric).compare(self.base)
            if len(self.records) > 1
            else (None, pl.DataFrame(), dict[str, Formatter](), "")
        )
        self.verdict = _seed_verdict(self.log) if len(self.records) > 1 else None
        self.edits = self.frames("edits")  # sample_id, action, old, new, reason, source, score
        self.review = self.frames("review", [self.fixed]).select(
            cs.by_name(*_REVIEW_COLS, require_all=False)
        )
        if isinstance(self.review.schema.get("issue_types"), pl.List):  # one row per sample
            self.review = self.review.with_columns(pl.col("issue_types").list.join(", "))

    def frames(self, name: str, recs: Sequence[Mapping[str, Any]] | None = None) -> pl.DataFrame:
        """A recorded table of every iteration that has it, with ``iteration`` first."""
        its = [int(r["iteration"]) for r in (self.records if recs is None else recs)]
        parts = [
            self.log.frame(i, name).select(pl.lit(i).alias("iteration"), pl.all())
            for i in its
            if (self.log.iteration_dir(i) / f"{name}.parquet").is_file()
        ]
        return pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()

    def chips(self) -> list[str]:
        first, last, n = self.first, self.last, len(self.records)
        return [
            f"dataset: {self.root}",
            f"recipe: {last.get('recipe') or '?'}",
            f"{n} iteration{'s' * (n != 1)} (baseline + {n - 1})",
            f"versions {first.get('version')} → {last.get('version')}",
            f"evaluated on "
            f"{last.get('eval_split') or '?'} ({format_value(last.get('n_eval'))} samples)",
        ]

    def cards(self) -> tuple[dict[str, Any], dict[str, str]]:
        first, last, pct = self.first, self.last, partial(format_value, fmt=_PCT)
        done = {
            k: sum(int((r.get("counts") or {}).get(k) or 0) for r in self.records)
            for k in ("relabeled", "removed", "relabel", "move", "add", "remove")
        }
        ch = next(
            iter(
                [] if self.cmp is None else self.cmp.filter(pl.col("slice") == "overall").to_dicts()
            ),
            {},
        )
        if self.verdict is not None:  # over the seeds, when the log has them
            v = self.verdict.row(0, named=True)
            ch = {"change": v["diff"], "significant": v["verdict"] != "no significant change"}
            ch |= {"p_value": v["p_value"], "verdict": v["verdict"]}
        cards = {
            f"Test {self.label}": pct(last.get("accuracy")),
            "Gain vs baseline": _PP(ch["change"]) if _num(ch.get("change")) is not None else None,
            "Worst slice": pct(last.get("worst_slice_accuracy")),
            **(
                {
                    "Boxes fixed automatically": sum(done[k] for k in ("relabel", "move", "add")),
                    "Boxes removed": done["remove"],
                }
                if self.detection
                else {
                    "Labels fixed automatically": done["relabeled"],
                    "Samples removed": done["removed"],
                }
            ),
            "Queued for review": (self.fixed.get("counts") or {}).get("queued_for_review"),
        }
        hints = {
            f"Test {self.label}": f"baseline {pct(first.get('accuracy'))}" + _seeds_hint(last),
            "Gain vs baseline": (
                ch.get("verdict") or ("significant" if ch.get("significant") else "not significant")
            )
            + (f", p = {_p(ch['p_value'])}" if _num(ch.get("p_value")) else "")
            if ch
            else "only the baseline is recorded",
            "Worst slice": f"{last.get('worst_slice') or '—'}; baseline: "
            f"{first.get('worst_slice')} at {pct(first.get('worst_slice_accuracy')) or '—'}",
            "Samples removed": "duplicates and leaked copies",
            "Boxes fixed automatically": "confident swaps, bad locations, overlooked objects",
            "Boxes removed": "duplicate boxes",
            "Queued for review": f"latest queue, {_name(self.fixed)}"
            + (f"; {review_line(q)}" if (q := self.fixed.get("review_queue")) else ""),
        }
        return {k: v if v != "" else None for k, v in cards.items()}, hints

    def iterations(self) -> TableSpec:
        rows, prev = [], None
        for r in self.records:
            acc, (lo, hi) = _num(r.get("accuracy")), (r.get("accuracy_ci") or [None] * 2)[:2]
            c, before, after = r.get("counts") or {}, r.get("version_before"), r.get("version")
            rows.append(
                {
                    "iteration": r["iteration"],
                    "version": f"{before} → {after}" * (before != after) or str(after),
                    "seeds": len(r.get("seeds") or [r.get("seed")]),
                    self.label: acc,  # the interval never wraps: no-break space, word joiner
                    "95% CI": f"{format_value(lo, _PCT)}\u00a0–\u2060\u00a0{format_value(hi, _PCT)}"
                    if _num(lo) is not None and _num(hi) is not None
                    else "",
                    "Δ vs prev.": None if acc is None or prev is None else acc - prev,
                    "worst slice": r.get("worst_slice"),
                    "worst acc.": r.get("worst_slice_accuracy"),
                    "relabeled": c.get("relabeled", c.get("relabel")),
                    "removed": c.get("removed"),
                    "queued": c.get("queued_for_review"),
                    "regressed": ", ".join(r.get("regressed_slices") or []) or "none",
                }
            )
            prev = acc
        return (
            "",
            pl.DataFrame(rows, infer_schema_length=None),
            {self.label: _PCT, "worst acc.": _PCT, "Δ vs prev.": _PP},
            None,
            None,
        )

    def issues(self) -> tuple[pl.DataFrame, list[str]]:
        """Flagged counts, issue types × scans; and the types that flagged nothing."""
        scans = [r for r in self.records if r.get("issues_flagged")]
        count = {
            t: [int(r["issues_flagged"].get(t) or 0) for r in scans]
            for t in {t for r in scans for t in r["issues_flagged"]}
        }
        types = sorted((t for t in count if any(count[t])), key=lambda t: (-max(count[t]), t))
        return pl.DataFrame(
            {
                "issue_type": types,
                **{f"{_name(r)} scan": [count[t][j] for t in types] for j, r in enumerate(scans)},
            },
            schema_overrides={"issue_type": pl.Utf8},
        ), sorted(t for t in count if not any(count[t]))

    def confusions(self) -> list[TableSpec]:
        """True × predicted counts (with n and recall) of the baseline and the last run; the
        diagonal tinted, off-diagonal cells holding ≥ 5 % of their true class "hot"."""
        out: list[TableSpec] = []
        for r in {int(x["iteration"]): x for x in (self.first, self.last)}.values():
            if "pred" not in (preds := self.frames("predictions", [r])).columns:
                continue
            if "split" in preds.columns and r.get("eval_split"):
                preds = preds.filter(pl.col("split") == r["eval_split"])
            preds = preds.filter(pl.col("label").is_not_null(), pl.col("pred").is_not_null())
            seen = set(preds["label"].cast(pl.Utf8)) | set(preds["pred"].cast(pl.Utf8))
            meta = [str(c) for c in self.base.meta.get("classes") or [] if str(c) in seen]
            classes = meta + sorted(seen - set(meta))
            n = {(a, b): k for a, b, k in preds.group_by("label", "pred").len().rows()}
            total = [sum(n.get((t, p), 0) for p in classes) for t in classes]
            frame = pl.DataFrame(
                {
                    _CM: classes,
                    **{p: [n.get((t, p), 0) for t in classes] for p in classes},
                    "n": total,
                    "recall": [
                        n.get((c, c), 0) / m if m else None
                        for c, m in zip(classes, total, strict=True)
                    ],
                },
                schema_overrides={_CM: pl.Utf8, "recall": pl.Float64},
            )
            cells = {
                p: [
                    "diag" if t == p else "hot" if v and v >= 0.05 * m else None
                    for t, v, m in zip(classes, frame[p], total, strict=True)
                ]
                for p in classes
            }
            out.append(
                (
                    f"{_name(r).capitalize()} (version {r.get('version')})",
                    frame,
                    {"recall": _PCT},
                    None,
                    cells,
                )
            )
        return out


# --------------------------------------------------------------------------- seeds
_VERDICT_BADGES = {"regressed": "high", "improved": "ok", "no significant change": "neutral"}


def _seed_verdict(log: ExperimentLog) -> pl.DataFrame | None:
    """Baseline → latest verdict per slice over the seeds (``None`` when an iteration's
    predictions are not recorded)."""
    try:
        return log.verdict()
    except DatacentricError:
        return None


def _seeds_hint(rec: Mapping[str, Any]) -> str:
    n = len(rec.get("seeds") or [])
    return f"; mean of {n} seeds" if n > 1 else ""


def _ci(lo: Any, hi: Any, fmt: Formatter) -> str:
    """An interval that never wraps (no-break space, word joiner)."""
    if _num(lo) is None or _num(hi) is None:
        return ""
    return f"{format_value(lo, fmt)}\u00a0–\u2060\u00a0{format_value(hi, fmt)}"


def _verdict_section(loop: _Loop) -> Section | None:
    """Per slice: baseline and latest mean over seeds with intervals, the difference with
    its interval and p-value, and the verdict."""
    if loop.verdict is None:
        return None
    v = loop.verdict
    first = v.row(0, named=True)
    frame = pl.DataFrame(
        {
            "slice": v["slice"],
            "n": v["n"],
            "baseline": v["before"],
            "baseline 95% CI": [
                _ci(a, b, _PCT) for a, b in v.select("before_low", "before_high").rows()
            ],
            _name(loop.last): v["after"],
            f"{_name(loop.last)} 95% CI": [
                _ci(a, b, _PCT) for a, b in v.select("after_low", "after_high").rows()
            ],
            "Δ": v["diff"],
            "Δ 95% CI": [_ci(a, b, _PP) for a, b in v.select("ci_low", "ci_high").rows()],
            "p": v["p_value"],
            "verdict": v["verdict"],
        }
    )
    intro = (
        f"Mean {loop.label} over {first['seeds_before']} training seed(s) of the baseline and "
        f"{first['seeds_after']} of {_name(loop.last)}, on the same test samples; "
        f"{first['test']}. A slice is improved or regressed only when the 95% interval of "
        "the difference excludes 0; otherwise the change is within seed and sample noise."
    )
    formats: dict[str, Formatter] = {
        "baseline": _PCT,
        _name(loop.last): _PCT,
        "Δ": _PP,
        "p": "{:.3g}",
    }
    return (
        "verdict",
        "Verdict by slice over training seeds",
        intro,
        [("", frame, formats, None, None)],
    )


def _interventions_section(loop: _Loop) -> Section | None:
    """The slice interventions tried (:mod:`datacentric.loop.intervene`): what each did to
    its slice over the seeds, kept or rejected, and why."""
    tried = [r for r in loop.records if isinstance(r.get("intervention"), Mapping)]
    if not tried:
        return None
    rows = []
    for r in tried:
        iv = r["intervention"]
        params = iv.get("params") or {}
        what = (
            ", ".join(str(t.get("transform")) for t in params.get("transforms") or [])
            if iv.get("kind") == "augment"
            else f"slice rows ×{params.get('factor')}"
        )
        v = loop.log.frame(int(r["iteration"]), "verdict")
        row = v.filter(pl.col("slice") == iv.get("slice"))
        got = row.row(0, named=True) if row.height else {}
        rows.append(
            {
                "iteration": r["iteration"],
                "intervention": iv.get("kind"),
                "on slice": iv.get("slice"),
                "what": what,
                "vs iteration": iv.get("against_iteration"),
                "slice before": got.get("before"),
                "slice after": got.get("after"),
                "Δ": got.get("diff"),
                "p": got.get("p_value"),
                "kept": "kept" if iv.get("kept") else "rejected",
                "why": iv.get("reason"),
            }
        )
    d = tried[0]["intervention"].get("diagnosis") or {}
    intro = (
        f"The worst slice, {d.get('slice')}, had {d.get('n_errors')} errors over the seeds, "
        f"{d.get('n_label_issues')} of them flagged as label issues"
        + (" (no scan recorded)" if d.get("scan_iteration") is None else "")
        + ": an input problem, which relabeling cannot fix. Each data intervention (the model "
        "held fixed) was trained over the same seeds and kept only when the slice improved "
        "significantly and no slice regressed significantly."
    )
    if isinstance(dc := d.get("data_collection"), Mapping):
        curve = ", ".join(
            f"{c.get('n')}: {format_value(c.get('accuracy'), _PCT)}" for c in dc.get("curve") or []
        )
        intro += (
            f" Data collection: with the slice's training rows cut to 25–100 % (accuracy by "
            f"rows: {curve}), {dc.get('statement')} (target: the overall accuracy, "
            f"{format_value(dc.get('target'), _PCT)})."
        )
    formats: dict[str, Formatter] = {
        "slice before": _PCT,
        "slice after": _PCT,
        "Δ": _PP,
        "p": "{:.3g}",
    }
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return ("interventions", "Slice interventions", intro, [("", frame, formats, None, None)])


# --------------------------------------------------------------------------- render
def _thumbs(loop: _Loop, limit: int) -> list[h.GalleryItem]:
    """The relabelled samples, each read at the version it was edited from."""
    before = {int(r["iteration"]): r.get("version_before") for r in loop.records}
    at = cache(lambda v: Dataset.open(loop.root, version=v, check_images="none"))
    items = []
    for r in loop.edits.filter(pl.col("action") == "relabel").head(limit).iter_rows(named=True):
        sid, ds_version = str(r["sample_id"]), before.get(int(r["iteration"]))
        try:
            img = h.thumbnail_img(at(ds_version).load_images([sid], mode="RGB")[0], 88, alt=sid)
        except (DatacentricError, OSError, ValueError, KeyError):
            continue
        items.append(
            h.GalleryItem(
                sample_id=sid,
                old=r.get("old"),
                new=r.get("new"),
                thumb=h.Markup(img),
                extra=f"{_name(r)} · {r.get('reason')}",
            )
        )
    return items


def _queue_intro(summary: Mapping[str, Any] | None) -> str:
    """What the review budget covers, and how the queue is ranked (a ranked queue only)."""
    if not summary:
        return ""
    return (
        f" It {review_line(summary)}. Ranked by priority = p_wrong × slice_weight: the "
        "probability that a look finds something to change, times 1 + how far the sample's "
        "worst slice lags overall (docs/loop.md); the deferred samples are kept in "
        "review_deferred.parquet."
    )


def _answered(records: Sequence[Mapping[str, Any]]) -> str:
    """Who answered the review queues before retraining (``run_loop(review=...)``), if anyone."""
    rows = [(r["iteration"], r["review_answered"]) for r in records if r.get("review_answered")]
    if not rows:
        return ""
    each = "; ".join(
        f"iteration {it}: {a.get('applied')} of {a.get('n_queued')} applied" for it, a in rows
    )
    who = {(a.get("backend"), a.get("target")) for _, a in rows}
    simulated = any(b == "simulated" for b, _ in who)
    by = ", ".join(f"{b} {t!r}" for b, t in sorted(who, key=str))
    return f" Each queue was answered before retraining by {by} ({each})" + (
        ": a SIMULATED reviewer answering from the demo's ground truth, standing in for a "
        "Label Studio review."
        if simulated
        else "."
    )


def _sections(loop: _Loop) -> list[Section]:
    """The sections, shared by HTML and Markdown."""
    (issues, clean), edits, queue, top = loop.issues(), loop.edits, loop.review, loop.top
    out: list[Section | None] = [
        (
            "curve",
            "Learning curve of the data iterations",
            "Same model recipe every time; "
            "only the data changed. Whiskers: 95% interval of the overall test metric; "
            "dashed: the worst slice of each run.",
            [loop.iterations()],
        ),
        _verdict_section(loop),
        _interventions_section(loop),
        (
            "slices",
            f"{loop.label[0].upper()}{loop.label[1:]} by slice, before and after",
            (
                "Models of the first seed only; the verdict over every seed is above. "
                * (loop.verdict is not None)
            )
            + f"{loop.summary} Red: regressed, "
            f"green: improved (p < {ALPHA}); lines: 95% intervals of the change.",
            [("", loop.shown, loop.cmp_formats, None, None)],
        )
        if loop.cmp is not None
        else None,
        (
            "issues",
            "Issues found by type",
            "What each scan flagged, before fixing."
            + (f" Nothing flagged by: {', '.join(clean)}." * bool(clean)),
            [("", issues, {}, None, None)] * bool(issues.height),
        )
        if issues.height or clean
        else None,
        (
            "fixed",
            "What was fixed",
            "Automatic edits of the fix policy (old → new label), with reason and score."
            if edits.height
            else "No automatic edit was made.",
            [
                ("", _count(edits, "action", "source"), {}, None, None),
                ("Edits", edits.drop("source", strict=False), {"score": "{:.2f}"}, top, None),
            ]
            * bool(edits.height),
        ),
        (
            "confusion",
            "Confusion matrices",
            "Rows: true class, columns: predicted, on the "
            f"{loop.last.get('eval_split') or 'evaluation'} split. Highlighted: off-diagonal "
            "cells holding at least 5% of their true class.",
            loop.confusions(),
        ),
        (
            "review",
            "Review queue",
            "Flagged but not fixed automatically: for a person to "
            f"decide, worst first ({_name(loop.fixed)})."
            + _queue_intro(loop.fixed.get("review_queue"))
            + _answered(loop.records)
            if queue.height
            else "The review queue is empty." + _queue_intro(loop.fixed.get("review_queue")),
            [
                ("", _count(queue, "issue_type"), {}, None, None),
                (
                    "Top of the queue",
                    queue,
                    {c: "{:.2f}" for c in ("severity", "p_wrong", "slice_weight", "priority")},
                    top,
                    None,
                ),
            ]
            * bool(queue.height),
        ),
    ]
    return [x for x in out if x is not None]


def _charts(loop: _Loop) -> dict[str, h.Markup]:
    """The SVG chart opening each section (HTML only)."""
    recs, (issues, _), queue = loop.records, loop.issues(), _count(loop.review, "issue_type")
    ci = [r.get("accuracy_ci") or [None, None] for r in recs]
    out = {
        "curve": line_chart_svg(
            [_name(r) for r in recs],
            {
                f"overall test {loop.label}": [r.get("accuracy") for r in recs],
                "worst slice": [r.get("worst_slice_accuracy") for r in recs],
            },
            intervals={f"overall test {loop.label}": ([c[0] for c in ci], [c[1] for c in ci])},
            value_format=_PCT,
            y_max=1.0,
            title=f"Test {loop.label} per data iteration (recipe fixed)",
        )
    }
    if loop.verdict is not None:
        v = loop.verdict.rename({"diff": "change"}).with_columns(
            status=pl.col("verdict"), n_baseline=pl.col("n"), n_current=pl.col("n")
        )
        out["verdict"] = change_plot(
            v,
            int(loop.current.meta.get("min_n") or 0),
            _PP,
            f"Change in mean {loop.label} over seeds per slice, {_name(loop.last)} − baseline",
        )
    if loop.cmp is not None:
        out["slices"] = change_plot(
            loop.cmp,
            int(loop.current.meta.get("min_n") or 0),
            _PP,
            f"Change in {loop.label} per slice, {_name(loop.last)} − baseline",
        )
    if issues.height:
        out["issues"] = grouped_bar_chart_svg(
            issues["issue_type"].to_list(),
            {c: issues[c].to_list() for c in issues.columns[1:]},
            title="Flagged samples per issue type",
            bar_height=18 - 6 * (issues.width > 2),
        )
    if queue.height:
        out["review"] = bar_chart_svg(
            queue["issue_type"].to_list(),
            queue["n"].to_list(),
            title="Queued for review, by issue type",
        )
    return {k: h.Markup(v) for k, v in out.items()}


def render_loop_html(root: ExperimentLog | str | Path, *, top: int = 12) -> str:
    """A self-contained HTML report of every iteration of the data loop at ``root`` (the
    ``loop.html`` template).

    Parameters
    ----------
    root : ExperimentLog, str or Path
        An experiment log, or a dataset directory whose log holds at least the baseline.
    top : int
        Rows shown of the edits and of the review queue (and at most 8 thumbnails).

    Returns
    -------
    str
        A complete HTML document: inline SVG charts and PNG thumbnails, nothing external.
    """
    cards, hints = (loop := _Loop(root, top)).cards()
    charts, secs = _charts(loop), _sections(loop)
    sections = [
        {
            "anchor": key,
            "title": title,
            "intro": intro,
            "chart": charts.get(key),
            "side_by_side": key == "confusion",
            "tables": [
                (
                    head,
                    h.table(
                        frame,
                        max_rows=rows,
                        formats=formats,
                        cell_classes=classes,
                        badges={"status": STATUS_BADGES}
                        if key == "slices"
                        else {"verdict": _VERDICT_BADGES}
                        if key == "verdict"
                        else None,
                    ),
                )
                for head, frame, formats, rows, classes in tables
            ],
            "gallery": _thumbs(loop, min(top, 8)) if key == "fixed" and loop.edits.height else [],
        }
        for key, title, intro, tables in secs
    ]
    return h.render(
        "loop.html",
        title="Data loop report",
        subtitle="What each data iteration found, fixed and gained, with the model recipe held "
        "fixed.",
        chips=loop.chips(),
        nav={k: t for k, t, *_ in secs},
        footer="Generated by datacentric.",
        summary={"cards": cards, "hints": hints},
        sections=sections,
    )


def render_loop_markdown(root: ExperimentLog | str | Path, *, top: int = 12) -> str:
    """A Markdown report of the data loop at ``root``: the tables of :func:`render_loop_html`
    (same parameters), e.g. for a pull request."""
    cards, hints = (loop := _Loop(root, top)).cards()
    lines = markdown_header("Data loop report", loop.chips(), cards, hints)
    for _, title, intro, tables in _sections(loop):
        lines += ["", f"## {md_text(title)}", "", md_text(intro)]
        for head, frame, formats, rows, _ in tables:
            lines += [
                "",
                *([f"### {md_text(head)}", ""] if head else []),
                markdown_table(frame, max_rows=rows, formats=formats),
            ]
    return "\n".join(lines) + "\n"


def render_loop_report(root: str | Path, out: str | Path, *, top: int = 12) -> Path:
    """Write the loop report of the dataset at ``root`` to ``out`` (``.html`` or ``.md``):
    :func:`datacentric.report.write` of its :class:`~datacentric.loop.log.ExperimentLog`."""
    from datacentric.report._dispatch import write

    return write(ExperimentLog(root), out, top=top)
