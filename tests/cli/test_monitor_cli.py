"""``datacentric monitor ingest|labels|status|report`` on small files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from datacentric.cli import app
from tests.monitor._data import DAY, SLICES, detection_rows, reference, rows, shift

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


def test_monitor_ingest_with_predicted_boxes(tmp_path: Path) -> None:
    ref, ref_boxes = detection_rows(1000, seed=0)
    ref.drop("timestamp").write_parquet(tmp_path / "ref.parquet")
    ref_boxes.write_parquet(tmp_path / "ref_boxes.parquet")
    (tmp_path / "slices.yaml").write_text("slices: [{by: camera}]")
    (tmp_path / "alerts.yaml").write_text("min_rows: 30\n")
    day1 = detection_rows(800, seed=1, id_prefix="a")
    day2 = detection_rows(800, seed=2, id_prefix="b", start=DAY + dt.timedelta(days=1),
                          camera_boxes={"cam_d": 5})  # fmt: skip
    for name, (images, boxes) in {"day1": day1, "day2": day2}.items():
        images.write_parquet(tmp_path / f"{name}.parquet")
        boxes.write_parquet(tmp_path / f"{name}_boxes.parquet")
    store = str(tmp_path / "m.duckdb")
    files = [str(tmp_path / f"{d}.parquet") for d in ("day1", "day2")]
    result = runner.invoke(app, ["monitor", "ingest", *files, "--store", store,
                                 "--boxes", str(tmp_path / "day1_boxes.parquet")])  # fmt: skip
    assert result.exit_code == 1 and "received 1 --boxes for 2 batch file(s)" in result.output
    result = runner.invoke(
        app,
        ["monitor", "ingest", *files, "--store", store, "-r", str(tmp_path / "ref.parquet"),
         "--reference-boxes", str(tmp_path / "ref_boxes.parquet"), "--score-threshold", "0.5",
         "--slices", str(tmp_path / "slices.yaml"), "--config", str(tmp_path / "alerts.yaml"),
         "--boxes", str(tmp_path / "day1_boxes.parquet"),
         "--boxes", str(tmp_path / "day2_boxes.parquet"), "--fail-on-alert"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "800 rows, 1 window(s)" in result.output and "0 alert(s)" in result.output
    assert "camera=cam_d" in result.output and "box_count" in result.output
    result = runner.invoke(app, ["monitor", "status", "--store", store, "--format", "json"])
    assert json.loads(result.output)["n_alerts"] == 1
