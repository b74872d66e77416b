"""A monitor store opened wrongly leaves no file behind; a damaged store is one error naming
what is damaged, not a traceback."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError, MonitorStoreError, SchemaError
from datacentric.monitor import Monitor
from tests.monitor._data import reference


@pytest.fixture(scope="module")
def ref() -> pl.DataFrame:
    return reference(600)


def test_new_store_without_reference_creates_no_file(tmp_path: Path) -> None:
    store = tmp_path / "m.duckdb"
    with pytest.raises(InvalidParameterError, match="is new, so it needs a reference"):
        Monitor(store)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failed_first_open_removes_the_store_file(tmp_path: Path, ref: pl.DataFrame) -> None:
    store = tmp_path / "m.duckdb"
    with pytest.raises(SchemaError, match="nope"):  # a slice on a column the reference lacks
        Monitor(store, reference=ref, slices="slices: [{by: nope}]")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    with Monitor(store, reference=ref, slices="slices: [{by: camera}]") as mon:  # then it works
        assert mon.status()["reference_rows"] == ref.height


def test_failed_reopen_keeps_the_existing_store(tmp_path: Path, ref: pl.DataFrame) -> None:
    store = tmp_path / "m.duckdb"
    Monitor(store, reference=ref).close()
    size = store.stat().st_size
    with pytest.raises(MonitorStoreError, match="other slices"):
        Monitor(store, slices="slices: [{by: camera}]")
    assert store.is_file() and store.stat().st_size == size


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("profile", "{not json"),
        ("profile", '{"metrics": []}'),  # a key missing
        ("config", '{"window": 3}'),
        ("config", "[1, 2]"),
        ("store_rows", '"yes"'),
    ],
)
def test_damaged_meta_entry_is_one_error_naming_it(
    tmp_path: Path, ref: pl.DataFrame, key: str, value: str
) -> None:
    store = tmp_path / "m.duckdb"
    Monitor(store, reference=ref).close()
    con = duckdb.connect(str(store))
    con.execute("UPDATE meta SET value = ? WHERE key = ?", [value, key])
    con.close()
    with pytest.raises(MonitorStoreError) as err:
        Monitor(store)
    msg = str(err.value)
    assert f"damaged {key!r} entry" in msg and str(store) in msg and "\n" not in msg
