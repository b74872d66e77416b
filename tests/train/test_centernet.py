"""CenterNetRecipe: output table, determinism, save/load, a known overfit, argument errors."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("torch")

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.slices import detection_metrics
from datacentric.testing import check_parameter_constraints
from datacentric.train import (
    BoxPredictions,
    CenterNetRecipe,
    DetectorRecipe,
    ModelRecipe,
    SmallCNNRecipe,
)
from datacentric.train.detector import BOX_PREDICTION_SCHEMA
from tests.train._detection import clean_detection_demo

TINY = {"image_size": 48, "epochs": 2, "width": 4, "batch_size": 8, "min_steps": 0}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return clean_detection_demo(tmp_path_factory.mktemp("det"), n_scenes=12)


@pytest.fixture(scope="module")
def fitted(scenes: Dataset) -> CenterNetRecipe:
    return CenterNetRecipe(**TINY, min_score=0.0, max_boxes=7).fit(scenes, seed=3)


def test_protocols() -> None:
    recipe = CenterNetRecipe()
    assert isinstance(recipe, DetectorRecipe) and recipe.task == "detection"
    assert not isinstance(SmallCNNRecipe(), DetectorRecipe)
    assert isinstance(recipe, ModelRecipe)  # same method names: told apart by `task`
    assert recipe.clone().get_params() == recipe.get_params() and not recipe.clone().is_fitted
    check_parameter_constraints(CenterNetRecipe)


def test_predicted_table_columns_ranges_and_embeddings(
    scenes: Dataset, fitted: CenterNetRecipe
) -> None:
    pred = fitted.predict(scenes)
    assert isinstance(pred, BoxPredictions) and pred.sample_ids == scenes.sample_ids
    boxes = pred.boxes
    assert dict(boxes.schema) == BOX_PREDICTION_SCHEMA
    # min_score 0: every image gets exactly max_boxes peaks (3x3 maxima of 10 heatmaps)
    counts = boxes.group_by("sample_id").len()
    assert counts.height == len(scenes) and set(counts["len"].to_list()) == {7}
    assert boxes["sample_id"].to_list() == sorted(boxes["sample_id"].to_list())  # manifest order
    for _, g in boxes.group_by("sample_id"):
        assert g["score"].to_list() == sorted(g["score"].to_list(), reverse=True)
    assert boxes["score"].min() >= 0.0 and boxes["score"].max() <= 1.0  # type: ignore[operator]
    assert boxes["label"].is_in(scenes.classes).all()
    assert (boxes["w"] > 0).all() and (boxes["h"] > 0).all()
    assert (boxes["x"] >= 0).all() and ((boxes["x"] + boxes["w"]) <= 48 + 1e-9).all()
    assert (boxes["y"] >= 0).all() and ((boxes["y"] + boxes["h"]) <= 48 + 1e-9).all()
    assert pred.embeddings.shape == (len(scenes), 8 * 4) and pred.embeddings.dtype == np.float32
    # min_score drops the low peaks, nothing else
    fitted.min_score = 0.5
    try:
        kept = fitted.predict(scenes).boxes
    finally:
        fitted.min_score = 0.0
    assert kept.equals(boxes.filter(pl.col("score") >= 0.5))


def test_boxes_scale_back_to_each_image(scenes: Dataset) -> None:
    """A model on 32x32 inputs predicts in the 48x48 pixels of the images."""
    model = CenterNetRecipe(**{**TINY, "image_size": 32}, min_score=0.0).fit(scenes)
    boxes = model.predict(scenes).boxes
    right = (boxes["x"] + boxes["w"]).max()
    assert 32 < right <= 48  # type: ignore[operator]


def test_deterministic_for_a_seed(scenes: Dataset, fitted: CenterNetRecipe) -> None:
    again = CenterNetRecipe(**TINY, min_score=0.0, max_boxes=7).fit(scenes, seed=3)
    a, b = fitted.predict(scenes), again.predict(scenes)
    assert a.boxes.equals(b.boxes) and np.array_equal(a.embeddings, b.embeddings)
    other = CenterNetRecipe(**TINY, min_score=0.0, max_boxes=7).fit(scenes, seed=4)
    assert not other.predict(scenes).boxes.equals(a.boxes)


def test_score_constants_change_scores_only(scenes: Dataset, fitted: CenterNetRecipe) -> None:
    """min_score cuts the raw peak, so Platt constants keep the same boxes, in the same
    order, and map each raw score s to sigmoid(scale * logit(s) + shift)."""
    import copy

    cut = copy.copy(fitted)
    cut.min_score = float(np.median(fitted.predict(scenes).boxes["score"].to_numpy()))
    raw = cut.predict(scenes).boxes
    scaled = copy.copy(cut)
    scaled.score_scale, scaled.score_shift = 2.5, -1.0  # lowers every score here
    cal = scaled.predict(scenes).boxes
    assert raw.height > len(scenes) and cal.drop("score").equals(raw.drop("score"))
    s = raw["score"].to_numpy()
    expected = 1 / (1 + np.exp(-(2.5 * np.log(s / (1 - s)) - 1.0)))
    np.testing.assert_allclose(cal["score"].to_numpy(), expected, rtol=1e-5)
    assert (cal["score"] != raw["score"]).all()  # every score moved, no box did


def test_save_load_same_boxes(tmp_path: Path, scenes: Dataset, fitted: CenterNetRecipe) -> None:
    path = tmp_path / "det.pt"
    fitted.save(path)
    loaded = CenterNetRecipe.load(path)
    assert loaded.get_params() == fitted.get_params() and loaded.classes_ == scenes.classes
    a, b = fitted.predict(scenes), loaded.predict(scenes)
    assert a.boxes.equals(b.boxes) and np.array_equal(a.embeddings, b.embeddings)
    into = CenterNetRecipe()
    assert into.load(path, device="cpu") is into and into.device == "cpu"
    assert into.predict(scenes).boxes.equals(a.boxes)


def test_overfits_a_few_scenes(tmp_path: Path) -> None:
    """Known answer: trained long enough on 8 scenes (18 digits), it finds them all again."""
    ds = clean_detection_demo(tmp_path, n_scenes=8)
    t0 = time.process_time()
    model = CenterNetRecipe(
        image_size=48, epochs=80, width=8, batch_size=8, augment=False, lr=5e-3, min_steps=0
    ).fit(ds)
    pred = model.predict(ds)
    m = detection_metrics(ds.annotations, pred.boxes, ds.classes, ds.sample_ids)
    assert m["map50"] >= 0.9, m
    assert time.process_time() - t0 < 60


def test_errors(scenes: Dataset) -> None:
    with pytest.raises(InvalidParameterError, match="not fitted yet"):
        CenterNetRecipe().predict(scenes)
    with pytest.raises(InvalidParameterError, match="not fitted yet"):
        CenterNetRecipe().save("x.pt")
    with pytest.raises(InvalidParameterError, match="image_size must be a multiple of 8"):
        CenterNetRecipe(image_size=50)
    for kwargs in ({"min_score": 1.0}, {"max_boxes": 0}, {"width": 0}, {"device": "gpu"}):
        with pytest.raises(InvalidParameterError, match=r"^CenterNetRecipe: parameter "):
            CenterNetRecipe(**kwargs)  # type: ignore[arg-type]
    classification = Dataset.from_arrays(np.zeros((2, 8, 8), np.uint8), [0, 1], ["a", "b"])
    with pytest.raises(InvalidDatasetError, match=r"not a detection dataset .*'classification'"):
        CenterNetRecipe(**TINY).fit(classification)
    with pytest.raises(InvalidDatasetError, match="no image"):
        CenterNetRecipe(**TINY).fit(scenes.filter(pl.col("sample_id") == "none"))
    with pytest.raises(InvalidParameterError, match="seed"):
        CenterNetRecipe(**TINY).fit(scenes, seed=-1)


def test_generalises_on_a_small_demo(tmp_path: Path) -> None:
    """The one slower test (about 30 s of CPU): the default training length (600 steps) on
    150 train scenes of 64x64 finds the digits of 50 test scenes it never saw."""
    ds = clean_detection_demo(tmp_path, n_scenes=200, size=64)
    train, test = ds.split("train"), ds.split("test")
    model = CenterNetRecipe(image_size=64).fit(train, seed=0)
    pred = model.predict(test)
    m = detection_metrics(test.annotations, pred.boxes, ds.classes, test.sample_ids)
    assert m["map50"] >= 0.8, m


def test_augmentation_moves_boxes_with_the_pixels() -> None:
    from datacentric.train.centernet import _augment

    rng = np.random.default_rng(0)
    side = 48
    batch = np.zeros((20, side, side, 3), np.uint8)
    boxes = []
    for i in range(20):
        x, y = int(rng.integers(0, 30)), int(rng.integers(0, 30))
        batch[i, y : y + 12, x : x + 8] = 200
        boxes.append(np.array([[x, y, 8.0, 12.0]]))
    out, moved = _augment(batch, boxes, np.random.default_rng(1))
    shifted = 0
    for i in range(20):
        x, y, w, h = moved[i][0]
        assert x >= 0 and x + w <= side and y >= 0 and y + h <= side  # never cut
        inside = out[i, int(y) : int(y + h), int(x) : int(x + w)].astype(float)
        outside = out[i].astype(float).sum() - inside.sum()
        assert inside.mean() > 3 * max(outside / (side * side - w * h), 1.0)
        shifted += not np.array_equal(moved[i], boxes[i])
    assert shifted >= 15
