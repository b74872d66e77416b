"""ResNet18Recipe: outputs, determinism, persistence, local weights files, errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import torch
from torchvision.models import resnet18

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError, SchemaError
from datacentric.train import ModelRecipe, cross_val_predict
from datacentric.train.resnet import ResNet18Recipe

CLASSES = [str(d) for d in range(10)]
FAST: dict[str, Any] = {"image_size": 32, "epochs": 2}


def first(ds: Dataset, n: int) -> Dataset:
    """The first ``n`` rows of ``ds``."""
    return ds.filter(pl.col("sample_id").is_in(ds.sample_ids[:n]))


@pytest.fixture(scope="module")
def digits(digits_dataset: Callable[..., Dataset]) -> Dataset:
    return digits_dataset(100)


@pytest.fixture(scope="module")
def fitted(digits: Dataset) -> ResNet18Recipe:
    return ResNet18Recipe(**FAST).fit(digits, seed=0)


@pytest.fixture
def weights_file(tmp_path: Path) -> Path:
    """A randomly initialised torchvision resnet18 state_dict (1000-class fc) on disk."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        state = resnet18(weights=None).state_dict()
    path = tmp_path / "resnet18.pt"
    torch.save(state, path)
    return path


# ---------------------------------------------------------------- outputs
def test_prediction_shapes(fitted: ResNet18Recipe, digits: Dataset) -> None:
    preds = fitted.predict(digits, batch_size=64)
    assert preds.sample_ids == digits.sample_ids and preds.classes == CLASSES
    assert preds.pred_probs.shape == (len(digits), 10)
    np.testing.assert_allclose(preds.pred_probs.sum(axis=1), 1.0, atol=1e-12)
    assert preds.embeddings.shape == (len(digits), 512)
    assert preds.embeddings.dtype == np.float32 and np.isfinite(preds.embeddings).all()
    empty = fitted.predict(digits.filter(pl.col("sample_id") == "nope"))
    assert empty.pred_probs.shape == (0, 10) and empty.embeddings.shape == (0, 512)


def test_batch_of_one_and_missing_class(digits_dataset: Callable[..., Dataset]) -> None:
    ds = digits_dataset(5).filter(pl.col("label") != "9")
    recipe = ResNet18Recipe(image_size=16, epochs=1, batch_size=2, augment=False)
    assert recipe.fit(ds).predict(ds).pred_probs.shape == (len(ds), 10)


# ---------------------------------------------------------------- determinism
def test_same_seed_same_predictions(fitted: ResNet18Recipe, digits: Dataset) -> None:
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.random.get_rng_state()
    expected = fitted.predict(digits).pred_probs
    again = fitted.clone().fit(digits, seed=0).predict(digits).pred_probs
    other = fitted.clone().fit(digits, seed=1).predict(digits).pred_probs
    assert np.array_equal(again, expected)
    assert not np.array_equal(other, expected)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.random.get_rng_state(), rng_state)


