"""Known answers for the label-inconsistency finder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.base import ISSUE_SCHEMA
from datacentric.issues.context import ScanContext
from datacentric.issues.label_inconsistency import LabelInconsistencyFinder
from datacentric.issues.registry import REGISTRY


def _ctx(labels: Sequence[str | None], emb: np.ndarray, **kw: object) -> ScanContext:
    ds = Dataset.from_arrays(
        np.zeros((len(labels), 2, 2), np.uint8), labels, classes=["a", "b", "c"]
    )
    return ScanContext(ds, embeddings=emb, **kw)  # type: ignore[arg-type]


def _spread(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """``n`` well-separated directions (one-hot-ish), so no accidental near-duplicates."""
    rng = np.random.default_rng(seed)
    x = np.eye(max(n, dim))[:n, :dim] if n <= dim else rng.normal(size=(n, dim))
    return x.astype(np.float32)


def test_registered_and_schema() -> None:
    assert REGISTRY.get("label_inconsistency") is LabelInconsistencyFinder
    assert LabelInconsistencyFinder().get_params() == {
        "threshold": 0.13,
        "max_shift": 2,
        "max_hamming": 4,
        "method": "auto",
    }
    emb = _spread(4)
    t = LabelInconsistencyFinder().find(_ctx(["a", "b", "c", "a"], emb))
    for col, dtype in ISSUE_SCHEMA.items():
        assert t.schema[col] == dtype
    assert t.schema["conflict_with"] == pl.Utf8
    assert t.schema["conflict_label"] == pl.Utf8
    assert t.schema["distance"] == pl.Float64
    assert not t["is_issue"].any()


def test_identical_pair_with_different_labels_is_flagged_both_ways() -> None:
    emb = _spread(6)
    emb[1] = emb[0]  # 0 and 1 identical, labels a / b
    emb[3] = emb[2] * 5.0  # same direction, same label: not a conflict
    labels = ["a", "b", "c", "c", "a", "b"]  # 4 and 5 differ but are far apart
    t = LabelInconsistencyFinder().find(_ctx(labels, emb))
    assert t.height == 6
    flagged = t.filter(pl.col("is_issue"))
    assert flagged["sample_id"].to_list() == ["0", "1"]
    assert flagged["conflict_with"].to_list() == ["1", "0"]
    assert flagged["conflict_label"].to_list() == ["b", "a"]
    assert flagged["distance"].to_list() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert flagged["severity"].to_list() == pytest.approx([1.0, 1.0], abs=1e-4)
    assert flagged["suggested_label"].to_list() == [None, None]  # 1 vs 1: no majority
    assert "labelled 'b', but this one is labelled 'a'" in flagged["detail"][0]
    rest = t.filter(~pl.col("is_issue"))
    assert rest["severity"].to_list() == [0.0] * 4
    assert rest["conflict_with"].null_count() == 4
    assert rest["distance"].null_count() == 4


def test_majority_suggestion_in_a_group_of_three() -> None:
    emb = _spread(10)  # most points far apart: the median nearest distance is 1
    base = emb[0].copy()
    emb[1] = base + 0.01 * emb[3]  # near-identical to 0
    emb[2] = base + 0.02 * emb[4]
    labels = ["a", "a", "b", "c", "c", "a", "b", "c", "a", "b"]
    t = LabelInconsistencyFinder().find(_ctx(labels, emb))
    by_id = {r["sample_id"]: r for r in t.iter_rows(named=True)}
    assert by_id["2"]["is_issue"] and by_id["2"]["suggested_label"] == "a"
    assert by_id["2"]["conflict_label"] == "a"
    assert by_id["2"]["conflict_with"] in {"0", "1"}
    assert by_id["0"]["is_issue"] and by_id["0"]["conflict_with"] == "2"
    assert by_id["0"]["suggested_label"] == "a"  # the group's majority, same as its own
    assert not any(by_id[str(i)]["is_issue"] for i in range(3, 10))


def test_relative_threshold_severity_and_unlabelled() -> None:
    emb = _spread(10)
    emb[1] = emb[0] + 0.1 * emb[2]  # cosine distance ~0.005, radius 0.13 x 1
    emb[3] = emb[0]  # identical, but unlabelled: never a conflict, no row
    labels = ["a", "b", "c", None, "a", "b", "c", "a", "b", "c"]
    t = LabelInconsistencyFinder().find(_ctx(labels, emb))
    assert "3" not in t["sample_id"].to_list() and t.height == 9
    row = t.row(0, named=True)
    d = 1 - 1 / np.sqrt(1.01)
    assert row["is_issue"] and row["conflict_with"] == "1"
    assert row["distance"] == pytest.approx(d, abs=1e-5)
    assert row["severity"] == pytest.approx(1 - 0.5 * d / 0.13, abs=1e-3)
    # a radius tighter than the pair's distance: nothing flagged
    t2 = LabelInconsistencyFinder(threshold=0.001).find(_ctx(labels, emb))
    assert not t2["is_issue"].any()


def test_pixel_copies_without_embeddings() -> None:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (12, 16, 16), dtype=np.uint8)
    imgs[7] = np.clip(imgs[2].astype(int) + 5, 0, 255)  # a brighter copy of 2, other label
    labels = ["a"] * 7 + ["b"] + ["a"] * 4
    ds = Dataset.from_arrays(imgs, labels, classes=["a", "b"])
    t = LabelInconsistencyFinder().find(ScanContext(ds))
    flagged = t.filter(pl.col("is_issue"))
    assert flagged.select("sample_id", "conflict_with").rows() == [("2", "7"), ("7", "2")]


def test_bad_parameters() -> None:
    with pytest.raises(InvalidParameterError, match="threshold"):
        LabelInconsistencyFinder(threshold=-1)
    with pytest.raises(InvalidParameterError, match="method"):
        LabelInconsistencyFinder(method="telepathy")
