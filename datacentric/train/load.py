"""Open any saved torch recipe without knowing its class, and pick a recipe by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datacentric.exceptions import InvalidParameterError, SchemaError

__all__ = ["RECIPES", "load_recipe", "make_recipe"]

#: Recipe name (as in ``recipe.name`` and the CLI's ``--recipe``) → class path.
RECIPES: dict[str, str] = {
    "small_cnn": "datacentric.train.small_cnn:SmallCNNRecipe",
    "resnet18": "datacentric.train.resnet:ResNet18Recipe",
}


def _cls(name: str) -> Any:
    import importlib

    module, attr = RECIPES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def make_recipe(name: str, **params: Any) -> Any:
    """A new, untrained recipe by name.

    Examples
    --------
    >>> make_recipe("small_cnn", epochs=2).get_params()["epochs"]
    2
    >>> make_recipe("vgg")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: unknown recipe 'vgg'; valid: 'resnet18', ...
    """
    if name not in RECIPES:
        valid = ", ".join(repr(k) for k in sorted(RECIPES))
        raise InvalidParameterError(f"unknown recipe {name!r}; valid: {valid}.")
    return _cls(name)(**params)


def load_recipe(path: str | Path) -> Any:
    """A fitted recipe read from a file written by ``recipe.save``, whatever its class.

    The file records which recipe wrote it (``format: datacentric.<Class>``); this opens it
    with that class.

    Raises
    ------
    InvalidParameterError
        When ``path`` is not a file.
    SchemaError
        When the file is not a recipe saved by datacentric.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InvalidParameterError(
            f"load_recipe: {str(path)!r} is not a file; pass a model written by recipe.save "
            "(the data loop saves one per iteration under .datacentric/experiments/iter_NNN/)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign file
        raise SchemaError(
            f"load_recipe: {str(path)!r} could not be read as a saved recipe ({exc})."
        ) from exc
    fmt = state.get("format") if isinstance(state, dict) else None
    for name in RECIPES:
        cls = _cls(name)
        if fmt == f"datacentric.{cls._title}":
            return cls._load(path, state=state)  # read once
    known = ", ".join(f"datacentric.{_cls(n)._title}" for n in RECIPES)
    raise SchemaError(
        f"load_recipe: {str(path)!r} has format {fmt!r}, not one of {known}. Pass a file "
        "written by recipe.save."
    )
