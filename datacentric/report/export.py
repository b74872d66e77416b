"""The compressed-export report as one self-contained HTML page.

What a reviewer of a model release wants to see, in order: did every form pass the slice
gate; what each form costs (size) and buys (latency at batch 1 and 64, against torch eager);
how accuracy moved in every slice, with the drops beyond the bound marked; why a gate failed;
and the test images whose prediction changed, to look at.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric.exceptions import DatacentricError
from datacentric.report import html as h
from datacentric.report.charts import bar_chart_svg
from datacentric.report.html import format_bytes

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


_GATE_BADGES = {"pass": "ok", "FAIL": "high", "reference": "neutral"}


def _forms(report: CompressionReport) -> h.Table:
    """One row per form: size, latency, speed-up at batch 64 vs torch, accuracy, gate."""
    torch64 = report.baseline.latency_ms.get("p50@64", math.nan)
    rows = []
    for a in [report.baseline, *report.artefacts]:
        lat, (worst, delta) = a.latency_ms, a.worst_slice
        rows.append(
            {
                "form": a.target,
                "size": a.size_bytes,
                "vs fp32": a.size_ratio,
                "p50@1 ms": lat.get("p50@1", math.nan),
                "p50@64 ms": lat.get("p50@64", math.nan),
                "p95@64 ms": lat.get("p95@64", math.nan),
                "speed-up@64": torch64 / lat["p50@64"] if lat.get("p50@64") else math.nan,
                "accuracy": a.accuracy,
                "worst slice": None if delta is None else f"{worst} ({delta * 100:+.1f} pt)",
                "changed": a.changed.height,
                "gate": "reference" if a.gate is None else "pass" if a.gate.passed else "FAIL",
            }
        )
    formats: dict[str, h.Formatter] = {
        "size": format_bytes,
        "vs fp32": "{:.2f}",
        "p50@1 ms": "{:.3f}",
        "p50@64 ms": "{:.2f}",
        "p95@64 ms": "{:.2f}",
        "speed-up@64": "{:.2f}×",
        "accuracy": "{:.2%}",
    }
    frame = pl.DataFrame(rows, infer_schema_length=None)
    view = h.table(
        frame,
        max_rows=None,
        formats=formats,
        cell_classes={"form": ["nowrap"] * frame.height},
        badges={"gate": _GATE_BADGES},
    )
    return dataclasses.replace(view, compact=True)


def _deltas(report: CompressionReport, max_drop: float, min_n: int) -> h.Table:
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
    return h.table(frame, max_rows=None, formats=formats, cell_classes=hot)


def _changed(report: CompressionReport, ds: Dataset | None, limit: int) -> dict[str, Any]:
    changed, items = report.changed, []
    for r in changed.head(limit).iter_rows(named=True):
        sid, img = str(r["sample_id"]), ""
        if ds is not None:
            try:
                img = h.thumbnail_img(ds.load_images([sid], mode="RGB")[0], 80, alt=sid)
            except (DatacentricError, OSError, ValueError, KeyError):
                img = ""
        items.append(
            h.GalleryItem(
                sample_id=sid,
                prefix=f"label {r['label']}:",
                old=r["before"],
                new=r["after"],
                thumb=h.Markup(img),
                extra=r["target"],
            )
        )
    more = changed.height - min(limit, changed.height)
    return {
        "samples": items,
        "more": f"… {more:,} more in changed_predictions.parquet" if more else None,
    }


def render_export_html(
    report: CompressionReport, dataset: Dataset | None = None, *, gallery: int = 48
) -> str:
    """The whole export report as one HTML document (the ``export.html`` template).

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
    arts, forms = report.artefacts, [report.baseline, *report.artefacts]
    torch64 = report.baseline.latency_ms.get("p50@64", math.nan)
    best = max(arts, key=lambda a: torch64 / a.latency_ms.get("p50@64", math.inf), default=None)
    smallest = min(arts, key=lambda a: a.size_ratio, default=None)
    failing = [a for a in arts if a.gate is not None and not a.gate.passed]
    charts = [
        bar_chart_svg(
            [a.target for a in forms],
            [a.latency_ms.get("p50@64", 0.0) for a in forms],
            title="p50 latency at batch 64 (ms, lower is better)",
            value_format="{:.2f}",
            highlight={best.target} if best is not None else None,
            width=520,
        ),
        bar_chart_svg(
            [a.target for a in forms],
            [a.size_bytes / 1024 for a in forms],
            title="Size (KiB)",
            value_format="{:,.0f}",
            width=520,
        ),
    ]
    return h.render(
        "export.html",
        title="Compressed export",
        subtitle=f"Slice gate {'passed' if report.passed else 'FAILED'} — dataset "
        f"{facts.get('root')} version {facts.get('version')}, {facts.get('n_eval')} test rows",
        chips=[f"{len(arts)} forms", f"max drop {max_drop * 100:.1f} pt"],
        nav={"forms": "Forms", "slices": "By slice"}
        | ({"gate": "Gate"} if failing else {})
        | {"changed": "Changed"},
        footer="datacentric export — artefacts and hashes in export.json",
        summary={
            "cards": {
                "Gate": "passed" if report.passed else f"failed ({len(report.failed_targets)})",
                "Forms": len(arts),
                "Best speed-up @64": (
                    f"{torch64 / best.latency_ms['p50@64']:.2f}×" if best is not None else None
                ),
                "Smallest size": f"{smallest.size_ratio:.2f} of fp32" if smallest else None,
                "Changed predictions": report.changed.height,
            },
            "hints": {
                "Gate": f"max slice drop {max_drop * 100:.1f} pt, slices with n ≥ {min_n}",
                "Best speed-up @64": best.target if best is not None else "",
                "Smallest size": smallest.target if smallest else "",
                "Changed predictions": "test images, all forms",
            },
        },
        forms=_forms(report),
        charts=[h.Markup(c) for c in charts],
        deltas={
            "intro": f"Change vs the uncompressed model, in points; red cells drop more than "
            f"{max_drop * 100:.1f} pt in a slice with at least {min_n} test rows.",
            "table": _deltas(report, max_drop, min_n),
        },
        failing=[(a.target, _reasons(a)) for a in failing],
        changed=_changed(report, dataset, gallery),
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
