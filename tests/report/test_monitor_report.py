"""The monitor dashboard (HTML), Markdown summary and JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from datacentric.monitor import Monitor
from datacentric.report.monitor import line_chart_svg
from tests.monitor._data import DAY, SLICES, reference, rows, shift


@pytest.fixture(scope="module")
def mon(tmp_path_factory: pytest.TempPathFactory) -> Monitor:
    path = tmp_path_factory.mktemp("mon") / "m.duckdb"
    m = Monitor(path, reference=reference(), slices=SLICES)
    m.ingest(rows(3000, seed=1))
    day2 = DAY + dt.timedelta(days=1)
    m.ingest(shift(rows(6000, seed=2, start=day2, id_prefix="d2"), "brightness", -0.08, "cam_d"))
    return m


def test_html_is_self_contained_with_plots_and_the_alert(mon: Monitor, tmp_path: Path) -> None:
    path = mon.report(tmp_path / "dash.html")
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<script" not in html
    assert "camera=cam_d" in html and "brightness drifted" in html
    assert html.count("<svg") >= 7  # a drift chart per slice (7) and accuracy charts
    assert html.count("<polyline") >= 7  # two windows -> a line per metric
    # the alerted slice is shown first
    assert html.index("<h3>camera=cam_d") < html.index("<h3>overall")


def test_markdown_and_json(mon: Monitor, tmp_path: Path) -> None:
    md = mon.report(tmp_path / "s.md").read_text()
    assert md.startswith("# Production monitor")
    assert "| 2024-05-02 00:00 | camera=cam_d | brightness | ks_p_value |" in md
    data = json.loads(mon.report(tmp_path / "s.json").read_text())
    assert data["status"]["n_rows"] == 9000 and data["status"]["n_windows"] == 2
    assert [a["slice"] for a in data["alerts"]] == ["camera=cam_d"]
    assert {r["statistic"] for r in data["window_stats"]} >= {"wasserstein", "ks_p_value", "n"}
    with pytest.raises(ValueError, match=r"\.html, \.md or \.json"):
        mon.report(tmp_path / "x.pdf")


def test_line_chart_gaps_and_escaping() -> None:
    svg = line_chart_svg(["a", "b", "c"], {"<m>": [1.0, None, 2.0]}, reference=1.5)
    assert "&lt;m&gt;" in svg and "<polyline" not in svg  # no two consecutive points
    assert svg.count("<circle") == 2
