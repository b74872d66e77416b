"""The compressed-export report as one self-contained HTML page.

What a reviewer of a model release wants to see, in order: did every form pass the slice
gate; what each form costs (size) and buys (latency at batch 1 and 64, against torch eager);
how accuracy moved in every slice, with the drops beyond the bound marked; why a gate failed;
and the test images whose prediction changed, to look at.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric.exceptions import DatacentricError
from datacentric.report import html as h
from datacentric.report.html import esc, format_bytes

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.export.result import ArtefactResult, CompressionReport

__all__ = ["render_export_html", "slice_delta_frame", "write_export_html"]


def slice_delta_frame(report: CompressionReport) -> pl.DataFrame:
    """Accuracy change of every artefact vs the uncompressed model, one row per slice.

    Columns: ``slice, n, baseline`` then one column per target (the change, ``None`` where the
    slice is empty). ``overall`` first, then the slices from the worst change up.
    """
    base = report.baseline.slice_accuracy()
    sizes = report.baseline.metrics.metric("accuracy").select("slice", "n")
    n_by_slice = dict(sizes.rows())
    rows = []
    for s, b in base.items():
        row: dict[str, Any] = {"slice": s, "n": int(n_by_slice.get(s, 0)), "baseline": b}
        for a in report.artefacts:
            v = a.slice_accuracy().get(s)
            row[a.target] = None if v is None or b is None else v - b
        rows.append(row)
    schema = {"slice": pl.Utf8, "n": pl.Int64, "baseline": pl.Float64}
    schema |= {a.target: pl.Float64 for a in report.artefacts}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    targets = [a.target for a in report.artefacts]
    worst = pl.min_horizontal(*targets) if targets else pl.lit(0.0)
    return (
        frame.with_columns(
            (pl.col("slice") != "overall").alias("_o"), worst.fill_null(0.0).alias("_w")
        )
        .sort(["_o", "_w", "slice"])
        .drop("_o", "_w")
    )


def _gate_badge(a: ArtefactResult) -> str:
    if a.gate is None:
        return h.badge("reference", "neutral")
    return h.badge("pass", "ok") if a.gate.passed else h.badge("FAIL", "high")


def _forms_table(report: CompressionReport) -> str:
    torch64 = report.baseline.latency_ms.get("p50@64", math.nan)
    head = (
        "<tr><th>form</th><th class='num'>size</th><th class='num'>vs fp32</th>"
        "<th class='num'>p50@1 ms</th><th class='num'>p50@64 ms</th><th class='num'>p95@64 ms"
        "</th><th class='num'>speed-up@64</th><th class='num'>accuracy</th><th>worst slice</th>"
        "<th class='num'>changed</th><th>gate</th></tr>"
    )
    body = []
    for a in [report.baseline, *report.artefacts]:
        lat = a.latency_ms
        worst, delta = a.worst_slice
        speed = torch64 / lat["p50@64"] if lat.get("p50@64") else math.nan
        worst_txt = "" if delta is None else f"{worst} ({delta * 100:+.1f} pt)"
        body.append(
            f"<tr style='white-space:nowrap'><td><code>{esc(a.target)}</code></td>"
            f"<td class='num'>{esc(format_bytes(a.size_bytes))}</td>"
            f"<td class='num'>{a.size_ratio:.2f}</td>"
            f"<td class='num'>{lat.get('p50@1', math.nan):.3f}</td>"
            f"<td class='num'>{lat.get('p50@64', math.nan):.2f}</td>"
            f"<td class='num'>{lat.get('p95@64', math.nan):.2f}</td>"
            f"<td class='num'>{speed:.2f}×</td><td class='num'>{a.accuracy:.2%}</td>"
            f"<td>{esc(worst_txt)}</td><td class='num'>{a.changed.height}</td>"
            f"<td>{_gate_badge(a)}</td></tr>"
        )
    return (
        f'<div class="table-wrap"><table class="data"><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _delta_table(report: CompressionReport, max_drop: float, min_n: int) -> str:
    frame = slice_delta_frame(report)
    targets = [a.target for a in report.artefacts]
    hot = {
        t: [
            "hot" if v is not None and v < -max_drop and n >= min_n else None
            for v, n in zip(frame[t].to_list(), frame["n"].to_list(), strict=True)
        ]
        for t in targets
    }
    formats: dict[str, h.Formatter] = {t: (lambda v: f"{v * 100:+.1f} pt") for t in targets}
    formats["baseline"] = "{:.1%}"
    return h.table_html(frame, max_rows=None, formats=formats, cell_classes=hot)


def _changed_gallery(report: CompressionReport, ds: Dataset | None, limit: int) -> str:
    changed = report.changed
    if changed.height == 0:
        return "<p>No test image changed its predicted class in any form.</p>"
    items = []
    for r in changed.head(limit).iter_rows(named=True):
        sid = str(r["sample_id"])
        img = ""
        if ds is not None:
            try:
                img = h.thumbnail_img(ds.load_images([sid], mode="RGB")[0], 80, alt=sid)
            except (DatacentricError, OSError, ValueError, KeyError):
                img = ""
        items.append(
            f'<div class="item">{img}<div class="body"><code>{esc(sid)}</code><div>'
            f"label {esc(r['label'])}: {esc(r['before'])} <span class='arrow'>→</span> "
            f"<span class='suggested'>{esc(r['after'])}</span></div>"
            f'<div class="extra">{esc(r["target"])}</div></div></div>'
        )
    more = changed.height - min(limit, changed.height)
    note = f'<p class="more">… {more:,} more in changed_predictions.parquet</p>' if more else ""
    return f'<div class="gallery">{"".join(items)}</div>{note}'


def render_export_html(
    report: CompressionReport, dataset: Dataset | None = None, *, gallery: int = 48
) -> str:
    """The whole export report as one HTML document (no external assets).

    Parameters
    ----------
    report : CompressionReport
        What :func:`datacentric.export.compress` returned.
    dataset : Dataset, optional
        The evaluated dataset; when given, the changed-prediction samples are shown as
        thumbnails.
    gallery : int
        At most this many changed samples are shown.
    """
    settings = report.manifest.get("settings", {})
    max_drop = float(settings.get("max_drop", 0.01))
    min_n = int(settings.get("min_n", 30))
    facts = report.manifest.get("dataset", {})
    arts = report.artefacts
    torch64 = report.baseline.latency_ms.get("p50@64", math.nan)
    best = max(arts, key=lambda a: torch64 / a.latency_ms.get("p50@64", math.inf), default=None)
    smallest = min(arts, key=lambda a: a.size_ratio, default=None)
    cards = h.metric_cards(
        {
            "Gate": "passed" if report.passed else f"failed ({len(report.failed_targets)})",
            "Forms": len(arts),
            "Best speed-up @64": (
                f"{torch64 / best.latency_ms['p50@64']:.2f}×" if best is not None else None
            ),
            "Smallest size": f"{smallest.size_ratio:.2f} of fp32" if smallest else None,
            "Changed predictions": report.changed.height,
        },
        hints={
            "Gate": f"max slice drop {max_drop * 100:.1f} pt, slices with n ≥ {min_n}",
            "Best speed-up @64": best.target if best is not None else "",
            "Smallest size": smallest.target if smallest else "",
            "Changed predictions": "test images, all forms",
        },
    )
    names = [a.target for a in [report.baseline, *arts]]
    charts = h.bar_chart_svg(
        names,
        [a.latency_ms.get("p50@64", 0.0) for a in [report.baseline, *arts]],
        title="p50 latency at batch 64 (ms, lower is better)",
        value_format="{:.2f}",
        highlight={best.target} if best is not None else None,
    ) + h.bar_chart_svg(
        names,
        [a.size_bytes / 1024 for a in [report.baseline, *arts]],
        title="Size (KiB)",
        value_format="{:,.0f}",
    )
    failing = [a for a in arts if a.gate is not None and not a.gate.passed]
    why = "".join(
        f"<h3>{esc(a.target)}</h3><ul>"
        + "".join(f"<li>{esc(r)}</li>" for r in _reasons(a))
        + "</ul>"
        for a in failing
    )
    sections = [
        cards,
        h.section(
            "Forms",
            _forms_table(report) + charts,
            intro="Each compressed form against the uncompressed torch model, on the same "
            "inputs, timed interleaved in the same run (1 call per model per round).",
            anchor="forms",
        ),
        h.section(
            "Accuracy change by slice",
            _delta_table(report, max_drop, min_n),
            intro=f"Change vs the uncompressed model, in points; red cells drop more than "
            f"{max_drop * 100:.1f} pt in a slice with at least {min_n} test rows.",
            anchor="slices",
        ),
    ]
    if failing:
        sections.append(h.section("Why the gate failed", why, anchor="gate"))
    sections.append(
        h.section(
            "Predictions that changed",
            _changed_gallery(report, dataset, gallery),
            intro="Compression-identified exemplars: review these before shipping.",
            anchor="changed",
        )
    )
    status = "passed" if report.passed else "FAILED"
    return h.page(
        "Compressed export",
        sections,
        subtitle=f"Slice gate {status} — dataset {facts.get('root')} version "
        f"{facts.get('version')}, {facts.get('n_eval')} test rows",
        chips=[f"{len(arts)} forms", f"max drop {max_drop * 100:.1f} pt"],
        nav={"forms": "Forms", "slices": "By slice", "changed": "Changed"}
        | ({"gate": "Gate"} if failing else {}),
        footer="datacentric export — artefacts and hashes in export.json",
    )


def _reasons(a: ArtefactResult) -> list[str]:
    """One sentence per failing slice of an artefact's gate."""
    if a.gate is None:
        return []
    return [f"{r['slice']}: {r['reason']}" for r in a.gate.failures.iter_rows(named=True)]


def write_export_html(
    report: CompressionReport, path: str | Path, ds: Dataset | None = None
) -> Path:
    """Write :func:`render_export_html` to ``path``: :func:`datacentric.report.write`."""
    from datacentric.report._dispatch import write

    return write(report, path, dataset=ds)
