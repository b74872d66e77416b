"""Hostile files of the "files" area: YAML bombs, crafted recipe files, damaged saved results.

Shared by ``tests/hostile/test_yaml.py``, ``test_recipes.py``, ``test_result_files.py`` and
the CLI cases in ``tests/hostile/cases/files.py``.
"""

from __future__ import annotations

import copy
import itertools
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MarkerPayload",
    "billion_laughs",
    "crafted_recipes",
    "deep_nesting",
    "fitted_recipe_state",
    "python_tag",
    "self_alias",
]


def billion_laughs(levels: int = 9, fan: int = 9, *, slices: bool = True) -> str:
    """A YAML document of < 1 KB whose aliases expand to ``fan ** levels`` (387 million) nodes.

    With ``slices`` it is shaped like a slice file (the bomb in a ``where`` list); otherwise
    a mapping of top-level keys (a monitor config).
    """
    names = [chr(ord("a") + i) for i in range(levels)]
    first = "[" + ", ".join(["lol"] * fan) + "]"
    parts = [f"&{names[0]} {first}"]
    for prev, name in itertools.pairwise(names):
        parts.append(f"&{name} [" + ", ".join([f"*{prev}"] * fan) + "]")
    if slices:
        body = "\n".join(f"          - {p}" for p in parts)
        return f"slices:\n  - name: bomb\n    where:\n      vendor:\n        in:\n{body}\n"
    return "\n".join(f"k{i}: {p}" for i, p in enumerate(parts)) + "\n"


def self_alias(*, slices: bool = True) -> str:
    """An alias inside the node it names (a cycle)."""
    if slices:
        return "slices: &s\n  - name: loop\n    where: {vendor: *s}\n"
    return "drift: &d\n  metrics: *d\n"


def deep_nesting(depth: int = 5000) -> str:
    """Lists nested ``depth`` deep in a few KB (RecursionError bait)."""
    return "slices: " + "[" * depth + "]" * depth + "\n"


def python_tag(marker: Path) -> str:
    """A YAML python tag that would create ``marker`` if it were ever constructed."""
    return f"slices:\n  - !!python/object/apply:os.system ['touch {marker}']\n"


class MarkerPayload:
    """A pickle payload that creates a marker file when unpickled by an unsafe loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str, str]]:
        return (open, (self.marker, "w"))


def fitted_recipe_state(path: Path) -> dict[str, Any]:
    """Fit a tiny SmallCNNRecipe (8x8 grayscale, width 2), save it to ``path``; its state."""
    import torch

    from datacentric import Dataset
    from datacentric.train import SmallCNNRecipe

    rng = np.random.default_rng(0)
    ds = Dataset.from_arrays(
        rng.integers(0, 255, (8, 8, 8), dtype=np.uint8), [0, 1] * 4, ["a", "b"]
    )
    model = SmallCNNRecipe(
        epochs=1, image_size=8, channels="L", width=2, embedding_dim=4, augment=False
    ).fit(ds)
    model.save(path)
    state: dict[str, Any] = torch.load(path, weights_only=True)
    return state


def _edit(state: dict[str, Any], fn: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    out = copy.deepcopy(state)
    fn(out)
    return out


def crafted_recipes(state: dict[str, Any], marker: Path) -> dict[str, tuple[Any, str]]:
    """``{case: (content, message fragment)}``: torch-saved contents, or raw ``bytes``.

    Each must make ``load_recipe`` raise SchemaError whose message holds the fragment.
    """
    import torch

    sd = state["state_dict"]
    first = next(iter(sd))

    def rename(s: dict[str, Any]) -> None:
        s["state_dict"]["features.99.weight"] = s["state_dict"].pop(first)

    def pop_head(s: dict[str, Any]) -> None:
        del s["state_dict"]["head.bias"]

    return {
        "unknown_param": (
            _edit(state, lambda s: s["params"].update(dropout=0.5)),
            "unknown parameter 'dropout'; valid: 'image_size'",
        ),
        "bad_param_type": (
            _edit(state, lambda s: s["params"].update(epochs="many")),
            "epochs must be an integer",
        ),
        "params_not_mapping": (_edit(state, lambda s: s.update(params=[1, 2])), "not a mapping"),
        "empty_state_dict": (
            _edit(state, lambda s: s.update(state_dict={})),
            "holds an empty state_dict",
        ),
        "missing_keys": (_edit(state, pop_head), "missing keys: 'head.bias'"),
        "unexpected_keys": (_edit(state, rename), "unexpected keys: 'features.99.weight'"),
        "mismatched_shape": (
            _edit(state, lambda s: s["state_dict"].update({"head.bias": torch.zeros(7)})),
            "'head.bias' has shape [7], expected [2]",
        ),
        "wrong_dtype": (
            _edit(
                state,
                lambda s: s["state_dict"].update({"head.bias": torch.zeros(2, dtype=torch.int64)}),
            ),
            "'head.bias' has dtype torch.int64",
        ),
        "non_tensor": (
            _edit(state, lambda s: s["state_dict"].update({"head.bias": [0.0, 0.0]})),
            "'head.bias' is a list, not a tensor",
        ),
        "nan_weights": (
            _edit(
                state,
                lambda s: s["state_dict"].update({"head.bias": torch.tensor([np.nan, 0.0])}),
            ),
            "'head.bias' holds NaN or infinite values",
        ),
        "broadcast_view": (
            _edit(
                state,
                lambda s: s["state_dict"].update(
                    {"head.weight": torch.zeros(1).expand(*sd["head.weight"].shape)}
                ),
            ),
            "fewer stored values",
        ),
        "bad_classes": (_edit(state, lambda s: s.update(classes=[1, 2])), "class name 1"),
        "duplicate_classes": (
            _edit(state, lambda s: s.update(classes=["a", "a"])),
            "'a' more than once",
        ),
        "bad_mean": (
            _edit(state, lambda s: s.update(mean=torch.zeros(3))),
            "normalisation 'mean' has shape [3], expected [1]",
        ),
        "zero_std": (
            _edit(state, lambda s: s.update(std=torch.zeros(1))),
            "normalisation 'std' holds values <= 0",
        ),
        "not_a_mapping": ([1, 2, 3], "holds a list, not a saved recipe"),
        "other_format": ({"format": "someone.else"}, "has format 'someone.else'"),
        "text_file": (b"this is not a model\n", "not the zip archive torch.save writes"),
        "raw_pickle": (
            pickle.dumps({"format": MarkerPayload(marker)}),
            "not the zip archive torch.save writes",
        ),
        "torch_pickle": ({"format": MarkerPayload(marker)}, "weights_only=True"),
    }
