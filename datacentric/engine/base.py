"""The execution layer's interface: an :class:`Engine` maps a module-level function over items.

Minimal stand-in written by the Ray engineer of issue 15, identical to the interface of the
brief; the engine engineer's ``base.py`` replaces it at merge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = ["Engine", "TaskResources"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class TaskResources:
    """What one task needs: CPUs and GPUs (fractions allowed, as Ray accepts)."""

    num_cpus: float = 1
    num_gpus: float = 0


class Engine(Protocol):
    """Runs ``fn(item)`` for every item and returns the results in input order."""

    name: str
    workers: int

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        desc: str = "",
        progress: bool = False,
        resources: TaskResources | None = None,
    ) -> list[R]:
        """Run ``fn`` over ``items``; results in input order."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...
