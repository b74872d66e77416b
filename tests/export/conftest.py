from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from datacentric import Dataset
from datacentric.train import SmallCNNRecipe
from tests.train._detection import clean_detection_demo

N = 300


@pytest.fixture(scope="module")
def digits_ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    d = load_digits()
    imgs = (d.images[:N] * 16).clip(0, 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    split = ["train" if i < 200 else "test" for i in range(N)]
    site = list(rng.choice(["a", "b"], N, p=[0.6, 0.4]))
    root = tmp_path_factory.mktemp("digits")
    return Dataset.from_arrays(
        imgs,
        [str(v) for v in d.target[:N]],
        [str(i) for i in range(10)],
        metadata={"site": site},
        split=split,
    ).to_folder(root)


@pytest.fixture(scope="module")
def recipe(digits_ds: Dataset) -> SmallCNNRecipe:
    return SmallCNNRecipe(epochs=2, image_size=16, channels="L").fit(digits_ds.split("train"))


@pytest.fixture(scope="module")
def weights(recipe: SmallCNNRecipe, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "model.pt"
    recipe.save(path)
    return path


@pytest.fixture(scope="package")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """24 clean detection scenes (real digits, boxes), shared by the detector export tests."""
    return clean_detection_demo(tmp_path_factory.mktemp("det"), n_scenes=24)
