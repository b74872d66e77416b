"""`ScanResult`: the issue table of a scan, its summaries, persistence and reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._io import atomic_write
from datacentric._read import check_fields, describe, parquet_metadata, parse_json, read_parquet
from datacentric.exceptions import InvalidParameterError, SchemaError

__all__ = ["ScanResult"]

_META_KEY = "datacentric_scan"
_FORMAT = 1
_META_FIELDS = {
    "format": "int",
    "classes": "list",
    "skipped": "dict|null",
    "statistics": "dict|null",
    "timings": "dict|null",
    "params": "dict|null",
    "meta": "dict|null",
}
_ISSUE_COLUMNS = {
    "sample_id": "string",
    "issue_type": "string",
    "is_issue": "bool",
    "severity": "number",
    "suggested_label": "any",
    "detail": "any",
}
_SAMPLE_COLUMNS = {"sample_id": "string", "label": "any"}


@dataclass
class ScanResult:
    """What a scan found.

    Attributes
    ----------
    issues : polars.DataFrame
        One row per (sample, issue type) examined: ``sample_id, issue_type, is_issue,
        severity, suggested_label, detail`` and finder-specific columns (null elsewhere).
    samples : polars.DataFrame
        The scanned samples: ``sample_id, label, split`` and the metadata columns.
    classes : list of str
    skipped : dict
        Finder name → why it did not run (a missing input).
    statistics : dict
        Finder name → dataset-level statistics (class distribution, agreement, ...).
    timings : dict
        Step name → seconds.
    params : dict
        Finder name → parameters used.
    predictions : datacentric.train.Predictions or None
        The out-of-sample predictions the scan used (given or cross-validated), in manifest
        order; kept in memory only (``save`` does not write them: see
        ``Predictions.save``).
    meta : dict
        Dataset root and version, where predictions (and predicted boxes) came from, when.
    predicted_boxes : polars.DataFrame or None
        Detection scans: the predicted boxes the box finders used (given or
        cross-validated); kept in memory only, like ``predictions``.
    """

    issues: pl.DataFrame
    samples: pl.DataFrame
    classes: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    statistics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    predictions: Any = field(default=None, repr=False, compare=False)
    predicted_boxes: Any = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ views
    def to_polars(self) -> pl.DataFrame:
        """The whole issue table."""
        return self.issues

    @property
    def issue_types(self) -> list[str]:
        """Issue types that were examined, in table order."""
        return self.issues["issue_type"].unique(maintain_order=True).to_list()

    def flagged(self, issue_type: str | list[str] | None = None) -> pl.DataFrame:
        """Flagged rows (``is_issue``), worst first; optionally of some issue types only.

        Each row is joined with the sample's label, split and metadata.
        """
        t = self.issues.filter(pl.col("is_issue"))
        if issue_type is not None:
            types = [issue_type] if isinstance(issue_type, str) else list(issue_type)
            unknown = sorted(set(types) - set(self.issue_types))
            if unknown:
                raise InvalidParameterError(
                    f"unknown issue type(s) {unknown}; this scan has {self.issue_types}."
                )
            t = t.filter(pl.col("issue_type").is_in(types))
        t = t.join(self.samples, on="sample_id", how="left")
        return t.sort(["severity", "issue_type", "sample_id"], descending=[True, False, False])

    def summary(self) -> dict[str, pl.DataFrame]:
        """Counts of flagged samples per issue type, per class and per slice column.

        Returns
        -------
        dict
            ``"by_type"``: issue_type, n_flagged, n_examined, rate, mean_severity.
            ``"by_class"``: label, issue_type, n_flagged, n, rate.
            ``"by_slice"``: column, value, issue_type, n_flagged, n, rate — one block per
            metadata column (and ``split``).
        """
        by_type = (
            self.issues.group_by("issue_type", maintain_order=True)
            .agg(
                pl.col("is_issue").sum().alias("n_flagged"),
                pl.len().alias("n_examined"),
                pl.col("severity").filter(pl.col("is_issue")).mean().alias("mean_severity"),
            )
            .with_columns((pl.col("n_flagged") / pl.col("n_examined")).alias("rate"))
        )
        # the join of every issue row with its sample is streamed down to the counts, one
        # query per grouping (a whole join at 1 M images, 16 M rows: +1.2 GB of memory)
        joined = (
            self.issues.lazy()
            .select("sample_id", "issue_type", "is_issue")
            .join(self.samples.lazy(), on="sample_id", how="left")
        )
        by_class = (
            joined.group_by("label", "issue_type")
            .agg(pl.col("is_issue").sum().alias("n_flagged"), pl.len().alias("n"))
            .collect(engine="streaming")
            .with_columns((pl.col("n_flagged") / pl.col("n")).alias("rate"))
            .sort("label", "issue_type", nulls_last=True)
        )
        slice_cols = [c for c in self.samples.columns if c not in ("sample_id", "label", "image")]
        blocks = [
            joined.group_by(pl.col(c).cast(pl.Utf8).alias("value"), "issue_type")
            .agg(pl.col("is_issue").sum().alias("n_flagged"), pl.len().alias("n"))
            .collect(engine="streaming")
            .with_columns(
                pl.lit(c).alias("column"), (pl.col("n_flagged") / pl.col("n")).alias("rate")
            )
            .select("column", "value", "issue_type", "n_flagged", "n", "rate")
            for c in slice_cols
        ]
        by_slice = (
            pl.concat(blocks).sort("column", "value", "issue_type", nulls_last=True)
            if blocks
            else pl.DataFrame(
                schema={
                    "column": pl.Utf8,
                    "value": pl.Utf8,
                    "issue_type": pl.Utf8,
                    "n_flagged": pl.UInt32,
                    "n": pl.UInt32,
                    "rate": pl.Float64,
                }
            )
        )
        return {"by_type": by_type, "by_class": by_class, "by_slice": by_slice}

    def __repr__(self) -> str:
        counts = self.summary()["by_type"].select("issue_type", "n_flagged").rows()
        found = ", ".join(f"{t}={n}" for t, n in counts)
        skipped = f"; skipped {sorted(self.skipped)}" if self.skipped else ""
        return f"ScanResult({self.samples.height} samples; flagged {found}{skipped})"

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (Parquet issue table with the scan's metadata) and
        ``<stem>.samples.parquet`` next to it. Both are written atomically.
        """
        path = Path(path)
        if path.suffix != ".parquet":
            raise InvalidParameterError(
                f"a scan is saved as Parquet; received {str(path)!r}. Use a path ending in "
                "'.parquet' (e.g. scan.parquet)."
            )
        meta = {
            "format": _FORMAT,
            "classes": self.classes,
            "skipped": self.skipped,
            "statistics": self.statistics,
            "timings": self.timings,
            "params": self.params,
            "meta": self.meta,
        }
        atomic_write(_samples_path(path), self.samples.write_parquet)
        kv = {_META_KEY: json.dumps(meta, default=str)}
        return atomic_write(path, lambda tmp: self.issues.write_parquet(tmp, metadata=kv))

    @classmethod
    def load(cls, path: str | Path) -> ScanResult:
        """Read a scan written by :meth:`save`.

        Raises
        ------
        InvalidParameterError
            When there is no file at ``path``.
        SchemaError
            When the file (or its ``.samples.parquet``) is not a scan written by
            :meth:`save`: not Parquet, truncated, without the scan metadata, or with columns
            or metadata fields of the wrong type.
        """
        path = Path(path)
        if not path.is_file():
            raise InvalidParameterError(
                f"no scan at {path}; run `datacentric scan DIR --out {path}`."
            )
        what = "a scan written by ScanResult.save / `datacentric scan --out`"
        fix = f"Run the scan again: `datacentric scan DIR --out {path}`."
        kv = parquet_metadata(path, what=what, fix=fix)
        if _META_KEY not in kv:
            raise SchemaError(
                f"{path} is a Parquet file but not a datacentric scan (no {_META_KEY!r} "
                f"metadata). {fix}"
            )
        meta = check_fields(
            parse_json(kv[_META_KEY], f"{path} (metadata {_META_KEY!r})", what=what, fix=fix),
            _META_FIELDS,
            f"{path} (metadata {_META_KEY!r})",
            what=what,
            fix=fix,
            required=["classes"],
        )
        if meta.get("format", _FORMAT) != _FORMAT:
            raise SchemaError(
                f"{path} is a scan of format {describe(meta.get('format'))}; this datacentric "
                f"reads format {_FORMAT}. {fix}"
            )
        for name, kind in (("skipped", str), ("timings", (int, float)), ("statistics", dict)):
            bad = next(
                (k for k, v in (meta.get(name) or {}).items() if not isinstance(v, kind)), None
            )
            if bad is not None:
                raise SchemaError(
                    f"{path}: the scan metadata field {name!r} holds "
                    f"{describe(meta[name][bad])} for {describe(bad)}. {fix}"
                )
        if not isinstance((meta.get("meta") or {}).get("root", ""), (str, type(None))):
            raise SchemaError(f"{path}: the scan metadata's dataset root is not text. {fix}")
        if not all(isinstance(c, str) for c in meta["classes"]):
            bad = next(c for c in meta["classes"] if not isinstance(c, str))
            raise SchemaError(
                f"{path}: the scan's classes include {describe(bad)}, not text. {fix}"
            )
        samples_path = _samples_path(path)
        if not samples_path.is_file():
            raise SchemaError(f"{path} has no companion {samples_path.name}; save the scan again.")
        issues = read_parquet(path, what=what, fix=fix, columns=_ISSUE_COLUMNS)
        samples = read_parquet(samples_path, what=what, fix=fix, columns=_SAMPLE_COLUMNS)
        return cls(
            issues=issues,
            samples=samples,
            classes=list(meta["classes"]),
            skipped=meta.get("skipped") or {},
            statistics=meta.get("statistics") or {},
            timings=meta.get("timings") or {},
            params=meta.get("params") or {},
            meta=meta.get("meta") or {},
        )

    def report(self, path: str | Path, *, dataset: Any = None, top: int = 12) -> Path:
        """Render a report by the suffix of ``path``: ``.html`` (self-contained, with plots
        and thumbnails of the ``top`` worst items per type when ``dataset`` is given) or
        ``.md``; see :func:`datacentric.report.write`."""
        from datacentric.report import write

        return write(self, path, dataset=dataset, top=top)


def _samples_path(path: Path) -> Path:
    return path.with_name(path.stem + ".samples.parquet")
