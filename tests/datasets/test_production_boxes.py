"""Simulated production traffic of the detection demo, monitored by slice: the image and box
drift shows up exactly where the darker camera was planted (``cam_new``, its site, and
diluted overall), with the detector's boxes of each row."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from datacentric.datasets import load_detection_demo
from datacentric.datasets.production import make_demo_production
from datacentric.datasets.production_boxes import BOXES_FOLDER, NEW_CAMERA
from datacentric.train import CenterNetRecipe
from datacentric.train.detector import BOX_PREDICTION_SCHEMA

TINY = {"image_size": 48, "width": 8, "epochs": 2}
BOX_COLUMNS = list(BOX_PREDICTION_SCHEMA)


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CenterNetRecipe, Path]:
    """80 scenes of 48 px (20 test scenes) and a tiny CenterNet fitted on the train split."""
    root = tmp_path_factory.mktemp("det") / "d"
    ds = load_detection_demo(root, n_scenes=80, size=48, seed=0)
    model = CenterNetRecipe(**TINY).fit(ds.split("train"), seed=0)
    path = root.parent / "model.pt"
    model.save(path)
    return root, model, path


def _source(image: str) -> str:
    """The demo scene a production row was drawn from (its image is images/<id>.png)."""
    return Path(image).stem


def test_rows_and_boxes_of_each_day(detector, tmp_path: Path) -> None:
    root, model, path = detector
    made = make_demo_production(root, tmp_path, model=path, days=2, rows_per_day=120)
    assert made.task == "detection" and made.new_device == NEW_CAMERA
    # the reference: the 20 test scenes, their sizes and slice metadata, and the model's boxes
    ref = pl.read_parquet(made.reference)
    assert ref.columns == ["sample_id", "image", "width", "height", "camera", "site"]
    test = Dataset.open(root).split("test")
    assert ref["sample_id"].to_list() == test.sample_ids and len(test) == 20
    assert set(ref["width"]) == set(ref["height"]) == {48}
    ref_boxes = pl.read_parquet(made.reference_boxes)
    assert made.reference_boxes == tmp_path / BOXES_FOLDER / "reference.parquet"
    assert ref_boxes.equals(model.predict(test).boxes) and ref_boxes.height > 0
    # the boxes stay out of the batches' glob
    assert sorted(p.name for p in tmp_path.glob("day*.parquet")) == ["day1.parquet", "day2.parquet"]
    assert [p.parent.name for p in made.batch_boxes] == [BOXES_FOLDER] * 2
    by_scene = ref_boxes.group_by("sample_id").agg(pl.len().alias("n"))
    n_of = dict(by_scene.rows())
    day1, day2 = (pl.read_parquet(p) for p in made.batches)
    assert day1.height == day2.height == 120
    assert day1["timestamp"].is_sorted() and day2["timestamp"].min() > day1["timestamp"].max()
    assert NEW_CAMERA not in day1["camera"].to_list()
    # day 1: every row has exactly the boxes of the scene it was drawn from
    boxes1 = pl.read_parquet(made.batch_boxes[0])
    assert boxes1.columns == BOX_COLUMNS
    assert set(boxes1["sample_id"]) <= set(day1["sample_id"])
    counts = dict(boxes1.group_by("sample_id").agg(pl.len()).rows())
    for sid, image in day1.select("sample_id", "image").rows():
        assert counts.get(sid, 0) == n_of.get(_source(image), 0)
    first = day1.row(0, named=True)
    mine = boxes1.filter(pl.col("sample_id") == first["sample_id"]).drop("sample_id")
    theirs = ref_boxes.filter(pl.col("sample_id") == _source(first["image"])).drop("sample_id")
    assert mine.equals(theirs)
    # the last day: every site_south row comes from the darker camera, its boxes predicted anew
    new = day2.filter(pl.col("camera") == NEW_CAMERA)
    assert new.height == made.n_new_scanner > 0
    assert set(new["site"]) == {"site_south"}
    assert day2.filter(pl.col("site") == "site_south").height == new.height
    assert new["image"].to_list() == [str(tmp_path / f"images/{s}.png") for s in new["sample_id"]]
    assert all(Path(p).is_file() for p in new["image"])
    shot = Dataset(
        new.select(
            "sample_id",
            (pl.lit("images/") + pl.col("sample_id") + pl.lit(".png")).alias("image"),
            pl.lit(None, pl.Utf8).alias("label"),
        ),
        model.classes_,
        root=tmp_path,
        task="detection",
    )
    boxes2 = pl.read_parquet(made.batch_boxes[1])
    fresh = boxes2.filter(pl.col("sample_id").is_in(new["sample_id"].implode()))
    assert fresh.equals(model.predict(shot).boxes)


def test_monitor_alerts_exactly_where_the_darker_camera_was_planted(
    detector, tmp_path: Path
) -> None:
    root, _model, path = detector
    out = tmp_path / "prod"
    args = ["demo-production", str(root), "--out", str(out), "--weights", str(path)]
    res = CliRunner().invoke(app, [*args, "--rows-per-day", "400"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert f"come from {NEW_CAMERA}" in text
    assert str(out / "boxes" / "reference.parquet") in text
    assert "--reference-boxes" in text and "--boxes" in text  # the monitor command to run
    store = tmp_path / "m.duckdb"
    args = ["monitor", "ingest", *(str(out / f"day{d}.parquet") for d in (1, 2, 3))]
    args += ["--store", str(store), "--reference", str(out / "reference.parquet")]
    args += ["--slices", str(out / "slices.yaml"), "--config", "slices/monitor_alerts.yaml"]
    args += ["--reference-boxes", str(out / "boxes" / "reference.parquet")]
    for d in (1, 2, 3):
        args += ["--boxes", str(out / "boxes" / f"day{d}.parquet")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output

    from datacentric.monitor import Monitor

    with Monitor(store) as mon:
        alerts = mon.alerts()
    assert set(alerts["slice"]) == {"overall", f"camera={NEW_CAMERA}", "site=site_south"}
    assert set(alerts["window_start"].dt.day()) == {7}  # day 3 only
    in_new = set(alerts.filter(pl.col("slice") == f"camera={NEW_CAMERA}")["metric"])
    assert {"brightness_mean", "contrast"} <= in_new  # the images are darker
    assert "box_class" in in_new  # and the detector sees other things on them
