"""CLI cases for ``datacentric demo-production DIR`` on detection datasets that cannot give
production traffic: no saved model, no ``test`` split, not the demo's ``camera``/``site``
columns, a detector trained on other classes, a classifier's model.

Each is refused with one ``Error:`` line saying what is wrong and what to run or pass, before
anything is written (the output folder stays absent).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tests.hostile.cases import CliCase

__all__ = ["CASES"]

PRODUCE = {"demo-production": ("demo-production", "{dataset}", "--out", "{out}/production")}
PRODUCE_WITH = {
    "demo-production": (
        "demo-production", "{dataset}", "--out", "{out}/production", "--weights", "{model}",
    )
}  # fmt: skip


def _demo(tmp: Path) -> Path:
    from datacentric.datasets import load_detection_demo

    root = tmp / "det"
    load_detection_demo(root, n_scenes=8, size=48, seed=0)
    return root


def _no_model(tmp: Path) -> Mapping[str, str]:
    """A committed detection demo on which the data loop never ran."""
    return {"dataset": str(_demo(tmp))}


def _tiny_detector(ds: Any, path: Path) -> str:
    """A detector fitted in a second on ``ds``, saved to ``path``."""
    from datacentric.train import CenterNetRecipe

    CenterNetRecipe(image_size=32, width=4, epochs=1, min_steps=0).fit(ds).save(path)
    return str(path)


def _no_test_split(tmp: Path) -> Mapping[str, str]:
    """The detection demo with every scene in ``train``, and a detector of its classes."""
    from datacentric import Dataset
    from datacentric.datasets import load_detection_demo

    root = tmp / "det"
    load_detection_demo(root, n_scenes=8, size=48, seed=0, commit=False)
    manifest = pl.read_parquet(root / "manifest.parquet")
    manifest.with_columns(split=pl.lit("train")).write_parquet(root / "manifest.parquet")
    ds = Dataset.from_folder(root)
    ds.commit("every scene in train")
    return {"dataset": str(root), "model": _tiny_detector(ds, tmp / "model.pt")}


def _coco(tmp: Path) -> Mapping[str, str]:
    """A detection dataset without the demo's camera and site columns, and its detector."""
    from datacentric import Dataset
    from tests.dataset._detection import write_coco

    root = tmp / "data"
    ds = Dataset.from_coco(root, write_coco(root), images_dir="images")
    ds.commit("fixture")
    return {"dataset": str(root), "model": _tiny_detector(ds, tmp / "model.pt")}


def _detector_of_other_classes(tmp: Path) -> Mapping[str, str]:
    """The demo and a detector fitted on its scenes with the classes in another order."""
    from datacentric import Dataset

    root = _demo(tmp)
    ds = Dataset.open(root)
    other = Dataset(
        ds.manifest, ds.classes[::-1], root, annotations=ds.annotations, task="detection"
    )
    return {"dataset": str(root), "model": _tiny_detector(other, tmp / "model.pt")}


def _classifier(tmp: Path) -> Mapping[str, str]:
    """The demo and a classifier's model file."""
    from datacentric import Dataset
    from datacentric.train import SmallCNNRecipe

    root = _demo(tmp)
    rng = np.random.default_rng(0)
    arrays = Dataset.from_arrays(
        rng.integers(0, 255, (8, 8, 8), dtype=np.uint8), [0, 1] * 4, ["a", "b"]
    )
    model = tmp / "model.pt"
    SmallCNNRecipe(epochs=1, image_size=8, channels="L").fit(arrays).save(model)
    return {"dataset": str(root), "model": str(model)}


CASES: list[CliCase] = [
    CliCase(
        name="demo_production_detection_no_saved_model",
        build=_no_model,
        argvs=PRODUCE,
        match="has no saved model; run `datacentric loop {dataset}` first",
    ),
    CliCase(
        name="demo_production_detection_no_test_split",
        build=_no_test_split,
        argvs=PRODUCE_WITH,
        match="{dataset} has no 'test' split to draw from.",
    ),
    CliCase(
        name="demo_production_detection_without_camera_site",
        build=_coco,
        argvs=PRODUCE_WITH,
        match="has no 'camera', 'site' column(s), which the detection demo's slices use",
    ),
    CliCase(
        name="demo_production_detector_of_other_classes",
        build=_detector_of_other_classes,
        argvs=PRODUCE_WITH,
        match="demo production: the model was trained on the classes '9', '8', '7'",
    ),
    CliCase(
        name="demo_production_classifier_on_detection",
        build=_classifier,
        argvs=PRODUCE_WITH,
        match="holds a SmallCNNRecipe, a classification model, not a detection one",
    ),
]
