"""Detection metrics by slice: equal to pycocotools, known answers, slices, intervals."""

from __future__ import annotations

import copy
import math

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidAnnotationError, InvalidParameterError, SchemaError
from datacentric.slices import SliceMetrics
from datacentric.slices.detection import (
    _CocoInputs,
    _summaries,
    detection_metrics,
    evaluate_detection,
)
from datacentric.testing import check_parameter_constraints

CLASSES = ["cat", "dog", "car"]


def _gt() -> pl.DataFrame:
    # 4 images, 3 classes, small / medium / large boxes; image d has no box
    rows = [
        ("1", "a", "cat", 10.0, 10.0, 20.0, 20.0),  # small
        ("2", "a", "dog", 50.0, 40.0, 40.0, 40.0),  # medium
        ("3", "a", "car", 0.0, 100.0, 120.0, 100.0),  # large
        ("4", "b", "cat", 5.0, 5.0, 60.0, 50.0),  # medium
        ("5", "b", "cat", 100.0, 100.0, 10.0, 12.0),  # small, missed
        ("6", "b", "dog", 30.0, 0.0, 25.0, 30.0),  # small
        ("7", "c", "car", 10.0, 10.0, 110.0, 90.0),  # large
        ("8", "c", "dog", 150.0, 150.0, 35.0, 35.0),  # medium, predicted as cat
    ]
    return pl.DataFrame(rows, schema=["annotation_id", "sample_id", "label", "x", "y", "w", "h"],
                        orient="row")  # fmt: skip


def _pred() -> pl.DataFrame:
    rows = [
        ("a", "cat", 11.0, 9.0, 20.0, 21.0, 0.95),  # TP (IoU ~0.87)
        ("a", "dog", 55.0, 45.0, 40.0, 40.0, 0.80),  # TP at 0.5, not at high IoU
        ("a", "car", 0.0, 100.0, 120.0, 100.0, 0.90),  # exact
        ("a", "cat", 60.0, 60.0, 20.0, 20.0, 0.70),  # FP
        ("b", "cat", 8.0, 5.0, 58.0, 52.0, 0.85),  # TP
        ("b", "dog", 31.0, 2.0, 25.0, 30.0, 0.40),  # TP
        ("b", "dog", 32.0, 1.0, 25.0, 30.0, 0.35),  # duplicate -> FP
        ("c", "car", 20.0, 20.0, 110.0, 90.0, 0.60),  # IoU ~0.70
        ("c", "cat", 150.0, 150.0, 35.0, 35.0, 0.75),  # wrong class -> FP for cat
        ("d", "car", 0.0, 0.0, 50.0, 50.0, 0.65),  # FP on an empty image
    ]
    return pl.DataFrame(rows, schema=["sample_id", "label", "x", "y", "w", "h", "score"],
                        orient="row")  # fmt: skip


