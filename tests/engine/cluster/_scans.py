"""Scans run by a driver on the test cluster, and a slow recipe whose folds log themselves."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from PIL import Image

from datacentric import Dataset
from datacentric.train import Predictions

CLASSES = ["a", "b", "c"]


def make_dataset(root: Path, n: int = 30) -> Path:
    """A tiny folder dataset (8x8 grey PNGs, three classes, two unlabeled rows)."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
            root / f"images/{i:02d}.png"
        )
    labels: list[str | None] = [CLASSES[i % 3] for i in range(n)]
    labels[5] = labels[17] = None
    pl.DataFrame(
        {
            "sample_id": [f"s{i:02d}" for i in range(n)],
            "image": [f"images/{i:02d}.png" for i in range(n)],
            "label": labels,
        }
    ).write_csv(root / "manifest.csv")
    return root


def _node() -> str | None:
    """The Ray node id of this process (None outside a Ray worker)."""
    import sys

    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    node: str = ray.get_runtime_context().get_node_id()
    return node


class SlowPrior:
    """Predicts its training class frequencies after ``delay`` seconds of "training".

    Every fit appends ``{"seed", "pid", "node", "event": "start"}`` to ``<log>/folds.log``,
    and every predict (the step right before the fold's cache file is written) an
    ``"end"`` line, so a test sees where each fold ran and how often it finished.
    """

    name = "slow_prior"

    def __init__(self, log: str = "", delay: float = 0.0) -> None:
        self.log = log
        self.delay = delay
        self.prior: np.ndarray | None = None
        self.seed = -1

    def _note(self, event: str) -> None:
        if self.log:
            line = {"seed": self.seed, "pid": os.getpid(), "node": _node(), "event": event}
            with open(Path(self.log) / "folds.log", "a") as out:
                out.write(json.dumps(line) + "\n")

    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> SlowPrior:
        self.seed = seed
        self._note("start")
        time.sleep(self.delay)
        y = ds.label_indices()
        counts = np.bincount(y[y >= 0], minlength=len(ds.classes)) + 1.0 + seed % 3
        self.prior = counts / counts.sum()
        return self

    def predict(self, ds: Dataset, *, batch_size: int = 256) -> Predictions:
        assert self.prior is not None
        self._note("end")
        probs = np.tile(self.prior, (len(ds), 1))
        emb = ds.load_images(size=(4, 4), mode="L").reshape(len(ds), -1).astype(np.float32)
        return Predictions(ds.sample_ids, probs, emb * float(self.prior[0]), classes=ds.classes)

    def save(self, path: str | Path) -> None:  # pragma: no cover - protocol filler
        raise NotImplementedError

    def load(self, path: str | Path) -> SlowPrior:  # pragma: no cover
        raise NotImplementedError

    def clone(self) -> SlowPrior:
        return SlowPrior(self.log, self.delay)

    def get_params(self) -> dict[str, Any]:
        return {"log": self.log, "delay": self.delay}


def recipe(spec: dict[str, Any]) -> Any:
    """The recipe a spec names: ``{"name": "small_cnn"}`` or ``{"name": "slow_prior", ...}``."""
    if spec["name"] == "small_cnn":
        from datacentric.train import SmallCNNRecipe

        return SmallCNNRecipe(image_size=8, epochs=1)
    return SlowPrior(spec.get("log", ""), spec.get("delay", 0.0))


def run_scan(engine: Any, root: str, out: str, recipe_spec: dict[str, Any], cache: bool) -> str:
    """Scan ``root`` on ``engine``; write its issues, samples and pred_probs under ``out``."""
    from datacentric.issues import scan

    ds = Dataset.from_folder(root, classes=CLASSES)
    result = scan(ds, recipe=recipe(recipe_spec), folds=3, seed=4, engine=engine, cache=cache)
    save(result, Path(out))
    return out


def save(result: Any, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result.issues.write_parquet(out / "issues.parquet")
    result.samples.write_parquet(out / "samples.parquet")
    np.save(out / "pred_probs.npy", np.asarray(result.predictions.pred_probs))
    np.save(out / "embeddings.npy", np.asarray(result.predictions.embeddings))
