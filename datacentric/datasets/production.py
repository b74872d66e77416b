"""Simulated production traffic for the demo, to monitor: a new, darker device on the last day.

:func:`make_demo_production` takes a demo dataset and a trained model (by default the data
loop's latest) and writes what :mod:`datacentric.monitor` ingests. On the classification demo
(``datacentric demo-data DIR``):

- ``reference.parquet``: the model's predictions on the demo's test split, with labels,
  the slice metadata and the image paths (the monitor computes brightness, contrast, blur
  ... from the images);
- ``day1.parquet`` ... ``dayN.parquet``: production batches, each ``rows_per_day`` test images
  drawn at random (with replacement) and time-stamped through the day; on the last day one
  vendor (``vendor_b``) has replaced its scanners: its rows come from ``scanner_new``, whose
  images are darker (pixel values × ``darken``, written as new PNGs under ``images/``) — the
  model's predictions are made on the images as they are;
- ``slices.yaml``: one slice per scanner and per vendor.

Monitoring by slice then raises the image drift in ``scanner=scanner_new``, in
``vendor=vendor_b`` and (diluted) overall, and nothing in the other vendors and scanners.

On the detection demo (``datacentric demo-data DIR --task detection``) the same draws give
image rows and the detector's predicted boxes (a site's cameras replaced by the darker
``cam_new`` on the last day; slices by camera and site): see
:mod:`datacentric.datasets.production_boxes`.
"""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, validate_call
from datacentric.datasets._traffic import (
    ProductionDemo,
    absolute_images,
    darker_shot,
    draw,
    drawable_split,
    resolve_model,
    stamps,
)

__all__ = ["NEW_SCANNER", "ProductionDemo", "make_demo_production"]

NEW_SCANNER = "scanner_new"
_SLICES_YAML = """\
# Slices of the simulated production traffic (datacentric demo-production).
slices:
  - by: scanner
  - by: vendor
"""


def _frame(ds: Any, preds: Any, ids: list[str], root: Path) -> pl.DataFrame:
    """``sample_id, image (absolute), metadata, prediction, confidence`` for ``ids``."""
    probs = preds.take(ids).pred_probs
    classes = list(preds.classes)
    rows = pl.DataFrame({"sample_id": ids}, schema={"sample_id": pl.Utf8}).join(
        ds.manifest, on="sample_id", how="left", maintain_order="left"
    )
    return rows.select(
        "sample_id",
        absolute_images(root),
        "scanner",
        "vendor",
        "label",
    ).with_columns(
        pl.Series("prediction", [classes[int(k)] for k in probs.argmax(axis=1)], pl.Utf8),
        pl.Series("confidence", probs.max(axis=1).astype(np.float64)),
    )


