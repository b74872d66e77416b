"""`CompressionReport`: per-artefact size, latency, accuracy by slice, gate, manifest.

Plain data: :func:`datacentric.report.write` renders it (``.html``, ``.md``, ``.json``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._format import format_bytes
from datacentric._io import atomic_write, atomic_write_text
from datacentric._markdown import md_escape
from datacentric.export.forgotten import ForgottenReport
from datacentric.slices.gate import GateResult
from datacentric.slices.result import SliceMetrics

__all__ = ["ArtefactResult", "CompressionReport", "sha256_file"]

MANIFEST = "export.json"
SUMMARY = "export.md"
CHANGED = "changed_predictions.parquet"
FORGOTTEN = "forgotten_samples.parquet"
HTML_REPORT = "export.html"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _worst(gate: GateResult | None) -> tuple[str | None, float | None]:
    """The gated row (slice or class) of ``gate`` with the lowest change, and that change."""
    if gate is None:
        return None, None
    t = gate.table.filter((pl.col("status") != "skip") & pl.col("change").is_not_null()).sort(
        "change"
    )
    if t.height == 0:
        return None, None
    return str(t["slice"][0]), float(t["change"][0])


def _class_json(gate: GateResult) -> dict[str, Any]:
    """The class gate's JSON, its rows keyed by ``class`` rather than ``slice``."""
    data = json.loads(gate.to_json())
    data["classes"] = [{"class": r.pop("slice"), **r} for r in data.pop("slices")]
    return dict(data)


@dataclass
class ArtefactResult:
    """One model form: the torch baseline (``target="torch"``) or a compressed artefact.

    Attributes
    ----------
    target : str
        ``"torch"`` or a target name such as ``"onnx-int8-static"``.
    path : Path or None
        The artefact file (None for the in-memory torch baseline).
    size_bytes : int
        File size (for ``"torch"``: the bytes of its float32 parameters and buffers).
    size_ratio : float
        ``size_bytes`` / the fp32 ONNX file's size.
    latency_ms : dict
        ``p50@1, p95@1, p50@64, p95@64`` in milliseconds.
    metrics : SliceMetrics
        Accuracy and the other metrics, overall and per slice, on the test split.
    gate : GateResult or None
        This artefact vs the torch baseline (None for the baseline itself).
    changed : polars.DataFrame
        Test samples whose predicted class differs from the baseline's:
        ``sample_id, label, before, after`` and the slice metadata columns.
    extra : dict
        Target-specific facts: ``max_abs_diff`` vs torch, ``sparsity``.
    class_gate : GateResult or None
        The per-class gate (:func:`~datacentric.export.class_gate.class_check`): recall of
        every class vs the baseline; its table's ``slice`` column holds the class names.
    forgotten : ForgottenReport or None
        Samples, slices and classes ranked by how much compression changed their
        predictions (:func:`~datacentric.export.forgotten.forgotten`).
    """

    target: str
    path: Path | None
    size_bytes: int
    size_ratio: float
    latency_ms: dict[str, float]
    metrics: SliceMetrics
    gate: GateResult | None = None
    changed: pl.DataFrame = field(default_factory=pl.DataFrame)
    extra: dict[str, Any] = field(default_factory=dict)
    class_gate: GateResult | None = None
    forgotten: ForgottenReport | None = None

    @property
    def passed(self) -> bool | None:
        """Whether both gates passed (None for the baseline, which is not gated)."""
        gates = [g for g in (self.gate, self.class_gate) if g is not None]
        return all(g.passed for g in gates) if gates else None

    @property
    def accuracy(self) -> float:
        """Overall accuracy on the test split."""
        acc = self.metrics.metric("accuracy").filter(pl.col("slice") == "overall")
        return float(acc["value"][0])

    def slice_accuracy(self) -> dict[str, float | None]:
        """Accuracy of every slice (``None`` for a slice with no rows)."""
        t = self.metrics.metric("accuracy")
        return {
            r["slice"]: (None if r["value"] is None or math.isnan(r["value"]) else r["value"])
            for r in t.iter_rows(named=True)
        }

    def low_support(self) -> dict[str, int]:
        """Slices with fewer test rows than ``min_n`` (0 for an empty slice): not gated."""
        t = self.metrics.metric("accuracy").filter(pl.col("low_support"))
        return {str(r["slice"]): int(r["n"]) for r in t.iter_rows(named=True)}

    @property
    def worst_slice(self) -> tuple[str | None, float | None]:
        """The gated slice with the largest accuracy drop vs the baseline, and its change."""
        return _worst(self.gate)

    @property
    def worst_class(self) -> tuple[str | None, float | None]:
        """The gated class with the largest recall drop vs the baseline, and its change."""
        return _worst(self.class_gate)

    def class_recall(self) -> dict[str, float]:
        """Recall of every class over all evaluated rows (classes with rows only)."""
        t = self.metrics.table.filter(
            (pl.col("slice") == "overall") & pl.col("metric").str.starts_with("recall[")
        )
        return {
            str(r["metric"])[len("recall[") : -1]: r["value"]
            for r in t.iter_rows(named=True)
            if r["value"] is not None
        }

    def summary(self) -> dict[str, Any]:
        """The JSON-able facts of this artefact for the manifest."""
        worst, delta = self.worst_slice
        worst_c, delta_c = self.worst_class
        return {
            "target": self.target,
            "file": self.path.name if self.path is not None else None,
            "sha256": sha256_file(self.path) if self.path is not None else None,
            "size_bytes": self.size_bytes,
            "size_ratio": self.size_ratio,
            "latency_ms": self.latency_ms,
            "accuracy": self.accuracy,
            "slice_accuracy": self.slice_accuracy(),
            "worst_slice": worst,
            "worst_slice_change": delta,
            "n_changed": self.changed.height,
            "low_support_slices": self.low_support(),
            "gate": None if self.gate is None else json.loads(self.gate.to_json()),
            "class_recall": self.class_recall(),
            "worst_class": worst_c,
            "worst_class_change": delta_c,
            "class_gate": None if self.class_gate is None else _class_json(self.class_gate),
            "n_flipped": None if self.forgotten is None else self.forgotten.n_flipped,
            **self.extra,
        }


