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


def detection_rows(
    n: int,
    seed: int,
    *,
    start: dt.datetime = DAY,
    id_prefix: str = "d",
    boxes_per_image: int = 2,
    camera_boxes: dict[str, int] | None = None,
    score_shift: float = 0.0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` images of a detector in production and its predicted boxes.

    Images: camera (exactly 6 % ``cam_d``, in a seeded order), site, 640 x 480 pixels,
    brightness. Boxes: ``boxes_per_image`` per image (``camera_boxes`` overrides it per
    camera), class uniform over ``CLASSES``, 20-80 pixels a side, score uniform in
    [0.7, 1.0) plus ``score_shift``.
    """
    rng = np.random.default_rng(seed)
    n_d = round(0.06 * n)
    rest = n - n_d
    cams = np.array(["cam_d"] * n_d + [CAMERAS[i % 3] for i in range(rest)])
    rng.shuffle(cams)
    ids = [f"{id_prefix}{i}" for i in range(n)]
    images = pl.DataFrame(
        {
            "sample_id": ids,
            "timestamp": [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 80_000, n)],
            "camera": cams,
            "site": rng.choice(["north", "south"], n),
            "width": np.full(n, 640),
            "height": np.full(n, 480),
            "brightness": rng.normal(0.5, 0.1, n),
        }
    )
    per = np.array([(camera_boxes or {}).get(c, boxes_per_image) for c in cams])
    owner = np.repeat(np.arange(n), per)
    k = owner.size
    boxes = pl.DataFrame(
        {
            "sample_id": [ids[i] for i in owner],
            "label": rng.choice(CLASSES, k),
            "x": rng.uniform(0, 500, k),
            "y": rng.uniform(0, 380, k),
            "w": rng.uniform(20, 80, k),
            "h": rng.uniform(20, 80, k),
            "score": np.clip(rng.uniform(0.7, 1.0, k) + score_shift, 0.0, 1.0),
        }
    )
    return images, boxes
