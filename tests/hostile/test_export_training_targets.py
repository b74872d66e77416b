"""The qat-int8 and distilled-* export targets: bad training rows, students and widths.

Each gets a one-line error before any model is trained or any file written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datacentric import Dataset, config_context
from datacentric.exceptions import (
    InvalidDatasetError,
    InvalidParameterError,
    ParameterLimitError,
)
from datacentric.export import compress
from datacentric.train import CenterNetRecipe, SmallCNNRecipe, distill

FAST = {"latency_repeats": 2, "min_n": 5}


@pytest.fixture(scope="module")
def small() -> tuple[SmallCNNRecipe, Dataset]:
    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(
        rng.integers(0, 255, (24, 8, 8), dtype=np.uint8),
        ["a", "b"] * 12,
        ["a", "b"],
        split=["train"] * 16 + ["test"] * 8,
    )
    return SmallCNNRecipe(image_size=8, channels="L", epochs=1, width=4).fit(ds), ds


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(err.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


@pytest.mark.parametrize("target", ["qat-int8", "distilled-small_cnn-w4"])
def test_training_rows_with_other_classes(
    small: tuple[SmallCNNRecipe, Dataset], tmp_path: Path, target: str
) -> None:
    recipe, ds = small
    other = Dataset.from_arrays(np.zeros((4, 8, 8), np.uint8), ["x", "y"] * 2, ["x", "y"])
    with pytest.raises(InvalidDatasetError) as err:
        compress(recipe, ds, train_ds=other, targets=target, out_dir=tmp_path, **FAST)
    msg = _one_line(err)
    assert f"compress: {target}: these targets train on labeled rows" in msg
    assert "received 4 rows, 4 labeled, classes ['x', 'y']" in msg
    assert not list(tmp_path.iterdir())


def test_student_wider_than_the_width_setting_fails_before_any_work(
    small: tuple[SmallCNNRecipe, Dataset], tmp_path: Path
) -> None:
    recipe, ds = small
    with config_context(max_recipe_width=8), pytest.raises(ParameterLimitError) as err:
        compress(recipe, ds, targets="distilled-small_cnn-w64", out_dir=tmp_path, **FAST)
    assert "width" in _one_line(err)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "target", ["distilled-small_cnn-w", "distilled-small_cnn-w1000", "qat-int4", "distilled-"]
)
def test_malformed_target_names(
    small: tuple[SmallCNNRecipe, Dataset], tmp_path: Path, target: str
) -> None:
    recipe, ds = small
    with pytest.raises(InvalidParameterError) as err:
        compress(recipe, ds, targets=target, out_dir=tmp_path, **FAST)
    assert "received" in _one_line(err)
    assert not list(tmp_path.iterdir())


def test_distill_refuses_other_recipes(small: tuple[SmallCNNRecipe, Dataset]) -> None:
    recipe, ds = small
    for student, teacher, role in (
        ("small_cnn", recipe, "student"),
        (SmallCNNRecipe(image_size=8), CenterNetRecipe(), "teacher"),
    ):
        with pytest.raises(InvalidParameterError) as err:
            distill(student, teacher, ds)  # type: ignore[arg-type]
        assert f"distill: the {role} must be a torch classification recipe" in _one_line(err)


@pytest.mark.parametrize("bad", [{"temperature": float("nan")}, {"alpha": -0.1}, {"seed": -1}])
def test_distill_numbers(small: tuple[SmallCNNRecipe, Dataset], bad: dict[str, float]) -> None:
    recipe, ds = small
    with pytest.raises(InvalidParameterError) as err:
        distill(SmallCNNRecipe(image_size=8), recipe, ds, **bad)  # type: ignore[arg-type]
    assert next(iter(bad)) in _one_line(err)


@pytest.mark.parametrize(
    "bad", [{"epochs": 0}, {"lr_scale": 0.0}, {"lr_scale": float("nan")}, {"seed": -1}]
)
def test_fine_tune_qat_settings(
    small: tuple[SmallCNNRecipe, Dataset], bad: dict[str, float]
) -> None:
    from datacentric.export import fine_tune_qat

    recipe, ds = small
    with pytest.raises(InvalidParameterError) as err:
        fine_tune_qat(recipe, ds, **bad)  # type: ignore[arg-type]
    assert f"fine_tune_qat: parameter {next(iter(bad))}" in _one_line(err)


def test_fine_tune_qat_needs_a_fitted_torch_recipe(small: tuple[SmallCNNRecipe, Dataset]) -> None:
    from datacentric.export import fine_tune_qat

    _, ds = small
    for recipe in (SmallCNNRecipe(image_size=8), "small_cnn"):
        with pytest.raises(InvalidParameterError) as err:
            fine_tune_qat(recipe, ds)
        assert "is not fitted" in _one_line(err)
