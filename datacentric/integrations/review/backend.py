"""The ``ReviewBackend`` protocol and the registry of backends.

A review backend sends samples that need a human to a review tool and brings the verdicts
back as a new dataset version with lineage. Label Studio and FiftyOne are the two built in;
a third is one module: a class with ``name``, ``push_options``, ``pull_options``, ``push``
and ``pull``, registered with :func:`register_backend` (see ``docs/review-backends.md``).

Built-in backends are registered by name and imported on first use, so importing this module
imports neither integration.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, Union, runtime_checkable

from datacentric.exceptions import IntegrationError, InvalidParameterError
from datacentric.integrations.review.results import PullResult, PushResult

if TYPE_CHECKING:
    import polars as pl

    from datacentric.dataset import Dataset
    from datacentric.issues.result import ScanResult
    from datacentric.train.recipe import Predictions

__all__ = [
    "REGISTRY",
    "BackendRegistry",
    "ReviewBackend",
    "ReviewItems",
    "check_options",
    "get_backend",
    "pull",
    "push",
    "register_backend",
]

ReviewItems = Union["pl.DataFrame", "ScanResult", None]
"""What to review: an IssueTable, a ScanResult, or ``None`` for the backend's default."""

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_MEMBERS = ("name", "push_options", "pull_options", "push", "pull")
B = TypeVar("B")


@runtime_checkable
class ReviewBackend(Protocol):
    """A review tool that takes samples to review and gives verdicts back.

    Attributes
    ----------
    name : str
        Registry name, used by ``datacentric review push --to NAME`` / ``pull --from NAME``.
    push_options, pull_options : Mapping[str, str]
        The backend-specific keyword arguments of :meth:`push` / :meth:`pull`, each with a
        one-line description; anything else is refused before the backend is called.
    """

    name: str
    push_options: Mapping[str, str]
    pull_options: Mapping[str, str]

    def push(
        self,
        ds: Dataset | str | Path,
        items: ReviewItems = None,
        *,
        target: str | None = None,
        predictions: Predictions | None = None,
        **options: Any,
    ) -> PushResult:
        """Send ``items`` of ``ds`` for review to ``target`` (created if missing).

        Pushing the same items again must create nothing twice; ``items=None`` means the
        backend's default (e.g. the last loop's review queue).
        """
        ...

    def pull(
        self,
        ds: Dataset | str | Path,
        *,
        target: str | None = None,
        commit: bool = True,
        message: str | None = None,
        **options: Any,
    ) -> PullResult:
        """Apply the verdicts of ``target`` to ``ds``, committed as one new version.

        Pulling again must apply nothing twice (``already_applied`` counts what was skipped).
        """
        ...


_BUILTIN = {
    "labelstudio": "datacentric.integrations.labelstudio.backend:LabelStudioBackend",
    "fiftyone": "datacentric.integrations.fiftyone.backend:FiftyOneBackend",
}


