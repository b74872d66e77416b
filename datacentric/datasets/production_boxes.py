"""Simulated production traffic of the detection demo: image rows and the detector's boxes.

:func:`~datacentric.datasets.production.make_demo_production` on a detection demo
(``datacentric demo-data DIR --task detection``) calls :func:`write_box_production`, which
writes what ``datacentric monitor ingest --boxes ... --reference-boxes ...`` ingests
(:mod:`datacentric.monitor.boxes`):

- ``reference.parquet``: the test scenes, ``sample_id, image`` (absolute path), ``width,
  height`` (pixels, so the monitor can make each box's area relative to its image) and the
  slice metadata ``camera, site``; ``boxes/reference.parquet``: the detector's predicted
  boxes on them (the predicted-box table ``sample_id, label, x, y, w, h, score``);
- ``day1.parquet`` ... ``dayN.parquet``: ``rows_per_day`` test scenes drawn at random (with
  replacement), renamed ``prod-<day>-<n>`` and time-stamped through the day, and their boxes
  in ``boxes/day1.parquet`` ... (a folder of its own, so ``day*.parquet`` matches the batches
  only). On the last day one site (``site_south``) has replaced its cameras: its rows come
  from ``cam_new``, whose images are darker (pixel values × ``darken``, written as new PNGs
  under ``images/``), and their boxes are predicted on those darker images;
- ``slices.yaml``: one slice per camera and per site.

Monitoring by slice then raises image drift (brightness, contrast ...) and box drift (how
many boxes the detector keeps, their scores) in ``camera=cam_new``, in ``site=site_south``
and (diluted) overall, and nothing in the other cameras and site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric.datasets._traffic import (
    ProductionDemo,
    absolute_images,
    darker_shot,
    draw,
    stamps,
)

__all__ = ["BOXES_FOLDER", "NEW_CAMERA", "write_box_production"]

NEW_CAMERA = "cam_new"
"""The camera of the last day's replaced site."""
BOXES_FOLDER = "boxes"
"""The folder (under the output folder) of the predicted-box files."""
_SLICES_YAML = """\
# Slices of the simulated production traffic of the detection demo (datacentric demo-production).
slices:
  - by: camera
  - by: site
"""


def _rows(test: Any, sizes: pl.DataFrame, ids: list[str], root: Path) -> pl.DataFrame:
    """``sample_id, image (absolute), width, height, camera, site`` for ``ids`` (in order)."""
    rows = pl.DataFrame({"sample_id": ids}, schema={"sample_id": pl.Utf8})
    return (
        rows.join(
            test.manifest.select("sample_id", "image", "camera", "site"),
            on="sample_id",
            how="left",
            maintain_order="left",
        )
        .join(sizes, on="sample_id", how="left", maintain_order="left")
        .select(
            "sample_id",
            absolute_images(root),
            pl.col("width").cast(pl.Int64),
            pl.col("height").cast(pl.Int64),
            pl.col("camera").cast(pl.Utf8),
            pl.col("site").cast(pl.Utf8),
        )
    )


def _boxes_of(boxes: pl.DataFrame, drawn: list[str], ids: list[str]) -> pl.DataFrame:
    """The boxes of the drawn scenes, renamed to the production ids, in row order."""
    rename = pl.DataFrame(
        {"_src": drawn, "_id": ids, "_pos": np.arange(len(ids))},
        schema={"_src": pl.Utf8, "_id": pl.Utf8, "_pos": pl.Int64},
    )
    return (
        rename.join(
            boxes.with_row_index("_row").rename({"sample_id": "_src"}), on="_src", how="inner"
        )
        .sort("_pos", "_row")
        .select(pl.col("_id").alias("sample_id"), pl.exclude("_src", "_id", "_pos", "_row"))
    )


