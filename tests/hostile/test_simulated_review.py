"""Hostile input to the simulated reviewer and the loop's review hook: one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.integrations.review import simulate_review
from datacentric.loop import run_iteration, run_loop


@pytest.fixture
def ds(tmp_path: Path) -> Dataset:
    d = Dataset.from_arrays(np.zeros((3, 4, 4), np.uint8), ["a", "b", "a"], ["a", "b"])
    d = d.to_folder(tmp_path / "d")
    d.commit("initial")
    return d


TRUTH = pl.DataFrame({"sample_id": ["0", "1", "2"], "true_label": ["a", "b", "b"]})


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_queued_ids_not_in_the_ground_truth(ds: Dataset) -> None:
    queue = pl.DataFrame({"sample_id": ["2", "x7", "x8"]})
    with pytest.raises(InvalidParameterError) as exc:
        simulate_review(ds, queue, TRUTH)
    msg = _one_line(exc)
    assert msg.startswith("simulate_review: 2 queued sample(s) are not in the ground truth")
    assert "'x7'" in msg and "load_ground_truth" in msg
    assert Dataset.open(ds.root).version == 1  # nothing applied


@pytest.mark.parametrize(
    ("queue", "truth", "match"),
    [
        (pl.DataFrame({"id": ["0"]}), TRUTH, r"queue must be a polars DataFrame .*\['id'\]"),
        ({"sample_id": ["0"]}, TRUTH, r"queue must be .*; received dict"),
        (pl.DataFrame({"sample_id": ["0"]}), TRUTH.drop("true_label"), r"ground truth must"),
    ],
)
def test_malformed_queue_or_truth(ds: Dataset, queue: object, truth: object, match: str) -> None:
    with pytest.raises(SchemaError, match=match) as exc:
        simulate_review(ds, queue, truth)  # type: ignore[arg-type]
    _one_line(exc)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"accuracy": 1.5}, r"parameter accuracy must be a number in \[0, 1\]; received 1.5"),
        ({"accuracy": math.nan}, r"parameter accuracy must be a number in \[0, 1\]"),
        ({"seed": -1}, r"parameter seed must be an integer >= 0"),
        ({"splits": "train"}, r"parameter splits must be"),
    ],
)
def test_bad_parameters(ds: Dataset, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=r"^simulate_review: " + match) as exc:
        simulate_review(ds, pl.DataFrame({"sample_id": ["0"]}), TRUTH, **kwargs)  # type: ignore[arg-type]
    _one_line(exc)


def test_an_unversioned_dataset_is_refused() -> None:
    d = Dataset.from_arrays(np.zeros((1, 4, 4), np.uint8), ["a"], ["a", "b"])
    with pytest.raises(InvalidParameterError, match="has no version store") as exc:
        simulate_review(d, pl.DataFrame({"sample_id": ["0"]}), TRUTH)
    _one_line(exc)


def test_the_loops_review_hook_must_be_callable(tmp_path: Path) -> None:
    for call in (run_iteration, run_loop):
        with pytest.raises(InvalidParameterError, match=r"parameter review must be") as exc:
            call(tmp_path, review="simulated")  # type: ignore[operator]
        _one_line(exc)
