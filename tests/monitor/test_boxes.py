"""Monitoring a detector: box count, size, confidence and class mix per window and slice.

Reference: 1,000 images with 2 predicted boxes each (6 % from ``cam_d``); a production day
has 800 images (48 from ``cam_d``). Known answers: unchanged traffic raises nothing; 5 boxes
per image in ``cam_d`` raises ``box_count`` in that slice and nowhere else (the overall
slice moves by 6 % of its images, diluted below the test); scores 0.15 lower raise
``box_confidence`` in every slice and nothing else.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from datacentric.exceptions import BatchConflictError, SchemaError
from datacentric.monitor import Monitor, MonitorStoreError
from tests.monitor._data import DAY, detection_rows

SLICES = "slices: [{by: camera}]"
CONFIG = {"min_rows": 30}
CAMERA_SLICES = ["camera=cam_a", "camera=cam_b", "camera=cam_c", "camera=cam_d", "overall"]


@pytest.fixture(scope="module")
def reference() -> tuple[pl.DataFrame, pl.DataFrame]:
    images, boxes = detection_rows(1000, seed=0)
    return images.drop("timestamp"), boxes


def _monitor(tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame], **kw: object) -> Monitor:
    images, boxes = reference
    return Monitor(
        tmp_path / "det.duckdb", reference=images, reference_boxes=boxes, slices=SLICES,
        config=kw.pop("config", CONFIG), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def _keys(alerts: pl.DataFrame) -> list[tuple[str, str]]:
    return alerts.select("slice", "metric").rows()


def _value(mon: Monitor, slice_: str, metric: str, statistic: str) -> float:
    stats = mon.window_stats(slice=slice_, metric=metric)
    return float(stats.filter(pl.col("statistic") == statistic)["value"].item())


def test_profile_watches_the_box_metrics(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference) as mon:
        metrics = mon.status()["metrics"]
        assert {k: metrics[k] for k in ("box_count", "box_area", "box_confidence", "box_class")}
        assert metrics["box_class"] == "categorical" and metrics["box_count"] == "continuous"
        # a detector's reference needs no per-image prediction or confidence
        assert "prediction" not in metrics and "confidence" not in metrics
        assert mon.profile.score_threshold == 0.5
        # per-box metrics count boxes: 2 per image
        assert sum(mon.profile.ref_counts["overall"]["box_area"]) == 2000
        assert sum(mon.profile.ref_counts["camera=cam_d"]["box_confidence"]) == 120


def test_unchanged_traffic_raises_no_alert(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference) as mon:
        images, boxes = detection_rows(800, seed=1, id_prefix="p")
        result = mon.ingest(images, boxes=boxes)
        assert result.status == "ingested" and result.alerts.height == 0
        assert mon.alerts().height == 0
        assert _value(mon, "overall", "box_count", "mean") == 2.0
        # per-box statistics count boxes: n is 2 per image
        stats = mon.window_stats(slice="camera=cam_d", metric="box_area")
        assert set(stats["n"].to_list()) == {96} and set(stats["n_reference"].to_list()) == {120}


def test_five_boxes_per_image_in_one_slice_alerts_there_only(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference) as mon:
        images, boxes = detection_rows(800, seed=2, id_prefix="p", camera_boxes={"cam_d": 5})
        alerts = mon.ingest(images, boxes=boxes).alerts
        assert _keys(alerts) == [("camera=cam_d", "box_count")]
        assert alerts["statistic"].to_list() == ["ks_p_value"]
        assert "box_count drifted in slice 'camera=cam_d'" in alerts["message"][0]
        assert _value(mon, "camera=cam_d", "box_count", "mean") == 5.0
        # diluted: 48 of 800 images carry 3 more boxes
        assert _value(mon, "overall", "box_count", "mean") == pytest.approx(2 + 3 * 48 / 800)


def test_lower_confidences_raise_box_confidence_drift(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference) as mon:
        images, boxes = detection_rows(800, seed=3, id_prefix="p", score_shift=-0.15)
        alerts = mon.ingest(images, boxes=boxes).alerts
        assert set(alerts["metric"]) == {"box_confidence"}
        assert sorted(alerts["slice"]) == CAMERA_SLICES
        # every score is still above the threshold: the count did not move
        assert _value(mon, "overall", "box_count", "mean") == 2.0
        drop = (
            reference[1]["score"].mean() - _value(mon, "overall", "box_confidence", "mean")  # type: ignore[operator]
        )
        assert drop == pytest.approx(0.15, abs=0.02)


def test_alert_rules_name_box_metrics(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    # the overall slice has 1,600 boxes: Wasserstein decides, and a per-metric override
    # raises its threshold above the drift (about 1.7 reference std)
    config = {**CONFIG, "drift": {"metrics": {"box_confidence": {"wasserstein": 5.0}}}}
    with _monitor(tmp_path, reference, config=config) as mon:
        images, boxes = detection_rows(800, seed=3, id_prefix="p", score_shift=-0.15)
        alerts = mon.ingest(images, boxes=boxes).alerts
        assert sorted(alerts["slice"]) == CAMERA_SLICES[:4]
        assert 1.0 < _value(mon, "overall", "box_confidence", "wasserstein") < 5.0


def test_score_threshold_and_images_without_boxes(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference, score_threshold=0.8) as mon:
        images, boxes = detection_rows(800, seed=4, id_prefix="p")
        half = images["sample_id"].head(400)
        boxes = boxes.filter(pl.col("sample_id").is_in(half.implode()))
        mon.ingest(images, boxes=boxes)
        kept = int((boxes["score"] >= 0.8).sum())
        assert _value(mon, "overall", "box_count", "mean") == pytest.approx(kept / 800)
        assert _value(mon, "overall", "box_count", "missing_rate") == 0.0
        assert mon.window_stats(slice="overall", metric="box_area")["n"][0] == kept
    with Monitor(tmp_path / "det.duckdb") as again:  # the store keeps the threshold
        assert again.profile.score_threshold == 0.8
    with pytest.raises(MonitorStoreError, match=r"counts boxes from score 0\.8"):
        Monitor(tmp_path / "det.duckdb", score_threshold=0.5)


def test_an_empty_box_table_counts_zero(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference) as mon:
        images, boxes = detection_rows(100, seed=5, id_prefix="p")
        mon.ingest(images, boxes=boxes.clear())
        assert _value(mon, "overall", "box_count", "mean") == 0.0
        assert mon.window_stats(metric="box_area").height == 0  # no box, no box statistics


def test_boxes_are_part_of_the_batch(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference) as mon:
        images, boxes = detection_rows(200, seed=6, id_prefix="p")
        assert mon.ingest(images, boxes=boxes, batch_id="b1").status == "ingested"
        assert mon.ingest(images, boxes=boxes.reverse(), batch_id="b1").status == "skipped"
        with pytest.raises(BatchConflictError, match="different content"):
            mon.ingest(images, boxes=boxes.head(10), batch_id="b1")
        with pytest.raises(SchemaError, match="came without boxes="):
            mon.ingest(images, batch_id="b2")
        with pytest.raises(SchemaError, match="no 'prediction' to compare labels with"):
            mon.ingest(images.with_columns(label=pl.lit("x")), boxes=boxes, batch_id="b3")
        with pytest.raises(SchemaError, match="no per-row 'prediction'"):
            mon.record_labels(pl.DataFrame({"sample_id": ["p0"], "label": ["x"]}))
        assert mon.status()["n_batches"] == 1


def test_reopen_with_the_same_or_other_reference_boxes(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    images, boxes = reference
    _monitor(tmp_path, reference).close()
    store = tmp_path / "det.duckdb"
    Monitor(store, reference=images, reference_boxes=boxes.reverse()).close()  # same content
    with pytest.raises(MonitorStoreError, match="another reference"):
        Monitor(store, reference=images, reference_boxes=boxes.head(1500))
    with pytest.raises(MonitorStoreError, match="monitors predicted boxes; reference= was given"):
        Monitor(store, reference=images)
    # a reference with integer sample ids is matched to its boxes as text
    numbered = images.with_columns(pl.col("sample_id").str.slice(1).cast(pl.Int64))
    with Monitor(
        tmp_path / "int.duckdb",
        reference=numbered,
        reference_boxes=boxes.with_columns(pl.col("sample_id").str.slice(1)),
    ) as mon:
        assert mon.status()["box_score_threshold"] == 0.5
        assert sum(mon.profile.ref_counts["overall"]["box_class"]) == 2000


def test_a_classification_monitor_refuses_boxes(tmp_path: Path) -> None:
    images, boxes = detection_rows(200, seed=7)
    ref = images.drop("timestamp").with_columns(prediction=pl.lit("cat"), confidence=pl.lit(0.9))
    with Monitor(tmp_path / "cls.duckdb", reference=ref) as mon:
        batch = images.with_columns(prediction=pl.lit("cat"), confidence=pl.lit(0.9))
        with pytest.raises(SchemaError, match="reference had no predicted boxes"):
            mon.ingest(batch, boxes=boxes)
        assert mon.ingest(batch).status == "ingested"  # the classification path as before
        assert "box_count" not in mon.status()["metrics"]
    with pytest.raises(MonitorStoreError, match="monitors no predicted boxes; score_threshold"):
        Monitor(tmp_path / "cls.duckdb", score_threshold=0.5)
    with pytest.raises(MonitorStoreError, match="does not monitor predicted boxes"):
        Monitor(tmp_path / "cls.duckdb", reference=ref, reference_boxes=boxes)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.drop("sample_id"), "no 'sample_id' column, so its predicted boxes"),
        (lambda f: f.drop("width"), r"no 'width' column\(s\).*box_area is a box's share"),
        (lambda f: f.with_columns(height=pl.lit(0)), "column 'height' has 1000 value"),
        (lambda f: f.with_columns(box_count=pl.lit(1)), "the names of the metrics derived"),
        (lambda f: f.with_columns(label=pl.lit("cat")), "'label' column but no 'prediction'"),
    ],
)
def test_reference_that_cannot_carry_boxes(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame], change: object, match: str
) -> None:
    images, boxes = reference
    with pytest.raises(SchemaError, match=match):
        Monitor(tmp_path / "m.duckdb", reference=change(images), reference_boxes=boxes)  # type: ignore[operator]
    assert not (tmp_path / "m.duckdb").exists()


def test_reference_without_a_kept_box(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    images, boxes = reference
    with pytest.raises(SchemaError, match="none of the 2,000 box"):
        Monitor(tmp_path / "m.duckdb", reference=images, reference_boxes=boxes,
                score_threshold=1.0)  # fmt: skip


def test_report_shows_box_metrics(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference) as mon:
        images, boxes = detection_rows(800, seed=2, id_prefix="p", camera_boxes={"cam_d": 5})
        mon.ingest(images, boxes=boxes)
        md = mon.report(tmp_path / "m.md").read_text()
        html = mon.report(tmp_path / "m.html").read_text()
    assert "| camera=cam_d | box_count | ks_p_value |" in md
    assert "box_confidence" in html and "box_count drifted in slice" in html


def test_late_batch_keeps_box_statistics_in_their_window(
    tmp_path: Path, reference: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    with _monitor(tmp_path, reference) as mon:
        day2 = DAY + dt.timedelta(days=1)
        images, boxes = detection_rows(400, seed=8, id_prefix="a", start=day2)
        mon.ingest(images, boxes=boxes)
        images, boxes = detection_rows(400, seed=9, id_prefix="b", camera_boxes={"cam_a": 3})
        mon.ingest(images, boxes=boxes)  # an earlier day, ingested later
        stats = mon.window_stats(slice="camera=cam_a", metric="box_count")
        means = dict(
            stats.filter(pl.col("statistic") == "mean").select("window_start", "value").rows()
        )
        assert means == {DAY: 3.0, day2: 2.0}


def test_image_sizes_are_read_from_image_paths(tmp_path: Path) -> None:
    from PIL import Image

    for name, size in [("a.png", (100, 50)), ("b.png", (40, 40))]:
        Image.new("RGB", size).save(tmp_path / name)
    ref = pl.DataFrame({"sample_id": ["r0", "r1"], "image": ["a.png", "b.png"]})
    ref_boxes = pl.DataFrame({"sample_id": ["r0", "r1"], "label": ["cat", "dog"],
        "x": [0.0, 0.0], "y": [0.0, 0.0], "w": [10.0, 20.0], "h": [25.0, 4.0],
        "score": [0.9, 0.8]})  # fmt: skip
    with Monitor(tmp_path / "img.duckdb", reference=ref, reference_boxes=ref_boxes,
                 image_root=tmp_path, metrics=["box_area"]) as mon:  # fmt: skip
        # 10 x 25 of 100 x 50 and 20 x 4 of 40 x 40: both 5 % of their image
        assert mon.profile.metric("box_area").edges == (0.05, 0.05)
        batch = ref.with_columns(sample_id=pl.Series(["p0", "p1"]), timestamp=pl.lit(DAY))
        boxes = ref_boxes.with_columns(sample_id=pl.Series(["p0", "p1"]), w=pl.lit(20.0))
        mon.ingest(batch, boxes=boxes)
        # 20 x 25 of 100 x 50 (10 %) and 20 x 4 of 40 x 40 (5 %)
        assert _value(mon, "overall", "box_area", "mean") == pytest.approx((0.1 + 0.05) / 2)
