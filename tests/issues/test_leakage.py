"""Leakage: copies across splits are flagged on the less protected side."""

from __future__ import annotations

import numpy as np
import polars as pl

from datacentric import Dataset
from datacentric.issues.context import ScanContext
from datacentric.issues.leakage import LeakageFinder
from datacentric.testing import check_issue_finder


def test_exact_and_near_leaks() -> None:
    rng = np.random.default_rng(0)
    n = 60
    imgs = rng.integers(0, 256, (n, 16, 16), dtype=np.uint8)
    split = ["test"] * 20 + ["val"] * 10 + ["train"] * 30
    imgs[40] = imgs[2]  # exact test -> train
    imgs[25] = imgs[4]  # exact test -> val
    emb = rng.normal(size=(n, 24))
    emb[50] = emb[7] + 1e-4  # near test -> train (embedding)
    emb[45] = emb[44] + 1e-4  # train/train near copy: not a leak
    ds = Dataset.from_arrays(imgs, [0] * n, ["a"], split=split)
    t = LeakageFinder().find(ScanContext(ds, embeddings=emb))
    flagged = t.filter(pl.col("is_issue")).sort("sample_id")
    assert flagged.select("sample_id", "leaked_with", "leaked_split", "match").rows() == [
        ("25", "4", "test", "exact"),
        ("40", "2", "test", "exact"),
        ("50", "7", "test", "near"),
    ]
    assert (
        "Remove this copy from train"
        in flagged.filter(pl.col("sample_id") == "40")["detail"].item()
    )


def test_contract() -> None:
    check_issue_finder(LeakageFinder)
