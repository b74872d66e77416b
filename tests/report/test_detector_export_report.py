"""The detector export report (``export.html``): the classification export page's template and
renderer, filled with mAP@0.5, per-slice intervals, box differences and the gate per form.

Known content from a hand-made report (every number set by the test), then the page that
``export_detector`` writes for a small fitted CenterNet, against that report's own numbers.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.export import DetectorExportReport
from datacentric.report import render_export_html, write
from datacentric.report.export import detector_slice_frame
from tests.report._detector_export import known_report

_TAG = re.compile(r"<[^>]+>")


def _rows(doc: str) -> dict[str, list[str]]:
    """Every table row of the page by its first cell: the texts of its cells."""
    out = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", doc):
        cells = [html_lib.unescape(_TAG.sub("", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        if cells:
            out.setdefault(cells[0], cells)
    return out


def _section(doc: str, anchor: str) -> str:
    start = doc.index(f'id="{anchor}"')
    return doc[start : doc.index("</section>", start)]


def test_forms_table_cards_and_notes_of_a_known_report() -> None:
    doc = render_export_html(known_report())
    assert doc.startswith("<!DOCTYPE html>") and "<title>Detector export</title>" in doc
    assert "Slice gate on mAP@0.5 FAILED" in doc and "dataset /data/scenes version 3, 75" in doc
    # self-contained: nothing to fetch, no script
    assert "https://" not in doc and "<script" not in doc
    assert "http://" not in doc.replace('xmlns="http://www.w3.org/2000/svg"', "")
    forms = _rows(_section(doc, "forms"))
    head = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", _section(doc, "forms"))
    assert head == [
        "form", "size", "vs fp32", "p50@1 ms", "p50@16 ms", "p95@16 ms", "speed-up@16",
        "mAP@0.5", "box Δ", "worst slice", "failing", "gate",
    ]  # fmt: skip
    assert forms["torch"] == [
        "torch", "548.0 KiB", "1.00", "1.800", "22.00", "24.00", "1.00×", "0.8700",
        "reference", "", "", "reference",
    ]  # fmt: skip
    assert forms["onnx-fp32"] == [
        "onnx-fp32", "550.0 KiB", "1.00", "0.750", "11.00", "12.50", "2.00×", "0.8700",
        "2.3e-05 px", "overall (+0.0 pt)", "0", "pass",
    ]  # fmt: skip
    assert forms["onnx-int8-static"] == [
        "onnx-int8-static", "165.0 KiB", "0.30", "1.100", "5.50", "6.00", "4.00×", "0.8500",
        "other boxes", "site=north (-4.0 pt)", "2", "FAIL",
    ]  # fmt: skip
    # the gate per form as a badge
    assert doc.count('<span class="badge high">FAIL</span>') == 1
    assert doc.count('<span class="badge ok">pass</span>') == 1
    cards = dict(
        (label, value)
        for value, label in re.findall(
            r'<div class="value">(.*?)</div><div class="label">(.*?)</div>', doc
        )
    )
    assert cards == {
        "Gate": "failed (1)",
        "Forms": "2",
        "torch mAP@0.5": "0.8700",
        "Best speed-up @16": "4.00×",
        "Smallest size": "0.30 of fp32",
        "fp32 box Δ": "2.3e-05 px",
    }
    assert "post-processing outside the ONNX graph" in doc  # a chip
    assert "Post-processing runs outside the ONNX graph" in doc
    assert "the decoding, CenterNetRecipe.predict_with (3x3 peaks" in doc
    assert "p50 latency at batch 16" in doc and doc.count("<svg") == 4  # 2 bars, 2 forests
    assert "Predictions that changed" not in doc  # classification's gallery only


def test_slice_changes_intervals_and_failing_cells_of_a_known_report() -> None:
    report = known_report()
    frame = detector_slice_frame(report)
    # overall first, then from the worst change up
    assert frame["slice"].to_list() == ["overall", "site=north", "camera=new", "site=south"]
    doc = render_export_html(report)
    part = _section(doc, "slices")
    assert "<h2>mAP@0.5 change by slice</h2>" in part and "at least 30 images" in part
    rows = _rows(part)
    assert rows["site=north"] == [
        "site=north", "40", "0.8500", "+0.0 pt", "[+0.0, +0.0]", "-4.0 pt", "[-7.0, -1.0]",
    ]  # fmt: skip
    assert rows["overall"] == [
        "overall", "75", "0.8700", "+0.0 pt", "[+0.0, +0.0]", "-2.0 pt", "[-3.5, -0.5]",
    ]  # fmt: skip
    # camera=new drops 3 points but has 12 images: not gated, not red
    assert rows["camera=new"][5:] == ["-3.0 pt", "[-10.0, +2.0]"]
    assert part.count('class="num hot"') == 2
    assert '<td class="num hot">-4.0 pt</td>' in part
    assert '<td class="num hot">-2.0 pt</td>' in part
    assert '<td class="num">-3.0 pt</td>' in part
    # forest plots: one per form, the failing slices in the legend
    assert "onnx-int8-static: mAP@0.5 change vs torch (95 % interval)" in part
    assert "fails the gate" in part and "low n" in part


def test_why_the_gate_failed_lists_each_failing_slice() -> None:
    doc = render_export_html(known_report())
    assert '<a href="#gate">Gate</a>' in doc
    part = _section(doc, "gate")
    assert "<h3>onnx-int8-static</h3>" in part and "<h3>onnx-fp32</h3>" not in part
    items = [html_lib.unescape(i) for i in re.findall(r"<li>(.*?)</li>", part)]
    assert items == [
        "overall: mAP@0.5 dropped 2.0 pt (torch 0.8700 → 0.8500, 95 % interval [-3.5, -0.5] "
        "pt), more than the bound of 1.0 pt; n = 75 images.",
        "site=north: mAP@0.5 dropped 4.0 pt (torch 0.8500 → 0.8100, 95 % interval [-7.0, -1.0] "
        "pt), more than the bound of 1.0 pt; n = 40 images.",
    ]


def test_a_passing_report_has_no_gate_section_and_no_red_cell() -> None:
    doc = render_export_html(known_report(failing=False))
    assert "Slice gate on mAP@0.5 passed" in doc
    assert 'id="gate"' not in doc and 'href="#gate"' not in doc
    assert 'class="num hot"' not in doc
    assert doc.count('<span class="badge ok">pass</span>') == 2
    assert '<div class="value">passed</div>' in doc


def test_write_dispatches_a_detector_report_by_suffix(tmp_path: Path) -> None:
    report = known_report(tmp_path)
    assert write(report, tmp_path / "r.html").read_text(encoding="utf-8") == render_export_html(
        report
    )
    assert write(report, tmp_path / "r.md").read_text(encoding="utf-8") == report.to_markdown()
    assert json.loads(write(report, tmp_path / "r.json").read_text())["dataset"]["n_eval"] == 75
    assert report.report(tmp_path / "s.htm").read_text(encoding="utf-8").startswith("<!DOCTYPE")
    with pytest.raises(InvalidParameterError, match=r"DetectorExportReport report is written as"):
        write(report, tmp_path / "r.pdf")
    report.write()
    assert sorted(p.name for p in tmp_path.glob("export.*")) == [
        "export.html",
        "export.json",
        "export.md",
    ]


# --- a small fitted detector's report ---------------------------------------------------------


@pytest.fixture(scope="module")
def fitted_report(tmp_path_factory: pytest.TempPathFactory) -> DetectorExportReport:
    """A tiny CenterNet fitted in seconds, exported with its own boxes as the truth (torch
    scores mAP@0.5 1.0) and a zero bound, so that any box the int8 model moves fails."""
    pytest.importorskip("onnxruntime")
    from datacentric.export import export_detector
    from datacentric.train import CenterNetRecipe
    from tests.train._detection import clean_detection_demo

    root = tmp_path_factory.mktemp("det")
    scenes = clean_detection_demo(root / "scenes", n_scenes=24)
    fitted = CenterNetRecipe(image_size=48, width=8, epochs=2, batch_size=8).fit(
        scenes.filter(pl.col("split") != "test"), seed=0
    )
    found = fitted.predict(scenes).boxes.drop("score").with_row_index("annotation_id")
    ann = found.with_columns(pl.col("annotation_id").cast(pl.Utf8))
    ds = Dataset(scenes.manifest, scenes.classes, scenes.root, annotations=ann)
    return export_detector(
        fitted, ds, targets="onnx-fp32,onnx-int8-static", out_dir=root / "out", max_drop=0.0,
        n_boot=100, latency_repeats=2, min_n=1, slices=[],
    )  # fmt: skip


def test_the_page_of_a_fitted_detector_shows_its_numbers(
    fitted_report: DetectorExportReport,
) -> None:
    report = fitted_report
    doc = (report.out_dir / "export.html").read_text(encoding="utf-8")
    assert doc == render_export_html(report)
    fp32, int8 = report["onnx-fp32"], report["onnx-int8-static"]
    assert report.baseline.map50 == pytest.approx(1.0) and fp32.passed and not int8.passed
    forms = _rows(_section(doc, "forms"))
    for a in (report.baseline, fp32, int8):
        row = forms[a.target]
        assert row[2] == f"{a.size_ratio:.2f}" and row[7] == f"{a.map50:.4f}"
        lat = a.latency_ms
        assert row[3] == f"{lat['p50@1']:.3f}" and row[4] == f"{lat['p50@16']:.2f}"
    assert forms["onnx-fp32"][8] == f"{fp32.extra['max_abs_box_diff_px']:.2g} px"
    assert forms["onnx-fp32"][10:] == ["0", "pass"]
    assert forms["onnx-int8-static"][10:] == [str(len(int8.failing_slices)), "FAIL"]
    # one red cell per failing slice of int8 (fp32's boxes equal torch's: none), each named
    part = _section(doc, "slices")
    assert part.count('class="num hot"') == len(int8.failing_slices) >= 1
    rows = _rows(part)
    assert int8.verdict is not None
    for r in int8.verdict.iter_rows(named=True):
        assert rows[r["slice"]][5] == f"{r['diff'] * 100:+.1f} pt"
        assert rows[r["slice"]][6] == f"[{r['ci_low'] * 100:+.1f}, {r['ci_high'] * 100:+.1f}]"
    reasons = re.findall(r"<li>(.*?):", _section(doc, "gate"))
    assert sorted(html_lib.unescape(x) for x in reasons) == sorted(int8.failing_slices)
    # the Markdown summary tells the same story
    md = (report.out_dir / "export.md").read_text(encoding="utf-8")
    assert "**FAIL**" in md and f"{int8.map50:.4f}" in md
