"""cross_val_predict: every row once, out of sample, unlabeled rows, folds, determinism."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.model_selection import StratifiedKFold

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.train import ModelRecipe, Predictions, SmallCNNRecipe, cross_val_predict

CLASSES = [str(d) for d in range(10)]


class NearestNeighbour:
    """A pure-numpy recipe that memorises its training set (1-NN on pixels)."""

    name = "nearest_neighbour"

    def __init__(self) -> None:
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None
        self.k = 0
        self.fit_calls = 0

    def _features(self, ds: Dataset) -> np.ndarray:
        return ds.load_images(size=(8, 8), mode="L").reshape(len(ds), -1).astype(np.float64)

    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> NearestNeighbour:
        keep = ds.label_indices() >= 0
        self.x, self.y, self.k = self._features(ds)[keep], ds.label_indices()[keep], len(ds.classes)
        self.fit_calls += 1
        return self

    def predict(self, ds: Dataset, *, batch_size: int = 256) -> Predictions:
        assert self.x is not None and self.y is not None
        f = self._features(ds)
        dist = ((f[:, None, :] - self.x[None, :, :]) ** 2).sum(axis=2)
        nearest = self.y[dist.argmin(axis=1)]
        probs = np.full((len(ds), self.k), 0.01 / (self.k - 1))
        probs[np.arange(len(ds)), nearest] = 0.99
        return Predictions(ds.sample_ids, probs, f[:, :4], classes=ds.classes)

    def save(self, path: str | Path) -> None:  # pragma: no cover - protocol filler
        raise NotImplementedError

    def load(self, path: str | Path) -> NearestNeighbour:  # pragma: no cover
        raise NotImplementedError

    def clone(self) -> NearestNeighbour:
        return NearestNeighbour()

    def get_params(self) -> dict[str, Any]:
        return {}


class ClassPrior:
    """Predicts its training class frequencies for every row; embedding = the same vector."""

    name = "class_prior"

    def __init__(self) -> None:
        self.prior: np.ndarray | None = None

    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> ClassPrior:
        y = ds.label_indices()
        counts = np.bincount(y[y >= 0], minlength=len(ds.classes)).astype(np.float64) + 1.0
        self.prior = counts / counts.sum()
        return self

    def predict(self, ds: Dataset, *, batch_size: int = 256) -> Predictions:
        assert self.prior is not None
        probs = np.tile(self.prior, (len(ds), 1))
        return Predictions(ds.sample_ids, probs, probs.astype(np.float32), classes=ds.classes)

    def save(self, path: str | Path) -> None:  # pragma: no cover - protocol filler
        raise NotImplementedError

    def load(self, path: str | Path) -> ClassPrior:  # pragma: no cover
        raise NotImplementedError

    def clone(self) -> ClassPrior:
        return ClassPrior()

    def get_params(self) -> dict[str, Any]:
        return {}


def test_fake_recipes_follow_the_protocol() -> None:
    assert isinstance(NearestNeighbour(), ModelRecipe)
    assert isinstance(ClassPrior(), ModelRecipe)


def test_out_of_sample_a_memoriser_cannot_cheat(digits_dataset: Callable[..., Dataset]) -> None:
    rng = np.random.default_rng(1)
    random_labels = rng.integers(0, 10, 300).tolist()
    ds = digits_dataset(300, size=8, labels=random_labels)
    y = ds.label_indices()
    in_sample = NearestNeighbour().fit(ds).predict(ds)
    assert np.mean(in_sample.predicted_indices() == y) == 1.0
    recipe = NearestNeighbour()
    out = cross_val_predict(ds, recipe, folds=5, seed=0)
    assert np.mean(out.predicted_indices() == y) < 0.3
    assert recipe.fit_calls == 0  # only clones are trained


def test_covers_every_row_in_manifest_order_with_unlabeled_mean(
    digits_dataset: Callable[..., Dataset],
) -> None:
    labels: list[Any] = [i % 3 for i in range(40)] + [None] * 5
    ds = digits_dataset(45, size=8, labels=labels)
    folds, seed = 4, 7
    out = cross_val_predict(ds, ClassPrior(), folds=folds, seed=seed)
    assert out.sample_ids == ds.sample_ids and out.classes == CLASSES
    assert out.pred_probs.shape == (45, 10) and out.embeddings.shape == (45, 10)
    np.testing.assert_allclose(out.pred_probs.sum(axis=1), 1.0, atol=1e-12)
    # expected: each labeled row gets the prior of the other folds; unlabeled rows the mean
    y = np.array([i % 3 for i in range(40)])
    expected = np.zeros((45, 10))
    priors = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros((40, 1)), y):
        counts = np.bincount(y[train], minlength=10) + 1.0
        prior = counts / counts.sum()
        expected[test] = prior
        priors.append(prior)
    expected[40:] = np.mean(priors, axis=0)
    np.testing.assert_allclose(out.pred_probs, expected, atol=1e-12)
    # ensemble embeddings: every row is the mean of all fold models' embeddings
    np.testing.assert_allclose(out.embeddings, np.tile(np.mean(priors, axis=0), (45, 1)), 1e-6)


def test_out_of_fold_embeddings(digits_dataset: Callable[..., Dataset]) -> None:
    labels: list[Any] = [i % 2 for i in range(20)] + [None]
    ds = digits_dataset(21, size=8, labels=labels)
    out = cross_val_predict(ds, ClassPrior(), folds=2, embeddings="out_of_fold")
    np.testing.assert_allclose(out.embeddings[:20], out.pred_probs[:20], atol=1e-6)
    np.testing.assert_allclose(out.embeddings[20], out.pred_probs[20], atol=1e-6)


@pytest.mark.parametrize("folds", [1, 0, -3, 2.5, True, "5"])
def test_folds_validation(folds: Any, digits_dataset: Callable[..., Dataset]) -> None:
    ds = digits_dataset(20, size=8)
    with pytest.raises(
        InvalidParameterError,
        match=rf"cross_val_predict: parameter folds must be an integer >= 2; received "
        rf"{re.escape(repr(folds))} \({type(folds).__name__}\)",
    ):
        cross_val_predict(ds, ClassPrior(), folds=folds)


def test_other_argument_errors(digits_dataset: Callable[..., Dataset]) -> None:
    ds = digits_dataset(20, size=8)
    with pytest.raises(
        InvalidParameterError,
        match=r"parameter recipe must be an object that follows the "
        r"ModelRecipe protocol \(fit, predict.*; received <object object",
    ):
        cross_val_predict(ds, object())  # type: ignore[arg-type]
    with pytest.raises(
        InvalidParameterError,
        match=r"parameter embeddings must be one of 'ensemble', 'out_of_fold'; received 'nope'",
    ):
        cross_val_predict(ds, ClassPrior(), embeddings="nope")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"parameter seed must be .*; received -1"):
        cross_val_predict(ds, ClassPrior(), seed=-1)
    one = digits_dataset(5, size=8, labels=[3, None, None, None, None])
    with pytest.raises(InvalidDatasetError, match="at least 2 labeled rows, received 1"):
        cross_val_predict(one, ClassPrior())


def test_small_classes_fall_back_with_a_warning(
    caplog: pytest.LogCaptureFixture, digits_dataset: Callable[..., Dataset]
) -> None:
    labels: list[Any] = [0] * 20 + [1] * 20 + [2, 2]
    ds = digits_dataset(42, size=8, labels=labels)
    with caplog.at_level(logging.WARNING, logger="datacentric.train.crossval"):
        out = cross_val_predict(ds, ClassPrior(), folds=5)
    assert "fewer labeled rows than the 5 folds" in caplog.text and "'2' (2)" in caplog.text
    assert out.pred_probs.shape == (42, 10)
    caplog.clear()
    tiny = digits_dataset(6, size=8, labels=[0, 0, 1, 1, 2, 2])
    with caplog.at_level(logging.WARNING, logger="datacentric.train.crossval"):
        out = cross_val_predict(tiny, ClassPrior(), folds=3)
    assert "not stratified" in caplog.text
    assert out.pred_probs.shape == (6, 10)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="datacentric.train.crossval"):
        cross_val_predict(digits_dataset(3, size=8, labels=[0, 1, 0]), ClassPrior(), folds=5)
    assert "3 folds instead of 5" in caplog.text


def test_small_cnn_cross_val_is_accurate_and_deterministic(
    capsys: pytest.CaptureFixture[str], digits_dataset: Callable[..., Dataset]
) -> None:
    ds = digits_dataset(360, seed=3)
    recipe = SmallCNNRecipe(image_size=16, epochs=6, lr=1e-2)
    a = cross_val_predict(ds, recipe, folds=3, seed=0, progress=True)
    assert "cross-validation folds" in capsys.readouterr().out
    assert np.mean(a.predicted_indices() == ds.label_indices()) > 0.85
    assert not recipe.is_fitted
    sub = ds.filter(pl.col("sample_id").is_in(ds.sample_ids[:60]))
    tiny = SmallCNNRecipe(image_size=8, epochs=1)
    b1 = cross_val_predict(sub, tiny, folds=2, seed=5)
    b2 = cross_val_predict(sub, tiny, folds=2, seed=5)
    assert np.array_equal(b1.pred_probs, b2.pred_probs)
    assert np.array_equal(b1.embeddings, b2.embeddings)