@dataclass
class CompressionReport:
    """What :func:`~datacentric.export.compress` produced.

    ``baseline`` is the uncompressed torch model; ``artefacts`` the compressed forms, each
    gated against it. ``manifest`` is what ``export.json`` holds.
    """

    baseline: ArtefactResult
    artefacts: list[ArtefactResult]
    manifest: dict[str, Any]
    out_dir: Path

    @property
    def passed(self) -> bool:
        """Whether every artefact passed the slice gate and the per-class gate."""
        return all(a.passed is not False for a in self.artefacts)

    @property
    def failed_targets(self) -> list[str]:
        """The targets whose slice gate or per-class gate failed."""
        return [a.target for a in self.artefacts if a.passed is False]

    def __getitem__(self, target: str) -> ArtefactResult:
        for a in [self.baseline, *self.artefacts]:
            if a.target == target:
                return a
        raise KeyError(target)

    @property
    def changed(self) -> pl.DataFrame:
        """Changed-prediction samples of every artefact, with a ``target`` column."""
        frames = [
            a.changed.with_columns(pl.lit(a.target).alias("target"))
            for a in self.artefacts
            if a.changed.height
        ]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()

    def to_json(self) -> str:
        """The manifest (``export.json``) as JSON text."""
        return json.dumps(self.manifest, indent=1)

    def to_markdown(self) -> str:
        """A summary table, each failing gate's details, and the changed samples."""
        head = (
            "✅ **Compression gate passed**"
            if self.passed
            else (f"❌ **Compression gate failed** for {md_escape(', '.join(self.failed_targets))}")
        )
        ds = self.manifest.get("dataset", {})
        lines = [
            "# Compressed export",
            "",
            f"{head} — max slice drop {self.manifest['settings']['max_drop']:.3f} vs the "
            f"uncompressed model; dataset {md_escape(ds.get('root'))} version {ds.get('version')}, "
            f"{ds.get('n_eval')} test rows.",
            "",
            "| target | size | ratio | p50@1 ms | p95@1 ms | p50@64 ms | p95@64 ms | accuracy "
            "| worst slice | change | worst class | recall change | changed | gate |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: "
            "| ---: | --- |",
        ]
        for a in [self.baseline, *self.artefacts]:
            worst, delta = a.worst_slice
            worst_c, delta_c = a.worst_class
            lat = a.latency_ms
            lines.append(
                f"| {md_escape(a.target)} | {format_bytes(a.size_bytes)} | {a.size_ratio:.2f} | "
                f"{lat.get('p50@1', math.nan):.2f} | {lat.get('p95@1', math.nan):.2f} | "
                f"{lat.get('p50@64', math.nan):.2f} | {lat.get('p95@64', math.nan):.2f} | "
                f"{a.accuracy:.4f} | {md_escape(worst)} | "
                f"{'' if delta is None else f'{delta:+.4f}'} | {md_escape(worst_c)} | "
                f"{'' if delta_c is None else f'{delta_c:+.4f}'} | {a.changed.height} | "
                f"{_gate_text(a)} |"
            )
        low = self.baseline.low_support()
        if low:
            listed = md_escape(", ".join(f"{k} (n={v})" for k, v in sorted(low.items())))
            lines += ["", f"⚪ Low support, not gated (fewer than min_n test rows): {listed}."]
        for a in self.artefacts:
            if a.gate is not None and not a.gate.passed:
                lines += ["", f"## Gate: {md_escape(a.target)}", "", a.gate.to_markdown()]
            if a.class_gate is not None and not a.class_gate.passed:
                lines += ["", f"## Class gate: {md_escape(a.target)}", "",
                          _class_gate_markdown(a.class_gate)]  # fmt: skip
        lines += _forgotten_markdown(self.artefacts)
        changed = self.changed
        if changed.height:
            lines += [
                "",
                "## Samples whose prediction changed (review these)",
                "",
                "| target | sample_id | label | before | after |",
                "| --- | --- | --- | --- | --- |",
            ]
            for r in changed.head(50).iter_rows(named=True):
                cells = (r[c] for c in ("target", "sample_id", "label", "before", "after"))
                lines.append("| " + " | ".join(md_escape(c) for c in cells) + " |")
            if changed.height > 50:
                lines.append(f"\n... and {changed.height - 50} more in `{CHANGED}`.")
        return "\n".join(lines) + "\n"

    def report(self, path: str | Path, *, dataset: Any = None) -> Path:
        """Render to ``path`` by its suffix: ``.html`` (with thumbnails of the changed
        samples when ``dataset`` is given), ``.md`` or ``.json``; see
        :func:`datacentric.report.write`."""
        from datacentric.report import write

        return write(self, path, dataset=dataset)

    def write(self, ds: Any = None) -> None:
        """Write ``export.json``, ``export.md``, ``export.html`` and
        ``changed_predictions.parquet``.

        ``ds`` (the evaluated dataset), when given, puts thumbnails of the changed samples
        in the HTML report.
        """
        atomic_write_text(self.out_dir / MANIFEST, self.to_json())
        atomic_write_text(self.out_dir / SUMMARY, self.to_markdown())
        self.report(self.out_dir / HTML_REPORT, dataset=ds)
        changed = self.changed
        if changed.height == 0:
            changed = pl.DataFrame(
                schema={
                    "sample_id": pl.Utf8,
                    "label": pl.Utf8,
                    "before": pl.Utf8,
                    "after": pl.Utf8,
                    "target": pl.Utf8,
                }
            )
        atomic_write(self.out_dir / CHANGED, changed.write_parquet)
        frames = [
            a.forgotten.samples.with_columns(pl.lit(a.target).alias("target"))
            for a in self.artefacts
            if a.forgotten is not None
        ]
        if frames:
            samples = pl.concat(frames, how="diagonal_relaxed")
            atomic_write(self.out_dir / FORGOTTEN, samples.write_parquet)


