"""Open any saved torch recipe without knowing its class, and pick a recipe by name."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from datacentric._validation import Options, invalid_parameter, validate_call
from datacentric.exceptions import InvalidParameterError, SchemaError, format_items
from datacentric.train._recipe_file import describe, read_torch_file

__all__ = ["RECIPES", "SAVED_RECIPES", "load_recipe", "make_recipe"]

#: Recipe name (as in ``recipe.name`` and the CLI's ``--recipe``) → class path: the
#: classification recipes :func:`make_recipe` builds.
RECIPES: dict[str, str] = {
    "small_cnn": "datacentric.train.small_cnn:SmallCNNRecipe",
    "resnet18": "datacentric.train.resnet:ResNet18Recipe",
}
#: Every recipe class :func:`load_recipe` opens (the file names its class): the
#: classification recipes and the detector.
SAVED_RECIPES: dict[str, str] = {
    **RECIPES,
    "centernet": "datacentric.train.centernet:CenterNetRecipe",
}


def _cls(name: str) -> Any:
    import importlib

    module, attr = SAVED_RECIPES[name].split(":")
    return getattr(importlib.import_module(module), attr)


@validate_call({"name": [Options(str, tuple(sorted(RECIPES)))]})
def make_recipe(name: str, **params: Any) -> Any:
    """A new, untrained recipe by name; its parameters are checked by the recipe class.

    Raises
    ------
    InvalidParameterError
        When ``name`` is not a recipe of :data:`RECIPES`, a keyword is not a parameter of
        that recipe, or a value is invalid (the recipe's declared constraints).

    Examples
    --------
    >>> make_recipe("small_cnn", epochs=2).get_params()["epochs"]
    2
    >>> make_recipe("vgg")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: make_recipe: parameter name must be one of ...
    >>> make_recipe("small_cnn", widht=8)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: make_recipe: parameter widht must be one of ...
    """
    cls = _cls(name)
    known = list(inspect.signature(cls.__init__).parameters)[1:]
    unknown = [k for k in params if k not in known]
    if unknown:  # the keywords depend on the recipe: checked here, in the same form
        raise invalid_parameter(
            "make_recipe",
            unknown[0],
            params[unknown[0]],
            f"one of the parameter names of recipe {name!r}: {format_items(known, limit=20)}",
            fix=f"Remove {format_items(unknown)} or correct the spelling.",
        )
    return cls(**params)


@validate_call({"path": [str, Path], "task": [Options(str, ("classification", "detection")), None]})
def load_recipe(path: str | Path, *, task: str | None = None) -> Any:
    """A fitted recipe read from a file written by ``recipe.save``, whatever its class.

    The file records which recipe wrote it (``format: datacentric.<Class>``); this opens it
    with that class: a classifier of :data:`RECIPES` or the detector
    (:class:`~datacentric.train.CenterNetRecipe`), see :data:`SAVED_RECIPES`.

    Parameters
    ----------
    path : str or Path
        A file written by ``recipe.save`` (the data loop saves one per iteration).
    task : {"classification", "detection"}, optional
        The task the recipe must be for (the dataset's ``task``); a recipe of the other task
        is refused. Default: any.

    Raises
    ------
    InvalidParameterError
        When ``path`` is not a file, or the recipe is not for ``task``.
    SchemaError
        When the file is not a recipe saved by datacentric, or is damaged or crafted: not a
        torch file, truncated, unknown or invalid parameters, weights that do not match
        the network (checked before the network is allocated; nothing in it is executed).
    ParameterLimitError
        When its parameters ask for a network wider than ``max_recipe_width`` (a
        ``LimitExceededError``; the message is the recipe constructor's, naming the file).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidParameterError(
            f"load_recipe: {str(path)!r} is not a file; pass a model written by recipe.save "
            "(the data loop saves one per iteration under .datacentric/experiments/iter_NNN/)."
        )
    fix = "Pass a file written by recipe.save (retrain and save it again if it is damaged)."
    state = read_torch_file(path, "load_recipe", "a saved recipe", fix)
    fmt = state.get("format") if isinstance(state, dict) else None
    for name in SAVED_RECIPES:
        cls = _cls(name)
        if isinstance(fmt, str) and fmt == f"datacentric.{cls._title}":
            kind = getattr(cls, "task", "classification")
            if task is not None and kind != task:
                raise InvalidParameterError(
                    f"load_recipe: {str(path)!r} holds a {cls._title}, a {kind} model, "
                    f"not a {task} one; pass a model trained on a {task} dataset (retrain: "
                    "`datacentric loop DIR`)."
                )
            return cls._load(path, state=state)  # read once
    known = ", ".join(f"datacentric.{_cls(n)._title}" for n in SAVED_RECIPES)
    if not isinstance(state, dict):
        raise SchemaError(
            f"load_recipe: {str(path)!r} holds {describe(state)}, not a saved recipe (a "
            f"mapping with a 'format' among {known}). {fix}"
        )
    raise SchemaError(
        f"load_recipe: {str(path)!r} has format {describe(fmt)}, not one of {known}. Pass a "
        "file written by recipe.save."
    )
