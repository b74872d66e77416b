"""Fix policies on a hand-built scan: which edits happen, with what lineage; the queue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues import ScanResult, issue_table
from datacentric.loop import FixPolicy, fix
from datacentric.testing import check_parameter_constraints


def _setup(tmp_path: Path) -> tuple[Dataset, ScanResult]:
    n = 12
    split = ["train"] * 9 + ["test"] * 3
    ds = Dataset.from_arrays(
        np.random.default_rng(0).integers(0, 255, (n, 4, 4), np.uint8),
        ["a"] * 6 + ["b"] * 6,
        ["a", "b"],
        split=split,
        metadata={"site": ["x", "y"] * 6},
    )
    ds = ds.to_folder(tmp_path / "d")
    ds.commit("initial")
    ids = ds.sample_ids
    label = issue_table(
        "label",
        ids,
        [i in (1, 2, 10) for i in range(n)],
        [0.9 if i in (1, 2, 10) else 0.1 for i in range(n)],
        ["wrong" if i in (1, 2, 10) else None for i in range(n)],
        ["b" if i in (1, 2, 10) else None for i in range(n)],
        label_quality=[0.05] * n,
        predicted_prob=[0.97 if i in (1, 10) else 0.6 for i in range(n)],
        predicted_label=["b"] * n,
    )
    exact = issue_table(
        "exact_duplicate",
        ids,
        [i in (3, 4) for i in range(n)],
        [0.5 if i == 3 else (1.0 if i == 4 else 0.0) for i in range(n)],
        ["dup" if i in (3, 4) else None for i in range(n)],
        keep=[i != 4 for i in range(n)],
        duplicate_of=["3" if i == 4 else None for i in range(n)],
    )
    leak = issue_table(
        "leakage",
        ids,
        [i == 5 for i in range(n)],
        [1.0 if i == 5 else 0.0 for i in range(n)],
        ["leaks test sample 11" if i == 5 else None for i in range(n)],
    )
    dark = issue_table(
        "dark",
        ids,
        [i == 7 for i in range(n)],
        [0.8 if i == 7 else 0.0 for i in range(n)],
        ["dark" if i == 7 else None for i in range(n)],
    )
    issues = pl.concat([label, exact, leak, dark], how="diagonal_relaxed")
    samples = ds.manifest.select("sample_id", "label", "split", "site")
    return ds, ScanResult(issues, samples, ds.classes)


def test_default_policy_edits_and_lineage(tmp_path: Path) -> None:
    ds, result = _setup(tmp_path)
    out = fix(ds, result, iteration=1)
    edits = dict(out.edits.select("sample_id", "action").rows())
    # 1: confident, train -> relabel; 2: not confident -> review; 10: test split -> review
    assert edits == {"1": "relabel", "4": "remove", "5": "remove"}
    assert out.version == 2
    head = Dataset.open(tmp_path / "d")
    assert head.manifest.filter(pl.col("sample_id") == "1")["label"].item() == "b"
    assert set(head.sample_ids) == set(ds.sample_ids) and "4" not in head.sample_ids
    lineage = head.changes(2)
    row = lineage.filter(pl.col("sample_id") == "1").row(0, named=True)
    assert row["source"] == "label" and row["iteration"] == 1 and row["old"] == "a"
    assert "self-confidence 0.050" in row["reason"]
    removed = lineage.filter(pl.col("field") == "sample")
    assert dict(removed.select("sample_id", "source").rows()) == {
        "4": "exact_duplicate",
        "5": "leakage",
    }
    # left for a person: 2, 10 (p_wrong 0.95 each), 7 (dark: 0.3 x 0.8); not 3, the kept
    # copy of 4. The default budget of 12 samples is 1: the rest is deferred, best first.
    assert out.review["sample_id"].to_list() == ["10"]
    assert out.deferred["sample_id"].to_list() == ["2", "7"]
    assert out.counts == {
        "relabeled": 1,
        "removed": 2,
        "queued_for_review": 1,
        "deferred_review": 2,
    }


def test_conservative_policy_only_queues(tmp_path: Path) -> None:
    ds, result = _setup(tmp_path)
    policy = FixPolicy(
        relabel_min_confidence=1.0,
        remove_exact_duplicates=False,
        remove_leaked=False,
        review_budget="all",
    )
    out = fix(ds, result, policy)
    assert out.edits.height == 0 and out.version == 1
    assert out.counts["queued_for_review"] == 7


def test_relabel_cap_and_bad_policy(tmp_path: Path) -> None:
    ds, result = _setup(tmp_path)
    out = fix(ds, result, FixPolicy(max_relabel_fraction=0.0), commit=False)
    assert "relabel" not in out.edits["action"].to_list()
    with pytest.raises(InvalidParameterError, match="relabel_min_confidence"):
        FixPolicy(relabel_min_confidence=2)


def test_every_policy_parameter_is_checked() -> None:
    assert check_parameter_constraints(FixPolicy) >= 2 * len(FixPolicy.__dataclass_fields__)
    # a bare string is a sequence of letters: refused, not read as ("t", "r", "a", ...)
    with pytest.raises(
        InvalidParameterError,
        match=r"^FixPolicy: parameter relabel_splits must be a list or tuple of strings; "
        r"received 'train' \(str\)\. Pass e.g\. relabel_splits=\('train',\) \(the default\)\.$",
    ):
        FixPolicy(relabel_splits="train")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="remove_leaked must be a bool"):
        FixPolicy(remove_leaked="no")  # type: ignore[arg-type]
