"""Monitor end to end: planted drift raises exactly its alert; idempotent ingest; labels."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from datacentric.exceptions import DuplicateSampleIdError, InvalidParameterError, SchemaError
from datacentric.monitor import BatchConflictError, Monitor, MonitorStoreError
from tests.monitor._data import DAY, SLICES, reference, rows, shift


@pytest.fixture(scope="module")
def ref() -> pl.DataFrame:
    return reference()


def _monitor(tmp_path: Path, ref: pl.DataFrame, **kw: object) -> Monitor:
    return Monitor(tmp_path / "m.duckdb", reference=ref, slices=SLICES, **kw)  # type: ignore[arg-type]


def _keys(alerts: pl.DataFrame) -> list[tuple[str, str, str]]:
    return alerts.select("slice", "metric", "statistic").rows()


def test_undrifted_batch_raises_no_alert(tmp_path: Path, ref: pl.DataFrame) -> None:
    mon = _monitor(tmp_path, ref)
    result = mon.ingest(rows(4000, seed=1))
    assert result.status == "ingested" and result.n_rows == 4000
    assert result.windows == [DAY]
    assert mon.alerts().height == 0
    stats = mon.window_stats(slice="overall", metric="rows")
    assert stats["value"].to_list() == [4000.0]


def test_planted_drift_in_one_slice_raises_exactly_that_alert(
    tmp_path: Path, ref: pl.DataFrame
) -> None:
    mon = _monitor(tmp_path, ref)
    batch = shift(rows(6000, seed=2), "brightness", -0.08, camera="cam_d")  # 0.8 std darker
    result = mon.ingest(batch)
    assert _keys(result.alerts) == [("camera=cam_d", "brightness", "ks_p_value")]
    assert _keys(mon.alerts()) == _keys(result.alerts)
    alert = mon.alerts().row(0, named=True)
    assert alert["window_start"] == DAY and "brightness drifted" in alert["message"]
    # the same slice is diluted below the threshold in the overall and site slices
    w = mon.window_stats(metric="brightness").filter(pl.col("statistic") == "wasserstein")
    by_slice = dict(w.select("slice", "value").rows())
    assert by_slice["camera=cam_d"] > 0.5 and by_slice["overall"] < 0.1


def test_large_window_uses_wasserstein_and_drift_in_two_metrics(
    tmp_path: Path, ref: pl.DataFrame
) -> None:
    mon = _monitor(tmp_path, ref, config={"min_rows": 50})
    batch = shift(shift(rows(4000, seed=3), "brightness", -0.05), "contrast", 0.02)
    alerts = mon.ingest(batch).alerts
    overall = alerts.filter(pl.col("slice") == "overall")
    assert _keys(overall) == [
        ("overall", "brightness", "wasserstein"),
        ("overall", "contrast", "wasserstein"),
    ]
    assert set(alerts["metric"]) == {"brightness", "contrast"}


def test_same_batch_twice_adds_nothing(tmp_path: Path, ref: pl.DataFrame) -> None:
    mon = _monitor(tmp_path, ref)
    batch = rows(1000, seed=4)
    first = mon.ingest(batch)
    again = mon.ingest(batch)
    assert (first.status, again.status) == ("ingested", "skipped")
    assert first.batch_id == again.batch_id and first.batch_id.startswith("batch-")
    assert mon.status()["n_rows"] == 1000 and mon.status()["n_batches"] == 1
    assert mon.window_stats(slice="overall", metric="rows")["value"].to_list() == [1000.0]
    with pytest.raises(BatchConflictError, match="different content"):
        mon.ingest(rows(1000, seed=5, id_prefix="t"), batch_id=first.batch_id)


def test_duplicate_sample_ids(tmp_path: Path, ref: pl.DataFrame) -> None:
    mon = _monitor(tmp_path, ref)
    batch = rows(500, seed=6)
    twice = pl.concat([batch, batch.head(3)])
    with pytest.raises(DuplicateSampleIdError, match="3 sample_id"):
        mon.ingest(twice)
    mon.ingest(batch, batch_id="b1")
    overlap = pl.concat([rows(10, seed=7, id_prefix="new"), batch.head(2)])
    with pytest.raises(DuplicateSampleIdError, match="already ingested") as info:
        mon.ingest(overlap, batch_id="b2")
    assert info.value.rows == ["s0", "s1"]
    assert mon.status()["n_rows"] == 500 and mon.batches()["batch_id"].to_list() == ["b1"]


def test_out_of_order_rows_update_their_own_window(tmp_path: Path, ref: pl.DataFrame) -> None:
    day2 = DAY + dt.timedelta(days=1)
    a = rows(800, seed=8)
    b = rows(900, seed=9, start=day2, id_prefix="b")
    late = rows(300, seed=10, id_prefix="late")  # day 1 rows that arrive after day 2
    mon = _monitor(tmp_path, ref)
    for batch in (a, b, late):
        mon.ingest(batch)
    n = mon.window_stats(slice="overall", metric="rows").select("window_start", "value").rows()
    assert n == [(DAY, 1100.0), (day2, 900.0)]
    # the same rows in another order give the same statistics
    other = Monitor(tmp_path / "o.duckdb", reference=ref, slices=SLICES)
    for batch in (late, b, a):
        other.ingest(batch)
    cols = ["window_start", "slice", "metric", "statistic", "value"]
    s1 = mon.window_stats().select(cols).sort(cols[:4])
    s2 = other.window_stats().select(cols).sort(cols[:4])
    assert s1.drop("value").equals(s2.drop("value"))
    assert (s1["value"].fill_nan(0) - s2["value"].fill_nan(0)).abs().max() < 1e-9  # type: ignore[operator]


def test_missing_values_are_counted_and_alert(tmp_path: Path, ref: pl.DataFrame) -> None:
    mon = _monitor(tmp_path, ref)
    batch = rows(2000, seed=11).with_columns(
        blurriness=pl.when(pl.col("site") == "north").then(None).otherwise(pl.col("blurriness"))
    )
    alerts = mon.ingest(batch).alerts
    missing = alerts.filter(pl.col("statistic") == "missing_rate")
    assert set(missing["slice"]) >= {"site=north", "overall"}
    assert "site=south" not in set(missing["slice"])
    rate = mon.window_stats(slice="site=north", metric="blurriness").filter(
        pl.col("statistic") == "missing_rate"
    )
    assert rate["value"].to_list() == [1.0]
    assert mon.status()["n_rows"] == 2000  # the rows are kept


def test_cbpe_flags_a_slice_that_lost_confidence(tmp_path: Path, ref: pl.DataFrame) -> None:
    mon = _monitor(tmp_path, ref)
    batch = rows(6000, seed=12).with_columns(
        confidence=pl.when(pl.col("camera") == "cam_d")
        .then(pl.col("confidence") - 0.15)
        .otherwise(pl.col("confidence"))
    )
    alerts = mon.ingest(batch).alerts
    perf = alerts.filter(pl.col("metric") == "performance")
    assert _keys(perf) == [("camera=cam_d", "performance", "expected_accuracy")]
    stats = mon.window_stats(slice="camera=cam_d", metric="performance")
    values = dict(stats.select("statistic", "value").rows())
    # confidences below the reference's lowest (0.55) calibrate to its accuracy there
    assert 0.08 < values["reference_accuracy"] - values["expected_accuracy"] < 0.2


def test_cbpe_compares_like_with_like_in_a_miscalibrated_slice(tmp_path: Path) -> None:
    # cam_c's labels are wrong half the time whatever the confidence: the calibration, fitted
    # on all reference rows, overstates cam_c's accuracy. An unchanged batch must not alert.
    ref = reference().with_columns(
        label=pl.when((pl.col("camera") == "cam_c") & (pl.int_range(pl.len()) % 2 == 0))
        .then(pl.lit("wrong"))
        .otherwise(pl.col("label"))
    )
    mon = Monitor(tmp_path / "m.duckdb", reference=ref, slices=SLICES)
    assert (
        mon.ingest(rows(6000, seed=14)).alerts.filter(pl.col("metric") == "performance").height == 0
    )
    values = dict(
        mon.window_stats(slice="camera=cam_c", metric="performance")
        .select("statistic", "value")
        .rows()
    )
    # the estimate is far above the real reference accuracy, and close to its own reference
    assert values["expected_accuracy"] - values["reference_accuracy"] > 0.2
    assert abs(values["expected_accuracy"] - values["reference_expected_accuracy"]) < 0.03


def test_recorded_labels_give_accuracy_and_alert(tmp_path: Path, ref: pl.DataFrame) -> None:
    mon = _monitor(tmp_path, ref)
    batch = rows(2000, seed=13, labels=True)
    mon.ingest(batch.drop("label"))
    labels = batch.select("sample_id", "label").with_columns(
        label=pl.when(batch["camera"] == "cam_c").then(pl.lit("wrong")).otherwise(pl.col("label"))
    )
    assert mon.record_labels(labels) == 2000
    acc = mon.window_stats(metric="performance").filter(pl.col("statistic") == "accuracy")
    by_slice = dict(acc.select("slice", "value").rows())
    assert by_slice["camera=cam_c"] == 0.0 and by_slice["camera=cam_a"] > 0.65
    keys = _keys(mon.alerts().filter(pl.col("statistic") == "accuracy"))
    assert ("camera=cam_c", "performance", "accuracy") in keys
    assert ("camera=cam_a", "performance", "accuracy") not in keys
    with pytest.raises(SchemaError, match="never ingested"):
        mon.record_labels(pl.DataFrame({"sample_id": ["nope"], "label": ["cat"]}))


def test_new_slice_value_is_compared_with_the_whole_reference(
    tmp_path: Path, ref: pl.DataFrame
) -> None:
    mon = _monitor(tmp_path, ref)
    batch = rows(6000, seed=14).with_columns(
        camera=pl.when(pl.col("camera") == "cam_d").then(pl.lit("cam_new")).otherwise("camera")
    )
    batch = shift(batch, "brightness", -0.08, camera="cam_new")
    alerts = mon.ingest(batch).alerts
    assert _keys(alerts) == [("camera=cam_new", "brightness", "ks_p_value")]
    scope = mon.window_stats(slice="camera=cam_new", metric="rows")["reference"].to_list()
    assert scope == ["overall"]


def test_store_reopens_without_reference_and_refuses_another(
    tmp_path: Path, ref: pl.DataFrame
) -> None:
    mon = _monitor(tmp_path, ref)
    mon.ingest(rows(500, seed=15))
    mon.close()
    again = Monitor(tmp_path / "m.duckdb")
    assert again.status()["n_rows"] == 500
    again.close()
    with pytest.raises(MonitorStoreError, match="another reference"):
        Monitor(tmp_path / "m.duckdb", reference=reference(seed=99))
    with pytest.raises(MonitorStoreError, match="other slices"):
        Monitor(tmp_path / "m.duckdb", slices="[{by: site}]")
    with pytest.raises(
        InvalidParameterError,
        match=r"^Monitor: parameter reference must be a polars DataFrame or a path when the "
        r"store is new; received None \(NoneType\)\. The monitor store '.*new\.duckdb' is new, "
        r"so it needs a reference",
    ):
        Monitor(tmp_path / "new.duckdb")


def test_config_change_reevaluates_alerts(tmp_path: Path, ref: pl.DataFrame) -> None:
    mon = _monitor(tmp_path, ref)
    mon.ingest(shift(rows(4000, seed=16), "brightness", -0.03))  # W ~ 0.3 std / ... small
    before = mon.alerts().height
    mon.close()
    strict = Monitor(tmp_path / "m.duckdb", config={"drift": {"wasserstein": 0.01}})
    assert strict.alerts().height > before
    with pytest.raises(MonitorStoreError, match="window"):
        Monitor(tmp_path / "m.duckdb", config={"window": "1h"})
