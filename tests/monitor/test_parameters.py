"""The monitor's parameters are declared and checked in one place, with one message form,
before the store is opened."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError
from datacentric.monitor import Monitor
from datacentric.monitor.profile import build_profile
from datacentric.monitor.schema import read_frame, validate_batch
from datacentric.testing import check_parameter_constraints
from tests.monitor._data import reference, rows


def test_monitor_declares_and_enforces_every_parameter(tmp_path: Path) -> None:
    store = tmp_path / "never.duckdb"
    # one unrelated type per parameter; slices [object()]; metrics a bare string and
    # [object()]; n_bins 1, 1001, 2.5; extra_columns an unknown option; store_rows 'yes', 1;
    # score_threshold below 0, above 1 and NaN
    assert check_parameter_constraints(Monitor, {"store": store}) == 11 + 1 + 2 + 3 + 1 + 2 + 3
    assert not store.exists()  # every bad value is refused before the store is opened


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"extra_columns": "keep"},
            r"extra_columns must be one of 'error', 'drop'; received 'keep'",
        ),
        ({"n_bins": 1}, r"n_bins must be an integer in \[2, 1000\]; received 1 \(int\)"),
        ({"store_rows": "no"}, r"store_rows must be a bool \(True or False\); received 'no'"),
        ({"metrics": "x"}, r"metrics must be a list or tuple of strings or None; received 'x'"),
        (
            {"slices": [{"by": "site"}]},
            r"slices must be a string, a pathlib path, a list or tuple of SliceSpec objects or "
            r"None; received \[\{'by': 'site'\}\] \(list\)",
        ),
    ],
)
def test_monitor_messages(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match="^Monitor: parameter " + match):
        Monitor(tmp_path / "m.duckdb", reference=reference(), **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "m.duckdb").exists()


def test_ingest_and_record_labels_arguments(tmp_path: Path) -> None:
    mon = Monitor(tmp_path / "m.duckdb", reference=reference())
    with pytest.raises(
        InvalidParameterError,
        match=r"^Monitor\.ingest: parameter batch_id must be a non-empty string or None; "
        r"received '' \(str\)\. Pass e\.g\. batch_id=None \(the default\)\.",
    ):
        mon.ingest(rows(10, seed=0), batch_id="")
    with pytest.raises(InvalidParameterError, match=r"^Monitor\.ingest: parameter batch_id .*3"):
        mon.ingest(rows(10, seed=0), batch_id=3)  # type: ignore[arg-type]
    with pytest.raises(
        InvalidParameterError,
        match=r"^Monitor\.ingest: parameter batch must be an instance of DataFrame, a string or "
        r"a pathlib path; received \[1, 2\] \(list\)",
    ):
        mon.ingest([1, 2])  # type: ignore[arg-type]
    with pytest.raises(
        InvalidParameterError,
        match=r"^Monitor\.record_labels: parameter labels must be a polars DataFrame or the "
        r"path of a \.parquet or \.csv file; received \{'a': 'cat'\} \(dict\)",
    ):
        mon.record_labels({"a": "cat"})  # type: ignore[arg-type]
    assert mon.status()["n_batches"] == 0
    mon.close()


def test_functions_declare_their_parameters() -> None:
    # metrics: another type, a bare string, [object()]; n_bins: another type, 1, 1001, 2.5;
    # score_threshold: another type, -0.001, 1.001, NaN
    assert check_parameter_constraints(build_profile, {"reference": pl.DataFrame()}) == 3 + 4 + 4
    assert check_parameter_constraints(validate_batch, {"frame": pl.DataFrame()}) == 2
    with pytest.raises(InvalidParameterError, match=r"^validate_batch: parameter extra_columns"):
        validate_batch(pl.DataFrame({"a": [1]}), {}, extra_columns="keep")
    with pytest.raises(InvalidParameterError, match=r"^loader: parameter rows must be a polars"):
        read_frame(42, "rows", "loader")  # type: ignore[arg-type]
