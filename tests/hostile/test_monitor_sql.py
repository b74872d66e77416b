"""The monitor's SQL carries values as parameters: a ``'`` or ``[`` in the temp-dir path or a
SQL-looking slice name is just text. Its "... and N more" counts are the real counts."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import duckdb
import polars as pl
import pytest

from datacentric.exceptions import DuplicateSampleIdError, SchemaError
from datacentric.monitor import Monitor
from tests.monitor._data import reference, rows

SQLISH = "x'); DROP TABLE rows; --"


@pytest.fixture(scope="module")
def ref() -> pl.DataFrame:
    return reference(3000)


def _tables(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    finally:
        con.close()


def test_quote_in_tmpdir(
    tmp_path: Path, ref: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = tmp_path / "it's [a] dir"
    odd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(odd))
    assert tempfile.gettempdir() == str(odd)
    store = tmp_path / "m.duckdb"
    batch = rows(800, seed=3, labels=True)
    with Monitor(store, reference=ref, slices="slices: [{by: camera}]") as mon:
        res = mon.ingest(batch, batch_id="b1")
        assert res.status == "ingested" and res.n_rows == 800
        late = rows(300, seed=4, id_prefix="late")
        mon.ingest(late.drop("label", strict=False), batch_id="b2")
        assert mon.record_labels(rows(300, seed=4, id_prefix="late", labels=True)) == 300
        stats = mon.window_stats(slice="camera=cam_a")
        assert stats.height and set(stats["slice"].to_list()) == {"camera=cam_a"}
        assert mon.status()["n_rows"] == 1100
        md = mon.report(tmp_path / "m.md").read_text(encoding="utf-8")
    assert md.startswith("# Production monitor")


def test_sql_looking_slice_names(tmp_path: Path, ref: pl.DataFrame) -> None:
    store = tmp_path / "m.duckdb"
    hostile_ref = ref.with_columns(
        pl.when(pl.col("site") == "north").then(pl.lit(SQLISH)).otherwise(pl.col("site"))
        .alias("site")
    )  # fmt: skip
    batch = rows(600, seed=5).with_columns(
        pl.when(pl.col("site") == "north").then(pl.lit(SQLISH)).otherwise(pl.col("site"))
        .alias("site")
    )  # fmt: skip
    with Monitor(store, reference=hostile_ref, slices="slices: [{by: site}]") as mon:
        mon.ingest(batch, batch_id="it's; DROP TABLE batches; --")
        name = f"site={SQLISH}"
        stats = mon.window_stats(slice=name)
        assert stats.height and set(stats["slice"].to_list()) == {name}
        assert mon.window_stats(slice="nothing' OR '1'='1").height == 0
        assert mon.batches()["batch_id"].to_list() == ["it's; DROP TABLE batches; --"]
    assert {"rows", "batches", "window_stats", "alerts"} <= _tables(store)


def _more(message: str) -> int:
    found = re.search(r"\.\.\. and (\d+) more", message)
    assert found, message
    return int(found.group(1))


def test_more_count_of_null_sample_ids(tmp_path: Path, ref: pl.DataFrame) -> None:
    batch = rows(100, seed=6).with_columns(
        pl.when(pl.int_range(pl.len()) < 25).then(None).otherwise(pl.col("sample_id"))
        .alias("sample_id")
    )  # fmt: skip
    with (
        Monitor(tmp_path / "m.duckdb", reference=ref) as mon,
        pytest.raises(SchemaError) as info,
    ):
        mon.ingest(batch, batch_id="b")
    assert "25 null value(s)" in str(info.value) and _more(str(info.value)) == 15


def test_more_count_of_bad_confidence(tmp_path: Path, ref: pl.DataFrame) -> None:
    batch = rows(100, seed=7).with_columns(
        pl.when(pl.int_range(pl.len()) < 40).then(1.5).otherwise(pl.col("confidence"))
        .alias("confidence")
    )  # fmt: skip
    with (
        Monitor(tmp_path / "m.duckdb", reference=ref) as mon,
        pytest.raises(SchemaError) as info,
    ):
        mon.ingest(batch, batch_id="b")
    message = str(info.value)
    assert "40 value(s) are not" in message, message
    assert "(the first 10 of 40)" in message, message


def test_more_count_of_duplicate_ids_in_a_batch(tmp_path: Path, ref: pl.DataFrame) -> None:
    batch = rows(100, seed=8)
    batch = pl.concat([batch, batch.head(25)])
    with (
        Monitor(tmp_path / "m.duckdb", reference=ref) as mon,
        pytest.raises(DuplicateSampleIdError) as info,
    ):
        mon.ingest(batch, batch_id="b")
    assert "25 sample_id(s)" in str(info.value) and _more(str(info.value)) == 15
    assert len(info.value.rows) == 10


def test_more_count_of_ids_already_ingested(tmp_path: Path, ref: pl.DataFrame) -> None:
    with Monitor(tmp_path / "m.duckdb", reference=ref) as mon:
        mon.ingest(rows(100, seed=9), batch_id="first")
        again = rows(100, seed=10).with_columns(
            pl.when(pl.int_range(pl.len()) < 25)
            .then(pl.col("sample_id"))
            .otherwise(pl.concat_str(pl.lit("new"), pl.col("sample_id")))
            .alias("sample_id")
        )
        with pytest.raises(DuplicateSampleIdError) as info:
            mon.ingest(again, batch_id="second")
    assert "25 sample_id(s) already ingested" in str(info.value)
    assert _more(str(info.value)) == 15


def test_more_count_of_labels_never_ingested(tmp_path: Path, ref: pl.DataFrame) -> None:
    with Monitor(tmp_path / "m.duckdb", reference=ref) as mon:
        mon.ingest(rows(100, seed=11), batch_id="first")
        labels = pl.DataFrame(
            {"sample_id": [f"ghost{i}" for i in range(25)], "label": ["cat"] * 25}
        )
        with pytest.raises(SchemaError) as info:
            mon.record_labels(labels)
    assert "25 sample_id(s) that were never ingested" in str(info.value)
    assert _more(str(info.value)) == 15


def test_store_io_error_is_one_line_and_rolls_back(
    tmp_path: Path, ref: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacentric.exceptions import FileAccessError
    from datacentric.monitor.store import MonitorStore

    store = tmp_path / "m.duckdb"
    with Monitor(store, reference=ref) as mon:
        mon.ingest(rows(200, seed=12), batch_id="first")

        def full(self, table, frame, *, create=False):  # type: ignore[no-untyped-def]
            raise duckdb.IOException("IO Error: Could not write file: No space left on device")

        monkeypatch.setattr(MonitorStore, "insert_frame", full)
        with pytest.raises(FileAccessError) as info:
            mon.ingest(rows(200, seed=13, id_prefix="second"), batch_id="second")
        monkeypatch.undo()
        assert str(store) in str(info.value) and "No space left on device" in str(info.value)
        assert mon.batches()["batch_id"].to_list() == ["first"]
        assert mon.status()["n_rows"] == 200


def test_staging_file_disk_full_is_one_line(
    tmp_path: Path, ref: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacentric.exceptions import FileAccessError

    with Monitor(tmp_path / "m.duckdb", reference=ref) as mon:
        real = pl.DataFrame.write_parquet

        def full(self, file, *args, **kwargs):  # type: ignore[no-untyped-def]
            if "datacentric-monitor-" in str(file):
                raise pl.exceptions.ComputeError("IO error: No space left on device (os error 28)")
            return real(self, file, *args, **kwargs)

        monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
        with pytest.raises(FileAccessError, match="No space left on device"):
            mon.ingest(rows(200, seed=14), batch_id="b")
        monkeypatch.undo()
        assert mon.batches().height == 0
