"""Slice metrics from a LazyFrame or a Parquet path: the same table as from a DataFrame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices.metrics import evaluate_frame


@dataclass(frozen=True)
class S:
    name: str
    expr: pl.Expr
    columns: tuple[str, ...]


def _frame(n: int = 5000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.8, label, rng.integers(0, 3, n))
    return pl.DataFrame(
        {
            "label": np.array(["a", "b", "c"])[label],
            "pred": np.array(["a", "b", "c"])[pred],
            "confidence": rng.uniform(0.34, 1.0, n),
            "site": rng.integers(0, 7, n),
            "vendor": np.array(["x", "y"])[rng.integers(0, 2, n)],
        }
    )


def _slices() -> list[S]:
    out = [S(f"site={v}", pl.col("site") == v, ("site",)) for v in range(7)]
    return [
        *out,
        S("vendor=x&site=0", (pl.col("vendor") == "x") & (pl.col("site") == 0), ("vendor", "site")),
    ]


def test_lazy_and_parquet_equal_eager(tmp_path: Path) -> None:
    frame = _frame()
    eager = evaluate_frame(frame, _slices(), confidence="confidence")
    lazy = evaluate_frame(frame.lazy(), _slices(), confidence="confidence")
    path = tmp_path / "preds.parquet"
    frame.write_parquet(path, row_group_size=700)
    from_file = evaluate_frame(path, _slices(), confidence="confidence")
    from_str = evaluate_frame(
        str(path), _slices(), confidence="confidence", classes=["a", "b", "c"]
    )
    assert eager.equals(lazy)
    assert eager.equals(from_file)  # however the rows are split (several row groups)
    assert eager.equals(from_str)
    assert eager["n"].equals(from_file["n"])
    acc = eager.filter((pl.col("slice") == "overall") & (pl.col("metric") == "accuracy"))
    expect = float((frame["label"] == frame["pred"]).mean())
    assert acc["value"][0] == pytest.approx(expect)


def test_parquet_input_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"preds\.csv"):
        evaluate_frame(tmp_path / "preds.csv", _slices())
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(SchemaError, match=r"bad\.parquet.*not a readable Parquet"):
        evaluate_frame(bad, _slices())
    ok = tmp_path / "ok.parquet"
    _frame(50).drop("confidence").write_parquet(ok)
    with pytest.raises(SchemaError, match="confidence column 'confidence' is missing"):
        evaluate_frame(ok, _slices(), confidence="confidence")
