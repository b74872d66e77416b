"""cross_val_predict_boxes: out of sample, every image once, engines, cache; the scan uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

pytest.importorskip("torch")

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.issues import scan
from datacentric.train import (
    BoxPredictions,
    CenterNetRecipe,
    DetectorRecipe,
    SmallCNNRecipe,
    cross_val_predict_boxes,
    crossval_boxes,
)
from datacentric.train.crossval_boxes import image_folds
from tests.train._detection import clean_detection_demo

TINY = {"image_size": 48, "epochs": 1, "width": 4, "batch_size": 8, "min_steps": 0}
UNSEEN_SCORE = 0.25


class Memoriser:
    """A detector that knows its training images: their true boxes with score 1, and for
    any other image one box of score 0.25; embedding 1 for a training image, else 0."""

    name = "memoriser"
    task = "detection"

    def __init__(self) -> None:
        self.seen: pl.DataFrame | None = None

    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> Memoriser:
        assert ds.annotations is not None
        self.seen = ds.annotations
        self.ids = set(ds.sample_ids)
        return self

    def predict(self, ds: Dataset, *, batch_size: int = 64) -> BoxPredictions:
        assert self.seen is not None
        rows = []
        for sid in ds.sample_ids:
            if sid in self.ids:
                for b in self.seen.filter(pl.col("sample_id") == sid).iter_rows(named=True):
                    rows.append((sid, b["label"], b["x"], b["y"], b["w"], b["h"], 1.0))
            else:
                rows.append((sid, ds.classes[0], 0.0, 0.0, 4.0, 4.0, UNSEEN_SCORE))
        boxes = pl.DataFrame(
            rows, schema=["sample_id", "label", "x", "y", "w", "h", "score"], orient="row"
        )
        emb = np.array([[1.0 if s in self.ids else 0.0] for s in ds.sample_ids])
        return BoxPredictions(ds.sample_ids, boxes, emb)

    def save(self, path: str | Path) -> None:  # pragma: no cover - protocol filler
        raise NotImplementedError

    def load(self, path: str | Path) -> Memoriser:  # pragma: no cover
        raise NotImplementedError

    def clone(self) -> Memoriser:
        return Memoriser()

    def get_params(self) -> dict[str, Any]:
        return {}


class Oracle(Memoriser):
    """A detector that knows every image's true boxes (``truth``): it predicts each with a
    score in [0.55, 0.85) and three tiny boxes of no object in [0.05, 0.45), by sample id."""

    name = "oracle"

    def __init__(self, truth: pl.DataFrame) -> None:
        super().__init__()
        self.truth = truth

    def predict(self, ds: Dataset, *, batch_size: int = 64) -> BoxPredictions:
        rows = []
        for sid in ds.sample_ids:
            u = np.random.default_rng(int(sid.lstrip("s") or 0)).random(4)
            for b in self.truth.filter(pl.col("sample_id") == sid).iter_rows(named=True):
                rows.append((sid, b["label"], b["x"], b["y"], b["w"], b["h"], 0.55 + 0.3 * u[0]))
            for k in range(3):
                score = 0.05 + 0.4 * u[k + 1]
                rows.append((sid, ds.classes[k], 0.0, 0.0, 2.0, 2.0, score))
        boxes = pl.DataFrame(
            rows, schema=["sample_id", "label", "x", "y", "w", "h", "score"], orient="row"
        ).sort("sample_id", "score", descending=[False, True], maintain_order=True)
        return BoxPredictions(ds.sample_ids, boxes, np.zeros((len(ds), 1)))

    def clone(self) -> Oracle:
        return Oracle(self.truth)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return clean_detection_demo(tmp_path_factory.mktemp("det"), n_scenes=12)


def test_image_folds_hold_every_image_out_once() -> None:
    splits = image_folds(23, 5, seed=7)
    held = np.concatenate([test for _, test in splits])
    assert sorted(held.tolist()) == list(range(23))
    for train, test in splits:
        assert not set(train.tolist()) & set(test.tolist())
        assert len(train) + len(test) == 23
    assert [t.tolist() for _, t in image_folds(23, 5, seed=7)] == [t.tolist() for _, t in splits]
    assert len(image_folds(3, 5, seed=0)) == 3  # capped at the number of images


def test_boxes_are_out_of_sample(scenes: Dataset) -> None:
    """A memoriser's boxes of an image it trained on would score 1: none does."""
    assert isinstance(Memoriser(), DetectorRecipe)
    pred = cross_val_predict_boxes(scenes, Memoriser(), folds=4, engine="sequential", cache=False)
    assert pred.sample_ids == scenes.sample_ids
    assert pred.boxes["score"].unique().to_list() == [UNSEEN_SCORE]
    assert pred.boxes["sample_id"].to_list() == scenes.sample_ids  # one box each, in order
    # ensemble embedding: each image was a training image of 3 of the 4 fold models
    assert np.allclose(pred.embeddings, 0.75)
    oof = cross_val_predict_boxes(
        scenes, Memoriser(), folds=4, engine="sequential", cache=False, embeddings="out_of_fold"
    )
    assert np.array_equal(oof.embeddings, np.zeros((len(scenes), 1), np.float32))
    assert oof.boxes.equals(pred.boxes)


