"""Import optional heavy dependencies lazily, with an error that names the pip extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from datacentric.exceptions import MissingDependencyError

__all__ = ["import_optional"]


def import_optional(module: str, extra: str | None = None, purpose: str = "") -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming how to install it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"fiftyone"``.
    extra : str, optional
        The ``datacentric`` pip extra that provides it, e.g. ``"fiftyone"``.
    purpose : str, optional
        What the module is needed for, used in the message.

    Examples
    --------
    >>> import_optional("json").__name__
    'json'
    >>> import_optional("no_such_module_xyz", extra="demo")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.MissingDependencyError: ...pip install 'datacentric[demo]'...
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        fix = f"pip install 'datacentric[{extra}]'" if extra else f"pip install {top}"
        need = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"The optional dependency {top!r} is needed{need} but could not be imported "
            f"({exc}). Install it with: {fix}"
        ) from exc
