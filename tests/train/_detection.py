"""Detection demo datasets with their true boxes (no planted problems), for the detector tests."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from datacentric.dataset import Dataset
from datacentric.datasets import load_detection_demo, load_detection_ground_truth


def clean_detection_demo(root: Path, n_scenes: int, size: int = 48, seed: int = 0) -> Dataset:
    """The detection demo at ``root`` with its boxes replaced by the true objects."""
    ds = load_detection_demo(root, n_scenes=n_scenes, size=size, seed=seed, commit=False)
    truth = load_detection_ground_truth(root).boxes.filter(pl.col("problem") != "duplicate")
    boxes = truth.select(
        "annotation_id",
        "sample_id",
        pl.col("true_label").alias("label"),
        *(pl.col(f"true_{c}").alias(c) for c in "xywh"),
    )
    return Dataset(ds.manifest, ds.classes, root, annotations=boxes)