def _pycocotools_precision(gt: dict, dt: list) -> tuple[np.ndarray, np.ndarray]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco_gt = COCO()
    coco_gt.dataset = copy.deepcopy(gt)
    coco_gt.createIndex()
    coco_dt = coco_gt.loadRes(copy.deepcopy(dt))
    ev = COCOeval(coco_gt, coco_dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.eval["precision"][..., -1], ev.stats


def test_equal_to_pycocotools() -> None:
    ids = ["a", "b", "c", "d"]
    ours = detection_metrics(_gt(), _pred(), CLASSES, ids)
    gt, dt = _CocoInputs(_gt(), _pred(), CLASSES, ids).coco()
    precision, stats = _pycocotools_precision(gt, dt)
    theirs = _summaries(precision, CLASSES, 0.9)
    # map, map50, recall@p90; ap and ap50 per class; the three for each area range
    assert len(ours) == 3 + 2 * len(CLASSES) + 3 * 3
    for (key, metric), v in theirs.items():
        if key.startswith("class="):
            continue
        name = f"{key}/{metric}" if key else metric
        assert ours[name] == pytest.approx(v, abs=1e-6, nan_ok=True), name
    # COCO's own summary: AP, AP50, AP75, AP small/medium/large
    assert ours["map"] == pytest.approx(stats[0], abs=1e-6)
    assert ours["map50"] == pytest.approx(stats[1], abs=1e-6)
    assert ours["area=small/map"] == pytest.approx(stats[3], abs=1e-6)
    assert ours["area=medium/map"] == pytest.approx(stats[4], abs=1e-6)
    assert ours["area=large/map"] == pytest.approx(stats[5], abs=1e-6)
    # the case exercises TP, FP and missed boxes: nothing is perfect, nothing is zero
    assert 0.3 < ours["map"] < ours["map50"] < 1.0


def test_crowd_regions_as_in_pycocotools() -> None:
    """A COCO import keeps ``iscrowd``: a crowd box is no object to find, and detections on
    it are neither true nor false positives — as in pycocotools."""
    gt = _gt().with_columns(iscrowd=pl.lit(0))
    crowd = pl.DataFrame(
        {"annotation_id": ["9"], "sample_id": ["d"], "label": ["car"], "x": [0.0],
         "y": [0.0], "w": [60.0], "h": [60.0], "iscrowd": [1]}
    )  # fmt: skip
    gt = pl.concat([gt, crowd], how="vertical_relaxed")
    ids = ["a", "b", "c", "d"]
    ours = detection_metrics(gt, _pred(), CLASSES, ids)
    precision, stats = _pycocotools_precision(*_CocoInputs(gt, _pred(), CLASSES, ids).coco())
    assert ours["map"] == pytest.approx(stats[0], abs=1e-6)
    assert ours["map50"] == pytest.approx(stats[1], abs=1e-6)
    assert ours["ap50[car]"] == pytest.approx(
        _summaries(precision, CLASSES, 0.9)[("", "ap50[car]")]
    )
    # the false positive on image d now lies on the crowd region: car AP rises
    assert ours["ap50[car]"] > detection_metrics(_gt(), _pred(), CLASSES, ids)["ap50[car]"]


def _dataset(n_per_camera: int = 4) -> Dataset:
    """2 cameras × n images, each image one 40×40 cat and one 20×20 dog, all in test."""
    ids = [f"s{i}" for i in range(2 * n_per_camera)]
    manifest = pl.DataFrame(
        {
            "sample_id": ids,
            "image": [f"{i}.png" for i in ids],
            "label": [None] * len(ids),
            "split": ["test"] * len(ids),
            "camera": ["x"] * n_per_camera + ["y"] * n_per_camera,
        }
    )
    boxes = pl.DataFrame(
        {
            "annotation_id": [f"{i}-{k}" for i in ids for k in (0, 1)],
            "sample_id": [i for i in ids for _ in (0, 1)],
            "label": ["cat", "dog"] * len(ids),
            "x": [0.0, 50.0] * len(ids),
            "y": [0.0, 50.0] * len(ids),
            "w": [40.0, 20.0] * len(ids),
            "h": [40.0, 20.0] * len(ids),
        }
    )
    return Dataset(manifest, ["cat", "dog"], annotations=boxes)


def _perfect(ds: Dataset) -> pl.DataFrame:
    return ds.annotations.drop("annotation_id").with_columns(score=pl.lit(0.9))


def test_perfect_predictions_score_one_everywhere() -> None:
    ds = _dataset()
    m = evaluate_detection(ds, _perfect(ds), n_boot=5, min_n=1)
    t = m.table
    assert set(t["metric"]) == {"map", "map50", "recall@p90", "ap[cat]", "ap[dog]",
                                "ap50[cat]", "ap50[dog]"}  # fmt: skip
    assert t["value"].to_list() == [1.0] * t.height
    assert t["ci_low"].min() == 1.0 and t["ci_high"].max() == 1.0
    assert m.slices == ["overall", "box_area=small", "box_area=medium", "box_class=cat",
                        "box_class=dog", "camera=x", "camera=y"]  # fmt: skip
    overall = t.filter((pl.col("slice") == "overall") & (pl.col("metric") == "map"))
    assert overall.select("n", "support").row(0) == (8, 16)
    small = t.filter((pl.col("slice") == "box_area=small") & (pl.col("metric") == "map"))
    assert small.select("n", "support").row(0) == (8, 8)  # the dogs (400 px² < 32²)
    assert m.meta["task"] == "detection" and m.meta["n_pred_boxes"] == 16


def test_a_dropped_box_gives_the_known_recall() -> None:
    ds = _dataset()  # 8 cats; drop one -> recall 7/8 at any precision
    pred = _perfect(ds).filter(~((pl.col("sample_id") == "s0") & (pl.col("label") == "cat")))
    m = evaluate_detection(ds, pred, n_boot=0, min_n=1).table

    def value(slice_: str, metric: str) -> float:
        return m.filter((pl.col("slice") == slice_) & (pl.col("metric") == metric))["value"].item()

    # COCO reads recall on 101 thresholds: 0.875 is not one, 0.87 is the largest reached
    assert value("box_class=cat", "recall@p90") == pytest.approx(0.87)
    assert value("overall", "ap50[cat]") == pytest.approx(88 / 101)  # precision 1 up to 0.87
    assert value("overall", "ap50[dog]") == 1.0
    assert value("overall", "recall@p90") == pytest.approx((0.87 + 1.0) / 2)
    assert value("camera=y", "map") == 1.0 and value("camera=x", "map50") == pytest.approx(
        76 / 101 / 2 + 0.5  # camera x: 3 of 4 cats (recall 0.75), all dogs
    )
    assert value("box_class=cat", "map50") - value("overall", "map50") == pytest.approx(
        m.filter((pl.col("slice") == "box_class=cat") & (pl.col("metric") == "map50"))[
            "delta_vs_overall"
        ].item()
    )


def test_a_slice_of_one_camera_that_misses_everything() -> None:
    ds = _dataset()
    pred = _perfect(ds).filter(pl.col("sample_id").is_in(["s0", "s1", "s2", "s3"]))  # camera x
    m = evaluate_detection(ds, pred, "slices: [{by: camera}]", n_boot=20, seed=3, min_n=5)
    maps = m.metric("map50")
    assert maps["slice"].to_list()[0] == "camera=y"
    y = maps.row(0, named=True)
    assert (y["value"], y["n"], y["support"], y["low_support"]) == (0.0, 4, 8, True)
    x = maps.filter(pl.col("slice") == "camera=x").row(0, named=True)
    assert x["value"] == 1.0
    overall = maps.filter(pl.col("slice") == "overall").row(0, named=True)
    assert 0.0 < overall["ci_low"] <= overall["value"] <= overall["ci_high"] < 1.0
    again = evaluate_detection(ds, pred, "slices: [{by: camera}]", n_boot=20, seed=3, min_n=5)
    assert again.table.equals(m.table)  # seeded


def test_empty_predictions_are_zero_not_an_error() -> None:
    ds = _dataset(2)
    pred = _perfect(ds).head(0)
    m = evaluate_detection(ds, pred, n_boot=0, box_slices=False)
    assert m.metric("map").filter(pl.col("slice") == "overall")["value"].item() == 0.0


def test_refusals(tmp_path) -> None:
    ds = _dataset(2)
    good = _perfect(ds)
    with pytest.raises(InvalidAnnotationError, match=r"unknown_class.*bird"):
        evaluate_detection(ds, good.with_columns(label=pl.lit("bird")), n_boot=0)
    with pytest.raises(InvalidAnnotationError, match="unknown_sample"):
        evaluate_detection(ds, good.with_columns(sample_id=pl.lit("zz")), n_boot=0)
    with pytest.raises(InvalidAnnotationError, match="non_positive_size"):
        evaluate_detection(ds, good.with_columns(w=pl.lit(0.0)), n_boot=0)
    with pytest.raises(SchemaError, match=r"lacks the column\(s\) 'score'"):
        evaluate_detection(ds, good.drop("score"), n_boot=0)
    with pytest.raises(InvalidAnnotationError, match="score that is not a finite number"):
        evaluate_detection(ds, good.with_columns(score=pl.lit(math.nan)), n_boot=0)
    # any finite score ranks (COCO sorts them); the finders' loader wants [0, 1]
    scored = evaluate_detection(ds, good.with_columns(score=pl.lit(7.5)), n_boot=0)
    assert scored.metric("map").filter(pl.col("slice") == "overall")["value"].item() == 1.0
    with pytest.raises(InvalidParameterError, match="split 'val' has no rows"):
        evaluate_detection(ds, good, split="val")
    with pytest.raises(InvalidParameterError, match="parameter precision"):
        evaluate_detection(ds, good, precision=1.5)
    # every bad value of every declared constraint is refused, naming the parameter
    assert check_parameter_constraints(evaluate_detection, {"ds": ds}) == 20
    assert (
        check_parameter_constraints(
            detection_metrics,
            {"gt_boxes": ds.annotations, "pred_boxes": good, "classes": ["cat"], "image_ids": []},
        )
        == 13
    )
    with pytest.raises(SchemaError, match=r"^pred_boxes: lacks the column\(s\) 'score'"):
        detection_metrics(good, good.drop("score"), ["cat", "dog"], ["s0"])
    with pytest.raises(SchemaError, match=r"^gt_boxes: column 'x' has dtype String"):
        detection_metrics(good.with_columns(x=pl.lit("0")), good, ["cat", "dog"], ["s0"])
    with pytest.raises(InvalidParameterError, match=r"existing \.parquet"):
        evaluate_detection(ds, tmp_path / "nope.csv")
    with pytest.raises(InvalidParameterError, match="detection dataset"):
        evaluate_detection(Dataset.from_arrays(np.zeros((2, 2, 2)), ["a", "b"], ["a", "b"]), good)


def test_parquet_file_in_equals_the_frame(tmp_path) -> None:
    ds = _dataset(2)
    pred = _perfect(ds).head(3)
    path = tmp_path / "pred.parquet"
    pred.write_parquet(path)
    from_file = evaluate_detection(ds, path, n_boot=3).table
    assert from_file.equals(evaluate_detection(ds, pred, n_boot=3).table)
    assert from_file.filter(pl.col("metric") == "map")["value"][0] < 1.0


def test_cli_evaluate_check_report_on_a_detection_dataset(tmp_path) -> None:
    from typer.testing import CliRunner

    from datacentric.cli import app
    from tests.dataset._detection import write_coco

    root = tmp_path / "data"
    ds = Dataset.from_coco(root, write_coco(root), images_dir="images")
    ds.commit("fixture")
    assert ds.annotations is not None
    # every box found except the dog of image 2
    pred = ds.annotations.filter(pl.col("annotation_id") != "12").select(
        "sample_id", "label", "x", "y", "w", "h"
    )
    pred.with_columns(score=pl.lit(0.9)).write_parquet(tmp_path / "pred.parquet")
    run = CliRunner().invoke
    out = tmp_path / "m.json"
    argv = ["slices", "evaluate", str(root), "-p", str(tmp_path / "pred.parquet")]
    res = run(app, [*argv, "--split", "all", "--out", str(out), "--min-n", "1"])
    assert res.exit_code == 0, res.output
    assert "mAP@[.5:.95] by slice" in res.output
    metrics = SliceMetrics.load(out)
    dog = metrics.table.filter((pl.col("slice") == "overall") & (pl.col("metric") == "ap50[dog]"))
    assert dog["value"].item() == pytest.approx(51 / 101)  # 1 of 2 dogs, precision 1
    res = run(app, ["slices", "check", "--baseline", str(out), "--current", str(out),
                    "--metric", "map50", "--min-n", "1"])  # fmt: skip
    assert res.exit_code == 0 and "passed" in res.output, res.output
    # the gate reads mAP by default on detection results, and fails a drop in it
    worse = SliceMetrics(
        metrics.table.with_columns(
            value=pl.when(pl.col("metric") == "map").then(pl.col("value") - 0.1)
            .otherwise(pl.col("value"))
        ),
        metrics.meta,
    )  # fmt: skip
    worse.save(tmp_path / "worse.json")
    argv = ["slices", "check", "--baseline", str(out), "--current", str(tmp_path / "worse.json")]
    res = run(app, [*argv, "--min-n", "1"])
    assert res.exit_code == 1 and "FAIL overall: map dropped 0.1000" in res.output, res.output
    res = run(app, ["slices", "report", str(out), "--out", str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    assert "Overall mAP@\\[.5:.95\\]" in (tmp_path / "r.md").read_text()
