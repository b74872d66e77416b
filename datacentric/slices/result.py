"""`SliceMetrics`: metrics by slice as a polars table, saved as JSON for CI baselines."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._io import atomic_write_text
from datacentric._read import check_fields, describe, read_json
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices.metrics import METRICS_SCHEMA, OVERALL

__all__ = ["SliceMetrics"]

_FORMAT = 1
# JSON kinds of the saved rows (NaN is written as null)
_ROW_FIELDS = {
    "slice": "str",
    "n": "int",
    "metric": "str",
    "support": "int|null",
    "value": "number|null",
    "ci_low": "number|null",
    "ci_high": "number|null",
    "delta_vs_overall": "number|null",
    "p_value": "number|null",
    "low_support": "bool|null",
}


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
        overall = ""
        for name in ("accuracy", "map"):
            row = self.table.filter((pl.col("metric") == name) & (pl.col("slice") == OVERALL))
            if row.height and row["value"][0] is not None:
                overall = f"overall {name} {row['value'][0]:.4f}, "
                break
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
        """Read JSON written by :meth:`save`.

        Raises
        ------
        InvalidParameterError
            When there is no file at ``path``.
        SchemaError
            When the file is not slice metrics written by :meth:`save`: not JSON, truncated,
            or rows lacking fields or holding values of the wrong type (``file (row i)``).
        """
        path = Path(path)
        if not path.is_file():
            raise InvalidParameterError(
                f"no slice metrics at {path}; create them with `datacentric slices evaluate` "
                "or SliceMetrics.save()."
            )
        what = "slice metrics written by SliceMetrics.save / `datacentric slices evaluate`"
        fix = "Write them again with `datacentric slices evaluate ... --out FILE.json`."
        data = check_fields(
            read_json(path, what=what, fix=fix),
            {"format": "int", "meta": "dict|null", "rows": "list"},
            str(path),
            what=what,
            fix=fix,
            required=["rows"],
        )
        if data.get("format", _FORMAT) != _FORMAT:
            raise SchemaError(
                f"{path}: slice metrics of format {describe(data.get('format'))}; this "
                f"datacentric reads format {_FORMAT}. {fix}"
            )
        for i, row in enumerate(data["rows"]):
            check_fields(
                row,
                _ROW_FIELDS,
                f"{path} (row {i})",
                what="a row of slice metrics",
                fix=fix,
                required=list(METRICS_SCHEMA),
            )
        try:
            table = pl.DataFrame(data["rows"], schema=METRICS_SCHEMA)
        except (ValueError, TypeError, OverflowError, pl.exceptions.PolarsError) as exc:
            msg = " ".join(str(exc).split())[:200]
            raise SchemaError(
                f"{path}: the metric rows do not form a table ({msg}). {fix}"
            ) from None
        return cls(table=table, meta=data.get("meta") or {})

    def report(self, path: str | Path, *, baseline: SliceMetrics | None = None) -> Path:
        """Render ``.html`` (self-contained, plots with intervals), ``.md`` or ``.json`` by
        the suffix of ``path``, compared with ``baseline`` when given; see
        :func:`datacentric.report.write`."""
        from datacentric.report import write

        return write(self, path, baseline=baseline)