# ---------------------------------------------------------------- persistence
def test_save_load_round_trip(fitted: ResNet18Recipe, digits: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    fitted.save(path)
    expected = fitted.predict(digits)
    loaded = ResNet18Recipe.load(path)
    assert isinstance(loaded, ResNet18Recipe)
    assert loaded.get_params() == fitted.get_params()
    got = loaded.predict(digits)
    assert np.array_equal(got.pred_probs, expected.pred_probs)
    assert np.array_equal(got.embeddings, expected.embeddings)
    into = ResNet18Recipe(epochs=1)
    assert into.load(path) is into and into.get_params() == fitted.get_params()


def test_save_before_fit_and_load_other_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="not fitted"):
        ResNet18Recipe().save(tmp_path / "m.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(SchemaError, match="not a saved ResNet18Recipe"):
        ResNet18Recipe.load(tmp_path / "other.pt")


# ---------------------------------------------------------------- local weights files
def test_weights_file_frozen_backbone(weights_file: Path, digits: Dataset, tmp_path: Path) -> None:
    file_state = torch.load(weights_file, weights_only=True)
    recipe = ResNet18Recipe(image_size=32, epochs=1, weights=weights_file, freeze_backbone=True)
    assert recipe.get_params()["weights"] == str(weights_file)
    recipe.fit(first(digits, 40))
    assert recipe._net is not None
    backbone = recipe._net["features"].state_dict()
    assert set(backbone) == {k for k in file_state if not k.startswith("fc.")}
    assert all(torch.equal(v, file_state[k]) for k, v in backbone.items())
    assert recipe._mean is not None
    np.testing.assert_allclose(recipe._mean, [0.485, 0.456, 0.406])
    # the saved recipe holds every weight: it loads without the original file
    recipe.save(tmp_path / "model.pt")
    expected = recipe.predict(digits).pred_probs
    weights_file.unlink()
    loaded = ResNet18Recipe.load(tmp_path / "model.pt")
    assert loaded.weights == str(weights_file)
    assert np.array_equal(loaded.predict(digits).pred_probs, expected)


def test_weights_file_fine_tunes_backbone(weights_file: Path, digits: Dataset) -> None:
    file_state = torch.load(weights_file, weights_only=True)
    recipe = ResNet18Recipe(image_size=32, epochs=1, weights=str(weights_file)).fit(
        first(digits, 40)
    )
    assert recipe._net is not None
    conv = recipe._net["features"].state_dict()["conv1.weight"]
    assert not torch.equal(conv, file_state["conv1.weight"])


def test_missing_weights_path_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(
        InvalidParameterError,
        match=r"^ResNet18Recipe: parameter weights must be the path of an existing .*; received "
        r"'.*nope\.pt' \(str\)\. Nothing is downloaded",
    ):
        ResNet18Recipe(weights=missing)
    with pytest.raises(InvalidParameterError, match="'IMAGENET1K_V1'"):
        ResNet18Recipe(weights="IMAGENET1K_V1")


def test_weights_file_of_another_model_raises(tmp_path: Path, digits: Dataset) -> None:
    path = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(SchemaError, match="does not match torchvision's resnet18"):
        ResNet18Recipe(image_size=16, epochs=1, weights=path).fit(first(digits, 4))
    torch.save([torch.zeros(1)], path)
    with pytest.raises(SchemaError, match="not a state_dict"):
        ResNet18Recipe(image_size=16, epochs=1, weights=path).fit(first(digits, 4))


# ---------------------------------------------------------------- errors and protocol
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, r"^ResNet18Recipe: parameter epochs must be an integer >= 1; received 0"),
        ({"image_size": 8}, r"parameter image_size must be an integer in \[16, 512\]; received 8"),
        ({"lr": -1.0}, r"parameter lr must be a number > 0; received -1.0 \(float\)"),
        ({"weight_decay": float("nan")}, r"parameter weight_decay must be .*; received nan"),
        ({"weights": 3}, r"parameter weights must be a string, .* or None; received 3 \(int\)"),
        ({"freeze_backbone": "no"}, r"parameter freeze_backbone must be a bool.*received 'no'"),
    ],
)
def test_invalid_hyper_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        ResNet18Recipe(**kwargs)  # type: ignore[arg-type]


def test_predict_and_fit_errors(fitted: ResNet18Recipe, digits: Dataset) -> None:
    with pytest.raises(InvalidParameterError, match=r"not fitted yet.*fit\(dataset\)"):
        ResNet18Recipe().predict(digits)
    with pytest.raises(
        InvalidParameterError, match=r"^ResNet18Recipe\.predict: parameter batch_size .*received 0"
    ):
        fitted.predict(digits, batch_size=0)
    with pytest.raises(InvalidDatasetError, match="classes"):
        fitted.predict(Dataset.from_arrays(np.zeros((2, 8, 8), np.uint8), [0, 1], ["a", "b"]))
    unlabeled = Dataset.from_arrays(np.zeros((2, 8, 8), np.uint8), [None, None], ["a", "b"])
    with pytest.raises(InvalidDatasetError, match="no labeled rows"):
        ResNet18Recipe().fit(unlabeled)


def test_protocol_params_clone_repr(fitted: ResNet18Recipe) -> None:
    recipe = ResNet18Recipe(epochs=3, freeze_backbone=True)
    assert isinstance(recipe, ModelRecipe) and recipe.name == "resnet18"
    clone = recipe.clone()
    assert clone is not recipe and clone.get_params() == recipe.get_params()
    assert repr(recipe) == "ResNet18Recipe(epochs=3, freeze_backbone=True)"
    assert fitted.is_fitted and not fitted.clone().is_fitted


def test_cross_val_predict(digits: Dataset) -> None:
    ds = first(digits, 60)
    preds = cross_val_predict(ds, ResNet18Recipe(image_size=32, epochs=1), folds=2)
    assert preds.pred_probs.shape == (60, 10) and preds.embeddings.shape == (60, 512)


def test_import_does_not_import_torch() -> None:
    code = (
        "import sys, datacentric.train.resnet as m; m.ResNet18Recipe(); "
        "bad = [x for x in ('torch', 'torchvision', 'albumentations') if x in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
