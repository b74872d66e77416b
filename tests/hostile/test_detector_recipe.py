"""Crafted CenterNetRecipe files and bad detector arguments: one-line errors, nothing run.

The detector's files go through the same hardened reader as the classification recipes
(:mod:`datacentric.train._recipe_file`): ``weights_only`` loading after archive checks, and
the weights checked against the network built on the ``meta`` device before allocation.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from datacentric.exceptions import (  # noqa: E402
    InvalidParameterError,
    LimitExceededError,
    SchemaError,
)
from datacentric.testing import check_parameter_constraints  # noqa: E402
from datacentric.train import CenterNetRecipe, cross_val_predict_boxes  # noqa: E402
from tests.train._detection import clean_detection_demo  # noqa: E402


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("det")
    ds = clean_detection_demo(root / "data", n_scenes=8)
    path = root / "det.pt"
    CenterNetRecipe(image_size=48, epochs=1, width=2, augment=False, min_steps=0).fit(ds).save(path)
    return path, torch.load(path, weights_only=True)


def _save(path: Path, content: Any) -> Path:
    torch.save(content, path)
    return path


def test_good_file_loads(good: tuple[Path, dict[str, Any]]) -> None:
    recipe = CenterNetRecipe.load(good[0])
    assert recipe.is_fitted and recipe.width == 2 and recipe.image_size == 48


def test_crafted_files_are_one_line_schema_errors(
    good: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    state = good[1]
    sd = state["state_dict"]
    first = next(iter(sd))
    cases: dict[str, tuple[Any, str]] = {
        "other_format": ({**state, "format": "datacentric.SmallCNNRecipe"}, "not a saved"),
        "unknown_param": (
            {**state, "params": {**state["params"], "dropout": 0.5}},
            "unknown parameter 'dropout'",
        ),
        "bad_max_boxes": (
            {**state, "params": {**state["params"], "max_boxes": 10**9}},
            "max_boxes must be an integer in [1, 1000]",
        ),
        "odd_side": (
            {**state, "params": {**state["params"], "image_size": 50}},
            "image_size must be a multiple of 8",
        ),
        "wrong_shape": (
            {**state, "state_dict": {**sd, first: torch.zeros(3, 3)}},
            f"the weight {first!r} has shape [3, 3]",
        ),
        "missing_head": (
            {**state, "state_dict": {k: v for k, v in sd.items() if not k.startswith("heat.")}},
            "missing keys: 'heat.0.weight'",
        ),
        "nan_weight": (
            {**state, "state_dict": {**sd, first: torch.full_like(sd[first], float("nan"))}},
            "holds NaN or infinite values",
        ),
        "broadcast_view": (
            {**state, "state_dict": {**sd, first: torch.zeros(1).expand_as(sd[first])}},
            "a view repeating fewer stored values",
        ),
        "bad_std": ({**state, "std": torch.zeros(3)}, "normalisation 'std' holds values <= 0"),
        "no_classes": ({**state, "classes": []}, "not a non-empty list of class names"),
    }
    for case, (content, fragment) in cases.items():
        path = _save(tmp_path / f"{case}.pt", content)
        with pytest.raises(SchemaError) as exc:
            CenterNetRecipe.load(path)
        msg = str(exc.value)
        assert "\n" not in msg and repr(str(path)) in msg, (case, msg)
        assert fragment in msg, (case, msg)


def test_pickled_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for name, write in (
        ("torch", lambda p: torch.save({"format": _Payload(marker)}, p)),
        ("raw", lambda p: p.write_bytes(pickle.dumps(_Payload(marker)))),
    ):
        path = tmp_path / f"{name}.pt"
        write(path)
        with pytest.raises(SchemaError, match="could not be read"):
            CenterNetRecipe.load(path)
    assert not marker.exists()


def test_wide_file_is_refused_before_allocation(
    good: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path = _save(tmp_path / "wide.pt", {**good[1], "params": {**good[1]["params"], "width": 5000}})
    with pytest.raises(LimitExceededError, match="width=5000") as exc:
        CenterNetRecipe.load(path)
    assert isinstance(exc.value, InvalidParameterError) and str(path) in str(exc.value)


def test_declared_constraints_are_enforced() -> None:
    assert check_parameter_constraints(CenterNetRecipe) > 10
    assert check_parameter_constraints(cross_val_predict_boxes, complete=False) > 5
