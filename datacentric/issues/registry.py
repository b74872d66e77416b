"""The registry of issue finders: a decorator to register, a scope for tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

from datacentric.exceptions import InvalidParameterError
from datacentric.issues.base import REQUIREMENTS, IssueFinder

__all__ = ["REGISTRY", "FinderRegistry", "register_finder"]

F = TypeVar("F", bound=type[IssueFinder])


class FinderRegistry:
    """Name → finder class. ``scoped()`` gives tests a registry they can change freely.

    Examples
    --------
    >>> reg = FinderRegistry()
    >>> with reg.scoped() as r:
    ...     "label" in r.names()
    False
    """

    def __init__(self) -> None:
        self._finders: dict[str, type[IssueFinder]] = {}

    def register(self, cls: F) -> F:
        """Register a finder class (checks its declared name and requirements)."""
        if not cls.name or not cls.name.isidentifier():
            raise InvalidParameterError(
                f"finder {cls.__name__} must declare name = '<identifier>', received {cls.name!r}."
            )
        unknown = set(cls.requires) - REQUIREMENTS
        if unknown:
            raise InvalidParameterError(
                f"finder {cls.name!r} requires unknown input(s) {sorted(unknown)}; valid "
                f"requirements are {sorted(REQUIREMENTS)}."
            )
        existing = self._finders.get(cls.name)
        if existing is not None and existing is not cls:
            raise InvalidParameterError(
                f"a finder named {cls.name!r} is already registered ({existing.__module__}."
                f"{existing.__qualname__}); choose another name or use registry.scoped()."
            )
        self._finders[cls.name] = cls
        return cls

    def get(self, name: str) -> type[IssueFinder]:
        """The finder class registered under ``name``."""
        try:
            return self._finders[name]
        except KeyError:
            raise InvalidParameterError(
                f"no issue finder named {name!r}; available finders are {self.names()}."
            ) from None

    def names(self) -> list[str]:
        """Registered finder names, in registration order."""
        return list(self._finders)

    def __contains__(self, name: object) -> bool:
        return name in self._finders

    @contextlib.contextmanager
    def scoped(self) -> Iterator[FinderRegistry]:
        """Temporarily work on a copy; registrations inside are undone on exit."""
        saved = dict(self._finders)
        try:
            yield self
        finally:
            self._finders = saved


REGISTRY = FinderRegistry()


def register_finder(cls: F) -> F:
    """Class decorator registering a finder in the default :data:`REGISTRY`."""
    return REGISTRY.register(cls)