class BackendRegistry:
    """Name → review backend. Built-ins are imported on first :meth:`get`.

    Examples
    --------
    >>> reg = BackendRegistry({})
    >>> class Memory:
    ...     name = "memory"
    ...     push_options = pull_options = {}
    ...     def push(self, ds, items=None, **kw): ...
    ...     def pull(self, ds, **kw): ...
    >>> with reg.scoped():
    ...     _ = reg.register(Memory)
    ...     reg.names()
    ['memory']
    >>> reg.names()
    []
    """

    def __init__(self, builtin: Mapping[str, str] | None = None) -> None:
        # name → backend, or "module:attr" of a built-in not imported yet
        self._entries: dict[str, ReviewBackend | str] = dict(
            _BUILTIN if builtin is None else builtin
        )

    def register(self, backend: B, *, replace: bool = False) -> B:
        """Register a backend instance, or a class (instantiated without arguments).

        Returns what it was given, so it also works as a class decorator.
        """
        obj: Any = backend() if isinstance(backend, type) else backend
        missing = [m for m in _MEMBERS if not hasattr(obj, m)]
        if missing:
            raise InvalidParameterError(
                f"{type(obj).__qualname__} is not a review backend: it lacks {missing}. A "
                f"backend has {list(_MEMBERS)} (see datacentric.integrations.review)."
            )
        name = obj.name
        if not (isinstance(name, str) and _NAME.match(name)):
            raise InvalidParameterError(
                f"review backend {type(obj).__qualname__} must have a lower-case name "
                f"(letters, digits, '-', '_'); received {name!r}."
            )
        current = self._entries.get(name)
        if current is not None and type(current) is not type(obj) and not replace:
            raise InvalidParameterError(
                f"a review backend named {name!r} is already registered; choose another name, "
                "or pass replace=True."
            )
        self._entries[name] = obj
        return backend

    def get(self, name: str) -> ReviewBackend:
        """The backend registered under ``name`` (a built-in is imported now)."""
        entry = self._entries.get(name)
        if entry is None:
            raise InvalidParameterError(
                f"no review backend named {name!r}; the registered backends are "
                f"{self.names()}. Add one with register_backend()."
            )
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = self._entries[name] = getattr(importlib.import_module(module), attr)()
        return entry

    def names(self) -> list[str]:
        """Registered backend names, built-ins first."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    @contextlib.contextmanager
    def scoped(self) -> Iterator[BackendRegistry]:
        """Registrations made inside are undone on exit (for tests)."""
        saved = dict(self._entries)
        try:
            yield self
        finally:
            self._entries = saved


REGISTRY = BackendRegistry()


def register_backend(backend: B, *, replace: bool = False) -> B:
    """Register a review backend (instance or class) in the default :data:`REGISTRY`."""
    return REGISTRY.register(backend, replace=replace)


def get_backend(name: str) -> ReviewBackend:
    """The review backend registered as ``name`` in the default :data:`REGISTRY`.

    Examples
    --------
    >>> get_backend("labelstudio").name
    'labelstudio'
    >>> get_backend("paper")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: no review backend named 'paper'; ...
    """
    return REGISTRY.get(name)


def check_options(backend: ReviewBackend, verb: str, options: Mapping[str, Any]) -> None:
    """Refuse options that ``backend``'s ``verb`` (``"push"`` or ``"pull"``) does not take.

    Examples
    --------
    >>> check_options(get_backend("fiftyone"), "pull", {"guide": "g.md"})
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: the fiftyone backend's pull takes no ...
    """
    known = backend.push_options if verb == "push" else backend.pull_options
    unknown = [k for k in options if k not in known]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise InvalidParameterError(
            f"the {backend.name} backend's {verb} takes no option {names}; its {verb} options "
            f"are {sorted(known)}."
        )


def push(
    ds: Dataset | str | Path,
    items: ReviewItems = None,
    *,
    backend: str,
    target: str | None = None,
    predictions: Predictions | None = None,
    **options: Any,
) -> PushResult:
    """Push ``items`` of ``ds`` to the review backend named ``backend``.

    ``options`` are the backend's own (its ``push_options``); others are refused.
    """
    b = get_backend(backend)
    check_options(b, "push", options)
    result = b.push(ds, items, target=target, predictions=predictions, **options)
    return _checked(b, "push", result, PushResult)


def pull(
    ds: Dataset | str | Path,
    *,
    backend: str,
    target: str | None = None,
    commit: bool = True,
    message: str | None = None,
    **options: Any,
) -> PullResult:
    """Pull the verdicts of the review backend named ``backend`` into ``ds``."""
    b = get_backend(backend)
    check_options(b, "pull", options)
    result = b.pull(ds, target=target, commit=commit, message=message, **options)
    return _checked(b, "pull", result, PullResult)


R = TypeVar("R")


def _checked(backend: ReviewBackend, verb: str, result: Any, cls: type[R]) -> R:
    if not isinstance(result, cls):
        raise IntegrationError(
            f"the {backend.name} review backend's {verb} returned {type(result).__name__}, not "
            f"a {cls.__module__}.{cls.__name__}; fix the backend ({type(backend).__module__})."
        )
    return result
