"""The engines: results in input order, exceptions re-raised as they are, one progress bar,
spawned single-threaded workers, and the parameter checks of get_engine."""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from datacentric import config_context
from datacentric import exceptions as errors
from datacentric.engine import (
    Engine,
    LocalEngine,
    SequentialEngine,
    TaskResources,
    get_engine,
)
from datacentric.exceptions import (
    InvalidDatasetError,
    InvalidParameterError,
    MissingDependencyError,
)
from tests.engine import _tasks


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEngine]:
    """One 2-worker pool for the module (a spawned worker costs seconds to start)."""
    with LocalEngine(workers=2) as eng:
        yield eng


@pytest.fixture(params=["sequential", "local"])
def engine(request: pytest.FixtureRequest, local: LocalEngine) -> Engine:
    return local if request.param == "local" else SequentialEngine()


def test_map_keeps_input_order(engine: Engine) -> None:
    assert engine.map(_tasks.square, list(range(10))) == [x * x for x in range(10)]
    assert engine.map(_tasks.square, []) == []
    assert engine.map(_tasks.square, [7]) == [49]


def test_task_exception_is_reraised_as_is(engine: Engine) -> None:
    with pytest.raises(InvalidDatasetError, match=r"^row 3 is bad: fix row 3$") as info:
        engine.map(_tasks.fail_on_three, list(range(6)))
    assert info.value.rows == [3]
    with pytest.raises(ValueError, match="plain error 0"):
        engine.map(_tasks.value_error, [0, 1])
    assert engine.map(_tasks.square, [1, 2]) == [1, 4]  # still usable after a failure


def test_the_callers_settings_hold_in_the_workers(engine: Engine) -> None:
    with config_context(max_image_pixels=1234, train_cache_bytes=0):
        assert engine.map(_tasks.setting, ["max_image_pixels", "train_cache_bytes"]) == [1234, 0]
    assert engine.map(_tasks.setting, ["max_image_pixels"] * 2) == [40_000_000] * 2


def test_progress_bar_counts_items(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.map(_tasks.square, list(range(4)), desc="tiles [x]", progress=True)
    out = capsys.readouterr().out
    assert "tiles [x]" in out and "4/4" in out


def test_workers_are_spawned_single_threaded_processes(local: LocalEngine) -> None:
    facts = local.map(_tasks.worker_facts, list(range(4)))
    assert all(f["pid"] != os.getpid() for f in facts)
    assert {f["start_method"] for f in facts} == {"spawn"}
    assert {f["omp"] for f in facts} == {"1"}
    assert all(f["torch_threads"] in (None, 1) for f in facts)
    # the caller's script is not re-run in the workers (no task refers to __main__)
    assert {f["main_file"] for f in facts} == {None}


def test_one_worker_or_one_item_runs_in_process() -> None:
    with LocalEngine(workers=1) as eng:
        assert eng.map(_tasks.worker_facts, [0, 1])[0]["pid"] == os.getpid()
        assert eng._pool is None


def test_unpicklable_task_is_refused_in_one_line(local: LocalEngine) -> None:
    with pytest.raises(InvalidParameterError, match="must be picklable"):
        local.map(lambda x: x, [1, 2])


def test_get_engine_defaults_and_names() -> None:
    eng = get_engine()
    assert isinstance(eng, LocalEngine) and eng.workers == (os.cpu_count() or 1)
    assert get_engine("local", workers=3).workers == 3
    assert get_engine("sequential").name == "sequential"
    same = SequentialEngine()
    assert get_engine(same) is same
    assert isinstance(same, Engine)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"engine": "spark"}, r"parameter engine must be one of 'local', 'sequential', 'ray'"),
        ({"engine": 3}, r"received 3 \(int\)"),
        ({"workers": 0}, r"workers must be an integer in \[1, 1024\] or None; received 0"),
        ({"workers": -1}, r"received -1"),
        ({"workers": 2.5}, r"received 2.5"),
        ({"workers": float("nan")}, r"received nan"),
        ({"workers": True}, r"received True"),
        ({"workers": 10**6}, r"received 1000000"),
        ({"address": "10.0.0.1:6379"}, r"only used with engine='ray'; received address="),
        ({"engine": SequentialEngine(), "workers": 2}, r"either the engine object or its name"),
    ],
)
def test_get_engine_refuses_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        get_engine(**kwargs)  # type: ignore[arg-type]


def test_ray_is_imported_lazily_with_a_one_line_error_when_missing() -> None:
    import importlib.util

    if importlib.util.find_spec("datacentric.engine.ray") is not None:
        pytest.skip("the Ray engine is present (tests/engine/test_ray*.py cover it)")
    with pytest.raises(MissingDependencyError, match=r"engine='ray'.*datacentric\[ray\]"):
        get_engine("ray", address="127.0.0.1:6379")


def test_task_resources_are_checked() -> None:
    assert TaskResources(num_gpus=0.5).num_gpus == 0.5
    with pytest.raises(InvalidParameterError, match="num_cpus must be a number > 0"):
        TaskResources(num_cpus=0)


def test_every_datacentric_error_survives_pickling() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        if not (isinstance(cls, type) and issubclass(cls, errors.DatacentricError)):
            continue
        if cls is errors.ExportVerificationError:
            err = cls("m", 1.0, 0.1)
        elif issubclass(cls, errors.LabelStudioError):
            err = cls("m", 404)
        elif issubclass(cls, errors.InvalidDatasetError):
            err = cls("m", rows=["r1"])
        else:
            err = cls("m")
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls and str(back) == "m" and back.__dict__ == err.__dict__, name
    access = errors.FileAccessError("cannot write x")
    access.errno = 28
    assert pickle.loads(pickle.dumps(access)).errno == 28


def test_workers_do_not_outlive_a_killed_caller(tmp_path: Path) -> None:
    """A caller killed outright (SIGKILL) cannot shut its pool down: the workers notice their
    parent is gone and exit, instead of running on with their memory (seen: two workers of a
    killed job alive 80 minutes later, 840 MB each)."""
    import contextlib
    import signal
    import subprocess
    import textwrap

    script = textwrap.dedent(
        f"""
        from tests.engine import _tasks
        from datacentric.engine import LocalEngine
        if __name__ == "__main__":
            LocalEngine(workers=2).map(_tasks.note_pid_and_wait, [{str(tmp_path)!r}] * 2)
        """
    )
    caller = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
        assert len(workers) == 2, "the workers did not start"
        caller.send_signal(signal.SIGKILL)
        caller.wait(timeout=30)

        def alive(pid: int) -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            return (
                Path(f"/proc/{pid}").exists()
                and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
            )

        deadline = time.monotonic() + 15
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(w) for w in workers)
    finally:
        caller.kill()
        for pid in [int(p.stem) for p in tmp_path.glob("*.pid")]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
