"""Cross-validation folds as engine tasks: the same bits on every engine and worker count,
and a fold cache that lets an interrupted run resume from its finished folds."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from PIL import Image

from datacentric import Dataset
from datacentric.engine import LocalEngine, SequentialEngine, TaskResources
from datacentric.train import SmallCNNRecipe, clear_cv_cache, cross_val_predict
from datacentric.train.crossval import CACHE_DIR, cv_cache_dir, fold_resources
from tests.engine import _tasks


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEngine]:
    with LocalEngine(workers=2) as eng:
        yield eng


def _arrays_dataset() -> Dataset:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (30, 8, 8), dtype=np.uint8)
    return Dataset.from_arrays(imgs, [0, 1, 2] * 9 + [None] * 3, classes=["a", "b", "c"])


def _folder_dataset(root: Path, n: int = 30) -> Dataset:
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
            root / f"images/{i:02d}.png"
        )
    pl.DataFrame(
        {
            "sample_id": [f"s{i:02d}" for i in range(n)],
            "image": [f"images/{i:02d}.png" for i in range(n)],
            "label": [["a", "b", "c"][i % 3] for i in range(n)],
        }
    ).write_csv(root / "manifest.csv")
    return Dataset.from_folder(root, classes=["a", "b", "c"])


def test_a_dataset_pickles_with_its_arrays(tmp_path: Path) -> None:
    ds = _arrays_dataset()
    back = pickle.loads(pickle.dumps(ds))
    assert back.sample_ids == ds.sample_ids
    assert np.array_equal(back.load_images(mode="L"), ds.load_images(mode="L"))
    folder = _folder_dataset(tmp_path / "d")
    assert pickle.loads(pickle.dumps(folder)).root == folder.root


@pytest.mark.parametrize("embeddings", ["ensemble", "out_of_fold"])
def test_small_cnn_folds_are_bit_identical_on_every_engine(
    local: LocalEngine, embeddings: str
) -> None:
    ds = _arrays_dataset()
    recipe = SmallCNNRecipe(image_size=8, epochs=1)
    kw = {"folds": 3, "seed": 4, "embeddings": embeddings}
    seq = cross_val_predict(ds, recipe, engine="sequential", **kw)  # type: ignore[arg-type]
    par = cross_val_predict(ds, recipe, engine=local, **kw)  # type: ignore[arg-type]
    assert np.array_equal(seq.pred_probs, par.pred_probs)
    assert np.array_equal(seq.embeddings, par.embeddings)
    assert local._pool is not None  # the folds really ran in the workers


def test_finished_folds_are_cached_and_an_interrupted_run_resumes(tmp_path: Path) -> None:
    ds = _folder_dataset(tmp_path / "d")
    recipe = _tasks.CountingPrior()
    kw = {"folds": 5, "seed": 10, "engine": "sequential"}
    fresh = cross_val_predict(ds, recipe, cache=False, **kw)  # type: ignore[arg-type]
    assert sorted(_tasks.FITS[-5:]) == [10, 11, 12, 13, 14]
    assert not (tmp_path / "d" / CACHE_DIR).exists()

    _tasks.FITS.clear()
    _tasks.FAIL_SEED[:] = [12]  # fold 2 crashes after folds 0 and 1 finished
    try:
        with pytest.raises(RuntimeError, match="seed 12"):
            cross_val_predict(ds, recipe, **kw)  # type: ignore[arg-type]
    finally:
        _tasks.FAIL_SEED.clear()
    assert _tasks.FITS == [10, 11]
    folder = cv_cache_dir(ds, recipe, 5, 10)
    assert folder is not None and sorted(p.name for p in folder.iterdir()) == [
        "fold_0.npz",
        "fold_1.npz",
    ]

    _tasks.FITS.clear()
    resumed = cross_val_predict(ds, recipe, **kw)  # type: ignore[arg-type]
    assert _tasks.FITS == [12, 13, 14]  # only the missing folds were trained
    assert np.array_equal(resumed.pred_probs, fresh.pred_probs)
    assert np.array_equal(resumed.embeddings, fresh.embeddings)

    _tasks.FITS.clear()
    again = cross_val_predict(ds, recipe, **kw)  # type: ignore[arg-type]
    assert _tasks.FITS == [] and np.array_equal(again.pred_probs, fresh.pred_probs)
    assert len(list(folder.glob("*.npz"))) == 5 and not list(folder.glob(".*"))  # no temp file


def test_the_cache_key_follows_what_the_folds_depend_on(tmp_path: Path) -> None:
    ds = _folder_dataset(tmp_path / "d")
    r = _tasks.CountingPrior()
    base = cv_cache_dir(ds, r, 5, 0)
    assert base is not None and base.parent == tmp_path / "d" / CACHE_DIR
    assert cv_cache_dir(ds, r, 5, 0) == base
    others = {
        cv_cache_dir(ds, r, 4, 0),
        cv_cache_dir(ds, r, 5, 1),
        cv_cache_dir(ds, r, 5, 0, "out_of_fold"),
        cv_cache_dir(ds, _tasks.CountingPrior(smoothing=2.0), 5, 0),
        cv_cache_dir(ds.relabel(["s00"], ["b"], reason="test"), r, 5, 0),
    }
    assert base not in others and len(others) == 5
    img = tmp_path / "d" / "images" / "00.png"
    Image.new("L", (8, 8), 7).save(img)  # an image changed in place, same path
    assert cv_cache_dir(ds, r, 5, 0) != base
    assert cv_cache_dir(_arrays_dataset(), r, 5, 0) is None  # in memory: never cached


def test_local_engine_writes_the_cache_a_sequential_rerun_reads(
    tmp_path: Path, local: LocalEngine
) -> None:
    ds = _folder_dataset(tmp_path / "d")
    recipe = _tasks.CountingPrior()
    par = cross_val_predict(ds, recipe, folds=3, seed=0, engine=local)
    _tasks.FITS.clear()
    seq = cross_val_predict(ds, recipe, folds=3, seed=0, engine="sequential")
    assert _tasks.FITS == []  # every fold came from the workers' cache files
    assert np.array_equal(par.pred_probs, seq.pred_probs)
    assert clear_cv_cache(tmp_path / "d") == 3
    assert not (tmp_path / "d" / CACHE_DIR).exists()


def test_a_read_only_dataset_still_cross_validates(tmp_path: Path) -> None:
    ds = _folder_dataset(tmp_path / "d")
    blocker = tmp_path / "d" / ".datacentric"
    blocker.write_text("a file where the cache folder would go")
    out = cross_val_predict(ds, _tasks.CountingPrior(), folds=2, engine="sequential")
    assert out.pred_probs.shape == (30, 3)


def test_a_recipe_that_cannot_be_pickled_runs_sequentially(
    caplog: pytest.LogCaptureFixture, local: LocalEngine
) -> None:
    class Local(_tasks.CountingPrior):  # defined in a function: cannot be pickled
        def clone(self) -> Local:
            return Local()

    with caplog.at_level("WARNING", logger="datacentric.train.crossval"):
        out = cross_val_predict(_arrays_dataset(), Local(), folds=2, engine=local)
    assert "cannot be sent to worker processes" in caplog.text
    assert out.pred_probs.shape == (30, 3)


GPU = TaskResources(num_cpus=1, num_gpus=1)


@pytest.mark.parametrize(
    ("device", "engine_gpus", "want"),
    [
        ("cpu", None, None),
        ("cpu", 4.0, None),  # never, even on a GPU cluster
        ("auto", None, None),  # an engine on this machine: "auto" resolves in the fold
        ("auto", 0.0, None),  # a cluster without GPUs (the driver's own GPU is irrelevant)
        ("auto", 0.5, None),  # no node has a whole GPU for a fold
        ("auto", 1.0, GPU),
        ("auto", 8.0, GPU),
        ("cuda", None, GPU),  # always (the local engine ignores it)
        ("cuda", 0.0, GPU),  # always: Ray then fails in one line instead of waiting
        ("cuda:1", 2.0, GPU),
        (None, 4.0, None),  # a recipe without a device parameter
    ],
)
def test_fold_resources_ask_for_a_gpu_only_when_the_fold_trains_on_cuda(
    device: str | None, engine_gpus: float | None, want: TaskResources | None
) -> None:
    assert fold_resources(device, engine_gpus) == want


class _Recording(SequentialEngine):
    """The sequential engine, noting the resources each map asks for; ``gpus`` is what it
    reports as ``node_gpus()`` (like a Ray cluster), or absent (like the local engine)."""

    def __init__(self, gpus: float | None) -> None:
        self.asked: list[TaskResources | None] = []
        if gpus is not None:
            self.node_gpus = lambda: gpus

    def map(
        self,
        fn: Callable[[Any], Any],
        items: Sequence[Any],
        *,
        desc: str = "",
        progress: bool = False,
        resources: TaskResources | None = None,
    ) -> list[Any]:
        self.asked.append(resources)
        return super().map(fn, items, desc=desc, progress=progress, resources=resources)


@pytest.mark.parametrize(
    ("device", "gpus", "want"),
    [("auto", 2.0, GPU), ("auto", 0.0, None), ("cpu", 2.0, None), ("auto", None, None)],
)
def test_cross_validation_sends_the_fold_resources_to_the_engine(
    device: str, gpus: float | None, want: TaskResources | None
) -> None:
    ds = _arrays_dataset()
    recipe = SmallCNNRecipe(image_size=8, epochs=1, device=device)
    eng = _Recording(gpus)
    got = cross_val_predict(ds, recipe, folds=2, engine=eng, cache=False)
    assert eng.asked == [want]
    # the request changes where a fold may run, never what it computes ("auto" is the CPU here)
    ref = cross_val_predict(ds, recipe, folds=2, engine="sequential", cache=False)
    assert np.array_equal(got.pred_probs, ref.pred_probs)


def test_the_local_engine_runs_tasks_that_ask_for_a_gpu(local: LocalEngine) -> None:
    # resources are ignored on this machine: a GPU request must not stop the tasks
    assert local.map(_tasks.square, [1, 2, 3], resources=GPU) == [1, 4, 9]
