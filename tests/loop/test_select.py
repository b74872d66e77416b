"""`select_unlabeled`: each strategy picks exactly the rows planted for it."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.loop.select import (
    SELECTION_SCHEMA,
    entropy_scores,
    k_center_greedy,
    margin_scores,
    select_unlabeled,
)
from datacentric.train import Predictions

CLASSES = ["a", "b", "c"]


def _ds(labels: list[str | None]) -> Dataset:
    return Dataset.from_arrays(np.zeros((len(labels), 2, 2), np.uint8), labels, CLASSES)


def _preds(ds: Dataset, probs: np.ndarray, emb: np.ndarray | None = None) -> Predictions:
    e = np.zeros((len(ds), 2)) if emb is None else emb
    return Predictions(ds.sample_ids, probs, e, classes=CLASSES)


# rows 0-1 labeled; 2-7 unlabeled with planted probabilities
PROBS = np.array(
    [
        [0.1, 0.1, 0.8],  # 0 labeled, very unsure-looking: must never be chosen
        [0.34, 0.33, 0.33],  # 1 labeled, uniform: must never be chosen
        [0.98, 0.01, 0.01],  # 2 confident
        [0.40, 0.30, 0.30],  # 3 least confident (0.6), margin 0.9, entropy high
        [0.455, 0.45, 0.095],  # 4 margin 0.995 (closest top two), least confidence 0.545
        [0.90, 0.05, 0.05],  # 5 confident
        [0.34, 0.33, 0.33],  # 6 near uniform: top entropy, top least confidence (0.66)
        [0.80, 0.10, 0.10],  # 7 fairly confident
    ]
)
LABELS: list[str | None] = ["c", "a", None, None, None, None, None, None]


def test_least_confidence_picks_the_planted_rows() -> None:
    ds = _ds(LABELS)
    out = select_unlabeled(ds, _preds(ds, PROBS), strategy="uncertainty", budget=2)
    assert out.schema == pl.Schema(SELECTION_SCHEMA)
    assert out["sample_id"].to_list() == ["6", "3"]
    assert out["rank"].to_list() == [1, 2]
    assert out["score"].round(2).to_list() == [0.66, 0.6]
    assert out["cluster"].is_null().all() and out["strategy"].unique().to_list() == ["uncertainty"]
    assert out["pred_label"].to_list() == ["a", "a"]


def test_margin_prefers_close_top_two() -> None:
    ds = _ds(LABELS)
    out = select_unlabeled(ds, _preds(ds, PROBS), strategy="margin", budget=1)
    assert out["sample_id"].to_list() == ["4"]  # least confidence would take row 6
    out = select_unlabeled(ds, _preds(ds, PROBS), strategy="margin", budget=3)
    assert out["sample_id"].to_list() == ["4", "6", "3"]
    assert margin_scores(PROBS[[4, 6]]).round(3).tolist() == [0.995, 0.99]


def test_entropy_ranks_the_spread_rows_first() -> None:
    ds = _ds(LABELS)
    out = select_unlabeled(ds, _preds(ds, PROBS), strategy="entropy", budget=6)
    assert out["sample_id"].to_list()[:2] == ["6", "3"]
    assert out["sample_id"].to_list()[-1] == "2"  # the most confident comes last
    assert out["score"].is_between(0, 1).all()
    assert entropy_scores(np.full((1, 3), 1 / 3)).round(6).tolist() == [1.0]


def test_diversity_k_center_picks_the_extremes_first() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0], [8.0]])
    labels: list[str | None] = [None] * 9
    ds = _ds(labels)
    probs = np.full((9, 3), 1 / 3)
    out = select_unlabeled(ds, _preds(ds, probs, x), strategy="diversity", budget=3)
    assert out["sample_id"].to_list() == ["0", "8", "4"]  # both ends, then the middle
    assert out["score"].to_list()[0] == 1.0
    # a labeled row at the left end: the right end first, then the middle between them
    ds = _ds(["a"] + [None] * 8)
    out = select_unlabeled(ds, _preds(ds, probs, x), strategy="diversity", budget=2)
    assert out["sample_id"].to_list() == ["8", "4"]
    assert out["score"].to_list() == [1.0, 0.5]


def test_k_center_greedy_on_its_own() -> None:
    x = np.array([[0.0, 0.0], [0.0, 0.1], [5.0, 0.0], [5.0, 0.1], [0.0, 5.0]])
    rows, dist = k_center_greedy(x, 3)
    assert sorted(rows.tolist()) in ([0, 2, 4], [1, 2, 4], [0, 3, 4], [1, 3, 4])
    assert (np.diff(dist[1:]) <= 0).all()  # farthest-first: distances never grow
    rows, _ = k_center_greedy(x, 10)
    assert sorted(rows.tolist()) == [0, 1, 2, 3, 4]  # capped at N


def test_hybrid_picks_the_most_uncertain_of_each_cluster() -> None:
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    emb = np.concatenate([c + rng.normal(0, 1, (5, 2)) for c in centers])  # 3 tight clusters
    probs = np.tile([0.9, 0.05, 0.05], (15, 1))
    # the planted most uncertain row per cluster; cluster 0 also holds the 2nd most uncertain
    # row overall (pure uncertainty would take two rows of cluster 0)
    probs[[1, 3]] = [[0.4, 0.35, 0.25], [0.45, 0.35, 0.2]]
    probs[7] = [0.6, 0.3, 0.1]
    probs[13] = [0.7, 0.2, 0.1]
    ds = _ds([None] * 15)
    p = _preds(ds, probs, emb)
    out = select_unlabeled(ds, p, strategy="hybrid", budget=3, measure="uncertainty")
    assert out["sample_id"].to_list() == ["1", "7", "13"]
    assert out["cluster"].n_unique() == 3
    plain = select_unlabeled(ds, p, strategy="uncertainty", budget=3)
    assert plain["sample_id"].to_list() == ["1", "3", "7"]


def test_random_is_seeded_and_only_unlabeled() -> None:
    ds = _ds(LABELS)
    p = _preds(ds, PROBS)
    a = select_unlabeled(ds, p, strategy="random", budget=4, seed=3)
    b = select_unlabeled(ds, p, strategy="random", budget=4, seed=3)
    c = select_unlabeled(ds, p, strategy="random", budget=6, seed=4)
    assert a.equals(b)
    assert set(c["sample_id"]) == {"2", "3", "4", "5", "6", "7"}
    assert not {"0", "1"} & set(a["sample_id"])


@pytest.mark.parametrize("strategy", ["uncertainty", "margin", "entropy", "diversity", "hybrid"])
def test_budget_over_the_pool_takes_all_and_says_so(
    strategy: str, caplog: pytest.LogCaptureFixture
) -> None:
    ds = _ds(LABELS)
    emb = np.arange(16, dtype=float).reshape(8, 2)
    with caplog.at_level(logging.WARNING, logger="datacentric.loop.select"):
        out = select_unlabeled(ds, _preds(ds, PROBS, emb), strategy=strategy, budget=50)  # type: ignore[arg-type]
    assert sorted(out["sample_id"]) == ["2", "3", "4", "5", "6", "7"]
    assert out["rank"].to_list() == [1, 2, 3, 4, 5, 6]
    assert "budget 50 is more than the 6 unlabeled sample(s); taking all" in caplog.text


def test_errors_are_one_line() -> None:
    ds = _ds(["a", "b", "c"])
    p = _preds(ds, np.full((3, 3), 1 / 3))
    with pytest.raises(InvalidDatasetError, match=r"no unlabeled row \(all 3 rows have a label\)"):
        select_unlabeled(ds, p, budget=1)
    ds = _ds(LABELS)
    p = _preds(ds, PROBS)
    with pytest.raises(InvalidParameterError, match="parameter budget must be an integer >= 1"):
        select_unlabeled(ds, p, budget=0)
    with pytest.raises(InvalidParameterError, match="parameter strategy must be one of"):
        select_unlabeled(ds, p, strategy="coreset", budget=1)  # type: ignore[arg-type]
    part = p.take(["0", "1", "2"])
    with pytest.raises(InvalidParameterError, match=r"5 unlabeled sample\(s\) have no prediction"):
        select_unlabeled(ds, part, budget=1)
    bare = Predictions(ds.sample_ids, PROBS, np.zeros((8, 0)), classes=CLASSES)
    with pytest.raises(InvalidParameterError, match="needs embeddings") as exc:
        select_unlabeled(ds, bare, strategy="diversity", budget=1)
    assert "\n" not in str(exc.value)


def test_hybrid_on_a_large_pool_uses_mini_batch_k_means() -> None:
    """Above 20,000 unlabeled rows the clusters come from mini-batch k-means: still one
    pick per cluster, the planted most uncertain one."""
    rng = np.random.default_rng(1)
    n = 21_000
    centers = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    emb = centers[np.arange(n) % 3] + rng.normal(0, 1, (n, 2))
    probs = np.tile([0.9, 0.05, 0.05], (n, 1))
    planted = [300, 3001, 20_000]  # one per cluster (index mod 3 = 0, 1, 2)
    probs[planted] = [[0.4, 0.35, 0.25], [0.5, 0.3, 0.2], [0.6, 0.3, 0.1]]
    ds = Dataset.from_arrays(np.zeros((n, 1, 1), np.uint8), [None] * n, CLASSES)
    p = Predictions(ds.sample_ids, probs, emb, classes=CLASSES)
    out = select_unlabeled(ds, p, strategy="hybrid", budget=3, measure="uncertainty")
    assert out["sample_id"].to_list() == [str(i) for i in planted]
    assert out["cluster"].n_unique() == 3
