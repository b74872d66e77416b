"""Ingest plumbing: the result of an ingest, batch-id conflicts, phase timings, the insert
thread and the crash hook used by the tests."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from datacentric.exceptions import BatchConflictError
from datacentric.monitor.alerts import ALERTS_SCHEMA

__all__ = ["CRASH_ENV", "BatchConflictError", "IngestResult"]


#: Test hook: ``after_rows`` or ``before_commit`` makes ingest exit the process (``os._exit``)
#: at that point, inside the open transaction, to prove that a crash leaves no half batch.
CRASH_ENV = "DATACENTRIC_MONITOR_CRASH_AT"


@dataclass
class IngestResult:
    """What one :meth:`Monitor.ingest` did.

    Attributes
    ----------
    batch_id : str
    status : str
        ``"ingested"``, or ``"skipped"`` when the same batch was already in the store.
    n_rows : int
    windows : list of datetime
        The windows the batch touched (their statistics and alerts were recomputed).
    alerts : polars.DataFrame
        The alerts of those windows after the ingest.
    seconds : float
    timings : dict
        Seconds per phase: validate, hash, histograms, rows_insert_wait, statistics, commit
        on the calling thread, and rows_stage, rows_duplicate_check, rows_insert on the
        thread that stores the rows while the histograms are computed.
    """

    batch_id: str
    status: str
    n_rows: int
    windows: list[dt.datetime] = field(default_factory=list)
    alerts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ALERTS_SCHEMA))
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class _Clock:
    """Seconds per phase of an ingest (``IngestResult.timings``)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.last, 4)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


class _Background:
    """Run ``fn(*args)`` on a thread; :meth:`join` waits and re-raises its exception."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn(*args)
            except BaseException as exc:  # re-raised in the caller's thread by join()
                self._error = exc

        self._thread = threading.Thread(target=run, name="datacentric-monitor-insert")
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _crash_hook(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        os._exit(86)


#: SQL condition on ``window_start`` with one parameter: :func:`_window_param` of the windows.
IN_WINDOWS = "window_start IN (SELECT unnest(?::TIMESTAMP[]))"


def _window_param(windows: Sequence[dt.datetime]) -> list[dt.datetime]:
    """The parameter of :data:`IN_WINDOWS` (naive timestamps, as the store keeps them)."""
    return [w.replace(tzinfo=None) for w in windows]
