"""The engine interface: :class:`Engine`, :class:`TaskResources` and :func:`get_engine`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Protocol, TypeVar, runtime_checkable

from datacentric._validation import Interval, check_params
from datacentric.exceptions import InvalidParameterError, MissingDependencyError

__all__ = ["ENGINES", "MAX_LOCAL_WORKERS", "Engine", "TaskResources", "get_engine", "progress_bar"]

T = TypeVar("T")
R = TypeVar("R")

#: The engine names :func:`get_engine` accepts.
ENGINES = ("local", "sequential", "ray")
#: The most worker processes one machine's engine starts (a typo must not fork 10^6 processes).
MAX_LOCAL_WORKERS = 1024


@dataclass(frozen=True)
class TaskResources:
    """What one task needs; the Ray engine schedules by it, the others ignore it.

    Examples
    --------
    >>> TaskResources(num_gpus=1)
    TaskResources(num_cpus=1, num_gpus=1)
    """

    num_cpus: float = 1
    num_gpus: float = 0

    def __post_init__(self) -> None:
        check_params(
            "TaskResources",
            {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            {
                "num_cpus": [Interval(Real, 0, None, closed="neither")],
                "num_gpus": [Interval(Real, 0, None, closed="left")],
            },
            {"num_cpus": 1, "num_gpus": 0},
        )


@runtime_checkable
class Engine(Protocol):
    """Runs one function over many items and returns the results in input order.

    ``fn`` must be a module-level function and the items picklable (the local and Ray
    engines send both to other processes); an exception raised by a task is re-raised in
    the caller unchanged (a :class:`~datacentric.exceptions.DatacentricError` keeps its
    one-line message). Use an engine as a context manager, or call :meth:`close`.
    """

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
        """``[fn(item) for item in items]``, computed by the engine's workers."""
        ...

    def close(self) -> None:
        """Stop the workers (an engine can still be used after: it starts new ones)."""
        ...

    def __enter__(self) -> Engine: ...

    def __exit__(self, *exc: object) -> None: ...


def _check_workers(workers: object, owner: str) -> None:
    check_params(
        owner,
        {"workers": workers},
        {"workers": [Interval(Integral, 1, MAX_LOCAL_WORKERS), None]},
        fix=f"Pass e.g. workers=2, or leave it out to use every core ({os.cpu_count() or 1} here).",
    )


def get_engine(
    engine: str | Engine | None = None,
    *,
    workers: int | None = None,
    address: str | None = None,
) -> Engine:
    """The engine named by ``engine``, ready to :meth:`~Engine.map` tasks.

    Parameters
    ----------
    engine : {"local", "sequential", "ray"}, Engine or None
        ``None`` or ``"local"``: worker processes on this machine, one per core by default
        (:class:`~datacentric.engine.LocalEngine`). ``"sequential"``: one task after
        another in this process. ``"ray"``: a Ray cluster (``pip install
        'datacentric[ray]'``). An engine object is returned as it is.
    workers : int, optional
        Parallel task slots (``1`` to ``1024``); default: every core of this machine (local),
        or the cluster's CPUs (ray). Not used by ``"sequential"``.
    address : str, optional
        The Ray cluster to join (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``); only with
        ``engine="ray"`` (default: a local Ray started on the spot).

    Raises
    ------
    InvalidParameterError
        For an unknown engine name, a bad ``workers``, or an ``address`` without Ray.
    MissingDependencyError
        For ``engine="ray"`` when Ray is not installed.

    Examples
    --------
    >>> get_engine("sequential").name
    'sequential'
    >>> get_engine("local", workers=2).workers
    2
    >>> get_engine("spark")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: get_engine: parameter engine must be one of ...
    """
    if isinstance(engine, Engine) and not isinstance(engine, (str, type)):
        if workers is not None or address is not None:
            raise InvalidParameterError(
                f"get_engine: workers and address configure a new engine; received an engine "
                f"object ({engine.name}) and workers={workers!r}, address={address!r}. Pass "
                "either the engine object or its name with workers/address."
            )
        return engine
    if engine is not None and (not isinstance(engine, str) or engine not in ENGINES):
        raise InvalidParameterError(
            f"get_engine: parameter engine must be one of {', '.join(map(repr, ENGINES))}, "
            f"an Engine or None; received {engine!r} ({type(engine).__name__}). Pass e.g. "
            "engine='local' (the default: every core of this machine).",
            parameter="engine",
            owner="get_engine",
        )
    _check_workers(workers, "get_engine")
    name = engine or "local"
    if address is not None and name != "ray":
        raise InvalidParameterError(
            f"get_engine: address names a Ray cluster and is only used with engine='ray'; "
            f"received address={address!r} with engine={name!r}. Pass engine='ray' (CLI: "
            "--engine ray), or leave the address out.",
            parameter="address",
            owner="get_engine",
        )
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise InvalidParameterError(
            f"get_engine: parameter address must be HOST:PORT, ray://HOST:PORT or 'auto'; "
            f"received {address!r}. Pass e.g. address='10.0.0.1:6379'.",
            parameter="address",
            owner="get_engine",
        )
    if name == "sequential":
        from datacentric.engine.sequential import SequentialEngine

        return SequentialEngine()
    if name == "local":
        from datacentric.engine.local import LocalEngine

        return LocalEngine(workers=workers)
    return _ray_engine(workers=workers, address=address)


def _ray_engine(*, workers: int | None, address: str | None) -> Engine:
    """A ``datacentric.engine.ray.RayEngine`` (imported here: Ray is an optional extra)."""
    engine: Engine = ray_engine_class()(address=address, workers=workers)
    return engine


def ray_engine_class() -> Any:
    """``datacentric.engine.ray.RayEngine``, after checking that Ray can be used (it is not
    started): :class:`MissingDependencyError` naming the extra otherwise."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise MissingDependencyError(
            "engine='ray' needs the optional dependency 'ray', which is not installed. "
            "Install it with: pip install 'datacentric[ray]' (or use --engine local)."
        )
    try:
        ray_module = importlib.import_module("datacentric.engine.ray")
    except ModuleNotFoundError as exc:
        if exc.name == "ray":
            raise MissingDependencyError(
                "engine='ray' needs the optional dependency 'ray', which is not installed. "
                "Install it with: pip install 'datacentric[ray]' (or use --engine local)."
            ) from None
        raise MissingDependencyError(
            "engine='ray' is not available in this installation of datacentric (no "
            "datacentric.engine.ray module). Use engine='local' (every core of this machine), "
            "or install a datacentric with Ray support: pip install 'datacentric[ray]'."
        ) from None
    return ray_module.RayEngine


@contextmanager
def progress_bar(total: int, desc: str, show: bool) -> Iterator[Callable[[], None]]:
    """Yield ``advance()``; one rich progress bar of items done when ``show``."""
    if not show or total <= 0:
        yield lambda: None
        return
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{escape(desc or 'tasks')}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task(desc or "tasks", total=total)
        yield lambda: bar.update(task, advance=1)


def describe_engine(engine: Any) -> str:
    """``"local (2 workers)"``: an engine's name and size, for logs and results."""
    return f"{engine.name} ({engine.workers} worker{'s' if engine.workers != 1 else ''})"
