"""Train the fixed recipe with several seeds: one task per seed on an execution engine.

The first seed's model is trained in this process (it is the iteration's saved model); the
other seeds are :class:`SeedTask` items of one :meth:`Engine.map <datacentric.engine.Engine.map>`
(every local core, or a Ray cluster). Each task returns only its predictions on the
evaluation split: the models of the other seeds are not kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric.config import config_context, get_config
from datacentric.dataset import Dataset
from datacentric.engine import Engine

if TYPE_CHECKING:
    from datacentric.train import ModelRecipe

__all__ = ["SeedTask", "seed_table", "train_seed", "train_seeds"]


@dataclass(frozen=True, eq=False)
class SeedTask:
    """One training seed, everything a worker needs (picklable).

    Attributes
    ----------
    dataset : Dataset
        The rows to train on and to evaluate (readable images only).
    recipe : ModelRecipe
        An untrained recipe; the task trains a clone of it.
    seed : int
    train_split, eval_split : str
    config : dict
        The :mod:`datacentric.config` limits to apply in the worker.
    """

    dataset: Dataset
    recipe: ModelRecipe
    seed: int
    train_split: str
    eval_split: str
    config: dict[str, Any] = field(default_factory=dict)


def train_seed(task: SeedTask) -> Any:
    """Train a clone of the recipe with ``task.seed``; return its predictions on the
    evaluation split (a :class:`~datacentric.train.Predictions`)."""
    with config_context(**task.config):
        model = task.recipe.clone().fit(
            task.dataset.split(task.train_split), seed=task.seed, progress=False
        )
        return model.predict(task.dataset.split(task.eval_split))


def train_seeds(
    ds: Dataset,
    recipe: ModelRecipe,
    seeds: list[int],
    *,
    train_split: str,
    eval_split: str,
    engine: Engine,
    progress: bool = False,
) -> tuple[Any, list[Any]]:
    """Train ``recipe`` once per seed; return the first seed's model and every seed's
    predictions on ``eval_split`` (in the order of ``seeds``)."""
    from datacentric.train.crossval import _engine_gpus, _picklable_or_sequential, fold_resources

    model = recipe.clone().fit(ds.split(train_split), seed=seeds[0], progress=progress)
    preds = [model.predict(ds.split(eval_split))]
    if len(seeds) > 1:
        sent = recipe.clone()  # untrained: no weights travel to the workers
        config = get_config()
        tasks = [SeedTask(ds, sent, s, train_split, eval_split, config) for s in seeds[1:]]
        eng = _picklable_or_sequential(engine, sent)
        preds += eng.map(
            train_seed,
            tasks,
            desc="training seeds",
            progress=progress,
            resources=fold_resources(getattr(sent, "device", None), _engine_gpus(eng)),
        )
    return model, preds


def seed_table(frames: list[pl.DataFrame], seeds: list[int]) -> pl.DataFrame:
    """One run table (``seed`` first, then the prediction rows of each seed) from the
    per-seed prediction tables."""
    return pl.concat(
        [
            f.select(pl.lit(s, dtype=pl.Int64).alias("seed"), pl.all())
            for f, s in zip(frames, seeds, strict=True)
        ],
        how="vertical",
    )
