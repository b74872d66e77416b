"""`LocalEngine`: worker processes on this machine, one per core by default.

The workers are started with the ``spawn`` method (never ``fork``: a forked copy of a
process that already runs torch's or polars' threads can deadlock) and each runs with one
compute thread (``OMP_NUM_THREADS=1``, and ``torch.set_num_threads(1)`` when torch is
loaded), so N workers use N cores without oversubscribing them, and a task computes the
same bits in a worker as in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, TypeVar

from datacentric.config import config_context, get_config
from datacentric.engine import spare
from datacentric.engine.base import TaskResources, _check_workers, progress_bar
from datacentric.exceptions import EngineError, InvalidParameterError

__all__ = ["LocalEngine"]

T = TypeVar("T")
R = TypeVar("R")

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _init_worker(counts: Any = None) -> None:
    """Run once in each worker before its first task: one compute thread per worker, the
    engine's count of idle cores (:mod:`~datacentric.engine.spare`), and a watch on the
    parent so that the worker never outlives it."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    _one_torch_thread()
    spare._install(counts)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """End this worker when its parent is gone. A parent killed outright (SIGKILL, out of
    memory) cannot stop its pool: the workers would otherwise run on, each holding its
    memory, with no one to collect their results."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _one_torch_thread() -> None:
    """``torch.set_num_threads(1)`` when torch is loaded (never imports it: a task that does
    not use torch must not pay for loading it; torch loaded later reads OMP_NUM_THREADS)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def _call(payload: bytes) -> Any:
    """Run one task in a worker: ``payload`` is the pickled ``(fn, item, settings)``, the
    settings being the caller's :func:`~datacentric.get_config` (its limits hold in the
    worker too, ``config_context`` included)."""
    fn, item, settings = pickle.loads(payload)
    _one_torch_thread()
    with config_context(**settings):
        return fn(item)


@contextmanager
def _without_main_script(needed: bool) -> Iterator[None]:
    """Start workers that do not re-run the caller's script, unless a task needs it.

    A spawned worker normally imports the parent's ``__main__`` script first, so a script
    without an ``if __name__ == "__main__":`` guard would run again in every worker (and
    fail there). When no task refers to anything defined in ``__main__``, the workers are
    started while ``sys.modules["__main__"]`` is an empty module, so they skip it.
    """
    if needed:
        yield
        return
    real = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = real


class LocalEngine:
    """Runs tasks in worker processes on this machine.

    Parameters
    ----------
    workers : int, optional
        Worker processes (1 to 1024); default ``os.cpu_count()``. With one worker, or a
        single item, tasks run in this process (no process is started).

    Notes
    -----
    The pool starts at the first :meth:`map` that needs it and is reused by later ones
    until :meth:`close` (``with LocalEngine() as eng:`` closes it). Workers are started on
    demand, never more than there are items.

    Examples
    --------
    >>> with LocalEngine(workers=1) as eng:
    ...     eng.map(abs, [-2, 1])
    [2, 1]
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        _check_workers(workers, "LocalEngine")
        self.workers: int = int(workers) if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._pool_main = False  # whether its workers load the caller's __main__ script
        # [idle cores, cores claimed by tasks], shared with the workers (engine.spare)
        self._counts: Any = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool_main = False
            ctx = multiprocessing.get_context("spawn")
            self._counts = ctx.Array("i", 2)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(self._counts,),
            )
        return self._pool

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        desc: str = "",
        progress: bool = False,
        resources: TaskResources | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]``, computed by the worker processes.

        Results are in input order. A failing task stops the map: tasks not started yet are
        cancelled, running ones finish, and the exception of the first failed task in input
        order is raised here (the one the sequential engine would raise).

        The workers without a task (once fewer tasks are left than workers) are offered to
        the running tasks as spare cores (:mod:`datacentric.engine.spare`).
        """
        items = list(items)
        if self.workers == 1 or len(items) <= 1:
            from datacentric.engine.sequential import SequentialEngine

            # one task (or none) in this process: the other workers' cores are spare
            with spare.spare_cores(self.workers - 1):
                return SequentialEngine().map(fn, items, desc=desc, progress=progress)
        try:
            settings = get_config()
            payloads = [
                pickle.dumps((fn, item, settings), pickle.HIGHEST_PROTOCOL) for item in items
            ]
        except Exception as exc:  # PicklingError, AttributeError, TypeError ...
            raise InvalidParameterError(
                f"LocalEngine.map: the task {getattr(fn, '__qualname__', fn)!r} and its items "
                f"must be picklable to run in worker processes; pickling failed: {exc}. Use a "
                "module-level function and plain data, or engine='sequential'."
            ) from None
        needs_main = any(b"__main__" in p for p in payloads)
        if needs_main and self._pool is not None and not self._pool_main:
            self.close()  # its workers were started without the script; start new ones
        pool = self._executor()
        self._pool_main = self._pool_main or needs_main
        counts = self._counts
        spare.set_idle(counts, self.workers - len(items), reset_claims=True)
        with _without_main_script(self._pool_main):
            futures: list[Future[R]] = [pool.submit(_call, p) for p in payloads]
        try:
            with progress_bar(len(items), desc, progress) as advance:
                pending: set[Future[R]] = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    if any(f.exception() is not None for f in done):
                        break
                    # a worker without a task left: its core is spare for the running ones
                    spare.set_idle(counts, self.workers - len(pending))
                    for _ in done:
                        advance()
        finally:
            spare.set_idle(counts, 0)
            for fut in futures:
                fut.cancel()  # those not started yet
        # The first failing task in input order, as on the sequential engine: the tasks
        # before it have all started (the pool takes them in order), so wait for them.
        wait([f for f in futures if not f.cancelled()])
        for fut in futures:
            error = None if fut.cancelled() else fut.exception()
            if isinstance(error, BrokenProcessPool):
                self._pool = None  # unusable now; the next map starts a new one
                raise EngineError(
                    f"a worker process of the local engine died while running "
                    f"{desc or getattr(fn, '__name__', 'a task')} (killed, or out of "
                    f"memory?, or a script without an `if __name__ == '__main__':` "
                    f"guard); {self.workers} workers were running. Retry with fewer "
                    "workers (--workers), free memory, or add the guard."
                ) from None
            if error is not None:
                raise error
        return [f.result() for f in futures]

    def close(self) -> None:
        """Stop the worker processes (waits for running tasks)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() must not leave processes behind
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"LocalEngine(workers={self.workers})"
