"""Spare cores: a running task may borrow a core that no task of its engine uses right now.

With 5 cross-validation folds on 2 workers, the third round has one fold and one idle
worker, and on a machine with more cores than folds some cores idle from the start. A task
can use such a core for work that is *off its critical path and does not change its
result*: :func:`map_on_spare_core` maps a function over an iterator in order, in the
calling thread, and as soon as it can claim a spare core it starts a helper process there
and hands it the rest of the work (the function, pickled with its state at that moment,
then the remaining items), the caller working on the results as they come back. The
function is called on the same items in the same order either way, so the task computes
the same bits. (A process, not a thread: image augmentation is mostly Python, and a
thread would share the GIL with the caller's own Python.)

Who has spare cores:

- a worker of the :class:`~datacentric.engine.LocalEngine`: ``workers`` minus the tasks
  still running or waiting (the engine updates the count, shared with its workers, as tasks
  finish), less the cores other tasks have claimed already;
- a task the local engine runs in the calling process (one item, or a re-run that has one
  fold left): ``workers - 1``;
- nobody else: the sequential engine uses one core by definition, and a Ray task has the
  CPUs it asked the cluster for (:class:`~datacentric.engine.TaskResources`).

>>> list(map_on_spare_core(abs, [-1, 2, -3]))  # no engine here: in this thread
[1, 2, 3]
>>> with spare_cores(1):
...     claim_spare_core(), claim_spare_core()
(True, False)
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Protocol, TypeVar

__all__ = ["claim_spare_core", "map_on_spare_core", "release_spare_core", "spare_cores"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class _Counts(Protocol):
    """``[idle, claimed]`` with a lock: a ``multiprocessing.Array`` or :class:`_LocalCounts`."""

    def get_lock(self) -> Any: ...

    def __getitem__(self, i: int) -> int: ...

    def __setitem__(self, i: int, value: int) -> None: ...


class _LocalCounts:
    """The counts of one process (a task the local engine runs in the calling process)."""

    def __init__(self, idle: int) -> None:
        self._values = [max(0, int(idle)), 0]
        self._lock = threading.Lock()

    def get_lock(self) -> threading.Lock:
        return self._lock

    def __getitem__(self, i: int) -> int:
        return self._values[i]

    def __setitem__(self, i: int, value: int) -> None:
        self._values[i] = value


#: This process's counts: set in a local engine's worker (its initializer) or, for the
#: duration of :func:`spare_cores`, in the calling process; ``None``: no spare core.
_COUNTS: _Counts | None = None


def _install(counts: _Counts | None) -> None:
    """Make ``counts`` this process's spare-core counts (a local engine's worker initializer)."""
    global _COUNTS
    _COUNTS = counts


def set_idle(counts: _Counts, idle: int, *, reset_claims: bool = False) -> None:
    """The engine's side: ``idle`` cores have no task now (``reset_claims``: no task runs,
    so no claim is held)."""
    with counts.get_lock():
        counts[0] = max(0, int(idle))
        if reset_claims:
            counts[1] = 0


@contextmanager
def spare_cores(idle: int) -> Iterator[None]:
    """Offer ``idle`` spare cores to the tasks run in this process inside the block.

    The local engine uses it when it runs a task in the calling process, with its other
    ``workers - 1`` cores free. An outer offer (a worker's) is restored on exit.
    """
    global _COUNTS
    outer = _COUNTS
    _COUNTS = _LocalCounts(idle)
    try:
        yield
    finally:
        _COUNTS = outer


def claim_spare_core() -> bool:
    """Claim a core that no task of this process's engine uses now; ``False`` when none is.

    A claim is held until :func:`release_spare_core`. Cheap (one lock), so a task may ask
    before every batch.
    """
    counts = _COUNTS
    if counts is None:
        return False
    with counts.get_lock():
        if counts[1] < counts[0]:
            counts[1] = counts[1] + 1
            return True
    return False


def release_spare_core() -> None:
    """Give back a core taken by :func:`claim_spare_core`."""
    counts = _COUNTS
    if counts is None:
        return
    with counts.get_lock():
        counts[1] = max(0, counts[1] - 1)


def map_on_spare_core(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    total: int | None = None,
    min_left: int = 0,
    ahead: int = 4,
) -> Generator[R, None, None]:
    """Yield ``fn(item)`` for each item in order; on a spare core once one is free.

    Until :func:`claim_spare_core` succeeds (asked before each item), ``fn`` runs in the
    calling thread as the caller pulls each result. Once a core is claimed, a helper process
    starts on it (importing what ``fn`` needs takes it a few seconds, during which the
    caller goes on in its own thread); when it is ready, ``fn`` is pickled with its state of
    that moment and sent to it, and the helper calls it on the remaining items one after
    another, up to ``ahead`` items ahead of the caller. The core is given back, and the
    helper stopped, when the iterator is exhausted or closed. ``fn`` is called on the same
    items in the same order either way, so a stateful ``fn`` (a seeded augmentation) gives
    the same results. An exception raised by ``fn`` or by ``items`` is raised to the caller
    at the item where it happened. A ``fn`` that cannot be pickled always runs here.

    Parameters
    ----------
    fn : callable
        Picklable (a module-level function or an instance of a module-level class) to run
        in the helper; its result and the items must be picklable too.
    items : iterable
    total : int, optional
        How many items there are; with ``min_left``, no core is claimed once fewer than
        ``min_left`` items are left (a helper is not worth starting for a few).
    min_left : int, default 0
        See ``total``.
    ahead : int, default 4
        Items sent to the helper before their results are taken.

    Examples
    --------
    >>> with spare_cores(1):  # not worth a helper for 4 items: here
    ...     list(map_on_spare_core(abs, [-1, 2, -3, 4], total=4, min_left=100))
    [1, 2, 3, 4]
    """
    it = iter(items)
    done = 0
    claimed = tried = False
    helper: _Helper | None = None
    try:
        while True:
            if not tried and (total is None or total - done >= min_left):
                claimed = tried = claim_spare_core()
                helper = _Helper.start(fn) if claimed else None
            if helper is not None and helper.ready():
                break
            if claimed and (helper is None or helper.broken):  # go on without it
                if helper is not None:
                    helper.close()
                helper, claimed = None, False
                release_spare_core()
            try:
                item = next(it)
            except StopIteration:
                return
            yield fn(item)
            done += 1
        logger.debug("spare core: items %d and after run in a helper process", done)
        yield from helper.run(fn, it, max(1, int(ahead)))
    finally:
        if helper is not None:
            helper.close()
        if claimed:
            release_spare_core()


class _Helper:
    """A helper process that runs ``fn`` over items sent through a pipe."""

    def __init__(self, process: Any, send: Any, recv: Any) -> None:
        self._process = process
        self._send = send  # items to the helper
        self._recv = recv  # results from it
        self._ready = False
        self.broken = False

    @classmethod
    def start(cls, fn: Callable[..., Any]) -> _Helper | None:
        """Start a helper that imports what ``fn`` needs; ``None`` if ``fn`` cannot travel."""
        try:
            warm = pickle.dumps(fn, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # PicklingError, AttributeError, TypeError ...
            logger.debug("spare core unused: %r cannot be pickled (%s)", fn, exc)
            return None
        from datacentric.engine.local import _without_main_script

        ctx = multiprocessing.get_context("spawn")
        items_out, items_in = ctx.Pipe(duplex=False)  # (receiving end, sending end)
        results_out, results_in = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_helper_main,
            args=(items_out, results_in),
            name="datacentric-spare-core",
            daemon=True,
        )
        try:
            with _without_main_script(False):
                process.start()
        except Exception as exc:  # out of processes or memory: go on without it
            logger.debug("spare core unused: the helper did not start (%s)", exc)
            return None
        items_out.close()
        results_in.close()
        helper = cls(process, items_in, results_out)
        try:
            items_in.send_bytes(warm)  # the helper imports fn's modules while we go on
        except OSError:
            helper.close()
            return None
        return helper

    def ready(self) -> bool:
        """Whether the helper has imported what ``fn`` needs (never blocks)."""
        if not self._ready and not self.broken:
            try:
                if self._recv.poll():
                    self._ready = pickle.loads(self._recv.recv_bytes()) == "ready"
                    self.broken = not self._ready
            except (OSError, EOFError):
                self.broken = True
        return self._ready

    def run(self, fn: Callable[[T], R], it: Iterator[T], ahead: int) -> Iterator[R]:
        """``fn`` (its state of now) over the rest of ``it``, in the helper, in order."""
        window = threading.Semaphore(ahead)
        stop = threading.Event()
        failed: list[BaseException] = []

        def feed() -> None:
            try:
                self._send.send_bytes(pickle.dumps(fn, pickle.HIGHEST_PROTOCOL))
                for item in it:
                    while not window.acquire(timeout=0.1):
                        if stop.is_set():
                            return
                    if stop.is_set():
                        return
                    self._send.send_bytes(pickle.dumps(item, pickle.HIGHEST_PROTOCOL))
            except BaseException as exc:  # raised to the caller after the items before it
                failed.append(exc)
            if not stop.is_set():
                with suppress(OSError):
                    self._send.send_bytes(b"")  # end of the items

        feeder = threading.Thread(target=feed, name="datacentric-spare-feed", daemon=True)
        feeder.start()
        try:
            while True:
                try:
                    kind, value = pickle.loads(self._recv.recv_bytes())
                except (OSError, EOFError):
                    feeder.join()
                    if failed and not isinstance(failed[0], OSError):
                        raise failed[0] from None
                    from datacentric.exceptions import EngineError

                    raise EngineError(
                        "a helper process on a spare core died (killed, or out of memory?) "
                        "during cross-validation; run again (finished folds are cached), or "
                        "with --engine sequential."
                    ) from None
                if kind == "error":
                    raise value
                if kind == "end":
                    feeder.join()
                    if failed:
                        raise failed[0]
                    return
                window.release()
                yield value
        finally:
            stop.set()
            if feeder.is_alive():  # stopped early: the helper may wait on a full pipe
                self._process.terminate()
            feeder.join()

    def close(self) -> None:
        """Stop the helper (it ends when its pipe closes)."""
        for conn in (self._send, self._recv):
            conn.close()
        if not self._ready:  # still importing: no need to wait for that
            self._process.terminate()
        self._process.join(timeout=5)
        if self._process.is_alive():  # pragma: no cover - it exits on the closed pipe
            self._process.terminate()
            self._process.join()


def _helper_main(items: Any, results: Any) -> None:
    """The helper process: import ``fn``'s modules, then ``fn`` over the items it is sent.

    Messages in: the warm-up ``fn``, the ``fn`` to use, then one item each, then ``b""``.
    Messages out: ``"ready"`` (or ``"failed"``), then ``("result", value)`` per item or
    ``("error", exc)``, then ``("end", None)``. It ends when its pipe closes (its parent
    gone included).
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        try:
            pickle.loads(items.recv_bytes())  # imports what fn needs
        except (EOFError, OSError):
            raise
        except Exception:
            results.send_bytes(pickle.dumps("failed"))
            return
        results.send_bytes(pickle.dumps("ready"))
        fn = pickle.loads(items.recv_bytes())
        while True:
            data = items.recv_bytes()
            if not data:
                results.send_bytes(pickle.dumps(("end", None)))
                return
            try:
                payload = pickle.dumps(("result", fn(pickle.loads(data))), pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # raised in the caller, at this item
                try:
                    payload = pickle.dumps(("error", exc), pickle.HIGHEST_PROTOCOL)
                except Exception:
                    payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
                results.send_bytes(payload)
                return
            results.send_bytes(payload)
    except (EOFError, OSError, KeyboardInterrupt):
        return
