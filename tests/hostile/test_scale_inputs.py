"""Hostile inputs of the scale paths: memory-mapped embeddings files and Parquet evaluation
files (issue 15). Each error is one line naming the file; a forged header costs no memory."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from datacentric import Dataset
from datacentric._arrays import read_only_map
from datacentric.exceptions import SchemaError
from datacentric.slices.metrics import evaluate_frame
from datacentric.train.coerce import coerce_embeddings
from tests.hostile._child import GIB, run_child


@pytest.fixture()
def ds() -> Dataset:
    return Dataset.from_arrays(np.zeros((4, 2, 2), np.uint8), [0, 1, 0, 1], ["a", "b"])


def test_mapped_embeddings_are_read_only_float32_views(ds: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "emb.npy"
    np.save(path, np.arange(8, dtype=np.float32).reshape(4, 2))
    got = coerce_embeddings(path, ds)
    assert read_only_map(got) is not None and got.dtype == np.float32  # mapped, not read
    assert not got.flags.writeable  # a scan can never write into the user's file
    assert got[3].tolist() == [6.0, 7.0]


def test_truncated_and_nonfinite_mapped_embeddings_name_the_file(
    ds: Dataset, tmp_path: Path
) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ones((4, 64), np.float32))
    cut = tmp_path / "cut.npy"
    cut.write_bytes(buf.getvalue()[:300])
    with pytest.raises(SchemaError, match=r"cut\.npy.*(claims|truncated|cannot be mapped)"):
        coerce_embeddings(cut, ds)
    bad = np.ones((4, 3), np.float32)
    bad[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(SchemaError, match=r"nan\.npy.*NaN or infinite values in 1 row"):
        coerce_embeddings(tmp_path / "nan.npy", ds)


def test_forged_header_of_a_mapped_file_costs_no_memory(tmp_path: Path) -> None:
    path = tmp_path / "forged.npy"
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 128)}
    )
    path.write_bytes(head.getvalue() + b"\0" * 1024)
    res = run_child(
        f"""
        import numpy as np
        from datacentric import Dataset
        from datacentric.train.coerce import coerce_embeddings
        ds = Dataset.from_arrays(np.zeros((2, 2, 2), np.uint8), [0, 1], ["a", "b"])
        coerce_embeddings({str(path)!r}, ds)
        """
    )
    assert "SchemaError" in res.last_error_line and "forged.npy" in res.last_error_line
    assert res.peak_rss < GIB


def test_empty_parquet_evaluation_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    path.write_bytes(b"")
    with pytest.raises(SchemaError, match=r"empty\.parquet.*not a readable Parquet"):
        evaluate_frame(path, [])
