"""SmallCNNRecipe and Predictions: learning, determinism, persistence, errors."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch

from datacentric.dataset import Dataset
from datacentric.exceptions import (
    InvalidDatasetError,
    InvalidParameterError,
    SchemaError,
)
from datacentric.train import ModelRecipe, Predictions, SmallCNNRecipe

CLASSES = [str(d) for d in range(10)]
FAST: dict[str, Any] = {"image_size": 16, "epochs": 8, "lr": 1e-2}


@pytest.fixture(scope="module")
def digits(digits_dataset: Callable[..., Dataset]) -> Dataset:
    return digits_dataset(900, split=True)


@pytest.fixture(scope="module")
def fitted(digits: Dataset) -> SmallCNNRecipe:
    return SmallCNNRecipe(**FAST).fit(digits.split("train"), seed=0)


def accuracy(preds: Predictions, ds: Dataset) -> float:
    return float(np.mean(preds.predicted_indices() == ds.label_indices()))


# ---------------------------------------------------------------- learning and outputs
def test_learns_digits(fitted: SmallCNNRecipe, digits: Dataset) -> None:
    test = digits.split("test")
    assert accuracy(fitted.predict(test), test) > 0.9


def test_prediction_shapes_and_normalisation(fitted: SmallCNNRecipe, digits: Dataset) -> None:
    preds = fitted.predict(digits, batch_size=100)
    assert preds.sample_ids == digits.sample_ids
    assert preds.classes == CLASSES
    assert preds.pred_probs.shape == (len(digits), 10)
    assert preds.pred_probs.dtype == np.float64
    assert np.all(preds.pred_probs >= 0)
    np.testing.assert_allclose(preds.pred_probs.sum(axis=1), 1.0, atol=1e-12)
    assert preds.embeddings.shape == (len(digits), fitted.embedding_dim)
    assert preds.embeddings.dtype == np.float32
    assert np.isfinite(preds.embeddings).all()


def test_predict_is_batch_size_independent(fitted: SmallCNNRecipe, digits: Dataset) -> None:
    sub = digits.filter(pl.col("split") == "test")
    a = fitted.predict(sub, batch_size=7).pred_probs
    b = fitted.predict(sub, batch_size=500).pred_probs
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_predicts_unlabeled_rows_and_empty(
    fitted: SmallCNNRecipe, digits_dataset: Callable[..., Dataset]
) -> None:
    ds = digits_dataset(20)
    ds = Dataset.from_arrays(ds.load_images(), [None] * 20, CLASSES)
    assert fitted.predict(ds).pred_probs.shape == (20, 10)
    empty = ds.filter(pl.col("sample_id") == "nope")
    out = fitted.predict(empty)
    assert out.pred_probs.shape == (0, 10) and out.embeddings.shape == (0, fitted.embedding_dim)


def test_fit_uses_labeled_rows_of_every_split(digits_dataset: Callable[..., Dataset]) -> None:
    ds = digits_dataset(60, split=True)
    labels: list[str | None] = [
        None if i % 2 else lab for i, lab in enumerate(ds.manifest["label"])
    ]
    part = Dataset.from_arrays(
        ds.load_images(), labels, CLASSES, split=ds.manifest["split"].to_list()
    )
    recipe = SmallCNNRecipe(image_size=8, epochs=1, augment=False).fit(part)
    assert recipe.is_fitted and recipe.classes_ == CLASSES


# ---------------------------------------------------------------- determinism
def test_same_seed_same_predictions_different_seed_differs(
    digits_dataset: Callable[..., Dataset],
) -> None:
    ds = digits_dataset(150)
    recipe = SmallCNNRecipe(image_size=16, epochs=2)
    a = recipe.clone().fit(ds, seed=3).predict(ds).pred_probs
    b = recipe.clone().fit(ds, seed=3).predict(ds).pred_probs
    c = recipe.clone().fit(ds, seed=4).predict(ds).pred_probs
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_restores_global_torch_settings(digits_dataset: Callable[..., Dataset]) -> None:
    ds = digits_dataset(30)
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.random.get_rng_state()
    SmallCNNRecipe(image_size=8, epochs=1, num_threads=1).fit(ds).predict(ds)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.random.get_rng_state(), rng_state)


# ---------------------------------------------------------------- persistence
def test_save_load_round_trip(fitted: SmallCNNRecipe, digits: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    fitted.save(path)
    expected = fitted.predict(digits).pred_probs
    loaded = SmallCNNRecipe.load(path)
    assert isinstance(loaded, SmallCNNRecipe)
    assert loaded.get_params() == fitted.get_params()
    assert np.array_equal(loaded.predict(digits).pred_probs, expected)
    into = SmallCNNRecipe(epochs=1)
    assert into.load(path) is into
    assert into.get_params() == fitted.get_params()
    assert np.array_equal(into.predict(digits).pred_probs, expected)


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(SchemaError, match="not a saved SmallCNNRecipe"):
        SmallCNNRecipe.load(path)


def test_save_before_fit_raises(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="not fitted"):
        SmallCNNRecipe().save(tmp_path / "m.pt")


# ---------------------------------------------------------------- errors
def test_predict_before_fit_raises(digits: Dataset) -> None:
    with pytest.raises(InvalidParameterError, match=r"not fitted yet.*fit\(dataset\)"):
        SmallCNNRecipe().predict(digits)


def test_fit_without_labels_raises() -> None:
    ds = Dataset.from_arrays(np.zeros((4, 8, 8), np.uint8), [None] * 4, ["a", "b"])
    with pytest.raises(InvalidDatasetError, match="no labeled rows"):
        SmallCNNRecipe().fit(ds)


def test_missing_class_is_allowed_with_a_warning(
    caplog: pytest.LogCaptureFixture, digits_dataset: Callable[..., Dataset]
) -> None:
    ds = digits_dataset(80)
    no_nines = ds.filter(pl.col("label") != "9")
    with caplog.at_level(logging.WARNING, logger="datacentric.train.small_cnn"):
        recipe = SmallCNNRecipe(image_size=8, epochs=2).fit(no_nines)
    assert "'9'" in caplog.text and "no labeled row" in caplog.text
    probs = recipe.predict(no_nines).pred_probs
    assert probs.shape == (len(no_nines), 10)
    assert probs[:, 9].mean() < 0.1


def test_predict_with_other_classes_raises(fitted: SmallCNNRecipe) -> None:
    ds = Dataset.from_arrays(np.zeros((2, 8, 8), np.uint8), [0, 1], ["a", "b"])
    with pytest.raises(InvalidDatasetError, match="classes"):
        fitted.predict(ds)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": "CMYK"}, r"channels must be one of 'RGB', 'L'; received 'CMYK' \(str\)"),
        ({"epochs": 0}, r"epochs must be an integer >= 1; received 0 \(int\)"),
        ({"image_size": 4}, r"image_size must be an integer in \[8, 512\]; received 4 \("),
        ({"batch_size": 2.5}, r"batch_size must be an integer >= 1; received 2.5 \(float\)"),
        ({"lr": -1.0}, r"lr must be a number > 0; received -1.0 \(float\)"),
        ({"weight_decay": float("nan")}, r"weight_decay must be a number >= 0; received nan"),
        ({"augment": True, "num_threads": True}, r"num_threads must be .*; received True \("),
        ({"augment": "yes"}, r"augment must be a bool \(True or False\); received 'yes'"),
        ({"embedding_dim": 0}, r"embedding_dim must be an integer in \[1, 1024\] \(the max_"),
    ],
)
def test_invalid_hyper_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match="^SmallCNNRecipe: parameter " + match):
        SmallCNNRecipe(**kwargs)  # type: ignore[arg-type]


def test_predict_validates_batch_size(fitted: SmallCNNRecipe, digits: Dataset) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"^SmallCNNRecipe\.predict: parameter batch_size must be an integer >= 1; "
        r"received 0 \(int\)",
    ):
        fitted.predict(digits, batch_size=0)


def test_fit_validates_seed(digits: Dataset) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"^SmallCNNRecipe\.fit: parameter seed must be an integer "
        r">= 0; received -1 \(int\)",
    ):
        SmallCNNRecipe(image_size=8, epochs=1).fit(digits, seed=-1)


# ---------------------------------------------------------------- protocol and params
def test_protocol_params_clone_repr() -> None:
    recipe = SmallCNNRecipe(epochs=3, channels="L")
    assert isinstance(recipe, ModelRecipe)
    assert recipe.name == "small_cnn"
    clone = recipe.clone()
    assert clone is not recipe and clone.get_params() == recipe.get_params()
    assert not clone.is_fitted
    assert repr(recipe) == "SmallCNNRecipe(channels='L', epochs=3)"


def test_grayscale_and_progress(
    capsys: pytest.CaptureFixture[str], digits_dataset: Callable[..., Dataset]
) -> None:
    ds = digits_dataset(40)
    recipe = SmallCNNRecipe(image_size=8, channels="L", epochs=2, embedding_dim=5)
    preds = recipe.fit(ds, progress=True).predict(ds)
    assert preds.embeddings.shape == (40, 5)
    assert "training" in capsys.readouterr().out


def test_clone_of_fitted_is_untrained(fitted: SmallCNNRecipe) -> None:
    assert fitted.is_fitted and not fitted.clone().is_fitted


# ---------------------------------------------------------------- Predictions
def test_predictions_validation() -> None:
    probs = np.array([[0.25, 0.75], [1.0, 0.0]])
    with pytest.raises(SchemaError, match="shape"):
        Predictions(["a"], probs, np.zeros((2, 1)))
    with pytest.raises(SchemaError, match="embeddings"):
        Predictions(["a", "b"], probs, np.zeros((3, 1)))
    with pytest.raises(SchemaError, match="summing to 1"):
        Predictions(["a", "b"], probs * 2, np.zeros((2, 1)))
    with pytest.raises(SchemaError, match="non-finite"):
        Predictions(["a", "b"], probs, np.full((2, 1), np.nan))
    with pytest.raises(SchemaError, match="3 classes"):
        Predictions(["a", "b"], probs, np.zeros((2, 1)), classes=["x", "y", "z"])


def test_predictions_frame_take_and_file(tmp_path: Path) -> None:
    preds = Predictions(
        ["a", "b", "c"],
        np.array([[0.1, 0.9], [0.6, 0.4], [0.5, 0.5]]),
        np.arange(6).reshape(3, 2),
        classes=["x", "y"],
    )
    frame = preds.to_polars()
    assert frame.columns == [
        "sample_id",
        "pred_index",
        "pred_label",
        "confidence",
        "pred_probs",
        "embedding",
    ]
    assert frame["pred_label"].to_list() == ["y", "x", "x"]
    assert frame["pred_probs"].dtype == pl.Array(pl.Float64, 2)
    assert frame["embedding"].to_list()[2] == [4.0, 5.0]
    assert preds.take(["c", "a"]).sample_ids == ["c", "a"]
    with pytest.raises(SchemaError, match="'zz'"):
        preds.take(["zz"])
    preds.save(tmp_path / "p.npz")
    back = Predictions.load(tmp_path / "p.npz")
    assert back.sample_ids == preds.sample_ids and back.classes == preds.classes
    assert np.array_equal(back.pred_probs, preds.pred_probs)
    assert np.array_equal(back.embeddings, preds.embeddings)
    unnamed = Predictions(["a"], np.ones((1, 1)), np.zeros((1, 1)))
    with pytest.raises(SchemaError, match="class names"):
        unnamed.predicted_labels()
    assert unnamed.to_polars().columns[2] == "confidence"
    empty = Predictions([], np.zeros((0, 2)), np.zeros((0, 3)))
    assert empty.to_polars().height == 0 and len(empty) == 0


# ---------------------------------------------------------------- import hygiene
def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, datacentric, datacentric.train; "
        "from datacentric.train import SmallCNNRecipe, cross_val_predict; SmallCNNRecipe(); "
        "bad = [m for m in ('torch', 'albumentations', 'torchvision') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_predictions_renormalise_near_one_rows_without_touching_input() -> None:
    raw = np.array([[0.5, 0.5004], [0.25, 0.75]])
    preds = Predictions(["a", "b"], raw, np.zeros((2, 1)))
    np.testing.assert_allclose(preds.pred_probs.sum(axis=1), 1.0, atol=1e-15)
    assert raw[0, 1] == 0.5004
    assert np.array_equal(preds.pred_probs[1], raw[1])
    again = Predictions(preds.sample_ids, preds.pred_probs, preds.embeddings)
    assert np.array_equal(again.pred_probs, preds.pred_probs)
