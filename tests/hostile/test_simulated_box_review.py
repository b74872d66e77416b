"""Hostile input to the simulated box reviewer: one-line errors, nothing applied."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.datasets import load_detection_demo, load_detection_ground_truth
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.integrations.review import simulate_box_review, simulate_review


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile_boxreview") / "demo"
    load_detection_demo(root, n_scenes=8, size=48)
    return root


@pytest.fixture
def root(demo: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo, tmp_path / "demo"))


def _truth(root: Path) -> pl.DataFrame:
    return load_detection_ground_truth(root).boxes


def _queue(root: Path) -> pl.DataFrame:
    return pl.DataFrame({"sample_id": Dataset.open(root).split("train").sample_ids[:2]})


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(("simulate_box_review: ", "simulate_review: "))
    return msg


def _unchanged(root: Path) -> None:
    assert Dataset.open(root).version == 1


@pytest.mark.parametrize(
    ("queue", "match"),
    [
        ({"sample_id": ["s00000"]}, r"queue must be a polars DataFrame .*; received dict"),
        ("s00000", r"queue must be .*; received str"),
        (pl.DataFrame({"image": ["s00000"]}), r"queue must be .*sample_id.*\['image'\]"),
    ],
)
def test_a_queue_that_is_not_a_queue(root: Path, queue: object, match: str) -> None:
    with pytest.raises(SchemaError, match=match) as exc:
        simulate_box_review(root, queue, _truth(root))  # type: ignore[arg-type]
    _one_line(exc)
    _unchanged(root)


def test_a_ground_truth_without_its_columns(root: Path) -> None:
    for truth, got in (
        (_truth(root).drop("true_w"), "received ['annotation_id'"),
        (_truth(root).to_dict(as_series=False), "received dict"),
        ([1, 2], "received list"),
    ):
        with pytest.raises(SchemaError, match=r"ground truth must be a polars DataFrame") as exc:
            simulate_box_review(root, _queue(root), truth)  # type: ignore[arg-type]
        msg = _one_line(exc)
        assert got in msg and "load_detection_ground_truth(DIR).boxes" in msg
    _unchanged(root)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -3.0, None, "wide"])
def test_a_ground_truth_with_broken_boxes(root: Path, bad: object) -> None:
    truth = _truth(root)
    first = truth["annotation_id"][0]
    truth = truth.with_columns(pl.col("true_w").cast(pl.Utf8 if bad == "wide" else pl.Float64))
    truth = truth.with_columns(
        pl.when(pl.col("annotation_id") == first)
        .then(pl.lit(bad))
        .otherwise(pl.col("true_w"))
        .alias("true_w")
    )
    with pytest.raises(SchemaError, match=r"ground-truth object\(s\) have no image") as exc:
        simulate_box_review(root, _queue(root), truth)
    assert f"'{first}'" in _one_line(exc)
    _unchanged(root)


def test_a_queued_image_not_in_the_ground_truth(root: Path) -> None:
    queue = pl.DataFrame({"sample_id": ["s00001", "x7", "x8"]})
    with pytest.raises(InvalidParameterError) as exc:
        simulate_box_review(root, queue, _truth(root))
    msg = _one_line(exc)
    assert "2 queued image(s) have no true object in the ground truth" in msg
    assert "'x7'" in msg and "load_detection_ground_truth" in msg
    _unchanged(root)


def test_a_ground_truth_of_other_classes(root: Path) -> None:
    truth = _truth(root).with_columns(pl.lit("zebra").alias("true_label"))
    with pytest.raises(InvalidParameterError, match="classes the dataset does not have") as exc:
        simulate_box_review(root, _queue(root), truth)
    assert "'zebra'" in _one_line(exc)
    _unchanged(root)


def test_the_wrong_task_points_to_the_other_reviewer(root: Path, tmp_path: Path) -> None:
    cls = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), ["a", "b"], ["a", "b"])
    cls = cls.to_folder(tmp_path / "cls")
    cls.commit("initial")
    with pytest.raises(InvalidParameterError, match="simulate_review\\(ds, queue") as exc:
        simulate_box_review(cls, pl.DataFrame({"sample_id": ["0"]}), _truth(root))
    assert "classification dataset" in _one_line(exc)
    with pytest.raises(InvalidParameterError, match="simulate_box_review\\(ds, queue") as exc:
        simulate_review(root, _queue(root), pl.DataFrame({"sample_id": [], "true_label": []}))
    assert "detection dataset" in _one_line(exc)
    _unchanged(root)


def test_a_dataset_without_a_version_store(root: Path) -> None:
    ds = Dataset.open(root)
    loose = Dataset(ds.manifest, ds.classes, annotations=ds.annotations)
    with pytest.raises(InvalidParameterError, match="has no version store") as exc:
        simulate_box_review(loose, _queue(root), _truth(root))
    _one_line(exc)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"accuracy": 1.5}, r"parameter accuracy must be a number in \[0, 1\]; received 1.5"),
        ({"accuracy": math.nan}, r"parameter accuracy must be a number in \[0, 1\]"),
        ({"seed": -1}, r"parameter seed must be an integer >= 0"),
        ({"splits": "train"}, r"parameter splits must be"),
        ({"reviewer": 3}, r"parameter reviewer must be"),
    ],
)
def test_bad_parameters(root: Path, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=r"^simulate_box_review: " + match) as exc:
        simulate_box_review(root, _queue(root), _truth(root), **kwargs)  # type: ignore[arg-type]
    _one_line(exc)
