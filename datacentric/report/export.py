"""The compressed-export report as one self-contained HTML page.

What a reviewer of a model release wants to see, in order: did every form pass the slice
gate; what each form costs (size) and buys (latency at batch 1 and 64, against torch eager);
how accuracy moved in every slice, with the drops beyond the bound marked; why a gate failed;
and the test images whose prediction changed, to look at.

A detector's export (:class:`~datacentric.export.detector.DetectorExportReport`) fills the same
template: the metric is mAP@0.5, latency is at batch 1 and 16 (one network call, decoding
excluded), the forms table adds the largest box difference vs torch and the failing slices,
and each slice's change comes with its 95 % interval (a table and a forest plot per form);
decoding runs outside the ONNX graph, which the page says.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric.exceptions import DatacentricError
from datacentric.export.detector import DetectorArtefact, DetectorExportReport
from datacentric.export.forgotten import SAMPLE_COLUMNS
from datacentric.report import html as h
from datacentric.report.charts import bar_chart_svg, forest_plot_svg
from datacentric.report.html import format_bytes

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.export.result import ArtefactResult, CompressionReport

__all__ = [
    "detector_slice_frame",
    "render_export_html",
    "slice_delta_frame",
    "write_export_html",
]


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
                "worst class": _worst_class(a),
                "changed": a.changed.height,
                "gate": "reference" if a.passed is None else "pass" if a.passed else "FAIL",
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


def _worst_class(a: ArtefactResult) -> str | None:
    """``class (recall change)`` of the class whose recall dropped most; None if none."""
    name, delta = a.worst_class
    return None if delta is None else f"{name} ({delta * 100:+.1f} pt)"


def _thumb(ds: Dataset | None, sid: str) -> str:
    """An 80 px thumbnail of one sample (empty when there is no dataset or no image)."""
    if ds is None:
        return ""
    try:
        return h.thumbnail_img(ds.load_images([sid], mode="RGB")[0], 80, alt=sid)
    except (DatacentricError, OSError, ValueError, KeyError):
        return ""


def _changed(report: CompressionReport, ds: Dataset | None, limit: int) -> dict[str, Any]:
    changed, items = report.changed, []
    for r in changed.head(limit).iter_rows(named=True):
        sid = str(r["sample_id"])
        img = _thumb(ds, sid)
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


def _pct(v: Any) -> str:
    return h.format_value(v, "{:.1%}") if isinstance(v, (int, float)) else ""


def _forgotten(report: CompressionReport, ds: Dataset | None, top: int) -> list[dict[str, Any]]:
    """Per compressed form: the rare-class call-out, the classes and slices ranked by how much
    compression changed them, and a gallery of the samples it changed most."""
    out = []
    gate_badges = {"pass": "ok", "fail": "high", "skip": "neutral", "rare": "medium"}
    for a in report.artefacts:
        f = a.forgotten
        if f is None:
            continue
        cls = f.classes.with_columns(
            pl.when(pl.col("rare")).then(pl.lit("rare")).otherwise(None).alias("rare")
        ).select(
            "rank", "class", "n", "support", "rare", "flip_rate", "mean_tv", "recall_before",
            "recall_after", "change", pl.struct("ci_low", "ci_high").alias("95 % CI"), "gate",
        )  # fmt: skip
        sl = f.slices.select(
            "rank", "slice", "n", "flip_rate", "mean_tv", "accuracy_before", "accuracy_after",
            "change", pl.struct("ci_low", "ci_high").alias("95 % CI"), "gate",
        )  # fmt: skip
        formats: dict[str, h.Formatter] = {
            "flip_rate": "{:.1%}",
            "mean_tv": "{:.3f}",
            "recall_before": "{:.1%}",
            "recall_after": "{:.1%}",
            "accuracy_before": "{:.1%}",
            "accuracy_after": "{:.1%}",
            "change": lambda v: _pt(v),
            "95 % CI": lambda v: _interval(v["ci_low"], v["ci_high"]) if v else "",
        }
        meta = [c for c in f.samples.columns if c not in SAMPLE_COLUMNS]
        items = []
        for r in f.top(top).iter_rows(named=True):
            sid = str(r["sample_id"])
            where = ", ".join(f"{c}={r[c]}" for c in meta if r[c] is not None)
            items.append(
                h.GalleryItem(
                    sample_id=sid,
                    prefix=f"label {r['label']}:",
                    old=f"{r['before']} ({r['p_before']:.2f})",
                    new=f"{r['after']} ({r['p_after']:.2f})",
                    thumb=h.Markup(_thumb(ds, sid)),
                    detail=f"TV {r['tv']:.3f} — {r['effect']}",
                    extra=where or None,
                )
            )
        rare = f.classes.filter(pl.col("rare"))
        out.append(
            {
                "target": a.target,
                "summary": f"{f.n_flipped:,} of {f.samples.height:,} test predictions "
                f"flipped; mean total-variation distance "
                f"{float(f.samples['tv'].to_numpy().mean()) if f.samples.height else 0.0:.3f}.",
                "rule": f.rare_rule,
                "rare": [
                    f"{r['class']} (support {r['support']:,}; flipped {_pct(r['flip_rate'])}, "
                    f"recall {_pt(r['change'])}"
                    + (f", class gate {r['gate']}" if r["gate"] else "")
                    + ")"
                    for r in rare.iter_rows(named=True)
                ],
                "classes": h.table(
                    cls,
                    max_rows=None,
                    formats=formats,
                    badges={"gate": gate_badges, "rare": gate_badges},
                ),
                "slices": h.table(sl, max_rows=20, formats=formats, badges={"gate": gate_badges}),
                "samples": items,
                "more": None,
            }
        )
    return out


def render_export_html(
    report: CompressionReport | DetectorExportReport,
    dataset: Dataset | None = None,
    *,
    gallery: int = 48,
    forgotten_top: int = 12,
) -> str:
    """The whole export report as one HTML document (the ``export.html`` template).

    Parameters
    ----------
    report : CompressionReport or DetectorExportReport
        What :func:`datacentric.export.compress` or
        :func:`datacentric.export.export_detector` returned.
    dataset : Dataset, optional
        The evaluated dataset; when given, the changed-prediction samples of a classifier's
        export are shown as thumbnails (a detector's report has no such gallery).
    gallery : int
        At most this many changed samples are shown.
    forgotten_top : int
        Samples shown per form in the "forgotten" section (those compression changed most).

    Examples
    --------
    >>> import polars as pl
    >>> from datacentric.export import DetectorArtefact, DetectorExportReport
    >>> verdict = pl.DataFrame({"slice": ["overall", "site=b"], "n": [40, 35],
    ...     "before": [0.9, 0.8], "after": [0.86, 0.79], "diff": [-0.04, -0.01],
    ...     "ci_low": [-0.07, -0.03], "ci_high": [-0.01, 0.01],
    ...     "low_support": [False, False], "gate": ["fail", "pass"]})
    >>> torch = DetectorArtefact("torch", None, 1000, 1.0, {"p50@1": 2.0}, 0.9)
    >>> int8 = DetectorArtefact("onnx-int8-static", None, 300, 0.3, {"p50@1": 1.0}, 0.86,
    ...                         verdict=verdict, passed=False)
    >>> doc = render_export_html(DetectorExportReport(torch, [int8], {}, Path(".")))
    >>> "Detector export" in doc, "mAP@0.5 change by slice" in doc
    (True, True)
    >>> "overall: mAP@0.5 dropped 4.0 pt" in doc, doc.count('class="num hot"')
    (True, 1)
    """
    if isinstance(report, DetectorExportReport):
        return h.render("export.html", **_detector_context(report))
    settings = report.manifest.get("settings", {})
    max_drop = float(settings.get("max_drop", 0.01))
    min_n = int(settings.get("min_n", 30))
    facts = report.manifest.get("dataset", {})
    arts, forms = report.artefacts, [report.baseline, *report.artefacts]
    torch64 = report.baseline.latency_ms.get("p50@64", math.nan)
    best, best_x = _fastest(arts, torch64, "p50@64")
    smallest = min(arts, key=lambda a: a.size_ratio, default=None)
    failing = [a for a in arts if a.passed is False]
    lost = _forgotten(report, dataset, forgotten_top)
    return h.render(
        "export.html",
        title="Compressed export",
        subtitle=f"Slice gate {'passed' if report.passed else 'FAILED'} — dataset "
        f"{facts.get('root')} version {facts.get('version')}, {facts.get('n_eval')} test rows",
        chips=[f"{len(arts)} forms", f"max drop {max_drop * 100:.1f} pt"],
        nav={"forms": "Forms", "slices": "By slice"}
        | ({"gate": "Gate"} if failing else {})
        | {"changed": "Changed"}
        | ({"forgotten": "Forgotten"} if lost else {}),
        footer="datacentric export — artefacts and hashes in export.json",
        summary={
            "cards": {
                "Gate": "passed" if report.passed else f"failed ({len(report.failed_targets)})",
                "Forms": len(arts),
                "Best speed-up @64": f"{best_x:.2f}×" if best is not None else None,
                "Smallest size": f"{smallest.size_ratio:.2f} of fp32" if smallest else None,
                "Changed predictions": report.changed.height,
                "Rare classes": len(_rare(report)),
            },
            "hints": {
                "Gate": f"max drop {max_drop * 100:.1f} pt of a slice's accuracy or a class's "
                f"recall, n ≥ {min_n}",
                "Rare classes": ", ".join(_rare(report)) or "none",
                "Best speed-up @64": best.target if best is not None else "",
                "Smallest size": smallest.target if smallest else "",
                "Changed predictions": "test images, all forms",
            },
        },
        forms_intro="Each compressed form against the uncompressed torch model, on the same "
        "inputs, timed interleaved in the same run (1 call per model per round).",
        forms=_forms(report),
        notes=[],
        charts=_cost_charts(forms, "p50@64", best),
        deltas={
            "title": "Accuracy change by slice",
            "intro": f"Change vs the uncompressed model, in points; red cells drop more than "
            f"{max_drop * 100:.1f} pt in a slice with at least {min_n} test rows.",
            "table": _deltas(report, max_drop, min_n),
            "charts": [],
        },
        failing=[(a.target, _reasons(a)) for a in failing],
        changed=_changed(report, dataset, gallery),
        forgotten=lost,
    )


def _rare(report: CompressionReport) -> list[str]:
    """The rare classes (the same for every form: the rule reads the supports only)."""
    for a in report.artefacts:
        if a.forgotten is not None:
            return a.forgotten.rare_classes
    return []


def _speedup(reference: float, latency: dict[str, float], key: str) -> float:
    """``reference / latency[key]``; NaN when either is missing, zero or not finite."""
    v = latency.get(key)
    if v is None or not math.isfinite(v) or v <= 0 or not math.isfinite(reference):
        return math.nan
    return reference / v


def _fastest(arts: list[Any], reference: float, key: str) -> tuple[Any, float]:
    """The artefact with the largest speed-up over ``reference`` (None when none is known)."""
    known = [(a, x) for a in arts if not math.isnan(x := _speedup(reference, a.latency_ms, key))]
    return max(known, key=lambda p: p[1]) if known else (None, math.nan)


def _finite(v: Any) -> float:
    """``v`` as a float for a chart: 0.0 for None, NaN or infinity."""
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0


def _cost_charts(forms: list[Any], key: str, best: Any) -> list[h.Markup]:
    """Bars of p50 latency at the larger batch and of the size of every form."""
    batch = key.split("@")[1]
    charts = [
        bar_chart_svg(
            [a.target for a in forms],
            [_finite(a.latency_ms.get(key)) for a in forms],
            title=f"p50 latency at batch {batch} (ms, lower is better)",
            value_format="{:.2f}",
            highlight={best.target} if best is not None else None,
            width=520,
        ),
        bar_chart_svg(
            [a.target for a in forms],
            [_finite(a.size_bytes) / 1024 for a in forms],
            title="Size (KiB)",
            value_format="{:,.0f}",
            width=520,
        ),
    ]
    return [h.Markup(c) for c in charts]


def _pt(v: float | None, sign: bool = True) -> str:
    """A change of the metric (absolute, 0.01 = 1 point) in points; empty for None/NaN."""
    if v is None or math.isnan(v):
        return ""
    return f"{v * 100:+.1f} pt" if sign else f"{v * 100:.1f} pt"


def _px(v: Any) -> str:
    """A box difference in pixels; ``other boxes`` for None (not the same boxes)."""
    if v is None:
        return "other boxes"
    return h.format_value(v, "{:.2g} px")


def _interval(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return ""
    return f"[{lo * 100:+.1f}, {hi * 100:+.1f}]"


def _verdict(a: DetectorArtefact) -> pl.DataFrame:
    """The form's verdict, with the columns the report reads (an empty one for the baseline)."""
    need = {
        "slice": pl.Utf8, "n": pl.Int64, "before": pl.Float64, "after": pl.Float64,
        "diff": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "gate": pl.Utf8,
    }  # fmt: skip
    v = a.verdict if a.verdict is not None else pl.DataFrame(schema=need)
    return v.select(
        [pl.col(c).cast(t) if c in v.columns else pl.lit(None, t).alias(c) for c, t in need.items()]
    )


def detector_slice_frame(report: DetectorExportReport) -> pl.DataFrame:
    """mAP@0.5 change of every detector form vs torch with its 95 % interval, one row per slice.

    Columns: ``slice, n, torch`` (torch's mAP@0.5), then per target ``<target>`` (the change,
    absolute) and ``<target> 95 % CI`` (the interval in points, text), and ``_gate <target>``
    (``pass``, ``fail`` or ``skip``). ``overall`` first, then the slices from the worst change
    up.

    Examples
    --------
    >>> import polars as pl
    >>> from datacentric.export import DetectorArtefact, DetectorExportReport
    >>> verdict = pl.DataFrame({"slice": ["site=b", "overall"], "n": [35, 40],
    ...     "before": [0.8, 0.9], "after": [0.79, 0.86], "diff": [-0.01, -0.04],
    ...     "ci_low": [-0.03, -0.07], "ci_high": [0.01, -0.01], "gate": ["pass", "fail"]})
    >>> torch = DetectorArtefact("torch", None, 1000, 1.0, {}, 0.9)
    >>> fp32 = DetectorArtefact("onnx-fp32", None, 1000, 1.0, {}, 0.86, verdict=verdict)
    >>> frame = detector_slice_frame(DetectorExportReport(torch, [fp32], {}, Path(".")))
    >>> frame["slice"].to_list(), frame["onnx-fp32 95 % CI"].to_list()
    (['overall', 'site=b'], ['[-7.0, -1.0]', '[-3.0, +1.0]'])
    """
    verdicts = {a.target: _verdict(a) for a in report.artefacts}
    rows: dict[str, dict[str, Any]] = {}
    for target, v in verdicts.items():
        for r in v.iter_rows(named=True):
            s = str(r["slice"])
            row = rows.setdefault(s, {"slice": s, "n": r["n"], "torch": r["before"]})
            row["torch"] = row["torch"] if row["torch"] is not None else r["before"]
            row[target] = r["diff"]
            row[f"{target} 95 % CI"] = _interval(r["ci_low"], r["ci_high"])
            row[f"_gate {target}"] = r["gate"]
    schema: dict[str, Any] = {"slice": pl.Utf8, "n": pl.Int64, "torch": pl.Float64}
    for t in verdicts:
        schema |= {t: pl.Float64, f"{t} 95 % CI": pl.Utf8, f"_gate {t}": pl.Utf8}
    frame = pl.DataFrame(
        [{c: row.get(c) for c in schema} for row in rows.values()], schema=schema, orient="row"
    )
    worst = pl.min_horizontal(*verdicts) if verdicts else pl.lit(0.0)
    return (
        frame.with_columns(
            (pl.col("slice") != "overall").alias("_o"),
            worst.fill_nan(None).fill_null(0.0).alias("_w"),
        )
        .sort(["_o", "_w", "slice"])
        .drop("_o", "_w")
    )


def _detector_forms(report: DetectorExportReport) -> h.Table:
    """One row per detector form: size, latency at batch 1 and 16, speed-up at 16 vs torch,
    mAP@0.5, the largest box difference vs torch, the worst and failing slices, the gate."""
    torch16 = report.baseline.latency_ms.get("p50@16", math.nan)
    rows = []
    for a in [report.baseline, *report.artefacts]:
        lat, (worst, delta) = a.latency_ms, a.worst_slice
        diff = a.extra.get("max_abs_box_diff_px")
        rows.append(
            {
                "form": a.target,
                "size": a.size_bytes,
                "vs fp32": a.size_ratio,
                "p50@1 ms": lat.get("p50@1", math.nan),
                "p50@16 ms": lat.get("p50@16", math.nan),
                "p95@16 ms": lat.get("p95@16", math.nan),
                "speed-up@16": _speedup(torch16, lat, "p50@16"),
                "mAP@0.5": a.map50,
                "box Δ": "reference" if a.verdict is None else _px(diff),
                "worst slice": None if delta is None else f"{worst} ({_pt(delta)})",
                "failing": None if a.verdict is None else len(a.failing_slices),
                "gate": "reference" if a.passed is None else "pass" if a.passed else "FAIL",
            }
        )
    formats: dict[str, h.Formatter] = {
        "size": format_bytes,
        "vs fp32": "{:.2f}",
        "p50@1 ms": "{:.3f}",
        "p50@16 ms": "{:.2f}",
        "p95@16 ms": "{:.2f}",
        "speed-up@16": "{:.2f}×",
        "mAP@0.5": "{:.4f}",
    }
    schema = {
        "form": pl.Utf8, "size": pl.Int64, "vs fp32": pl.Float64, "p50@1 ms": pl.Float64,
        "p50@16 ms": pl.Float64, "p95@16 ms": pl.Float64,
        "speed-up@16": pl.Float64, "mAP@0.5": pl.Float64, "box Δ": pl.Utf8,
        "worst slice": pl.Utf8, "failing": pl.Int64, "gate": pl.Utf8,
    }  # fmt: skip
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    view = h.table(
        frame,
        max_rows=None,
        formats=formats,
        cell_classes={"form": ["nowrap"] * frame.height},
        badges={"gate": _GATE_BADGES},
    )
    return dataclasses.replace(view, compact=True)


def _detector_deltas(report: DetectorExportReport) -> tuple[h.Table, list[h.Markup]]:
    """The per-slice table (change and interval per form, failing cells red) and one forest
    plot of the changes per form."""
    frame = detector_slice_frame(report)
    targets = [a.target for a in report.artefacts]
    hot = {t: ["hot" if g == "fail" else None for g in frame[f"_gate {t}"]] for t in targets}
    formats: dict[str, h.Formatter] = {t: _pt for t in targets}
    formats["torch"] = "{:.4f}"
    view = h.table(
        frame.drop([f"_gate {t}" for t in targets]),
        max_rows=None,
        formats=formats,
        cell_classes=hot,
    )
    s = report.manifest.get("settings", {})
    max_drop = _finite(s.get("max_drop", 0.01))
    charts = []
    for a in report.artefacts:
        v = _verdict(a).sort(
            [pl.col("slice") != "overall", pl.col("diff").fill_nan(None), "slice"],
            nulls_last=True,
        )
        if v.height == 0:
            continue
        gates = v["gate"].to_list()
        labels = v["slice"].to_list()
        charts.append(
            forest_plot_svg(
                labels,
                v["diff"].to_list(),
                v["ci_low"].to_list(),
                v["ci_high"].to_list(),
                reference=0.0,
                reference_band=(-max_drop, 0.0),
                reference_label="no change",
                highlight={x for x, g in zip(labels, gates, strict=True) if g == "fail"},
                muted={x for x, g in zip(labels, gates, strict=True) if g == "skip"},
                highlight_label="fails the gate",
                title=f"{a.target}: mAP@0.5 change vs torch (95 % interval)",
                value_format=lambda x: f"{x * 100:+.1f} pt",
                width=520,
            )
        )
    return view, [h.Markup(c) for c in charts]


def _detector_reasons(a: DetectorArtefact, max_drop: float) -> list[str]:
    """One sentence per failing slice of a detector form's gate."""
    v = _verdict(a).filter(pl.col("gate") == "fail")
    out = []
    for r in v.iter_rows(named=True):
        before, after = (
            "?" if x is None or math.isnan(x) else f"{x:.4f}" for x in (r["before"], r["after"])
        )
        ci, diff = _interval(r["ci_low"], r["ci_high"]), r["diff"]
        drop = "(n/a)" if diff is None or math.isnan(diff) else _pt(-diff, sign=False)
        out.append(
            f"{r['slice']}: mAP@0.5 dropped {drop} "
            f"(torch {before} → {after}"
            + (f", 95 % interval {ci} pt" if ci else "")
            + f"), more than the bound of {max_drop * 100:.1f} pt; n = {r['n']} images."
        )
    return out


def _detector_context(report: DetectorExportReport) -> dict[str, Any]:
    """What the ``export.html`` template needs, for a detector's export."""
    s = report.manifest.get("settings", {})
    max_drop, min_n = _finite(s.get("max_drop", 0.01)), s.get("min_n", 30)
    facts = report.manifest.get("dataset", {})
    post = report.manifest.get("recipe", {}).get("output", {}).get("post_processing")
    decode = str(post or "").removeprefix("outside the graph: ") or "CenterNetRecipe.predict_with"
    arts, forms = report.artefacts, [report.baseline, *report.artefacts]
    torch16 = report.baseline.latency_ms.get("p50@16", math.nan)
    best, best_x = _fastest(arts, torch16, "p50@16")
    smallest = min(
        (a for a in arts if math.isfinite(a.size_ratio)), key=lambda a: a.size_ratio, default=None
    )
    failing = [a for a in arts if a.passed is False]
    fp32 = next((a for a in arts if a.target == "onnx-fp32"), None)
    fp32_diff = None if fp32 is None else fp32.extra.get("max_abs_box_diff_px")
    table, charts = _detector_deltas(report)
    return {
        "title": "Detector export",
        "subtitle": f"Slice gate on mAP@0.5 {'passed' if report.passed else 'FAILED'} — "
        f"dataset {facts.get('root')} version {facts.get('version')}, {facts.get('n_eval')} "
        "test images",
        "chips": [
            f"{len(arts)} forms",
            "metric mAP@0.5",
            f"max drop {max_drop * 100:.1f} pt",
            "post-processing outside the ONNX graph",
        ],
        "nav": {"forms": "Forms", "slices": "By slice"} | ({"gate": "Gate"} if failing else {}),
        "footer": "datacentric export — artefacts and hashes in export.json",
        "summary": {
            "cards": {
                "Gate": "passed" if report.passed else f"failed ({len(report.failed_targets)})",
                "Forms": len(arts),
                "torch mAP@0.5": h.format_value(report.baseline.map50, "{:.4f}"),
                "Best speed-up @16": f"{best_x:.2f}×" if best is not None else None,
                "Smallest size": f"{smallest.size_ratio:.2f} of fp32" if smallest else None,
                "fp32 box Δ": None if fp32 is None else _px(fp32_diff),
            },
            "hints": {
                "Gate": f"max slice drop {max_drop * 100:.1f} pt of mAP@0.5, slices with "
                f"n ≥ {min_n} images",
                "torch mAP@0.5": "test images, the reference",
                "Best speed-up @16": best.target if best is not None else "",
                "Smallest size": smallest.target if smallest else "",
                "fp32 box Δ": "largest box coordinate difference, ONNX fp32 vs torch"
                if fp32 is not None
                else "no fp32 form exported",
            },
        },
        "forms_intro": "Each ONNX form against the torch model on the same test images; "
        "latency is one network call (decoding excluded) at batch 1 and 16, all forms timed "
        "interleaved in the same run.",
        "forms": _detector_forms(report),
        "notes": [
            "Post-processing runs outside the ONNX graph: the files hold the network only "
            f"(heatmap, box and embedding outputs); the decoding, {decode}, is the same code "
            "for every form, torch included — a change of boxes comes from the network, never "
            "from a second decoder.",
            "box Δ: the largest coordinate difference (pixels) of a form's boxes from "
            "torch's when both give the same boxes in the same order; “other boxes” when they "
            "do not (a box added, dropped or reordered).",
        ],
        "charts": _cost_charts(forms, "p50@16", best),
        "deltas": {
            "title": "mAP@0.5 change by slice",
            "intro": f"Change of mAP@0.5 vs the torch model, in points, with its 95 % interval "
            f"(paired bootstrap over images); red cells drop more than {max_drop * 100:.1f} pt "
            f"in a slice with at least {min_n} images (smaller slices are not gated).",
            "table": table,
            "charts": charts,
        },
        "failing": [(a.target, _detector_reasons(a, max_drop)) for a in failing],
        "changed": None,
    }


def _reasons(a: ArtefactResult) -> list[str]:
    """One sentence per failing slice of an artefact's gate, then per failing class of its
    per-class gate."""
    out = []
    if a.gate is not None:
        out += [f"{r['slice']}: {r['reason']}" for r in a.gate.failures.iter_rows(named=True)]
    if a.class_gate is not None:
        out += [
            f"class {r['slice']}: {r['reason']}"
            for r in a.class_gate.failures.iter_rows(named=True)
        ]
    return out


def write_export_html(
    report: CompressionReport | DetectorExportReport, path: str | Path, ds: Dataset | None = None
) -> Path:
    """Write :func:`render_export_html` to ``path``: :func:`datacentric.report.write`."""
    from datacentric.report._dispatch import write

    return write(report, path, dataset=ds)
