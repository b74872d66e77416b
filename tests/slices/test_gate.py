"""compare() and the CI gate: pass/fail/skip, Markdown, JUnit XML, JSON, CLI exit codes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices.compare import compare
from datacentric.slices.gate import check
from datacentric.slices.metrics import METRICS_SCHEMA
from datacentric.slices.result import SliceMetrics
from datacentric.testing import check_parameter_constraints


def run(values: dict[str, tuple[float, int]]) -> SliceMetrics:
    rows = [
        {
            "slice": s,
            "n": n,
            "metric": "accuracy",
            "support": n,
            "value": v,
            "ci_low": None,
            "ci_high": None,
            "delta_vs_overall": 0.0,
            "p_value": None,
            "low_support": n < 30,
        }
        for s, (v, n) in values.items()
    ]
    return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))


BASE = run({"overall": (0.90, 2000), "dark": (0.85, 1000), "tiny": (0.9, 10), "gone": (0.9, 100)})
CUR = run({"overall": (0.905, 2000), "dark": (0.80, 1000), "tiny": (0.5, 10), "new": (0.7, 50)})


def test_compare_statuses_and_interval() -> None:
    c = compare(BASE, CUR)
    by = {r["slice"]: r for r in c.iter_rows(named=True)}
    assert by["dark"]["change"] == pytest.approx(-0.05)
    assert by["dark"]["ci_low"] < -0.05 < by["dark"]["ci_high"] < 0
    assert by["dark"]["status"] == "regressed" and by["dark"]["p_value"] < 0.05
    assert by["overall"]["status"] == "unchanged"
    assert by["gone"]["status"] == "missing" and by["new"]["status"] == "new"


def test_gate_fails_on_slice_even_when_overall_holds() -> None:
    g = check(BASE, CUR, max_drop=0.02, min_n=30)
    status = dict(g.table.select("slice", "status").rows())
    assert status == {
        "overall": "pass",
        "dark": "fail",
        "tiny": "skip",
        "gone": "fail",
        "new": "pass",
    }
    assert not g.passed
    assert (
        check(BASE, CUR, max_drop=0.06, min_n=30)
        .table.filter(pl.col("slice") == "dark")["status"]
        .item()
        == "pass"
    )


def test_outputs(tmp_path: Path) -> None:
    g = check(BASE, CUR)
    g.write(markdown=tmp_path / "g.md", junit=tmp_path / "g.xml", json_path=tmp_path / "g.json")
    md = (tmp_path / "g.md").read_text()
    assert md.startswith("❌ **Slice gate failed**")
    assert "| ❌ | dark |" in md and "dropped 0.0500" in md
    root = ET.parse(tmp_path / "g.xml").getroot()
    assert root.get("tests") == "5" and root.get("failures") == "2" and root.get("skipped") == "1"
    names = [tc.get("name") for tc in root.iter("testcase")]
    assert "accuracy[dark]" in names
    data = json.loads((tmp_path / "g.json").read_text())
    assert data["passed"] is False and len(data["slices"]) == 5


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="max_drop"):
        check(BASE, CUR, max_drop=-1)
    with pytest.raises(InvalidParameterError, match="neither run has metric"):
        compare(BASE, CUR, metric="macro_f2")
    with pytest.raises(InvalidParameterError, match=r"^check: parameter min_n must be an integer"):
        check(BASE, CUR, min_n=2.5)
    with pytest.raises(InvalidParameterError, match=r"^compare: parameter baseline must be an "):
        compare(BASE.table, CUR)  # type: ignore[arg-type]

    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        SliceMetrics.load(tmp_path / "x.json")
    with pytest.raises(InvalidParameterError, match="no slice metrics"):
        SliceMetrics.load(tmp_path / "missing.json")


def test_every_declared_parameter_is_checked() -> None:
    assert check_parameter_constraints(check, {"baseline": BASE, "current": CUR}) == 18
    assert check_parameter_constraints(compare, {"baseline": BASE, "current": CUR}) == 9


def test_cli_gate_exit_codes(tmp_path: Path) -> None:
    BASE.save(tmp_path / "base.json")
    CUR.save(tmp_path / "cur.json")
    runner = CliRunner()
    bad = runner.invoke(
        app,
        [
            "slices",
            "check",
            "--baseline",
            str(tmp_path / "base.json"),
            "--current",
            str(tmp_path / "cur.json"),
            "--max-drop",
            "0.02",
            "--markdown",
            str(tmp_path / "s.md"),
            "--junit",
            str(tmp_path / "j.xml"),
        ],
    )
    assert bad.exit_code == 1, bad.output
    assert "FAIL dark" in bad.output and (tmp_path / "j.xml").is_file()
    ok = runner.invoke(
        app,
        [
            "slices",
            "check",
            "--baseline",
            str(tmp_path / "base.json"),
            "--current",
            str(tmp_path / "base.json"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "Slice gate passed" in ok.output
    missing = runner.invoke(
        app,
        [
            "slices",
            "check",
            "--baseline",
            str(tmp_path / "nope.json"),
            "--current",
            str(tmp_path / "base.json"),
        ],
    )
    assert missing.exit_code == 1 and "no slice metrics" in missing.output


def test_round_trip(tmp_path: Path) -> None:
    path = BASE.save(tmp_path / "m.json")
    back = SliceMetrics.load(path)
    assert back.table.equals(BASE.table)


def test_gate_edge_cases() -> None:
    # exactly the allowed drop passes despite float rounding (0.90 -> 0.88 is -0.0200...018)
    b = run({"overall": (0.90, 5000)})
    c = run({"overall": (0.88, 5000)})
    assert check(b, c, max_drop=0.02).passed
    assert not check(b, c, max_drop=0.019).passed


def test_gate_on_ece_lower_is_better() -> None:
    def ece_run(v: float) -> SliceMetrics:
        rows = [
            {
                "slice": "overall",
                "n": 1000,
                "metric": "ece",
                "support": 1000,
                "value": v,
                "ci_low": None,
                "ci_high": None,
                "delta_vs_overall": 0.0,
                "p_value": None,
                "low_support": False,
            }
        ]
        return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))

    assert check(ece_run(0.10), ece_run(0.02), metric="ece").passed  # calibration improved
    worse = check(ece_run(0.02), ece_run(0.10), metric="ece", require_significant=True)
    assert not worse.passed
    assert "ece rose 0.0800" in worse.failures["reason"].item()


def test_min_n_uses_the_metric_support() -> None:
    def rec(support: int, value: float) -> SliceMetrics:
        rows = [
            {
                "slice": "big",
                "n": 5000,
                "metric": "recall[2]",
                "support": support,
                "value": value,
                "ci_low": None,
                "ci_high": None,
                "delta_vs_overall": 0.0,
                "p_value": None,
                "low_support": False,
            }
        ]
        return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))

    g = check(rec(3, 1.0), rec(3, 0.33), metric="recall[2]", min_n=30)
    assert g.passed and g.table["status"].item() == "skip"


def test_empty_slice_is_skipped_not_passed() -> None:
    empty = {
        "slice": "rare",
        "n": 0,
        "metric": "accuracy",
        "support": 0,
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "delta_vs_overall": None,
        "p_value": None,
        "low_support": True,
    }
    base = run({"overall": (0.9, 500), "rare": (0.9, 40)})
    cur = SliceMetrics(
        pl.concat(
            [run({"overall": (0.9, 500)}).table, pl.DataFrame([empty], schema=METRICS_SCHEMA)]
        )
    )
    g = check(base, cur)
    row = g.table.filter(pl.col("slice") == "rare").row(0, named=True)
    assert row["comparison"] == "empty" and row["status"] == "skip"
