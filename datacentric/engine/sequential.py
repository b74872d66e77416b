"""`SequentialEngine`: every task in this process, one after another."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from datacentric.engine.base import TaskResources, progress_bar

__all__ = ["SequentialEngine"]

T = TypeVar("T")
R = TypeVar("R")


class SequentialEngine:
    """Runs the tasks in the calling process, in order (the behaviour before engines).

    Examples
    --------
    >>> with SequentialEngine() as eng:
    ...     eng.map(str.upper, ["a", "b"])
    ['A', 'B']
    """

    name = "sequential"
    workers = 1

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        desc: str = "",
        progress: bool = False,
        resources: TaskResources | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]``, with one progress bar when ``progress``."""
        out: list[R] = []
        with progress_bar(len(items), desc, progress) as advance:
            for item in items:
                out.append(fn(item))
                advance()
        return out

    def close(self) -> None:
        """Nothing to stop."""

    def __enter__(self) -> SequentialEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "SequentialEngine()"
