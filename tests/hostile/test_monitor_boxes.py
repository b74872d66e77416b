"""Hostile predicted boxes entering the detection monitor (``Monitor(reference_boxes=)``,
``Monitor.ingest(boxes=)``, ``score_threshold``): each bad table is a one-line error naming
the boxes and the fix, and the DuckDB store is left exactly as it was (a batch is one
transaction; boxes are checked before it opens)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import (
    DatacentricError,
    InvalidAnnotationError,
    InvalidParameterError,
    LimitExceededError,
    SchemaError,
)
from datacentric.monitor import Monitor
from tests.monitor._data import detection_rows

N = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detection store holding one good batch."""
    path = tmp_path_factory.mktemp("det") / "det.duckdb"
    images, boxes = detection_rows(300, seed=0)
    with Monitor(path, reference=images.drop("timestamp"), reference_boxes=boxes,
                 slices="slices: [{by: camera}]") as mon:  # fmt: skip
        images, boxes = _batch("g")
        mon.ingest(images, boxes=boxes)
    return path


def _batch(prefix: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    images, boxes = detection_rows(N, seed=1, id_prefix=prefix)
    return images, boxes


def _snapshot(mon: Monitor) -> tuple[object, ...]:
    s = mon._store
    return (
        mon.status()["n_batches"],
        s.query("SELECT count(*) AS n FROM rows")["n"][0],
        s.query("SELECT count(*) AS n, sum(count) AS c FROM hist").rows(),
        s.query("SELECT count(*) AS n FROM window_stats")["n"][0],
    )


def _set(frame: pl.DataFrame, column: str, row: int, value: object) -> pl.DataFrame:
    values = frame[column].to_list()
    values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))


CASES = [
    ("unknown sample", lambda b: _set(b, "sample_id", 3, "nobody"), InvalidAnnotationError,
     "boxes: 1 annotation(s) with problem unknown_sample: '3 (row 3): sample_id is not"),
    ("NaN width", lambda b: _set(b, "w", 0, float("nan")), InvalidAnnotationError,
     "non_finite: '0 (row 0): x, y, w, h ="),
    ("negative height", lambda b: _set(b, "h", 5, -4.0), InvalidAnnotationError,
     "non_positive_size: '5 (row 5): w x h ="),
    ("score above 1", lambda b: _set(b, "score", 2, 1.5), InvalidAnnotationError,
     "box(es) with a score that is not a number in [0, 1]: '2 (row 2): score 1.5'"),
    ("score below 0", lambda b: _set(b, "score", 2, -0.1), InvalidAnnotationError,
     "'2 (row 2): score -0.1'"),
    ("no score", lambda b: b.drop("score"), SchemaError, "boxes: lacks the column(s) 'score'"),
    ("text w", lambda b: b.with_columns(w=pl.lit("big")), SchemaError,
     "boxes: column 'w' has dtype String, expected number"),
    ("row bomb", lambda b: pl.concat([b] * 600), LimitExceededError,
     "boxes: 72,000 boxes for 60 row(s), more than 1,000 per image (60,000)"),
    ("one image bombed",
     lambda b: pl.concat([b, pl.concat([b.head(1)] * 1001)]), LimitExceededError,
     "boxes: 1 image(s) with more than 1,000 boxes"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "error", "text"), CASES, ids=[c[0] for c in CASES])
def test_bad_boxes_are_one_line_errors_and_store_nothing(
    store: Path, case: str, make: object, error: type[Exception], text: str
) -> None:
    images, boxes = _batch(f"{case}-")
    bad = make(boxes)  # type: ignore[operator]
    with Monitor(store) as mon:
        before = _snapshot(mon)
        with pytest.raises(error) as info:
            mon.ingest(images, boxes=bad)
        assert _snapshot(mon) == before
    message = str(info.value)
    assert isinstance(info.value, DatacentricError) and "\n" not in message
    assert text in message


def test_row_bomb_file_is_refused_before_it_is_read(store: Path, tmp_path: Path) -> None:
    images, boxes = _batch("f-")
    path = tmp_path / "bomb.parquet"
    pl.concat([boxes] * 600).write_parquet(path)
    with Monitor(store) as mon:
        before = _snapshot(mon)
        with pytest.raises(LimitExceededError, match=r"^boxes: 72,000 boxes for 60 row"):
            mon.ingest(images, boxes=path)
        with pytest.raises(InvalidParameterError, match=r"existing \.parquet file"):
            mon.ingest(images, boxes=tmp_path / "missing.parquet")
        assert _snapshot(mon) == before


def test_bad_image_sizes_of_a_batch(store: Path) -> None:
    images, boxes = _batch("s-")
    with Monitor(store) as mon, pytest.raises(SchemaError) as info:
        mon.ingest(images.with_columns(width=pl.Series(np.r_[np.nan, np.full(N - 1, 640.0)])),
                   boxes=boxes)  # fmt: skip
    assert "batch column 'width' has 1 value(s) that are not a positive size" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"score_threshold": 1.5},
            r"score_threshold must be a number in \[0, 1\] or None; received 1\.5",
        ),
        ({"score_threshold": "high"}, "score_threshold must be"),
        ({"reference_boxes": 3}, "reference_boxes must be"),
    ],
)
def test_monitor_box_parameters(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    images, boxes = detection_rows(100, seed=2)
    args = {"reference": images.drop("timestamp"), "reference_boxes": boxes, **kwargs}
    with pytest.raises(InvalidParameterError, match="^Monitor: parameter " + match):
        Monitor(tmp_path / "m.duckdb", **args)  # type: ignore[arg-type]
    assert not (tmp_path / "m.duckdb").exists()


def test_reference_boxes_without_reference(tmp_path: Path) -> None:
    _, boxes = detection_rows(10, seed=3)
    with pytest.raises(InvalidParameterError, match="reference_boxes must be given with") as info:
        Monitor(tmp_path / "m.duckdb", reference_boxes=boxes)
    assert "received <shape (20, 7)> (DataFrame)" in str(info.value)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "m.duckdb").exists()


def test_ingest_boxes_of_another_type(store: Path) -> None:
    images, _ = _batch("t-")
    with (
        Monitor(store) as mon,
        pytest.raises(InvalidParameterError, match=r"^Monitor\.ingest: parameter boxes must be"),
    ):
        mon.ingest(images, boxes=[1, 2])  # type: ignore[arg-type]


def test_bad_reference_boxes_leave_no_store(tmp_path: Path) -> None:
    images, boxes = detection_rows(100, seed=4)
    with pytest.raises(InvalidAnnotationError, match=r"^reference_boxes: 1 annotation"):
        Monitor(tmp_path / "m.duckdb", reference=images.drop("timestamp"),
                reference_boxes=_set(boxes, "sample_id", 0, "ghost"))  # fmt: skip
    assert not (tmp_path / "m.duckdb").exists()
