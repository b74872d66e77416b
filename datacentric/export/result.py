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
from datacentric.slices.gate import GateResult
from datacentric.slices.result import SliceMetrics

__all__ = ["ArtefactResult", "CompressionReport", "sha256_file"]

MANIFEST = "export.json"
SUMMARY = "export.md"
CHANGED = "changed_predictions.parquet"
HTML_REPORT = "export.html"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
        if self.gate is None:
            return None, None
        t = self.gate.table.filter(
            (pl.col("status") != "skip") & pl.col("change").is_not_null()
        ).sort("change")
        if t.height == 0:
            return None, None
        return str(t["slice"][0]), float(t["change"][0])

    def summary(self) -> dict[str, Any]:
        """The JSON-able facts of this artefact for the manifest."""
        worst, delta = self.worst_slice
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
        """Whether every artefact passed the slice gate."""
        return all(a.gate is None or a.gate.passed for a in self.artefacts)

    @property
    def failed_targets(self) -> list[str]:
        """The targets whose gate failed."""
        return [a.target for a in self.artefacts if a.gate is not None and not a.gate.passed]

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
            "| worst slice | change | changed | gate |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
        ]
        for a in [self.baseline, *self.artefacts]:
            worst, delta = a.worst_slice
            gate = "" if a.gate is None else ("pass" if a.gate.passed else "**FAIL**")
            lat = a.latency_ms
            lines.append(
                f"| {md_escape(a.target)} | {format_bytes(a.size_bytes)} | {a.size_ratio:.2f} | "
                f"{lat.get('p50@1', math.nan):.2f} | {lat.get('p95@1', math.nan):.2f} | "
                f"{lat.get('p50@64', math.nan):.2f} | {lat.get('p95@64', math.nan):.2f} | "
                f"{a.accuracy:.4f} | {md_escape(worst)} | "
                f"{'' if delta is None else f'{delta:+.4f}'} | {a.changed.height} | {gate} |"
            )
        low = self.baseline.low_support()
        if low:
            listed = md_escape(", ".join(f"{k} (n={v})" for k, v in sorted(low.items())))
            lines += ["", f"⚪ Low support, not gated (fewer than min_n test rows): {listed}."]
        for a in self.artefacts:
            if a.gate is not None and not a.gate.passed:
                lines += ["", f"## Gate: {md_escape(a.target)}", "", a.gate.to_markdown()]
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
