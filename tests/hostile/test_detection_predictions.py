"""Hostile predicted boxes for ``evaluate_detection``: one-line errors naming the input."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import (
    DatacentricError,
    InvalidAnnotationError,
    InvalidParameterError,
    SchemaError,
)
from datacentric.slices.detection import evaluate_detection


@pytest.fixture()
def ds() -> Dataset:
    manifest = pl.DataFrame(
        {"sample_id": ["a", "b"], "image": ["a.png", "b.png"], "label": [None, None],
         "split": ["test", "test"]}
    )  # fmt: skip
    boxes = pl.DataFrame(
        {"annotation_id": ["1", "2"], "sample_id": ["a", "b"], "label": ["cat", "cat"],
         "x": [0.0, 1.0], "y": [0.0, 1.0], "w": [9.0, 9.0], "h": [9.0, 9.0]}
    )  # fmt: skip
    return Dataset(manifest, ["cat"], annotations=boxes)


def _good() -> pl.DataFrame:
    return pl.DataFrame(
        {"sample_id": ["a"], "label": ["cat"], "x": [0.0], "y": [0.0], "w": [9.0],
         "h": [9.0], "score": [0.5]}
    )  # fmt: skip


def _bad_files(tmp: Path) -> dict[str, tuple[object, type[DatacentricError], str]]:
    garbage = tmp / "garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not parquet at all")
    empty = tmp / "empty.parquet"
    empty.write_bytes(b"")
    no_score = tmp / "no_score.parquet"
    _good().drop("score").write_parquet(no_score)
    text_x = tmp / "text_x.parquet"
    _good().with_columns(x=pl.lit("left")).write_parquet(text_x)
    inf = tmp / "inf.parquet"
    _good().with_columns(h=pl.lit(float("inf"))).write_parquet(inf)
    null_label = tmp / "null_label.parquet"
    _good().with_columns(label=pl.lit(None, pl.Utf8)).write_parquet(null_label)
    csv = tmp / "pred.csv"
    csv.write_text("sample_id,label,x,y,w,h,score\na,cat,0,0,9,9,0.5\n")
    folder = tmp / "dir.parquet"
    folder.mkdir()
    return {
        "garbage": (garbage, SchemaError, "cannot be read as Parquet"),
        "empty": (empty, SchemaError, "cannot be read as Parquet"),
        "no_score": (no_score, SchemaError, "lacks the column(s) 'score'"),
        "text_x": (text_x, SchemaError, "column 'x' has dtype String"),
        "inf": (inf, InvalidAnnotationError, "non_finite"),
        "null_label": (null_label, InvalidAnnotationError, "missing_value"),
        "csv": (csv, InvalidParameterError, "existing .parquet file"),
        "folder": (folder, InvalidParameterError, "existing .parquet file"),
        "missing": (tmp / "missing.parquet", InvalidParameterError, "existing .parquet file"),
        "a list": ([1, 2], InvalidParameterError, "received list"),
    }


@pytest.mark.parametrize(
    "case",
    ["garbage", "empty", "no_score", "text_x", "inf", "null_label", "csv", "folder", "missing",
     "a list"],
)  # fmt: skip
def test_bad_predicted_boxes_are_one_line_errors(ds: Dataset, tmp_path: Path, case: str) -> None:
    value, error, text = _bad_files(tmp_path)[case]
    with pytest.raises(error) as info:
        evaluate_detection(ds, value, n_boot=0)
    message = str(info.value)
    assert "\n" not in message and text in message
