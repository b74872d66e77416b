"""Small seeded production-like frames for the monitor tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

CAMERAS = ["cam_a", "cam_b", "cam_c", "cam_d"]
CAMERA_P = [0.32, 0.31, 0.31, 0.06]
CLASSES = ["cat", "dog", "bird"]
SLICES = "slices: [{by: camera}, {by: site}]"
DAY = dt.datetime(2024, 5, 1)


def rows(
    n: int,
    seed: int,
    *,
    start: dt.datetime = DAY,
    id_prefix: str = "s",
    labels: bool = False,
) -> pl.DataFrame:
    """``n`` rows: camera (cam_d is 6 %), site, brightness/contrast/blurriness, prediction,
    confidence (calibrated: a prediction is right with probability = confidence)."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.55, 1.0, n)
    pred = rng.choice(CLASSES, n)
    right = rng.random(n) < conf
    other = np.array([CLASSES[(CLASSES.index(p) + 1) % 3] for p in pred])
    frame = pl.DataFrame(
        {
            "sample_id": [f"{id_prefix}{i}" for i in range(n)],
            "timestamp": [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 80_000, n)],
            "camera": rng.choice(CAMERAS, n, p=CAMERA_P),
            "site": rng.choice(["north", "south"], n),
            "brightness": rng.normal(0.5, 0.1, n),
            "contrast": rng.normal(0.2, 0.05, n),
            "blurriness": rng.uniform(0.0, 1.0, n),
            "prediction": pred,
            "confidence": conf,
        }
    )
    if labels:
        frame = frame.with_columns(label=pl.Series(np.where(right, pred, other)))
    return frame


def reference(n: int = 20_000, seed: int = 0) -> pl.DataFrame:
    """The labelled reference (no sample_id/timestamp needed)."""
    return rows(n, seed, labels=True).drop("sample_id", "timestamp")


def shift(frame: pl.DataFrame, column: str, by: float, camera: str | None = None) -> pl.DataFrame:
    """Add ``by`` to ``column`` (in one camera's rows only, when given)."""
    hit = pl.lit(True) if camera is None else pl.col("camera") == camera
    return frame.with_columns(
        pl.when(hit).then(pl.col(column) + by).otherwise(pl.col(column)).alias(column)
    )