def test_bit_identical_across_engines_and_cached(
    scenes: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = CenterNetRecipe(**TINY, min_score=0.0, max_boxes=5)
    seq = cross_val_predict_boxes(scenes, recipe, folds=2, seed=1, engine="sequential")
    cached = sorted((Path(scenes.root or "") / ".datacentric/cache/cv").glob("boxes-*/fold_*.npz"))
    assert len(cached) == 2
    local = cross_val_predict_boxes(
        scenes, recipe, folds=2, seed=1, engine="local", workers=2, cache=False
    )
    assert seq.boxes.height and seq.boxes.equals(local.boxes)
    assert np.array_equal(seq.embeddings, local.embeddings)

    def boom(task: Any) -> Any:
        raise AssertionError("the cached folds must be reused")

    monkeypatch.setattr(crossval_boxes, "run_box_fold", boom)
    again = cross_val_predict_boxes(scenes, recipe, folds=2, seed=1, engine="sequential")
    assert again.boxes.equals(seq.boxes) and np.array_equal(again.embeddings, seq.embeddings)
    # other boxes, other cache key: the folds are computed again
    assert scenes.annotations is not None
    moved = Dataset(
        scenes.manifest,
        scenes.classes,
        scenes.root,
        annotations=scenes.annotations.with_columns(pl.col("x") + 1),
    )
    with pytest.raises(AssertionError, match="cached folds must be reused"):
        cross_val_predict_boxes(moved, recipe, folds=2, seed=1, engine="sequential")


def test_scores_are_calibrated_per_run_against_the_given_boxes(scenes: Dataset) -> None:
    assert scenes.annotations is not None
    oracle = Oracle(scenes.annotations)
    raw = cross_val_predict_boxes(
        scenes, oracle, folds=3, engine="sequential", cache=False, calibrate=False
    )
    cal = cross_val_predict_boxes(scenes, oracle, folds=3, engine="sequential", cache=False)
    assert raw.calibration is None and cal.calibration is not None
    fit = cal.calibration
    # every true box is confirmed by its given box; the tiny boxes by none
    assert fit.n_right == scenes.annotations.height
    assert fit.n_boxes == scenes.annotations.height + 3 * len(scenes) == raw.boxes.height
    assert cal.boxes.drop("score").equals(raw.boxes.drop("score"))
    assert np.allclose(cal.boxes["score"].to_numpy(), fit.transform(raw.boxes["score"]))
    # right and wrong scores are separated, so the calibration spreads them apart:
    # every right box above 0.9, every wrong one below 0.1
    right = cal.boxes.filter(pl.col("w") > 2.0)["score"]
    wrong = cal.boxes.filter(pl.col("w") == 2.0)["score"]
    assert right.min() > 0.9 > 0.1 > wrong.max()  # type: ignore[operator]
    assert cal.take(scenes.sample_ids[:2]).calibration is fit
    res = scan(scenes, finders=["overlooked_box"], recipe=oracle, folds=3, engine="sequential",
               cache=False)  # fmt: skip
    assert res.meta["score_calibration"] == fit.to_dict()


def test_errors(scenes: Dataset) -> None:
    classification = Dataset.from_arrays(np.zeros((4, 8, 8), np.uint8), [0, 1] * 2, ["a", "b"])
    with pytest.raises(InvalidDatasetError, match="not a detection dataset"):
        cross_val_predict_boxes(classification, Memoriser())
    with pytest.raises(InvalidDatasetError, match="at least 2 images, received 1"):
        cross_val_predict_boxes(scenes.filter(pl.col("sample_id") == scenes.sample_ids[0]))
    with pytest.raises(InvalidParameterError, match="parameter recipe"):
        cross_val_predict_boxes(scenes, SmallCNNRecipe())  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="parameter folds"):
        cross_val_predict_boxes(scenes, Memoriser(), folds=1)


def test_scan_cross_validates_the_detector_when_boxes_are_missing(scenes: Dataset) -> None:
    finders = ["badly_located_box", "overlooked_box", "outlier"]
    result = scan(scenes, finders=finders, recipe=Memoriser(), folds=3, engine="sequential")
    assert not result.skipped
    assert result.meta["predicted_boxes"] == "cross-validation (3 folds, memoriser)"
    boxes = result.predicted_boxes
    assert boxes is not None and boxes["score"].unique().to_list() == [UNSEEN_SCORE]
    # the outlier finder ran on the detector's embeddings (all equal here: no outlier)
    assert result.flagged("outlier").height == 0
    # given boxes win; the embeddings still come from the detector
    given = scenes.annotations.select(  # type: ignore[union-attr]
        "sample_id", "label", "x", "y", "w", "h", score=pl.lit(0.99)
    )
    kept = scan(scenes, finders=finders, recipe=Memoriser(), predicted_boxes=given,
                folds=3, engine="sequential")  # fmt: skip
    assert kept.meta["predicted_boxes"] == "given" and not kept.skipped
    assert kept.flagged("badly_located_box").height == 0
    off = scan(scenes, finders=finders, cross_validate=False)
    assert set(off.skipped) == set(finders) and off.meta["predicted_boxes"] is None
    with pytest.raises(InvalidParameterError, match="must be a DetectorRecipe"):
        scan(scenes, finders=finders, recipe=SmallCNNRecipe())  # type: ignore[arg-type]
