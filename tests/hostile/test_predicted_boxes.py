"""Hostile predicted boxes (``scan(..., predicted_boxes=)``, ``ScanContext``): each bad
table is a one-line ``SchemaError`` / ``InvalidAnnotationError`` naming the row and the fix,
raised before any finder runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import InvalidAnnotationError, SchemaError
from datacentric.issues import ScanContext, check_predicted_boxes, scan
from datacentric.testing import make_check_context, make_detection_check_context


@pytest.fixture(scope="module")
def ctx() -> ScanContext:
    return make_detection_check_context()


def _good() -> pl.DataFrame:
    return pl.DataFrame(
        {"sample_id": ["0", "1"], "label": ["c0", "c1"], "x": [1.0, 2.0], "y": [1.0, 2.0],
         "w": [5.0, 6.0], "h": [5.0, 6.0], "score": [0.9, 0.8]}
    )  # fmt: skip


CASES = [
    ("no score", lambda f: f.drop("score"), SchemaError, "lack column(s) ['score']"),
    ("text x", lambda f: f.with_columns(pl.lit("left").alias("x")), SchemaError, "wrong types"),
    ("NaN", lambda f: f.with_columns(pl.Series("y", [1.0, np.nan])), InvalidAnnotationError,
     "1 (row 1): x, y, w, h"),
    ("inf", lambda f: f.with_columns(pl.Series("w", [np.inf, 1.0])), InvalidAnnotationError,
     "non_finite"),
    ("zero size", lambda f: f.with_columns(pl.Series("h", [5.0, 0.0])), InvalidAnnotationError,
     "non_positive_size: '1 (row 1): w x h = 6.0 x 0.0'"),
    ("class", lambda f: f.with_columns(pl.Series("label", ["c0", "cat"])),
     InvalidAnnotationError, "label 'cat' is not a class"),
    ("sample", lambda f: f.with_columns(pl.Series("sample_id", ["0", "nope"])),
     InvalidAnnotationError, "unknown_sample"),
    ("null label", lambda f: f.with_columns(pl.Series("label", ["c0", None])),
     InvalidAnnotationError, "missing_value"),
    ("score > 1", lambda f: f.with_columns(pl.Series("score", [0.9, 3.0])),
     InvalidAnnotationError, "'1 (row 1): score 3.0'"),
    ("score NaN", lambda f: f.with_columns(pl.Series("score", [np.nan, 0.5])),
     InvalidAnnotationError, "score nan"),
    ("score null", lambda f: f.with_columns(pl.Series("score", [None, 0.5])),
     InvalidAnnotationError, "score None"),
    ("repeated id", lambda f: f.with_columns(pl.lit("p").alias("prediction_id")),
     InvalidAnnotationError, "duplicate_id"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "error", "text"), CASES, ids=[c[0] for c in CASES])
def test_bad_tables_are_one_line_errors(ctx, case, make, error, text) -> None:
    with pytest.raises(error) as info:
        check_predicted_boxes(make(_good()), ctx.dataset)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("predicted_boxes")
    assert text in msg
    with pytest.raises(error):  # the same through scan, before any finder runs
        scan(ctx.dataset, finders=["swapped_box"], predicted_boxes=make(_good()),
             cross_validate=False)  # fmt: skip


def test_not_a_table_or_file(ctx, tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="must be a polars DataFrame"):
        check_predicted_boxes(42, ctx.dataset)
    with pytest.raises(SchemaError, match=r"is not a \.parquet file"):
        check_predicted_boxes(tmp_path / "missing.parquet", ctx.dataset)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(SchemaError, match="cannot be read as Parquet"):
        check_predicted_boxes(bad, ctx.dataset)
    good = tmp_path / "good.parquet"
    _good().write_parquet(good)
    assert check_predicted_boxes(good, ctx.dataset)["prediction_id"].to_list() == ["0", "1"]


def test_classification_dataset_refuses_predicted_boxes() -> None:
    ds = make_check_context().dataset
    with pytest.raises(SchemaError, match="predicted_boxes are for detection datasets"):
        ScanContext(ds, predicted_boxes=_good())


def test_empty_table_is_valid(ctx) -> None:
    empty = _good().head(0)
    assert check_predicted_boxes(empty, ctx.dataset).height == 0
    r = scan(
        ctx.dataset,
        finders=["overlooked_box", "swapped_box", "badly_located_box"],
        predicted_boxes=empty,
        cross_validate=False,
    )
    # no prediction: nothing overlooked, every given box examined, none flagged
    assert r.issues.group_by("issue_type").len().sort("issue_type").rows() == [
        ("badly_located_box", 24),
        ("swapped_box", 24),
    ]
    assert r.flagged().height == 0


def test_a_few_kilobytes_claiming_millions_of_boxes_are_refused_unread(
    ctx, tmp_path: Path
) -> None:
    from tests.hostile._child import GIB, run_child

    bomb = tmp_path / "bomb.parquet"
    n = 3_000_000  # one box repeated: run-length encoding keeps the file tiny
    pl.select(pl.repeat(pl.struct(**{c: pl.lit(v[0]) for c, v in _good().to_dict(
        as_series=False).items()}), n).alias("r")).unnest("r").write_parquet(bomb)  # fmt: skip
    size = bomb.stat().st_size
    assert size < 200_000
    with pytest.raises(SchemaError) as info:
        check_predicted_boxes(bomb, ctx.dataset)
    msg = str(info.value)
    assert f"claims {n:,} rows in {size:,} bytes" in msg and "\n" not in msg
    res = run_child(  # refused before the rows are read: no GBs for a few KB
        f"""
        import numpy as np, polars as pl
        from datacentric import Dataset
        from datacentric.exceptions import SchemaError
        from datacentric.issues.boxes import check_predicted_boxes
        ds = Dataset(pl.DataFrame({{"sample_id": ["0"], "image": ["0.png"],
            "label": pl.Series([None], dtype=pl.Utf8), "split": ["train"]}}), ["cat"],
            task="detection", arrays=np.zeros((1, 8, 8)))
        try:
            check_predicted_boxes({str(bomb)!r}, ds)
        except SchemaError:
            print("REFUSED")
        """
    )
    assert "REFUSED" in res.stdout, res.stderr
    assert res.peak_rss < GIB
