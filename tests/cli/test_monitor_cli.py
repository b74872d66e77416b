"""``datacentric monitor ingest|labels|status|report`` on small files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from datacentric.cli import app
from tests.monitor._data import SLICES, reference, rows, shift

runner = CliRunner()


def test_monitor_verbs_end_to_end(tmp_path: Path) -> None:
    reference(6000).write_parquet(tmp_path / "ref.parquet")
    (tmp_path / "slices.yaml").write_text(SLICES)
    (tmp_path / "alerts.yaml").write_text("window: 1d\nmin_rows: 100\n")
    good = rows(3000, seed=1, labels=True)
    good.write_parquet(tmp_path / "day1.parquet")
    bad = shift(rows(6000, seed=2, id_prefix="d2"), "brightness", -0.08, camera="cam_d")
    bad.write_csv(tmp_path / "day2.csv")
    store = str(tmp_path / "m.duckdb")

    result = runner.invoke(app, ["monitor", "status", "--store", store])
    assert result.exit_code == 1 and "does not exist yet" in result.output

    args = ["monitor", "ingest", str(tmp_path / "day1.parquet"), "--store", store,
            "--reference", str(tmp_path / "ref.parquet"), "--slices", str(tmp_path / "slices.yaml"),
            "--config", str(tmp_path / "alerts.yaml"), "--fail-on-alert"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3,000 rows" in result.output and "0 alert(s)" in result.output

    result = runner.invoke(app, args)  # the same file again
    assert result.exit_code == 0 and "skipped" in result.output

    result = runner.invoke(
        app, ["monitor", "ingest", str(tmp_path / "day2.csv"), "--store", store, "--fail-on-alert"]
    )
    assert result.exit_code == 2, result.output
    assert "camera=cam_d" in result.output and "brightness" in result.output

    result = runner.invoke(app, ["monitor", "status", "--store", store, "--format", "json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["n_rows"] == 9000 and status["n_alerts"] == 1 and status["n_labels"] == 3000

    pl.DataFrame({"sample_id": ["nope"], "label": ["cat"]}).write_csv(tmp_path / "lab.csv")
    result = runner.invoke(app, ["monitor", "labels", str(tmp_path / "lab.csv"), "--store", store])
    assert result.exit_code == 1 and "never ingested" in result.output

    outs = [tmp_path / "m.html", tmp_path / "m.md", tmp_path / "m.json"]
    result = runner.invoke(
        app, ["monitor", "report", "--store", store, *[a for p in outs for a in ("-o", str(p))]]
    )
    assert result.exit_code == 0, result.output
    assert all(p.is_file() for p in outs)
    assert json.loads(outs[2].read_text())["alerts"][0]["slice"] == "camera=cam_d"


def test_schema_error_is_one_clear_line(tmp_path: Path) -> None:
    reference(3000).write_parquet(tmp_path / "ref.parquet")
    rows(100, seed=3).drop("contrast").write_parquet(tmp_path / "b.parquet")
    result = runner.invoke(
        app,
        ["monitor", "ingest", str(tmp_path / "b.parquet"), "--store", str(tmp_path / "m.duckdb"),
         "--reference", str(tmp_path / "ref.parquet")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "missing column(s) 'contrast'" in result.output and "Traceback" not in result.output
