"""``datacentric._arrays``: gathering rows of a memory-mapped ``.npy`` file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import datacentric._arrays as arrays_mod
from datacentric._arrays import release_pages, take_rows


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
    n = shape[0]
    cases = [
        np.sort(rng.choice(n, n // 3, replace=False)),  # sorted: in spans of the file
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


def test_sorted_rows_are_gathered_in_spans_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = np.arange(40_000, dtype=np.float64).reshape(10_000, 4)  # 32 bytes a row
    np.save(tmp_path / "a.npy", a)
    m = np.load(tmp_path / "a.npy", mmap_mode="r")
    monkeypatch.setattr(arrays_mod, "STEP_BYTES", 4096)  # 128 rows a span
    rows = np.array([0, 5, 127, 128, 129, 5000, 9999, 9999])
    for size in (1, 2, 3, 100):
        assert np.array_equal(take_rows(m, rows, size=size), a[rows])
        assert np.array_equal(take_rows(m[::-1], rows, size=size), a[::-1][rows])


def test_scattered_rows_of_a_map_cost_only_the_rows(tmp_path: Path) -> None:
    # through the map, each scattered row faults in a whole page-cache folio (up to 2 MiB):
    # 2,048 rows in one step made most of this 46 MB file resident
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
    assert grew < 12 * 2**20, grew  # the output is 0.8 MB, a step spans 4 MiB
