"""Simulated production traffic for the demo, monitored by slice: the drift shows up exactly
where it was planted (the new scanner, its vendor, and diluted overall)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.datasets import load_demo
from datacentric.datasets.production import NEW_SCANNER, make_demo_production
from datacentric.exceptions import InvalidParameterError
from datacentric.train import SmallCNNRecipe


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("demo") / "d"
    ds = load_demo(root, seed=0)
    model = SmallCNNRecipe(epochs=2).fit(ds.split("train"), seed=0)
    path = root.parent / "model.pt"
    model.save(path)
    return root, path


def test_batches_plant_a_darker_scanner_at_one_vendor(demo_model, tmp_path: Path) -> None:
    root, model = demo_model
    made = make_demo_production(root, tmp_path, model=model, days=2, rows_per_day=400)
    ref = pl.read_parquet(made.reference)
    assert ref.height == 719 and ref["label"].null_count() == 0  # the demo's test split
    day1, day2 = (pl.read_parquet(p) for p in made.batches)
    assert {"sample_id", "timestamp", "image", "prediction", "confidence"} <= set(day1.columns)
    assert "label" not in day1.columns and day1.height == day2.height == 400
    assert NEW_SCANNER not in day1["scanner"].to_list()
    new = day2.filter(pl.col("scanner") == NEW_SCANNER)
    assert new.height == made.n_new_scanner > 0
    assert set(new["vendor"]) == {"vendor_b"}  # every vendor_b row of the last day
    assert day2.filter(pl.col("vendor") == "vendor_b").height == new.height
    assert all(Path(p).is_file() and str(tmp_path) in p for p in new["image"])
    assert day1["timestamp"].is_sorted() and day2["timestamp"].min() > day1["timestamp"].max()


def test_monitor_alerts_exactly_where_the_drift_was_planted(demo_model, tmp_path: Path) -> None:
    root, model = demo_model
    out = tmp_path / "prod"
    res = CliRunner().invoke(
        app, ["demo-production", str(root), "--out", str(out), "--weights", str(model)]
    )
    assert res.exit_code == 0, res.output
    store = tmp_path / "m.duckdb"
    args = ["monitor", "ingest", *(str(out / f"day{d}.parquet") for d in (1, 2, 3))]
    args += ["--store", str(store), "--reference", str(out / "reference.parquet")]
    args += ["--slices", str(out / "slices.yaml"), "--config", "slices/monitor_alerts.yaml"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output

    from datacentric.monitor import Monitor

    with Monitor(store) as mon:
        alerts = mon.alerts()
    assert alerts.height > 0
    assert set(alerts["slice"]) == {"overall", f"scanner={NEW_SCANNER}", "vendor=vendor_b"}
    assert set(alerts["window_start"].dt.day()) == {7}  # day 3 only
    assert "brightness_mean" in set(alerts["metric"])


def test_needs_a_model(tmp_path: Path) -> None:
    root = tmp_path / "d"
    load_demo(root, seed=0)
    with pytest.raises(InvalidParameterError, match="run `datacentric loop"):
        make_demo_production(root, tmp_path / "out")


def test_bad_parameters_are_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"^make_demo_production: parameter days "):
        make_demo_production(tmp_path / "none", tmp_path / "out", days=0)
    with pytest.raises(InvalidParameterError, match=r"parameter darken must be a number in \(0, 1"):
        make_demo_production(tmp_path / "none", tmp_path / "out", darken=0)
    assert not (tmp_path / "out").exists()
