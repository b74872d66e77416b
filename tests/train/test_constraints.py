"""The recipes' parameters are declared and checked in one place, with one message form:
the constructor, a saved file and ``make_recipe`` give the same message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datacentric import config_context
from datacentric.exceptions import (
    InvalidParameterError,
    LimitExceededError,
    ParameterLimitError,
    SchemaError,
)
from datacentric.testing import check_parameter_constraints
from datacentric.train import (
    ResNet18Recipe,
    SmallCNNRecipe,
    cross_val_predict,
    load_recipe,
    make_recipe,
)
from datacentric.train._torch_recipe import TorchRecipe


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        # shared: epochs 3, batch_size 3, lr 4, weight_decay 3, augment 3, num_threads 4,
        # device 5; image_size 4; SmallCNN: channels 2, embedding_dim 4, width 4; ResNet:
        # weights 1, freeze_backbone 3
        (SmallCNNRecipe, 25 + 4 + 10),
        (ResNet18Recipe, 25 + 4 + 4),
    ],
)
def test_every_parameter_is_declared_and_enforced(cls: type, expected: int) -> None:
    assert check_parameter_constraints(cls) == expected


def test_declarations_extend_the_shared_ones() -> None:
    shared = set(TorchRecipe._parameter_constraints)
    assert shared < set(SmallCNNRecipe._parameter_constraints)
    assert shared < set(ResNet18Recipe._parameter_constraints)
    assert "width" not in ResNet18Recipe._parameter_constraints


def test_cross_val_predict_and_make_recipe_are_declared() -> None:
    assert check_parameter_constraints(cross_val_predict, {"ds": None}) == 1 + 3 + 4 + 3 + 2
    assert check_parameter_constraints(make_recipe) == 2


def test_width_limit_is_read_at_check_time() -> None:
    with pytest.raises(ParameterLimitError) as exc:
        SmallCNNRecipe(width=2048)
    assert isinstance(exc.value, LimitExceededError) and isinstance(
        exc.value, InvalidParameterError
    )
    assert (exc.value.owner, exc.value.parameter) == ("SmallCNNRecipe", "width")
    assert str(exc.value) == (
        "SmallCNNRecipe: parameter width must be an integer in [1, 1024] (the "
        "max_recipe_width setting); received 2048 (int). Use a smaller width (the limit "
        "keeps a small model file from asking for gigabytes of weights); for a trusted recipe "
        "raise it: DATACENTRIC_MAX_RECIPE_WIDTH=2048 or "
        "datacentric.set_config(max_recipe_width=2048)."
    )
    with config_context(max_recipe_width=4096):
        assert SmallCNNRecipe(width=2048).width == 2048
        with pytest.raises(InvalidParameterError, match=r"in \[1, 4096\]") as over:
            SmallCNNRecipe(embedding_dim=5000)
        assert isinstance(over.value, ParameterLimitError)
    # below the minimum is not a limit to raise: a plain InvalidParameterError
    with pytest.raises(InvalidParameterError) as low:
        SmallCNNRecipe(width=0)
    assert not isinstance(low.value, LimitExceededError)
    assert str(low.value).endswith("Pass e.g. width=16 (the default).")


def test_values_are_stored_as_plain_python() -> None:
    recipe = SmallCNNRecipe(epochs=np.int64(3), lr=1, augment=np.bool_(False), width=np.int32(4))
    params = recipe.get_params()
    assert params["epochs"] == 3 and type(params["epochs"]) is int
    assert params["lr"] == 1.0 and type(params["lr"]) is float
    assert params["augment"] is False and type(params["width"]) is int
    resnet = ResNet18Recipe(weights=None, freeze_backbone=np.bool_(True))
    assert resnet.get_params()["freeze_backbone"] is True


def _saved_with(tmp_path: Path, **params: Any) -> Path:
    import torch

    recipe = SmallCNNRecipe()
    state = {
        "format": "datacentric.SmallCNNRecipe",
        "format_version": 1,
        "params": {**recipe.get_params(), **params},
        "classes": ["a", "b"],
        "mean": torch.zeros(3),
        "std": torch.ones(3),
        "state_dict": {},
    }
    path = tmp_path / "recipe.pt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"width": 3000}, ParameterLimitError),
        ({"epochs": 0}, SchemaError),
        ({"channels": "CMYK"}, SchemaError),
        ({"augment": "yes"}, SchemaError),
    ],
)
def test_a_file_and_a_call_give_the_same_message(
    tmp_path: Path, params: dict[str, Any], error: type[Exception]
) -> None:
    pytest.importorskip("torch")
    with pytest.raises(InvalidParameterError) as direct:
        SmallCNNRecipe(**params)
    with pytest.raises(InvalidParameterError) as by_name:
        make_recipe("small_cnn", **params)
    assert str(by_name.value) == str(direct.value)
    path = _saved_with(tmp_path, **params)
    for load in (load_recipe, SmallCNNRecipe.load):
        with pytest.raises(error) as from_file:
            load(path)
        message = str(from_file.value)
        assert repr(str(path)) in message and str(direct.value) in message, message
        assert "\n" not in message


def test_docs_list_every_recipe_parameter_as_declared() -> None:
    """docs/loop.md's recipe table says what each declaration accepts, default included."""
    from datacentric._validation import describe, param_defaults

    doc = (Path(__file__).resolve().parents[2] / "docs" / "loop.md").read_text(encoding="utf-8")
    table = doc[doc.index("### Recipe parameters") : doc.index("## Fix policies")]
    for cls in (SmallCNNRecipe, ResNet18Recipe):
        assert f"| `{cls.__name__}` |" in table
        defaults = param_defaults(cls)
        for param, declared in cls._parameter_constraints.items():
            row = f"| `{param}` | `{defaults[param]!r}` | {describe(declared)} |"
            assert row in table, f"docs/loop.md lacks the row {row}"
