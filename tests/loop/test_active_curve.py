"""`simulate_active_learning` and `ActiveLearningCurves`: the replay protocol, the
labels-to-match answer on hand-built curves, and the rendered report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError, SchemaError
from datacentric.loop.active_curve import ActiveLearningCurves, simulate_active_learning
from datacentric.report import write
from datacentric.train import Predictions


class NearestCentroid:
    """A tiny fixed recipe: class centroids of the pixels; softmax of minus distances."""

    name = "nearest_centroid"

    def __init__(self) -> None:
        self.centroids: np.ndarray | None = None
        self.fits = 0

    def _x(self, ds: Dataset) -> np.ndarray:
        return ds.load_images(mode="L").reshape(len(ds), -1).astype(np.float64)

    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> NearestCentroid:
        x, y = self._x(ds), ds.label_indices()
        k = len(ds.classes)
        self.centroids = np.stack(
            [
                x[y == c].mean(axis=0) if (y == c).any() else np.full(x.shape[1], 1e3)
                for c in range(k)
            ]
        )
        self.fits += 1
        return self

    def predict(self, ds: Dataset, *, batch_size: int = 256) -> Predictions:
        assert self.centroids is not None
        x = self._x(ds)
        d = ((x[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        z = np.exp(-(d - d.min(axis=1, keepdims=True)) / 50.0)
        return Predictions(ds.sample_ids, z / z.sum(1, keepdims=True), x, classes=ds.classes)

    def save(self, path: Any) -> None:  # pragma: no cover - protocol filler
        raise NotImplementedError

    def load(self, path: Any) -> NearestCentroid:  # pragma: no cover
        raise NotImplementedError

    def clone(self) -> NearestCentroid:
        return NearestCentroid()

    def get_params(self) -> dict[str, Any]:
        return {}


def _blobs(n: int, seed: int) -> Dataset:
    """Two classes of 3x3 images: dark (a) and bright (b), with noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    imgs = np.clip(60 + 120 * y[:, None, None] + rng.normal(0, 40, (n, 3, 3)), 0, 255)
    return Dataset.from_arrays(
        imgs.astype(np.uint8), ["a" if v == 0 else "b" for v in y], ["a", "b"]
    )


def test_replay_protocol() -> None:
    pool, test = _blobs(60, 0), _blobs(30, 1)
    seen: list[tuple[str, int, int]] = []
    curves = simulate_active_learning(
        pool,
        test,
        NearestCentroid(),  # type: ignore[arg-type]
        strategies=["random", "margin", "hybrid"],
        initial=4,
        batch=5,
        rounds=3,
        seeds=[0, 1],
        on_round=lambda s, seed, n, acc: seen.append((s, seed, n)),
    )
    pts = curves.points
    assert pts.height == 3 * 2 * 4 == len(seen)
    assert sorted(set(pts["n_labels"])) == [4, 9, 14, 19]
    # round 0 is the same model for every strategy of a seed (paired curves)
    first = pts.filter(pl.col("round") == 0).group_by("seed").agg(pl.col("accuracy").n_unique())
    assert first["accuracy"].to_list() == [1, 1]
    assert curves.correct.shape == (3, 2, 4, 30)
    random0 = pts.filter((pl.col("strategy") == "random") & (pl.col("seed") == 0))
    assert np.allclose(curves.correct.mean(-1)[0, 0], random0.sort("round")["accuracy"])
    s = curves.summary()
    assert s.height == 3 * 4 and (s["ci_low"] <= s["accuracy"]).all()
    assert (s["accuracy"] <= s["ci_high"]).all() and s["n_seeds"].unique().to_list() == [2]
    m = curves.labels_to_match()
    assert 0 < m.filter(pl.col("strategy") == "random")["share"].item() <= 1.0  # may plateau early
    assert set(m.columns) >= {"strategy", "labels", "share", "share_low", "share_high"}


def _curves(acc: dict[str, list[list[float]]], n: list[int]) -> ActiveLearningCurves:
    """Curves from per-seed accuracies on 100 test rows (first k rows correct)."""
    names = list(acc)
    seeds = len(next(iter(acc.values())))
    correct = np.zeros((len(names), seeds, len(n), 100), dtype=bool)
    rows = []
    for i, name in enumerate(names):
        for j in range(seeds):
            for r, a in enumerate(acc[name][j]):
                correct[i, j, r, : round(a * 100)] = True
                rows.append({"strategy": name, "seed": j, "round": r, "n_labels": n[r],
                             "accuracy": a, "seconds": 0.0})  # fmt: skip
    return ActiveLearningCurves(pl.DataFrame(rows), correct, {"strategies": names, "seeds": [0, 1]})


def test_labels_to_match_known_answer() -> None:
    n = [100, 200, 300, 400]
    curves = _curves(
        {
            "random": [[0.5, 0.6, 0.7, 0.8], [0.5, 0.6, 0.7, 0.8]],
            "margin": [[0.5, 0.7, 0.8, 0.9], [0.5, 0.7, 0.8, 0.9]],  # reaches 0.8 at 300
            "diversity": [[0.5, 0.55, 0.6, 0.65], [0.5, 0.55, 0.6, 0.65]],  # never
        },
        n,
    )
    m = {r["strategy"]: r for r in curves.labels_to_match(n_boot=200).iter_rows(named=True)}
    assert m["margin"]["labels"] == pytest.approx(300.0)
    assert m["margin"]["share"] == pytest.approx(0.75)
    assert m["margin"]["per_seed"] == [0.75, 0.75]
    assert m["diversity"]["labels"] is None and m["diversity"]["share_high"] == 1.5
    assert m["random"]["target_accuracy"] == pytest.approx(0.8)
    with pytest.raises(InvalidParameterError, match="reference 'oracle' is not among"):
        curves.labels_to_match("oracle")


def test_report_renders(tmp_path: Path) -> None:
    curves = _curves(
        {"random": [[0.5, 0.8], [0.5, 0.8]], "margin": [[0.5, 0.9], [0.5, 0.9]]}, [10, 20]
    )
    html = write(curves, tmp_path / "a.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "margin" in html
    md = write(curves, tmp_path / "a.md").read_text()
    assert "| margin |" in md and "Labels needed to match random" in md
    assert '"labels_to_match"' in write(curves, tmp_path / "a.json").read_text()
    back = ActiveLearningCurves.load(curves.save(tmp_path / "c.json"))
    assert np.array_equal(back.correct, curves.correct) and back.points.equals(curves.points)
    assert back.labels_to_match(n_boot=50).equals(curves.labels_to_match(n_boot=50))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SchemaError, match="is not learning curves written by"):
        ActiveLearningCurves.load(tmp_path / "bad.json")


def test_bad_replays_are_refused() -> None:
    pool, test = _blobs(20, 0), _blobs(10, 1)
    recipe: Any = NearestCentroid()
    with pytest.raises(InvalidParameterError, match="strategies must be among"):
        simulate_active_learning(pool, test, recipe, strategies=["random", "coreset"])
    with pytest.raises(InvalidDatasetError, match="initial \\+ rounds x batch = 60 labels"):
        simulate_active_learning(pool, test, recipe, initial=10, batch=10, rounds=5)
    blank = pool.filter(pl.lit(True)).relabel(["0"], None, reason="x")
    with pytest.raises(InvalidDatasetError, match="1 pool row\\(s\\) have no label"):
        simulate_active_learning(blank, test, recipe, initial=2, batch=2, rounds=1)
