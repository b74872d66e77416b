"""A hand-made :class:`DetectorExportReport` with known numbers, for the report tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from datacentric.export import DetectorArtefact, DetectorExportReport


def verdict(rows: list[tuple[str, int, float, float, float, float, str]]) -> pl.DataFrame:
    """``(slice, n, before, after, ci_low, ci_high, gate)`` rows as a gated verdict frame."""
    return pl.DataFrame(
        [
            {
                "slice": s,
                "metric": "map50",
                "n": n,
                "before": b,
                "after": a,
                "diff": a - b,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": 0.04,
                "verdict": "regressed",
                "low_support": gate == "skip",
                "gate": gate,
            }
            for s, n, b, a, lo, hi, gate in rows
        ]
    )


def manifest(max_drop: float = 0.01, min_n: int = 30) -> dict[str, Any]:
    return {
        "format": "datacentric.export.detector",
        "dataset": {"root": "/data/scenes", "version": 3, "n_eval": 75},
        "recipe": {
            "output": {
                "post_processing": "outside the graph: CenterNetRecipe.predict_with (3x3 peaks, "
                "top max_boxes, min_score, boxes scaled to each image)"
            }
        },
        "settings": {"metric": "map50", "max_drop": max_drop, "min_n": min_n},
    }


def known_report(out_dir: Path = Path("."), *, failing: bool = True) -> DetectorExportReport:
    """torch (mAP@0.5 0.87), onnx-fp32 (no change, boxes within 2.3e-05 px) and
    onnx-int8-static: with ``failing`` it loses 4 points on ``site=north`` and 2 on
    ``overall`` (both fail a 1-point bound) and 3 on the 12-image ``camera=new`` (not gated);
    without, every change is within the bound."""
    torch = DetectorArtefact(
        "torch", None, 561_152, 1.0, {"p50@1": 1.8, "p95@1": 2.0, "p50@16": 22.0, "p95@16": 24.0},
        0.87,
    )  # fmt: skip
    fp32 = DetectorArtefact(
        "onnx-fp32", Path("model-fp32.onnx"), 563_200, 1.0,
        {"p50@1": 0.75, "p95@1": 0.8, "p50@16": 11.0, "p95@16": 12.5}, 0.87,
        verdict=verdict([
            ("overall", 75, 0.87, 0.87, 0.0, 0.0, "pass"),
            ("site=north", 40, 0.85, 0.85, 0.0, 0.0, "pass"),
            ("site=south", 35, 0.89, 0.89, 0.0, 0.0, "pass"),
            ("camera=new", 12, 0.80, 0.80, 0.0, 0.0, "skip"),
        ]),
        passed=True, extra={"max_abs_box_diff_px": 2.3e-05},
    )  # fmt: skip
    drop, gate = (1.0, "fail") if failing else (0.1, "pass")
    int8 = DetectorArtefact(
        "onnx-int8-static", Path("model-int8-static.onnx"), 168_960, 0.3,
        {"p50@1": 1.1, "p95@1": 1.3, "p50@16": 5.5, "p95@16": 6.0}, 0.87 - 0.02 * drop,
        verdict=verdict([
            ("overall", 75, 0.87, 0.87 - 0.02 * drop, -0.035, -0.005, gate),
            ("site=north", 40, 0.85, 0.85 - 0.04 * drop, -0.07, -0.01, gate),
            ("site=south", 35, 0.89, 0.89, -0.01, 0.01, "pass"),
            ("camera=new", 12, 0.80, 0.80 - 0.03 * drop, -0.1, 0.02, "skip"),
        ]),
        passed=not failing, extra={"max_abs_box_diff_px": None, "n_calibration": 128},
    )  # fmt: skip
    return DetectorExportReport(torch, [fp32, int8], manifest(), out_dir)