@validate_call(
    {
        "dataset_dir": [str, Path],
        "out_dir": [str, Path],
        "days": [Interval(Integral, 1, None, closed="left")],
        "rows_per_day": [Interval(Integral, 1, None, closed="left")],
        "new_scanner_vendor": [str],
        "new_camera_site": [str],
        "new_scanner_share": [Interval(Real, 0, 1, closed="both")],
        "darken": [Interval(Real, 0, 1, closed="right")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def make_demo_production(
    dataset_dir: str | Path,
    out_dir: str | Path,
    *,
    model: Any = None,
    days: int = 3,
    rows_per_day: int = 600,
    new_scanner_vendor: str = "vendor_b",
    new_camera_site: str = "site_south",
    new_scanner_share: float = 1.0,
    darken: float = 0.45,
    seed: int = 0,
) -> ProductionDemo:
    """Write a reference and ``days`` production batches for the demo (see the module doc).

    Dispatches on the dataset's task: a classification demo gets predictions per row, a
    detection demo the detector's predicted boxes per row
    (:func:`datacentric.datasets.production_boxes.write_box_production`).

    Parameters
    ----------
    dataset_dir : path
        A demo dataset (``datacentric demo-data``, either task), with a ``test`` split.
    out_dir : path
        Where to write the Parquet files, ``slices.yaml`` and the new device's images.
    model : recipe or path, optional
        A fitted recipe or a file written by ``recipe.save`` (a classifier, or a
        :class:`~datacentric.train.CenterNetRecipe` for a detection demo); default: the data
        loop's latest model of ``dataset_dir``.
    days, rows_per_day : int
        Number of daily batches and rows in each.
    new_scanner_vendor : str
        Classification: the vendor whose rows come from the new, darker scanner on the last
        day.
    new_camera_site : str
        Detection: the site whose rows come from the new, darker camera (``cam_new``) on the
        last day.
    new_scanner_share : float
        Share of that vendor's (site's) last-day rows that do.
    darken : float
        Pixel factor of the new device's images (in (0, 1]).
    seed : int
        Seeds the draws.

    Returns
    -------
    ProductionDemo
        The paths written (for detection with the box files) and the new device's row count.

    Raises
    ------
    InvalidParameterError
        When no model is given and the data loop has saved none, the model is for the other
        task or other classes, the dataset has no ``test`` split or not the demo's slice
        columns, or a parameter is out of range. Nothing is written then.
    """
    from datacentric.dataset import Dataset

    root = Path(dataset_dir)
    ds = Dataset.open(root)
    detection = ds.task == "detection"
    model = resolve_model(model, root, ds)
    test = drawable_split(ds, root, ("camera", "site") if detection else ("scanner", "vendor"))
    out = Path(out_dir)
    if detection:
        from datacentric.datasets.production_boxes import write_box_production

        return write_box_production(
            test, model, out, days=int(days), rows_per_day=int(rows_per_day),
            new_camera_site=new_camera_site, share=float(new_scanner_share),
            darken=float(darken), seed=int(seed),
        )  # fmt: skip
    (out / "images").mkdir(parents=True, exist_ok=True)
    preds = model.predict(test)
    reference = _frame(test, preds, test.sample_ids, root)
    reference.write_parquet(out / "reference.parquet")

    rng = np.random.default_rng(seed)
    test_ids = np.asarray(test.sample_ids)
    batches: list[Path] = []
    n_new = 0
    for day in range(1, days + 1):
        drawn, coin = draw(rng, test_ids, rows_per_day)
        frame = _frame(test, preds, drawn, root)
        new: np.ndarray = np.zeros(rows_per_day, dtype=bool)
        if day == days:
            vendor = (frame["vendor"] == new_scanner_vendor).to_numpy()
            new = vendor & (coin < new_scanner_share)
        ids = [f"prod-{day}-{i:05d}" for i in range(rows_per_day)]
        frame = frame.with_columns(pl.Series("sample_id", ids, pl.Utf8))
        if new.any():
            frame = _new_scanner_rows(frame, new, test, model, out, darken)
            n_new += int(new.sum())
        frame = frame.with_columns(stamps(rng, day, rows_per_day)).drop("label")
        path = out / f"day{day}.parquet"
        frame.write_parquet(path)
        batches.append(path)
    (out / "slices.yaml").write_text(_SLICES_YAML, encoding="utf-8")
    return ProductionDemo(out / "reference.parquet", batches, out / "slices.yaml", n_new)


def _new_scanner_rows(
    frame: pl.DataFrame, new: np.ndarray, test: Any, model: Any, out: Path, darken: float
) -> pl.DataFrame:
    """Darken the images of the ``new`` rows, write them, and predict on what was written."""
    root = Path(test.root).resolve()
    _, written, shot = darker_shot(frame, new, root, out, darken, test.classes)
    preds = model.predict(shot)
    classes = list(preds.classes)
    update = pl.DataFrame(
        {
            "sample_id": preds.sample_ids,
            "_image": [str((out / p).resolve()) for p in written],
            "_prediction": [classes[int(k)] for k in preds.pred_probs.argmax(axis=1)],
            "_confidence": preds.pred_probs.max(axis=1).astype(np.float64),
        }
    )
    merged = frame.join(update, on="sample_id", how="left", maintain_order="left")
    hit = pl.col("_image").is_not_null()
    return merged.with_columns(
        pl.when(hit).then(pl.col("_image")).otherwise(pl.col("image")).alias("image"),
        pl.when(hit).then(pl.lit(NEW_SCANNER)).otherwise(pl.col("scanner")).alias("scanner"),
        pl.when(hit)
        .then(pl.col("_prediction"))
        .otherwise(pl.col("prediction"))
        .alias("prediction"),
        pl.when(hit)
        .then(pl.col("_confidence"))
        .otherwise(pl.col("confidence"))
        .alias("confidence"),
    ).drop("_image", "_prediction", "_confidence")
