"""Near duplicates by embeddings and by perceptual hash, grouped into clusters."""

from __future__ import annotations

import numpy as np
import polars as pl

from datacentric import Dataset
from datacentric.issues.context import ScanContext
from datacentric.issues.near_duplicate import NearDuplicateFinder
from datacentric.testing import check_issue_finder


def test_embedding_clusters_and_keep() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(200, 32))
    emb[50] = emb[10] + 1e-3
    emb[51] = emb[10] - 1e-3
    emb[120] = emb[7] + 1e-3
    ds = Dataset.from_arrays(np.zeros((200, 2, 2)), [0] * 199 + [1], ["a", "b"])
    t = NearDuplicateFinder().find(ScanContext(ds, embeddings=emb))
    flagged = t.filter(pl.col("is_issue")).sort("sample_id")
    assert flagged["sample_id"].to_list() == ["10", "120", "50", "51", "7"]
    sizes = dict(flagged.select("sample_id", "cluster_size").rows())
    assert sizes == {"10": 3, "50": 3, "51": 3, "7": 2, "120": 2}
    keep = flagged.filter(pl.col("keep"))["sample_id"].sort().to_list()
    assert keep == ["10", "7"]
    assert flagged.filter(pl.col("sample_id") == "120")["nearest_id"].item() == "7"


def test_perceptual_hash_without_embeddings() -> None:
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (30, 32, 32), dtype=np.uint8)
    imgs = np.stack([np.kron(rng.integers(0, 256, (8, 8)), np.ones((4, 4))) for _ in range(30)])
    imgs = imgs.astype(np.uint8)
    imgs[20] = np.clip(imgs[3].astype(int) + 6, 0, 255).astype(np.uint8)  # brighter copy
    ds = Dataset.from_arrays(imgs, [0] * 30, ["a"])
    t = NearDuplicateFinder().find(ScanContext(ds))
    assert set(t.filter(pl.col("is_issue"))["sample_id"]) == {"3", "20"}


def test_differing_labels_are_mentioned() -> None:
    emb = np.random.default_rng(2).normal(size=(40, 8))
    emb[30] = emb[5]
    ds = Dataset.from_arrays(np.zeros((40, 2, 2)), [0] * 30 + [1] * 10, ["a", "b"])
    t = NearDuplicateFinder().find(ScanContext(ds, embeddings=emb))
    detail = t.filter(pl.col("sample_id") == "30")["detail"].item()
    assert "Labelled differently" in detail


def test_contract() -> None:
    check_issue_finder(NearDuplicateFinder)
