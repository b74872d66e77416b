"""A detector export report with missing or NaN numbers (latency not measured, a NaN mAP, an
empty or NaN interval, no manifest, a slice named like markup) renders to HTML, Markdown and
JSON without a traceback: the gaps are blank cells, the markup is escaped."""

from __future__ import annotations

import math
import re
from pathlib import Path

import polars as pl

from datacentric.export import DetectorArtefact, DetectorExportReport
from datacentric.report import render_export_html
from tests.report._detector_export import manifest


def _hostile(out_dir: Path, with_manifest: bool) -> DetectorExportReport:
    nan = math.nan
    torch = DetectorArtefact("torch", None, 0, nan, {}, nan)
    verdict = pl.DataFrame(
        {
            "slice": ["overall", "site=<script>x</script>", "empty", "all-missing"],
            "n": [10, 5, 0, 3],
            "before": [nan, 0.5, None, nan],
            "after": [0.4, 0.3, None, nan],
            "diff": [nan, -0.2, None, nan],
            "ci_low": [None, nan, None, nan],
            "ci_high": [None, 0.1, None, nan],
            "low_support": [False, False, True, False],
            "gate": ["pass", "fail", "skip", "fail"],
        }
    )
    int8 = DetectorArtefact(
        "onnx-int8-static",
        None,
        100,
        math.inf,
        {"p50@1": nan, "p50@16": 0.0, "p95@16": nan},
        nan,
        verdict=verdict,
        passed=False,
        extra={"max_abs_box_diff_px": nan},
    )
    bare = DetectorArtefact("onnx-fp32", None, 100, nan, {}, nan, passed=None)  # no verdict
    return DetectorExportReport(torch, [int8, bare], manifest() if with_manifest else {}, out_dir)


def test_nan_and_missing_numbers_render_without_a_traceback(tmp_path: Path) -> None:
    report = _hostile(tmp_path, with_manifest=True)
    report.write()  # export.json, export.md, export.html
    doc = (tmp_path / "export.html").read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert "<script>" not in doc and "site=&lt;script&gt;x&lt;/script&gt;" in doc
    assert "nan" not in re.sub(r"<[^>]+>", " ", doc).lower().split()  # no 'nan' cell
    # no speed-up is known (torch has no latency): the card is a dash, not a crash
    assert re.search(r'<div class="value">—</div><div class="label">Best speed-up @16', doc)
    assert "site=&lt;script&gt;x&lt;/script&gt;: mAP@0.5 dropped 20.0 pt" in doc
    assert "all-missing: mAP@0.5 dropped (n/a)" in doc
    md = (tmp_path / "export.md").read_text(encoding="utf-8")
    assert "**FAIL**" in md and "nan" not in md.lower()


def test_a_report_without_manifest_or_forms_renders(tmp_path: Path) -> None:
    report = _hostile(tmp_path, with_manifest=False)
    assert "Detector export" in render_export_html(report)
    assert "Detector export" in report.to_markdown()
    empty = DetectorExportReport(report.baseline, [], {}, tmp_path)
    doc = render_export_html(empty)
    assert "Slice gate on mAP@0.5 passed" in doc and 'class="num hot"' not in doc
