"""concat_issue_tables: the scan's issue table laid out without copies (issue 15, memory).

Known answers: the stacked table equals ``pl.concat(how="diagonal_relaxed")`` of the same
tables; every column is cut at the same rows; a filter of the table and a save/load round
trip give the same rows; a filter of a 3.2 M-row table in a child process stays small.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from datacentric.issues import ScanResult
from datacentric.issues.base import concat_issue_tables, issue_table
from tests.hostile._child import run_child


def _chunk_lengths(s: pl.Series) -> list[int]:
    return [len(c) for c in s.get_chunks()]


def _tables() -> tuple[list[pl.DataFrame], pl.Series]:
    ids = pl.Series("sample_id", [f"s{i}" for i in range(7)])
    rng = np.random.default_rng(0)
    # a finder's table made of two sub-types: each column in two chunks of 7 rows ...
    two = pl.concat(
        [
            issue_table(t, ids, rng.random(7) < 0.5, rng.random(7), [None] * 7, value=rng.random(7))
            for t in ("dark", "bright")
        ],
        rechunk=False,
    )
    # ... plus a column in one chunk: the table's columns are cut differently
    two = two.with_columns(pl.Series("threshold", np.arange(14, dtype=np.float64)))
    label = issue_table(
        "label",
        ids.to_list(),
        [False, True, False, False, False, True, False],
        rng.random(7),
        [None, "check it", None, None, None, "look", None],
        ["a", "b", None, None, None, "a", None],
        class_count=np.arange(7),  # Int64 here, Float64 below: the supertype is Float64
    )
    other = issue_table(
        "other", ids[2:5], [True, False, True], [1.0, 0.0, 0.5], ["x", None, "y"],
        class_count=[0.5, 1.5, 2.5],
    )  # fmt: skip
    empty = issue_table("none", [], [], [], [])
    return [two, label, empty, other], ids


def test_equals_the_diagonal_concat_and_every_column_is_cut_alike() -> None:
    tables, ids = _tables()
    expected = pl.concat(tables, how="diagonal_relaxed")
    got = concat_issue_tables(tables, [ids])
    assert got.equals(expected)
    assert got.schema == expected.schema
    assert got.columns[:6] == ["sample_id", "issue_type", "is_issue", "severity",
                               "suggested_label", "detail"]  # fmt: skip
    # pieces: dark 7, bright 7 (cut where "value" and the rest change chunk), label 7, other 3
    lengths = {c: _chunk_lengths(got[c]) for c in got.columns}
    assert set(map(tuple, lengths.values())) == {(7, 7, 7, 3)}
    assert got.filter("is_issue").equals(expected.filter("is_issue"))


def test_no_tables_is_the_empty_issue_table() -> None:
    t = concat_issue_tables([])
    assert t.height == 0
    assert t.columns == ["sample_id", "issue_type", "is_issue", "severity", "suggested_label",
                         "detail"]  # fmt: skip


def test_issue_table_text_columns() -> None:
    t = issue_table("dark", pl.Series(["a", "b"]), [True, False], [2.0, -1.0], [None, None])
    assert t.schema["detail"] == pl.Utf8 and t["detail"].to_list() == [None, None]
    assert t["suggested_label"].to_list() == [None, None]
    assert t["issue_type"].to_list() == ["dark", "dark"]
    assert t["severity"].to_list() == [1.0, 0.0]


def test_save_load_round_trip_of_a_pieced_table(tmp_path: Path) -> None:
    tables, ids = _tables()
    issues = concat_issue_tables(tables, [ids])
    samples = pl.DataFrame({"sample_id": ids, "label": ["a"] * 7, "split": ["train"] * 7})
    result = ScanResult(issues, samples, ["a", "b"], timings={"label": 0.5})
    back = ScanResult.load(result.save(tmp_path / "scan.parquet"))
    assert back.issues.equals(pl.concat(tables, how="diagonal_relaxed"))
    assert back.issues.schema == issues.schema
    assert back.samples.equals(samples) and back.timings == {"label": 0.5}
    assert back.flagged().equals(result.flagged())


def test_a_filter_of_the_stacked_table_does_not_copy_it() -> None:
    # 16 tables of 200,000 rows (3.2 M rows, 38 columns): with the columns chunked
    # differently (pl.concat diagonal) the filter first copied every column, +1.4 GB here
    child = run_child(
        """
        import numpy as np, polars as pl
        from datacentric.issues.base import concat_issue_tables, issue_table
        def rss():
            with open("/proc/self/status") as fh:
                return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS")) * 1024
        n = 200_000
        ids = pl.Series("sample_id", [f"s{i:07d}" for i in range(n)])
        rng = np.random.default_rng(0)
        tables = [
            issue_table(f"type_{k}", ids, rng.random(n) < 0.001, rng.random(n), [None] * n,
                        **{f"x{k}": rng.random(n), f"t{k}": pl.repeat("", n, eager=True)})
            for k in range(16)
        ]
        t = concat_issue_tables(tables, [ids])
        before = rss()
        flagged = t.filter("is_issue")
        print("GROWTH", rss() - before, flagged.height)
        """
    )
    assert child.returncode == 0, child.stderr
    growth, rows = child.stdout.split("GROWTH")[1].split()[:2]
    assert 3000 < int(rows) < 3400
    assert int(growth) < 64 * 2**20, f"a filter of the stacked table grew RSS by {growth} bytes"


def test_summary_of_a_pieced_table() -> None:
    tables, ids = _tables()
    samples = pl.DataFrame(
        {"sample_id": ids, "label": list("aabbaab"), "split": ["train"] * 4 + ["test"] * 3}
    )
    got = ScanResult(concat_issue_tables(tables, [ids]), samples, ["a", "b"]).summary()
    by_class = got["by_class"].filter(pl.col("issue_type") == "label")
    # label flags s1 (a) and s5 (a): 2 of the 4 examined samples labelled a, 0 of 3 b
    assert by_class.select("label", "n_flagged", "n").rows() == [("a", 2, 4), ("b", 0, 3)]
    by_split = got["by_slice"].filter(pl.col("issue_type") == "other")
    # other examines s2, s3 (train) and s4 (test); it flags s2 and s4
    assert by_split.select("value", "n_flagged", "n").rows() == [("test", 1, 1), ("train", 1, 2)]
    dense = ScanResult(pl.concat(tables, how="diagonal_relaxed"), samples, ["a", "b"]).summary()
    for key in ("by_class", "by_slice"):
        assert got[key].equals(dense[key])


def test_summary_streams_the_join_with_the_samples() -> None:
    # 16 M rows at 1 M images: the whole join was +1.2 GB there; here 3.2 M rows (+240 MB)
    child = run_child(
        """
        import numpy as np, polars as pl
        from datacentric.issues import ScanResult
        from datacentric.issues.base import concat_issue_tables, issue_table
        def hwm():
            with open("/proc/self/status") as fh:
                return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) * 1024
        n = 200_000
        ids = pl.Series("sample_id", [f"s{i:07d}" for i in range(n)])
        rng = np.random.default_rng(0)
        tables = [
            issue_table(f"type_{k}", ids, rng.random(n) < 0.001, rng.random(n), [None] * n)
            for k in range(16)
        ]
        samples = pl.DataFrame({"sample_id": ids, "label": pl.Series(["a", "b"]).gather(
            rng.integers(0, 2, n)), "split": pl.Series(["train", "test"]).gather(
            rng.integers(0, 2, n))})
        result = ScanResult(concat_issue_tables(tables, [ids]), samples, ["a", "b"])
        before = hwm()
        s = result.summary()
        print("GROWTH", hwm() - before, s["by_class"]["n"].sum())
        """
    )
    assert child.returncode == 0, child.stderr
    growth, rows = child.stdout.split("GROWTH")[1].split()[:2]
    assert int(rows) == 16 * 200_000
    assert int(growth) < 100 * 2**20, f"summary grew the peak RSS by {growth} bytes"
