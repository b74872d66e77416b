"""`SliceMetrics`: metrics by slice as a polars table, saved as JSON for CI baselines."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._io import atomic_write_text
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices.metrics import METRICS_SCHEMA, OVERALL

__all__ = ["SliceMetrics"]

_FORMAT = 1


@dataclass
class SliceMetrics:
    """Metrics overall and per slice.

    Attributes
    ----------
    table : polars.DataFrame
        ``slice, n, metric, value, ci_low, ci_high, delta_vs_overall, p_value,
        low_support`` — one row per (slice, metric); ``"overall"`` first.
    meta : dict
        What was evaluated: dataset root/version, split, classes, slice definitions,
        min_n, the model, when.
    """

    table: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def to_polars(self) -> pl.DataFrame:
        """The long table."""
        return self.table

    @property
    def slices(self) -> list[str]:
        """Slice names, ``"overall"`` first."""
        return self.table["slice"].unique(maintain_order=True).to_list()

    def metric(self, name: str = "accuracy") -> pl.DataFrame:
        """One metric for every slice, worst first (by ``delta_vs_overall``)."""
        have = self.table["metric"].unique().to_list()
        if name not in have:
            raise InvalidParameterError(
                f"no metric {name!r} in these results; available: {sorted(have)}."
            )
        return self.table.filter(pl.col("metric") == name).sort("delta_vs_overall", nulls_last=True)

    def wide(self, metrics: list[str] | None = None) -> pl.DataFrame:
        """One row per slice, one column per metric value."""
        t = self.table if metrics is None else self.table.filter(pl.col("metric").is_in(metrics))
        return t.pivot(on="metric", index=["slice", "n", "low_support"], values="value")

    def __repr__(self) -> str:
        acc = self.table.filter((pl.col("metric") == "accuracy") & (pl.col("slice") == OVERALL))
        overall = f"overall accuracy {acc['value'][0]:.4f}, " if acc.height else ""
        return f"SliceMetrics({overall}{len(self.slices) - 1} slices)"

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> str:
        """JSON text: ``{"format", "meta", "rows"}`` (NaN written as null)."""
        rows = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in self.table.iter_rows(named=True)
        ]
        return json.dumps(
            {"format": _FORMAT, "meta": self.meta, "rows": rows}, indent=1, default=str
        )

    def save(self, path: str | Path) -> Path:
        """Write JSON atomically (a CI baseline is usually one of these)."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> SliceMetrics:
        """Read JSON written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise InvalidParameterError(
                f"no slice metrics at {path}; create them with `datacentric slices evaluate` "
                "or SliceMetrics.save()."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}.") from exc
        if not isinstance(data, dict) or "rows" not in data:
            raise SchemaError(
                f"{path} is JSON but not datacentric slice metrics (no 'rows'); received keys "
                f"{sorted(data) if isinstance(data, dict) else type(data).__name__}."
            )
        missing = [c for c in METRICS_SCHEMA if data["rows"] and c not in data["rows"][0]]
        if missing:
            raise SchemaError(f"{path}: metric rows lack {missing}.")
        table = pl.DataFrame(data["rows"], schema=METRICS_SCHEMA)
        return cls(table=table, meta=data.get("meta", {}))

    def report(self, path: str | Path, *, baseline: SliceMetrics | None = None) -> Path:
        """Render ``.html`` (self-contained, plots with intervals), ``.md`` or ``.json`` by
        the suffix of ``path``, compared with ``baseline`` when given; see
        :func:`datacentric.report.write`."""
        from datacentric.report import write

        return write(self, path, baseline=baseline)