def write_box_production(
    test: Any,
    model: Any,
    out: Path,
    *,
    days: int,
    rows_per_day: int,
    new_camera_site: str,
    share: float,
    darken: float,
    seed: int,
) -> ProductionDemo:
    """Write the detection demo's reference, batches and boxes (see the module doc).

    Called by :func:`~datacentric.datasets.production.make_demo_production`, which checks
    the parameters, the ``test`` split (with ``camera`` and ``site`` columns) and the fitted
    detector ``model`` (its classes are the dataset's) first; the draws follow the same seed
    as the classification demo's.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from datacentric.datasets import load_detection_demo
    >>> from datacentric.datasets.production import make_demo_production
    >>> from datacentric.train import CenterNetRecipe
    >>> tmp = Path(tempfile.mkdtemp())
    >>> ds = load_detection_demo(tmp / "det", n_scenes=16, size=48)
    >>> model = CenterNetRecipe(image_size=48, width=4, epochs=1, min_steps=0).fit(ds)
    >>> made = make_demo_production(tmp / "det", tmp / "prod", model=model, days=2,
    ...                             rows_per_day=20)
    >>> made.task, made.new_device, [p.name for p in made.batches]
    ('detection', 'cam_new', ['day1.parquet', 'day2.parquet'])
    >>> [str(p.relative_to(tmp / "prod")) for p in made.batch_boxes]
    ['boxes/day1.parquet', 'boxes/day2.parquet']
    >>> pl.read_parquet(made.reference).columns
    ['sample_id', 'image', 'width', 'height', 'camera', 'site']
    """
    root = Path(test.root).resolve()
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / BOXES_FOLDER).mkdir(exist_ok=True)
    sizes = test.image_sizes().select("sample_id", "width", "height")
    preds = model.predict(test)
    reference = _rows(test, sizes, test.sample_ids, root)
    reference.write_parquet(out / "reference.parquet")
    reference_boxes = out / BOXES_FOLDER / "reference.parquet"
    preds.boxes.write_parquet(reference_boxes)

    rng = np.random.default_rng(seed)
    test_ids = np.asarray(test.sample_ids)
    batches: list[Path] = []
    batch_boxes: list[Path] = []
    n_new = 0
    for day in range(1, days + 1):
        drawn, coin = draw(rng, test_ids, rows_per_day)
        ids = [f"prod-{day}-{i:05d}" for i in range(rows_per_day)]
        frame = _rows(test, sizes, drawn, root).with_columns(pl.Series("sample_id", ids))
        boxes = _boxes_of(preds.boxes, drawn, ids)
        new: np.ndarray = np.zeros(rows_per_day, dtype=bool)
        if day == days:
            new = (frame["site"] == new_camera_site).to_numpy() & (coin < share)
        if new.any():
            frame, boxes = _new_camera_rows(frame, boxes, new, root, model, out, darken)
            n_new += int(new.sum())
        frame = frame.with_columns(stamps(rng, day, rows_per_day))
        path, box_path = out / f"day{day}.parquet", out / BOXES_FOLDER / f"day{day}.parquet"
        frame.write_parquet(path)
        boxes.write_parquet(box_path)
        batches.append(path)
        batch_boxes.append(box_path)
    (out / "slices.yaml").write_text(_SLICES_YAML, encoding="utf-8")
    return ProductionDemo(
        out / "reference.parquet",
        batches,
        out / "slices.yaml",
        n_new,
        task="detection",
        new_device=NEW_CAMERA,
        device_column="camera",
        reference_boxes=reference_boxes,
        batch_boxes=batch_boxes,
    )


def _new_camera_rows(
    frame: pl.DataFrame,
    boxes: pl.DataFrame,
    new: np.ndarray,
    root: Path,
    model: Any,
    out: Path,
    darken: float,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Darken the images of the ``new`` rows, write them, and predict their boxes on what
    was written; the rows get ``cam_new`` and the new paths, the boxes are replaced."""
    rows, written, shot = darker_shot(
        frame, new, root, out, darken, model.classes_, task="detection"
    )
    update = pl.DataFrame(
        {
            "sample_id": rows["sample_id"],
            "_image": [str((out / p).resolve()) for p in written],
        }
    )
    merged = frame.join(update, on="sample_id", how="left", maintain_order="left")
    hit = pl.col("_image").is_not_null()
    frame = merged.with_columns(
        pl.when(hit).then(pl.col("_image")).otherwise(pl.col("image")).alias("image"),
        pl.when(hit).then(pl.lit(NEW_CAMERA)).otherwise(pl.col("camera")).alias("camera"),
    ).drop("_image")
    # the new rows' boxes: predicted on the darker images, in place of the old ones
    order = pl.DataFrame({"sample_id": frame["sample_id"], "_pos": np.arange(frame.height)})
    kept = boxes.filter(~pl.col("sample_id").is_in(rows["sample_id"].implode()))
    fresh = model.predict(shot).boxes
    merged_boxes = (
        pl.concat([kept, fresh.select(kept.columns)])
        .with_row_index("_row")
        .join(order, on="sample_id", how="left")
        .sort("_pos", "_row")
        .drop("_pos", "_row")
    )
    return frame, merged_boxes
