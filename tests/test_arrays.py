"""``datacentric._arrays``: gathering rows of a memory-mapped ``.npy`` file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from datacentric._arrays import _mapped_file, release_pages, take_rows


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key}")


@pytest.mark.parametrize(
    ("shape", "dtype"), [((4000, 24), np.float32), ((3000,), np.int64), ((300, 3, 4), np.float64)]
)
def test_take_rows_from_a_map_equals_fancy_indexing(
    tmp_path: Path, shape: tuple[int, ...], dtype: type
) -> None:
    rng = np.random.default_rng(0)
    a: np.ndarray = (rng.random(shape) * 1000).astype(dtype)
    np.save(tmp_path / "a.npy", a)
    m = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert _mapped_file(m) is not None  # the pread path is the one tested
    n = shape[0]
    cases = [
        np.sort(rng.choice(n, n // 3, replace=False)),  # sorted, spans of several rows
        rng.integers(0, n, 500),  # unsorted, repeats
        np.arange(10, 60),  # one consecutive run
        np.array([n - 1, -1, 0]),  # negative indices
        np.array([], dtype=np.int64),
    ]
    for rows in cases:
        assert np.array_equal(take_rows(m, rows), a[rows])
    view = m[7:]  # a view starts inside the file
    assert np.array_equal(take_rows(view, np.array([0, 5, 2])), a[7:][[0, 5, 2]])
    strided = m[::3]  # rows not adjacent in the file
    assert np.array_equal(take_rows(strided, np.array([0, 2, 5])), a[::3][[0, 2, 5]])
    with pytest.raises(IndexError):
        take_rows(m, np.array([n]))


def test_take_rows_does_not_read_a_replaced_file(tmp_path: Path) -> None:
    a = np.arange(100.0).reshape(50, 2)
    np.save(tmp_path / "a.npy", a)
    m = np.load(tmp_path / "a.npy", mmap_mode="r")
    np.save(tmp_path / "b.npy", -a)
    os.replace(tmp_path / "b.npy", tmp_path / "a.npy")  # a new inode under the same name
    assert _mapped_file(m) is None
    assert np.array_equal(take_rows(m, np.array([1, 2])), a[[1, 2]])  # through the map


def test_scattered_rows_of_a_map_cost_only_the_rows(tmp_path: Path) -> None:
    # through the map, each scattered row faults in a whole page-cache folio (up to 2 MiB):
    # 2,048 rows made most of this 46 MB file resident; read with pread they cost the rows
    x = np.random.default_rng(1).random((120_000, 96), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    del x
    m = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = np.sort(np.random.default_rng(2).choice(m.shape[0], 2048, replace=False))
    m[:].sum()  # the file in the page cache (as after a pass over it) ...
    release_pages(m)  # ... but not in this process
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # the peak (VmHWM) := now (VmRSS)
    before = _status("VmRSS:")
    out = take_rows(m, rows)
    grew = _status("VmHWM:") - before
    assert out.shape == (2048, 96)
    assert grew < 8 * 2**20, grew  # the output is 0.8 MB
