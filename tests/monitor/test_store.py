"""The store: a crash mid-ingest leaves no half batch; schema version; schema errors."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from datacentric.exceptions import DuplicateSampleIdError, SchemaError
from datacentric.monitor import Monitor, MonitorStoreError
from datacentric.monitor.batch import CRASH_ENV
from tests.monitor._data import SLICES, reference, rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ref() -> pl.DataFrame:
    return reference(6000)


def _counts(path: Path) -> tuple[int, ...]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return tuple(
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("batches", "rows", "hist", "perf", "window_stats", "alerts")
        )
    finally:
        con.close()


@pytest.mark.parametrize("point", ["after_rows", "before_commit"])
def test_crash_during_ingest_leaves_no_half_batch(
    tmp_path: Path, ref: pl.DataFrame, point: str
) -> None:
    store = tmp_path / "m.duckdb"
    mon = Monitor(store, reference=ref, slices=SLICES)
    mon.ingest(rows(1000, seed=20, id_prefix="first"), batch_id="first")
    mon.close()
    before = _counts(store)
    env = {**os.environ, CRASH_ENV: point, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_crash_worker.py")), str(store)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 86, proc.stderr  # died inside the transaction
    assert _counts(store) == before  # nothing of the crashed batch
    again = Monitor(store)
    assert again.batches()["batch_id"].to_list() == ["first"]
    result = again.ingest(rows(3000, seed=21), batch_id="crashy")  # the same batch succeeds now
    assert result.status == "ingested" and again.status()["n_rows"] == 4000


def test_schema_version_is_checked(tmp_path: Path, ref: pl.DataFrame) -> None:
    store = tmp_path / "m.duckdb"
    Monitor(store, reference=ref, slices=SLICES).close()
    con = duckdb.connect(str(store))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(MonitorStoreError, match="schema version '99'"):
        Monitor(store)


def test_a_foreign_duckdb_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE x(a INTEGER)")
    con.close()
    with pytest.raises(MonitorStoreError, match="not a monitor store"):
        Monitor(path)


@pytest.fixture()
def mon(tmp_path: Path, ref: pl.DataFrame) -> Monitor:
    return Monitor(tmp_path / "m.duckdb", reference=ref, slices=SLICES)


def test_missing_column_is_named(mon: Monitor) -> None:
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'contrast'.*Received columns"):
        mon.ingest(rows(100, seed=1).drop("contrast"))


def test_extra_column_is_an_error_or_dropped_on_purpose(mon: Monitor, tmp_path: Path) -> None:
    batch = rows(100, seed=1).with_columns(pl.lit(1).alias("firmware"))
    with pytest.raises(SchemaError, match="'firmware' that the reference does not have"):
        mon.ingest(batch)
    assert mon.status()["n_rows"] == 0
    lenient = Monitor(tmp_path / "m.duckdb", extra_columns="drop")
    assert lenient.ingest(batch).status == "ingested"


def test_wrongly_typed_columns_are_named(mon: Monitor) -> None:
    batch = rows(100, seed=1).with_columns(
        pl.col("brightness").cast(pl.String), pl.col("timestamp").cast(pl.String)
    )
    with pytest.raises(SchemaError, match="wrong type") as info:
        mon.ingest(batch)
    assert "'brightness' should be numeric, received String" in str(info.value)
    assert "'timestamp' should be temporal" in str(info.value)


def test_bad_values_are_named(mon: Monitor) -> None:
    batch = rows(50, seed=1)
    no_id = batch.with_columns(
        sample_id=pl.when(pl.int_range(50) == 3).then(None).otherwise("sample_id")
    )
    with pytest.raises(SchemaError, match=r"'sample_id' has 1 null value\(s\), at rows 3"):
        mon.ingest(no_id)
    bad_conf = batch.with_columns(confidence=pl.lit(1.5))
    with pytest.raises(SchemaError, match=r"probability in \[0, 1\]"):
        mon.ingest(bad_conf)
    no_time = batch.with_columns(timestamp=pl.lit(None, dtype=pl.Datetime("us")))
    with pytest.raises(SchemaError, match="'timestamp' has 50 null"):
        mon.ingest(no_time)
    with pytest.raises(SchemaError, match="no rows"):
        mon.ingest(batch.head(0))
    assert mon.status()["n_rows"] == 0


def test_nan_metrics_and_null_predictions_are_kept(mon: Monitor) -> None:
    batch = rows(200, seed=2).with_columns(
        brightness=pl.when(pl.int_range(200) < 10).then(float("nan")).otherwise("brightness"),
        prediction=pl.when(pl.int_range(200) < 4).then(None).otherwise("prediction"),
    )
    mon.ingest(batch)
    stats = mon.window_stats(slice="overall").filter(pl.col("statistic") == "missing_rate")
    rates = dict(stats.select("metric", "value").rows())
    assert rates["brightness"] == pytest.approx(0.05) and rates["prediction"] == pytest.approx(0.02)
    assert mon.status()["n_rows"] == 200


def test_files_and_time_zones(mon: Monitor, tmp_path: Path) -> None:
    batch = rows(300, seed=3)
    batch.write_csv(tmp_path / "b.csv")
    assert mon.ingest(tmp_path / "b.csv").n_rows == 300
    other = rows(300, seed=4, id_prefix="p").with_columns(
        pl.col("timestamp").dt.replace_time_zone("Europe/Paris")
    )
    other.write_parquet(tmp_path / "b.parquet")
    result = mon.ingest(tmp_path / "b.parquet")
    assert result.windows == [dt.datetime(2024, 4, 30), dt.datetime(2024, 5, 1)]  # UTC
    (tmp_path / "b.json").write_text("{}")
    with pytest.raises(Exception, match=r"\.parquet or \.csv"):
        mon.ingest(tmp_path / "b.json")


def test_duplicate_rows_in_a_batch_are_an_error(mon: Monitor) -> None:
    batch = rows(100, seed=5)
    with pytest.raises(DuplicateSampleIdError):
        mon.ingest(pl.concat([batch, batch]))


def test_statistics_only_store(tmp_path: Path, ref: pl.DataFrame) -> None:
    path = tmp_path / "stats.duckdb"
    mon = Monitor(path, reference=ref, slices=SLICES, store_rows=False)
    mon.ingest(rows(2000, seed=30))
    assert mon.status()["n_rows"] == 2000
    assert mon.window_stats(slice="overall", metric="rows")["value"].to_list() == [2000.0]
    mon.close()
    again = Monitor(path)
    assert not again.store_rows
    with pytest.raises(MonitorStoreError, match="keeps no rows"):
        again.record_labels(pl.DataFrame({"sample_id": ["s0"], "label": ["cat"]}))
    with pytest.raises(SchemaError, match="keeps no rows"):
        again.ingest(rows(10, seed=31, id_prefix="l", labels=True))
    again.close()
    con = duckdb.connect(str(path), read_only=True)
    assert "rows" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    con.close()


def test_a_second_writer_process_gets_a_clear_error(tmp_path: Path, ref: pl.DataFrame) -> None:
    store = tmp_path / "m.duckdb"
    mon = Monitor(store, reference=ref, slices=SLICES)  # holds the file
    code = (
        "import sys\n"
        "from datacentric.monitor import Monitor, MonitorStoreError\n"
        "try:\n"
        f"    Monitor({str(store)!r})\n"
        "except MonitorStoreError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "cannot open the monitor store" in proc.stdout and "another process" in proc.stdout
    mon.close()
