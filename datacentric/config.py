"""Global limits that keep hostile or broken input cheap: one place to read and change them.

Every limit has a default that is safe for untrusted data and can be raised for a trusted
dataset, in three ways (later wins):

1. an environment variable ``DATACENTRIC_<NAME>`` (upper case), read when first needed, so
   CLI users can set it: ``DATACENTRIC_MAX_IMAGE_PIXELS=200000000 datacentric scan DIR``;
2. :func:`set_config` for the rest of the process;
3. :func:`config_context` for a ``with`` block.

The limits (``docs/data-model.md`` explains each):

``max_image_pixels`` (default 40,000,000)
    Width x height above which an image is refused *before* it is decoded (PIL's own
    bomb check only starts at ~179 million pixels and then raises its own exception).
``allow_symlinks_outside`` (default False)
    Whether an image path may resolve, through symbolic links, to a file outside the
    dataset root. Off by default: a crafted dataset could otherwise read any file the
    user can read.
``yaml_max_bytes`` (default 10,000,000) and ``yaml_max_nodes`` (default 1,000,000)
    The largest YAML file (slices, monitor alerts) read, and the most nodes it may expand to
    once aliases are followed (a few hundred bytes of nested aliases can otherwise expand to
    gigabytes). Alias cycles are always refused.
``annotations_max_bytes`` (default 500,000,000)
    The largest annotation file (a COCO JSON, one YOLO label file) read; larger files are
    refused before they are read (COCO's own 2017 training annotations are 448 MB).
``max_recipe_width`` (default 1024)
    The largest width (channels, embedding size) a model recipe may ask for, in code or in a
    model file (checked before anything is allocated).
``train_cache_bytes`` (default 1,073,741,824: 1 GiB)
    How many bytes of decoded training images a model recipe's ``fit`` may keep in memory
    (per process) so that epochs after the first do not decode the files again. A training
    set larger than this is decoded on the fly every epoch, a few batches in memory; ``0``
    turns the cache off. The trained weights are the same either way.

Examples
--------
>>> import datacentric as dc
>>> dc.get_config()["max_image_pixels"]
40000000
>>> with dc.config_context(max_image_pixels=1000):
...     dc.get_config()["max_image_pixels"]
1000
>>> dc.get_config()["max_image_pixels"]
40000000
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from datacentric.exceptions import InvalidParameterError

__all__ = ["DEFAULTS", "config_context", "get_config", "set_config"]

DEFAULTS: dict[str, Any] = {
    "max_image_pixels": 40_000_000,
    "allow_symlinks_outside": False,
    "yaml_max_bytes": 10_000_000,
    "yaml_max_nodes": 1_000_000,
    "max_recipe_width": 1024,
    "annotations_max_bytes": 500_000_000,
    "train_cache_bytes": 1 << 30,
}

# the smallest value of each integer setting (1 unless named here)
_MINIMUM: dict[str, int] = {"train_cache_bytes": 0}

_ENV_PREFIX = "DATACENTRIC_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_local = threading.local()
_global: dict[str, Any] = {}


def _check(name: str, value: Any, source: str) -> Any:
    if name not in DEFAULTS:
        raise InvalidParameterError(
            f"unknown datacentric setting {name!r} (from {source}); the settings are "
            f"{sorted(DEFAULTS)}."
        )
    default = DEFAULTS[name]
    if isinstance(default, bool):
        if isinstance(value, str):
            low = value.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
        if isinstance(value, bool):
            return value
        raise InvalidParameterError(
            f"setting {name!r} must be true or false, received {value!r} (from {source}). "
            "Use true/false (or 1/0)."
        )
    if isinstance(value, str):
        try:
            value = int(value.strip().replace("_", ""))
        except ValueError:
            raise InvalidParameterError(
                f"setting {name!r} must be an integer, received {value!r} (from "
                f"{source}). Set e.g. {_ENV_PREFIX}{name.upper()}={default}."
            ) from None
    least: int = _MINIMUM.get(name, 1)
    number: object = value
    if isinstance(number, bool) or not isinstance(number, int) or number < least:
        kind = "a positive integer" if least == 1 else f"an integer >= {least}"
        raise InvalidParameterError(
            f"setting {name!r} must be {kind}, received {value!r} (from {source})."
            f" The default is {default}."
        )
    return value


def _from_env(name: str) -> Any:
    raw = os.environ.get(_ENV_PREFIX + name.upper())
    if raw is None:
        return DEFAULTS[name]
    return _check(name, raw, f"the environment variable {_ENV_PREFIX}{name.upper()}")


def get_config() -> dict[str, Any]:
    """The limits in force now (a copy): defaults, then environment, then set, then context.

    Examples
    --------
    >>> sorted(get_config())  # doctest: +NORMALIZE_WHITESPACE
    ['allow_symlinks_outside', 'annotations_max_bytes', 'max_image_pixels', 'max_recipe_width',
     'train_cache_bytes', 'yaml_max_bytes', 'yaml_max_nodes']
    """
    out = {name: _from_env(name) for name in DEFAULTS}
    out.update(_global)
    for layer in getattr(_local, "stack", []):
        out.update(layer)
    return out


def set_config(**settings: Any) -> None:
    """Change limits for the rest of the process.

    Examples
    --------
    >>> set_config(max_image_pixels=80_000_000)
    >>> get_config()["max_image_pixels"]
    80000000
    >>> set_config(max_image_pixels=None)  # back to the default / environment
    >>> set_config(max_pixels=1)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: unknown datacentric setting 'max_pixels' ...
    """
    checked = {}
    for name, value in settings.items():
        if value is None:
            _check(name, DEFAULTS.get(name, 1), "set_config")
            _global.pop(name, None)
            continue
        checked[name] = _check(name, value, "set_config")
    _global.update(checked)


@contextmanager
def config_context(**settings: Any) -> Iterator[None]:
    """Change limits inside a ``with`` block (this thread only).

    Examples
    --------
    >>> with config_context(allow_symlinks_outside=True):
    ...     get_config()["allow_symlinks_outside"]
    True
    """
    layer = {name: _check(name, value, "config_context") for name, value in settings.items()}
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(layer)
    try:
        yield
    finally:
        stack.pop()
