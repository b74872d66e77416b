"""Render the data loop of an :class:`~datacentric.loop.log.ExperimentLog` as one
self-contained HTML page or as Markdown: the learning curve of the data iterations, accuracy
by slice before and after, issues found, what was fixed, confusion matrices, review queue."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any

import polars as pl
import polars.selectors as cs

from datacentric.dataset import Dataset
from datacentric.exceptions import DatacentricError, InvalidParameterError
from datacentric.loop.log import ExperimentLog
from datacentric.report import html as h
from datacentric.report.html import Formatter, esc, format_value
from datacentric.report.markdown import markdown_header, markdown_table, md_text
from datacentric.report.slices import _STATUS, ALPHA, _num, _p, _View, forest_plot_svg

__all__ = ["line_chart_svg", "render_loop_html", "render_loop_markdown", "render_loop_report"]

_PCT, _PP = "{:.1%}", (lambda v: f"{100 * float(v):+.1f} pp")
_REVIEW_COLS = ["sample_id", "issue_type", "severity", "suggested_label", "label", "detail"]
_CM, _COLORS = "true \\ pred", ("#4f46e5", "#f97316", "#0891b2", "#059669")
# a table of a section: heading, frame, formats, max rows, CSS class per cell (HTML only)
Table = tuple[str, pl.DataFrame, dict[str, Formatter], "int | None", "dict[str, Any] | None"]
Section = tuple[str, str, str, list[Table]]  # anchor, title, intro, tables


def _ticks(a: float, b: float) -> list[float]:  # ~5 round ticks (1, 2, 5 × 10^k) over [a, b]
    raw = max(b - a, 1e-9) / 5
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    lo, hi = math.floor(a / step + 1e-9), math.ceil(b / step - 1e-9)
    return [round(k * step, 10) + 0.0 for k in range(lo, max(hi, lo + 1) + 1)]


def line_chart_svg(
    labels: Sequence[Any],
    series: Mapping[str, Sequence[float | None]],
    *,
    intervals: Mapping[str, tuple[Sequence[float | None], Sequence[float | None]]] | None = None,
    title: str | None = None,
    value_format: Formatter = "{:.3g}",
    y_max: float | None = None,
    width: int = 1000,
    height: int = 300,
) -> str:
    """A line-and-dot chart as inline SVG: one x position per label, one line per series,
    optional interval whiskers, each value written next to its dot.

    Parameters
    ----------
    labels : sequence
        The x positions, left to right (e.g. iterations).
    series : mapping
        Series name → one value per label (``None``: no point); the first solid, the others
        dashed, with a legend when there are several.
    intervals : mapping, optional
        Series name → (lows, highs), drawn as vertical whiskers.
    title, value_format : optional
        Caption above; format of values and of the y axis.
    y_max : float, optional
        Upper limit of the y axis (e.g. 1 for proportions).

    Examples
    --------
    >>> svg = line_chart_svg(["0", "1"], {"acc": [0.8, 0.9]},
    ...                      intervals={"acc": ([0.75, 0.86], [0.85, 0.93])}, title="<t>")
    >>> svg.startswith("<svg"), svg.count("<circle"), "&lt;t&gt;" in svg
    (True, 2, True)
    """
    if not series or any(len(v) != len(labels) for v in series.values()):
        raise InvalidParameterError(
            f"line_chart_svg needs one value per label in each series; received {len(labels)} "
            f"labels and series lengths { {k: len(v) for k, v in series.items()} }."
        )
    fmt, none = partial(format_value, fmt=value_format), [None] * len(labels)
    data = {
        k: [[_num(x) for x in seq] for seq in (v, *(intervals or {}).get(k, (none, none)))]
        for k, v in series.items()
    }
    seen = [x for p in data.values() for seq in p for x in seq if x is not None] or [0.0, 1.0]
    a, b = min(seen), max(seen)
    pad = max((b - a) * 0.08, 0.005)
    ticks = _ticks(a - pad, b + pad if y_max is None else min(b + pad, max(b, y_max)))
    top = 10.0 + 20 * bool(title) + 22 * (len(series) > 1)
    left, right, bottom = 64.0, width - 24.0, height - 34.0
    sx = [left + (i + 0.5) * (right - left) / max(len(labels), 1) for i in range(len(labels))]

    def sy(v: float) -> float:
        return bottom - (v - ticks[0]) / (ticks[-1] - ticks[0]) * (bottom - top)

    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}" role="img" aria-label="{esc(title or "line chart")}"><text x="0" y="16" '
        f'font-size="14" font-weight="600" fill="#1f2433">{esc(title)}</text>'
    ]
    out += [
        f'<line x1="{left}" x2="{right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e7eb"/>'
        f'<text x="{left - 8}" y="{sy(t) + 4:.1f}" font-size="11.5" fill="#6b7280" '
        f'text-anchor="end">{esc(fmt(t))}</text>'
        for t in ticks
    ]
    out += [
        f'<text x="{x:.1f}" y="{bottom + 22:.1f}" font-size="12.5" fill="#374151" '
        f'text-anchor="middle">{esc(lab)}</text>'
        for x, lab in zip(sx, labels, strict=True)
    ]
    out += [
        f'<rect x="{left + 220 * j}" y="{top - 24}" width="16" height="4" fill="'
        f'{_COLORS[j % 4]}"/><text x="{left + 220 * j + 22}" y="{top - 18}" font-size="12" '
        f'fill="#374151">{esc(k)}</text>'
        for j, k in enumerate(series)
        if len(series) > 1
    ]
    for j, (name, (vals, lows, highs)) in enumerate(data.items()):
        color, dash = _COLORS[j % len(_COLORS)], ' stroke-dasharray="6 4"' if j else ""
        pts = " ".join(f"{sx[i]:.1f},{sy(v):.1f}" for i, v in enumerate(vals) if v is not None)
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2.5" '
            f'stroke-linejoin="round"{dash}/>'
        )
        for x, lab, v, lo, hi in zip(sx, labels, vals, lows, highs, strict=True):
            if v is None:
                continue
            y, whisker, tip = sy(v), "", f"{name}, {lab}: {fmt(v)}"
            if lo is not None and hi is not None:
                tip += f" [{fmt(lo)}, {fmt(hi)}]"
                whisker = "".join(
                    f'<line x1="{x + d:.1f}" x2="{x - d:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" '
                    f'stroke="{color}" stroke-width="1.6" opacity="0.75"/>'
                    for d, y1, y2 in ((0, sy(lo), sy(hi)), (6, sy(lo), sy(lo)), (6, sy(hi), sy(hi)))
                )
            out.append(
                f"<g><title>{esc(tip)}</title>{whisker}"
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5.5" fill="{color}" stroke="#fff" '
                f'stroke-width="1.5"/><text x="{x + 10:.1f}" y="{y + (-7, 16)[j > 0]:.1f}"'
                f' font-size="12.5" font-weight="650" fill="{color}" stroke="#fff" '
                f'stroke-width="3" paint-order="stroke">{esc(fmt(v))}</text></g>'
            )
    return "".join([*out, "</svg>"])


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
        self.first, self.last = self.records[0], self.records[-1]
        self.base, self.current = (
            self.log.metrics(int(r["iteration"])) for r in (self.first, self.last)
        )
        self.cmp, self.shown, self.cmp_formats, self.summary = (
            _View(self.current, "accuracy").compare(self.base)
            if len(self.records) > 1
            else (None, pl.DataFrame(), dict[str, Formatter](), "")
        )
        self.edits = self.frames("edits")  # sample_id, action, old, new, reason, source, score
        self.review = self.frames("review", [self.last]).select(
            cs.by_name(*_REVIEW_COLS, require_all=False)
        )

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
            for k in ("relabeled", "removed")
        }
        ch = next(
            iter(
                [] if self.cmp is None else self.cmp.filter(pl.col("slice") == "overall").to_dicts()
            ),
            {},
        )
        cards = {
            "Test accuracy": pct(last.get("accuracy")),
            "Gain vs baseline": _PP(ch["change"]) if _num(ch.get("change")) is not None else None,
            "Worst slice": pct(last.get("worst_slice_accuracy")),
            "Labels fixed automatically": done["relabeled"],
            "Samples removed": done["removed"],
            "Queued for review": (last.get("counts") or {}).get("queued_for_review"),
        }
        hints = {
            "Test accuracy": f"baseline {pct(first.get('accuracy'))}",
            "Gain vs baseline": ("significant" if ch.get("significant") else "not significant")
            + (f", p = {_p(ch['p_value'])}" if _num(ch.get("p_value")) else "")
            if ch
            else "only the baseline is recorded",
            "Worst slice": f"{last.get('worst_slice') or '—'}; baseline: "
            f"{first.get('worst_slice')} at {pct(first.get('worst_slice_accuracy')) or '—'}",
            "Samples removed": "duplicates and leaked copies",
            "Queued for review": f"latest queue, {_name(last)}",
        }
        return {k: v if v != "" else None for k, v in cards.items()}, hints

    def iterations(self) -> Table:
        rows, prev = [], None
        for r in self.records:
            acc, (lo, hi) = _num(r.get("accuracy")), (r.get("accuracy_ci") or [None] * 2)[:2]
            c, before, after = r.get("counts") or {}, r.get("version_before"), r.get("version")
            rows.append(
                {
                    "iteration": r["iteration"],
                    "version": f"{before} → {after}" * (before != after) or str(after),
                    "accuracy": acc,  # the interval never wraps: no-break space, word joiner
                    "95% CI": f"{format_value(lo, _PCT)}\u00a0–\u2060\u00a0{format_value(hi, _PCT)}"
                    if _num(lo) is not None and _num(hi) is not None
                    else "",
                    "Δ vs prev.": None if acc is None or prev is None else acc - prev,
                    "worst slice": r.get("worst_slice"),
                    "worst acc.": r.get("worst_slice_accuracy"),
                    "relabeled": c.get("relabeled"),
                    "removed": c.get("removed"),
                    "queued": c.get("queued_for_review"),
                    "regressed": ", ".join(r.get("regressed_slices") or []) or "none",
                }
            )
            prev = acc
        return (
            "",
            pl.DataFrame(rows, infer_schema_length=None),
            {"accuracy": _PCT, "worst acc.": _PCT, "Δ vs prev.": _PP},
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

    def confusions(self) -> list[Table]:
        """True × predicted counts (with n and recall) of the baseline and the last run; the
        diagonal tinted, off-diagonal cells holding ≥ 5 % of their true class "hot"."""
        out: list[Table] = []
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


# --------------------------------------------------------------------------- render
def _thumbs(loop: _Loop, limit: int) -> str:
    """A gallery of relabelled samples, each read at the version it was edited from."""
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
            f'<div class="item">{img}<div class="body"><code>{esc(sid)}</code><div>'
            f'{esc(r.get("old"))} <span class="arrow">→</span> <span class="suggested">'
            f'{esc(r.get("new"))}</span></div><div class="extra">{esc(_name(r))} · '
            f"{esc(r.get('reason'))}</div></div></div>"
        )
    return f'<h3>Relabelled samples</h3><div class="gallery">{"".join(items)}</div>' * bool(items)


def _sections(loop: _Loop) -> list[Section]:
    """The sections, shared by HTML and Markdown."""
    (issues, clean), edits, queue, top = loop.issues(), loop.edits, loop.review, loop.top
    out: list[Section | None] = [
        (
            "curve",
            "Learning curve of the data iterations",
            "Same model recipe every time; "
            "only the data changed. Whiskers: 95% interval of the overall test accuracy; "
            "dashed: the worst slice of each run.",
            [loop.iterations()],
        ),
        (
            "slices",
            "Accuracy by slice, before and after",
            f"{loop.summary} Red: regressed, "
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
            f"decide, worst first ({_name(loop.last)})."
            if queue.height
            else "The review queue is empty.",
            [
                ("", _count(queue, "issue_type"), {}, None, None),
                ("Top of the queue", queue, {"severity": "{:.2f}"}, top, None),
            ]
            * bool(queue.height),
        ),
    ]
    return [x for x in out if x is not None]


def _charts(loop: _Loop) -> dict[str, str]:
    """The SVG chart opening each section (HTML only)."""
    recs, (issues, _), queue = loop.records, loop.issues(), _count(loop.review, "issue_type")
    ci = [r.get("accuracy_ci") or [None, None] for r in recs]
    out = {
        "curve": line_chart_svg(
            [_name(r) for r in recs],
            {
                "overall test accuracy": [r.get("accuracy") for r in recs],
                "worst slice": [r.get("worst_slice_accuracy") for r in recs],
            },
            intervals={"overall test accuracy": ([c[0] for c in ci], [c[1] for c in ci])},
            value_format=_PCT,
            y_max=1.0,
            title="Test accuracy per data iteration (recipe fixed)",
        )
    }
    if loop.cmp is not None:
        cmp = loop.cmp.filter(pl.col("change").is_not_null(), pl.col("slice") != "overall")
        cmp, min_n = cmp.sort("change", "slice"), int(loop.current.meta.get("min_n") or 0)
        worse, better, few = (
            set(cmp.filter(e)["slice"])
            for e in (
                pl.col("status") == "regressed",
                pl.col("status") == "improved",
                pl.min_horizontal("n_baseline", "n_current") < min_n,
            )
        )
        out["slices"] = forest_plot_svg(
            *(cmp[c].to_list() for c in ("slice", "change", "ci_low", "ci_high")),
            reference=0.0,
            reference_label="no change",
            highlight=worse,
            positive=better,
            muted=few,
            highlight_label="regressed",
            positive_label="improved significantly",
            value_format=_PP,
            title=f"Change in accuracy per slice, {_name(loop.last)} − baseline",
        )
    if issues.height:
        out["issues"] = h.grouped_bar_chart_svg(
            issues["issue_type"].to_list(),
            {c: issues[c].to_list() for c in issues.columns[1:]},
            title="Flagged samples per issue type",
            bar_height=18 - 6 * (issues.width > 2),
        )
    if queue.height:
        out["review"] = h.bar_chart_svg(
            queue["issue_type"].to_list(),
            queue["n"].to_list(),
            title="Queued for review, by issue type",
        )
    return out


_CM_CSS = (
    "<style>.cm{display:grid;grid:auto auto/auto-flow minmax(0,1fr);gap:0 24px}.cm .data td,"
    ".cm .data th{padding:4px 7px}.cm td.diag{background:#e0e7ff;color:#3730a3}</style>"
)


def render_loop_html(root: ExperimentLog | str | Path, *, top: int = 12) -> str:
    """A self-contained HTML report of every iteration of the data loop at ``root``.

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
    parts, charts = [h.metric_cards(cards, hints=hints)], _charts(loop)
    for key, title, intro, tables in (secs := _sections(loop)):
        body = "".join(
            (f"<h3>{esc(head)}</h3>" if head else "")
            + h.table_html(f, max_rows=rows, formats=fm, cell_classes=cl)
            for head, f, fm, rows, cl in tables
        )
        for text, kind in _STATUS.values() if key == "slices" else ():  # status → badge
            body = body.replace(f"<td>{esc(text)}</td>", f"<td>{h.badge(text, kind)}</td>")
        body = charts.get(key, "") + (
            f'{_CM_CSS}<div class="cm">{body}</div>' if key == "confusion" else body
        )
        body += _thumbs(loop, min(top, 8)) if key == "fixed" and loop.edits.height else ""
        parts.append(h.section(title, body, intro=intro, anchor=key))
    return h.page(
        "Data loop report",
        parts,
        chips=loop.chips(),
        nav={k: t for k, t, *_ in secs},
        subtitle="What each data iteration found, fixed and gained, with the model "
        "recipe held fixed.",
        footer="Generated by datacentric.",
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
