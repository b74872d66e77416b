"""``datacentric.report.write``: one entry point, dispatching on the type and the suffix."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError
from datacentric.report import renderers, write
from datacentric.slices.gate import GateResult, check
from datacentric.slices.metrics import METRICS_SCHEMA
from datacentric.slices.result import SliceMetrics


def _metrics(acc_b: float) -> SliceMetrics:
    rows = [
        {
            "slice": s,
            "n": n,
            "metric": "accuracy",
            "support": n,
            "value": v,
            "ci_low": v - 0.05,
            "ci_high": min(v + 0.05, 1.0),
            "delta_vs_overall": v - 0.9,
            "p_value": 0.5,
            "low_support": False,
        }
        for s, n, v in (("overall", 400, 0.9), ("site=a", 200, 0.92), ("site=b", 200, acc_b))
    ]
    return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA), {"min_n": 30})


def test_slice_metrics_by_suffix(tmp_path: Path) -> None:
    m = _metrics(0.88)
    assert write(m, tmp_path / "m.HTML").read_text(encoding="utf-8").startswith("<!DOCTYPE")
    assert "| site=b |" in write(m, tmp_path / "m.md").read_text(encoding="utf-8")
    assert SliceMetrics.load(write(m, tmp_path / "m.json")).table.equals(m.table)
    out = write(m, tmp_path / "cmp.html", baseline=_metrics(0.95)).read_text(encoding="utf-8")
    assert "Compared with baseline" in out
    assert m.report(tmp_path / "d.htm").read_text(encoding="utf-8").startswith("<!DOCTYPE")


def test_gate_result_as_markdown_junit_and_json(tmp_path: Path) -> None:
    gate = check(_metrics(0.95), _metrics(0.80), max_drop=0.02, min_n=30)
    assert isinstance(gate, GateResult) and not gate.passed
    suite = ET.parse(write(gate, tmp_path / "gate.xml")).getroot()
    assert suite.tag == "testsuite" and suite.get("failures") == "1"
    assert json.loads(write(gate, tmp_path / "gate.json").read_text())["passed"] is False
    assert "Slice gate failed" in write(gate, tmp_path / "gate.md").read_text(encoding="utf-8")
    with pytest.raises(InvalidParameterError, match=r"GateResult .* \.md, \.xml or \.json"):
        write(gate, tmp_path / "gate.html")


def test_unknown_suffix_names_the_supported_ones_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError) as err:
        write(_metrics(0.9), tmp_path / "m.pdf")
    assert str(err.value) == (
        f"a SliceMetrics report is written as .html, .md or .json; received "
        f"{str(tmp_path / 'm.pdf')!r} (suffix '.pdf'). Give the path one of those suffixes."
    )
    with pytest.raises(InvalidParameterError, match=r"suffix 'none'"):
        write(_metrics(0.9), tmp_path / "noext")
    assert not list(tmp_path.iterdir())


def test_unknown_type_and_unknown_option() -> None:
    with pytest.raises(InvalidParameterError, match=r"cannot render a dict; it renders .*Monitor"):
        write({"a": 1}, "x.html")
    with pytest.raises(InvalidParameterError, match=r"takes the options \['baseline', 'metric'\]"):
        write(_metrics(0.9), "x.html", dataset=None)


def test_every_type_has_html_or_markdown() -> None:
    from datacentric.monitor import Monitor

    assert write.__module__ == "datacentric.report._dispatch"
    types = {cls for cls in renderers.registry if cls is not object}
    assert {t.__name__ for t in types} >= {
        "ScanResult",
        "SliceMetrics",
        "ExperimentLog",
        "CompressionReport",
        "GateResult",
    }
    tables = [renderers.dispatch(cls)(None) for cls in types]
    tables.append(renderers(Monitor.__new__(Monitor)))  # registered on first use
    for table in tables:
        assert set(table) & {".html", ".md"} and set(table) <= {".html", ".md", ".json", ".xml"}
