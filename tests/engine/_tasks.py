"""Module-level task functions and recipes for the engine tests (spawned workers import them)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError
from datacentric.train import Predictions


def square(x: int) -> int:
    time.sleep(0.01 * (5 - x % 5))  # later items finish first: order must still be kept
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise InvalidDatasetError(f"row {x} is bad: fix row {x}", rows=[x])
    return x


def value_error(x: int) -> int:
    raise ValueError(f"plain error {x}")


def worker_facts(_: int) -> dict[str, Any]:
    import multiprocessing

    torch = sys.modules.get("torch")
    return {
        "pid": os.getpid(),
        "start_method": multiprocessing.get_start_method(allow_none=True),
        "omp": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "main_file": getattr(sys.modules["__main__"], "__file__", None),
    }


FITS: list[int] = []  # seeds of the fits in this process (the resume test counts them)
FAIL_SEED: list[int] = []  # fit raises for these seeds (a simulated crash)


class CountingPrior:
    """Predicts its training class frequencies (plus a per-row feature as embedding)."""

    name = "counting_prior"

    def __init__(self, smoothing: float = 1.0) -> None:
        self.smoothing = smoothing
        self.prior: np.ndarray | None = None

    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> CountingPrior:
        if seed in FAIL_SEED:
            raise RuntimeError(f"simulated crash in the fold trained with seed {seed}")
        FITS.append(seed)
        y = ds.label_indices()
        counts = np.bincount(y[y >= 0], minlength=len(ds.classes)) + self.smoothing
        self.prior = counts / counts.sum()
        return self

    def predict(self, ds: Dataset, *, batch_size: int = 256) -> Predictions:
        assert self.prior is not None
        probs = np.tile(self.prior, (len(ds), 1))
        emb = ds.load_images(size=(4, 4), mode="L").reshape(len(ds), -1).astype(np.float32)
        return Predictions(ds.sample_ids, probs, emb * float(self.prior[0]), classes=ds.classes)

    def save(self, path: str | Path) -> None:  # pragma: no cover - protocol filler
        raise NotImplementedError

    def load(self, path: str | Path) -> CountingPrior:  # pragma: no cover
        raise NotImplementedError

    def clone(self) -> CountingPrior:
        return CountingPrior(self.smoothing)

    def get_params(self) -> dict[str, Any]:
        return {"smoothing": self.smoothing}


def setting(name: str) -> Any:
    """The value of a datacentric setting where the task runs."""
    from datacentric import get_config

    return get_config()[name]


def note_pid_and_wait(folder: str) -> int:
    """Write this worker's pid to ``folder`` and wait (the test kills the caller meanwhile)."""
    Path(folder, f"{os.getpid()}.pid").write_text("")
    time.sleep(120)
    return os.getpid()


def try_claim(poll_s: float) -> bool:
    """Whether a spare core could be claimed within ``poll_s`` seconds (then given back)."""
    from datacentric.engine.spare import claim_spare_core, release_spare_core

    deadline = time.monotonic() + poll_s
    while True:
        if claim_spare_core():
            release_spare_core()
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def claim_or_hold(item: tuple[str, str, int]) -> bool | None:
    """``("claim", folder, i)``: try a spare core once, then leave the mark ``i`` in
    ``folder``; ``("hold", folder, n)``: wait (up to 60 s) until ``n`` marks are there.

    Held tasks keep the map's tasks-left count up until every claimer has looked, whichever
    worker runs first (a barrier through files: the workers share no other state).
    """
    kind, folder, i = item
    if kind == "claim":
        got = try_claim(0.0)
        Path(folder, f"{i}.mark").write_text("")
        return got
    deadline = time.monotonic() + 60
    while len(list(Path(folder).glob("*.mark"))) < i and time.monotonic() < deadline:
        time.sleep(0.01)
    return None


class Stateful:
    """Counts its calls: ``(calls so far, item * 2, pid)``; raises at ``fail_at``."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, item: int) -> tuple[int, int, int]:
        if item == self.fail_at:
            raise InvalidDatasetError(f"item {item} is bad: fix item {item}", rows=[item])
        self.calls += 1
        time.sleep(0.002)
        return self.calls, item * 2, os.getpid()


class Handover:
    """Items ``0 .. n-1``, each delayed by ``delay`` s in the caller until :meth:`saw` is given
    the pid of another process: the helper then has seconds, not the few milliseconds of
    ``Stateful``'s items, to start before the caller reaches a given item, however loaded the
    machine (a test that needs the hand-over to happen before item k)."""

    def __init__(self, n: int, delay: float = 0.05) -> None:
        self.n = n
        self.delay = delay
        self.handed_over = False

    def __iter__(self) -> Iterator[int]:
        for i in range(self.n):
            if not self.handed_over:
                time.sleep(self.delay)
            yield i

    def saw(self, pid: int) -> None:
        if pid != os.getpid():
            self.handed_over = True


def items_failing_at(n: int, bad: int) -> Iterator[int]:
    for i in range(n):
        if i == bad:
            raise ValueError(f"no item {i}")
        yield i
