"""Spare cores: the local engine offers the cores of its idle workers to the running tasks,
and map_on_spare_core hands the rest of an in-order map to a helper process there, with the
same results (a stateful function continues from its state), errors raised at their item,
and nothing left running."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from datacentric import Dataset
from datacentric.engine import LocalEngine, SequentialEngine, spare
from datacentric.engine.spare import (
    claim_spare_core,
    map_on_spare_core,
    release_spare_core,
    spare_cores,
)
from datacentric.exceptions import InvalidDatasetError
from datacentric.train import SmallCNNRecipe, _torch_recipe
from tests.engine import _tasks


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEngine]:
    with LocalEngine(workers=2) as eng:
        yield eng


def _no_helper_left() -> bool:
    return not [p for p in multiprocessing.active_children() if p.name.startswith("datacentric")]


def test_no_engine_no_spare_core() -> None:
    assert claim_spare_core() is False
    fn = _tasks.Stateful()
    out = list(map_on_spare_core(fn, range(5)))
    assert out == [(i + 1, 2 * i, os.getpid()) for i in range(5)]


def test_spare_cores_are_claimed_once_each() -> None:
    with spare_cores(2):
        assert [claim_spare_core() for _ in range(3)] == [True, True, False]
        release_spare_core()
        assert claim_spare_core() is True
    assert claim_spare_core() is False  # the offer ends with the block


def test_the_rest_of_the_map_runs_in_a_helper_process_with_the_state_of_then() -> None:
    fn = _tasks.Stateful()
    items = _tasks.Handover(400)  # the caller waits for the helper: no race on a busy machine
    out = []
    with spare_cores(1):
        for r in map_on_spare_core(fn, items, ahead=3):
            out.append(r)
            items.saw(r[2])
        assert claim_spare_core() is True  # given back at the end
        release_spare_core()
    # the counter goes on across the hand-over: the same calls in the same order
    assert [c for c, _, _ in out] == list(range(1, 401))
    assert [v for _, v, _ in out] == [2 * i for i in range(400)]
    pids = [p for _, _, p in out]
    assert pids[0] == os.getpid() and pids[-1] != os.getpid()  # handed over, once
    first = next(i for i, p in enumerate(pids) if p != os.getpid())
    assert set(pids[first:]) == {pids[-1]}
    assert _no_helper_left()


def test_a_small_map_does_not_start_a_helper() -> None:
    fn = _tasks.Stateful()
    with spare_cores(1):
        out = list(map_on_spare_core(fn, range(50), total=50, min_left=100))
    assert {p for _, _, p in out} == {os.getpid()}


def test_an_unpicklable_function_runs_here_and_gives_the_core_back() -> None:
    with spare_cores(1):
        assert list(map_on_spare_core(lambda x: x + 1, range(3))) == [1, 2, 3]
        assert claim_spare_core() is True


def test_an_error_in_the_helper_is_raised_at_its_item(monkeypatch: pytest.MonkeyPatch) -> None:
    fn = _tasks.Stateful(fail_at=300)
    items = _tasks.Handover(400)  # the helper has ~15 s to start before item 300, not 0.6 s
    got: list[int] = []
    pids: set[int] = set()
    with spare_cores(1), pytest.raises(InvalidDatasetError, match=r"^item 300 is bad") as info:
        for _, v, pid in map_on_spare_core(fn, items):
            got.append(v // 2)
            pids.add(pid)
            items.saw(pid)
    assert info.value.rows == [300]
    assert got == list(range(300)) and len(pids) == 2  # the error came from the helper
    assert _no_helper_left()


def test_an_error_of_the_items_is_raised_after_the_items_before_it() -> None:
    got: list[int] = []
    with spare_cores(1), pytest.raises(ValueError, match="no item 350"):
        for _, v, _ in map_on_spare_core(_tasks.Stateful(), _tasks.items_failing_at(400, 350)):
            got.append(v // 2)
    assert got == list(range(350))
    assert _no_helper_left()


def test_stopping_early_stops_the_helper() -> None:
    stream = map_on_spare_core(_tasks.Stateful(), range(10_000))
    with spare_cores(1):
        for _, _, pid in stream:
            if pid != os.getpid():
                break
        stream.close()
        assert claim_spare_core() is True
    assert _no_helper_left()


def test_local_engine_offers_idle_workers_to_the_running_tasks(
    local: LocalEngine, tmp_path: Path
) -> None:
    # 3 tasks on 2 workers: the first two see every worker busy; the third runs alone and
    # gets the core of the worker that has nothing left to do (old scheduling: none)
    assert local.map(_tasks.try_claim, [0.0, 0.0, 20.0]) == [False, False, True]
    # while at least as many tasks are left as workers, none is offered: two claimers look
    # while two held tasks (waiting until both have looked) keep 3 or more tasks left,
    # whichever worker starts first
    items = [("claim", str(tmp_path), 0), ("claim", str(tmp_path), 1)]
    items += [("hold", str(tmp_path), 2)] * 2
    assert local.map(_tasks.claim_or_hold, items) == [False, False, None, None]
    # one task runs in this process, with the other worker's core spare
    assert local.map(_tasks.try_claim, [0.0]) == [True]
    assert SequentialEngine().map(_tasks.try_claim, [0.0, 0.0]) == [False, False]


def test_a_fit_on_a_spare_core_gives_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(3)
    ds = Dataset.from_arrays(
        rng.integers(0, 255, (96, 8, 8), dtype=np.uint8), [0, 1, 2] * 32, classes=list("abc")
    )
    recipe = SmallCNNRecipe(image_size=8, epochs=6, batch_size=4)  # 144 batches
    alone = recipe.clone().fit(ds, seed=2).predict(ds)
    monkeypatch.setattr(_torch_recipe, "SPARE_CORE_MIN_BATCHES", 0)
    ready = spare._Helper.ready

    def ready_now(self: spare._Helper) -> bool:  # this fit is shorter than the helper's imports
        self._recv.poll(60)
        return ready(self)

    monkeypatch.setattr(spare._Helper, "ready", ready_now)
    with spare_cores(1), caplog.at_level(logging.DEBUG, logger="datacentric.engine.spare"):
        helped = recipe.clone().fit(ds, seed=2).predict(ds)
    assert "run in a helper process" in caplog.text  # the augmentation moved
    assert np.array_equal(alone.pred_probs, helped.pred_probs)
    assert np.array_equal(alone.embeddings, helped.embeddings)
    assert _no_helper_left()