def _gate_text(a: ArtefactResult) -> str:
    """``pass``, ``**FAIL**`` with the gates that failed, or empty for the baseline."""
    if a.passed is None:
        return ""
    if a.passed:
        return "pass"
    which = [
        name
        for name, g in (("slice", a.gate), ("class", a.class_gate))
        if g is not None and not g.passed
    ]
    return f"**FAIL** ({', '.join(which)})"


def _class_gate_markdown(gate: GateResult) -> str:
    """The per-class gate as a Markdown table, failing classes first, and why they failed."""
    return gate.to_markdown(
        title="Class gate", unit="class", what="recall of each class", count="support_current"
    )


def _num(v: Any, fmt: str = "{:.4f}") -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def _forgotten_markdown(artefacts: list[ArtefactResult], top: int = 5) -> list[str]:
    """Per target: the rare classes, and the classes, slices and samples compression
    changed most."""
    arts = [a for a in artefacts if a.forgotten is not None]
    if not arts:
        return []
    lines = ["", '## What compression changed most (the "forgotten" report)']
    for a in arts:
        f = a.forgotten
        assert f is not None
        rare = f.rare_classes
        lines += [
            "",
            f"### {md_escape(a.target)}",
            "",
            f"{f.n_flipped} of {f.samples.height} predictions flipped. Rare classes "
            f"({md_escape(f.rare_rule)}): {md_escape(', '.join(rare)) if rare else 'none'}.",
            "",
            "| class | n | rare | flipped | mean TV | recall change | 95% CI | gate |",
            "| --- | ---: | --- | ---: | ---: | ---: | --- | --- |",
        ]
        for r in f.classes.head(top).iter_rows(named=True):
            ci = "" if r["ci_low"] is None else f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
            lines.append(
                f"| {md_escape(r['class'])} | {r['n']} | {'**rare**' if r['rare'] else ''} | "
                f"{_num(r['flip_rate'], '{:.1%}')} | {_num(r['mean_tv'], '{:.3f}')} | "
                f"{_num(r['change'], '{:+.4f}')} | {ci} | {r['gate'] or ''} |"
            )
        lines += [
            "",
            "| slice | n | flipped | mean TV | accuracy change | 95% CI | gate |",
            "| --- | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for r in f.slices.head(top + 1).iter_rows(named=True):
            ci = "" if r["ci_low"] is None else f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
            lines.append(
                f"| {md_escape(r['slice'])} | {r['n']} | {_num(r['flip_rate'], '{:.1%}')} | "
                f"{_num(r['mean_tv'], '{:.3f}')} | {_num(r['change'], '{:+.4f}')} | {ci} | "
                f"{r['gate'] or ''} |"
            )
        samples = f.top(top)
        if samples.height:
            lines += [
                "",
                "| sample_id | label | before | after | TV |",
                "| --- | --- | --- | --- | ---: |",
            ]
            for r in samples.iter_rows(named=True):
                lines.append(
                    f"| {md_escape(r['sample_id'])} | {md_escape(r['label'])} | "
                    f"{md_escape(r['before'])} ({r['p_before']:.2f}) | "
                    f"{md_escape(r['after'])} ({r['p_after']:.2f}) | {r['tv']:.3f} |"
                )
    lines.append(f"\nAll samples, ranked, in `{FORGOTTEN}`.")
    return lines
