"""load_recipe opens a saved recipe of any class; make_recipe builds one by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.train import SmallCNNRecipe, load_recipe, make_recipe


def test_round_trip_predicts_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(
        rng.integers(0, 255, (24, 8, 8), dtype=np.uint8), [0, 1] * 12, ["a", "b"]
    )
    model = SmallCNNRecipe(epochs=1, image_size=8, channels="L").fit(ds)
    model.save(tmp_path / "m.pt")
    again = load_recipe(tmp_path / "m.pt")
    assert isinstance(again, SmallCNNRecipe) and again.get_params() == model.get_params()
    np.testing.assert_allclose(again.predict(ds).pred_probs, model.predict(ds).pred_probs)


def test_errors_name_the_problem(tmp_path: Path) -> None:
    import torch

    with pytest.raises(InvalidParameterError, match="is not a file"):
        load_recipe(tmp_path / "missing.pt")
    torch.save({"format": "someone.else"}, tmp_path / "other.pt")
    with pytest.raises(SchemaError, match=r"'someone\.else', not one of datacentric\.SmallCNN"):
        load_recipe(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_text("not a model")
    with pytest.raises(SchemaError, match="could not be read"):
        load_recipe(tmp_path / "junk.pt")
    with pytest.raises(
        InvalidParameterError,
        match=r"^make_recipe: parameter name must be one of 'resnet18', 'small_cnn'; "
        r"received 'vgg' \(str\)",
    ):
        make_recipe("vgg")
    assert make_recipe("resnet18", epochs=1).name == "resnet18"


def test_a_saved_detector_opens_and_a_task_is_checked(tmp_path: Path) -> None:
    from datacentric.datasets import load_detection_demo
    from datacentric.train import CenterNetRecipe

    ds = load_detection_demo(tmp_path / "det", n_scenes=8, size=48, commit=False)
    detector = CenterNetRecipe(image_size=32, width=4, epochs=1, min_steps=0).fit(ds)
    detector.save(tmp_path / "det.pt")
    again = load_recipe(tmp_path / "det.pt", task="detection")
    assert isinstance(again, CenterNetRecipe) and again.get_params() == detector.get_params()
    assert again.predict(ds).boxes.equals(detector.predict(ds).boxes)
    with pytest.raises(
        InvalidParameterError,
        match=r"^load_recipe: '.*det\.pt' holds a CenterNetRecipe, a detection model, not a "
        r"classification one; pass a model trained on a classification dataset",
    ):
        load_recipe(tmp_path / "det.pt", task="classification")
    rng = np.random.default_rng(0)
    arrays = Dataset.from_arrays(
        rng.integers(0, 255, (8, 8, 8), dtype=np.uint8), [0, 1] * 4, ["a", "b"]
    )
    SmallCNNRecipe(epochs=1, image_size=8, channels="L").fit(arrays).save(tmp_path / "cls.pt")
    with pytest.raises(InvalidParameterError, match="holds a SmallCNNRecipe, a classification"):
        load_recipe(tmp_path / "cls.pt", task="detection")
    with pytest.raises(InvalidParameterError, match=r"parameter task must be one of"):
        load_recipe(tmp_path / "cls.pt", task="segmentation")
