"""What the classification and detection production demos share: the result, the model, the
draws, the time stamps and the darker new device's images.

:func:`datacentric.datasets.production.make_demo_production` dispatches on the dataset's
task to :mod:`~datacentric.datasets.production` (classification) or
:mod:`~datacentric.datasets.production_boxes` (detection); both draw their rows and stamp
them with the helpers here, in the same order, so a seed gives the same draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric.exceptions import InvalidParameterError, format_items

__all__ = ["ProductionDemo"]

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
"""Midnight (UTC) of the first production day."""


@dataclass(frozen=True)
class ProductionDemo:
    """Paths written by :func:`~datacentric.datasets.production.make_demo_production`.

    Attributes
    ----------
    reference : Path
        ``reference.parquet``: the test split's rows (and, for a classifier, its predictions).
    batches : list of Path
        ``day1.parquet`` ... ``dayN.parquet``, in order.
    slices : Path
        ``slices.yaml``: one slice per device and per group.
    n_new_scanner : int
        Rows of the last day that come from the new, darker device.
    task : str
        The dataset's task, ``"classification"`` or ``"detection"``.
    new_device : str
        The new device's value (``scanner_new`` or ``cam_new``) ...
    device_column : str
        ... in this column (``scanner`` or ``camera``).
    reference_boxes : Path or None
        Detection: ``boxes/reference.parquet``, the detector's boxes on the reference rows.
    batch_boxes : list of Path
        Detection: ``boxes/day1.parquet`` ..., the boxes of each batch (empty otherwise).

    Examples
    --------
    >>> made = ProductionDemo(Path("r.parquet"), [Path("day1.parquet")], Path("s.yaml"), 0)
    >>> made.task, made.reference_boxes, made.batch_boxes
    ('classification', None, [])
    """

    reference: Path
    batches: list[Path]
    slices: Path
    n_new_scanner: int
    task: str = "classification"
    new_device: str = "scanner_new"
    device_column: str = "scanner"
    reference_boxes: Path | None = None
    batch_boxes: list[Path] = field(default_factory=list)


def resolve_model(model: Any, root: Path, ds: Any) -> Any:
    """The fitted model to predict with: ``model`` (a recipe or a saved file) or the data
    loop's latest, checked against the dataset's task and classes before any work."""
    from datacentric.loop.log import ExperimentLog
    from datacentric.train import load_recipe

    if model is None:
        model = ExperimentLog(root).model_path()
        if model is None:
            raise InvalidParameterError(
                f"demo production: {root} has no saved model; run `datacentric loop {root}` "
                "first, or pass model= (a fitted recipe or a file written by recipe.save)."
            )
    if isinstance(model, (str, Path)):
        model = load_recipe(model, task=ds.task)
    kind = getattr(model, "task", "classification")
    if kind != ds.task:
        raise InvalidParameterError(
            f"demo production: the model {model!r} is a {kind} model and {root} a {ds.task} "
            f"dataset; pass a model trained on this dataset (`datacentric loop {root}`)."
        )
    classes = getattr(model, "classes_", None)
    if classes is not None and list(classes) != list(ds.classes):
        raise InvalidParameterError(
            f"demo production: the model was trained on the classes "
            f"{format_items(list(classes), limit=12)} and {root} has "
            f"{format_items(list(ds.classes), limit=12)}; pass a model trained on this dataset "
            f"(`datacentric loop {root}`)."
        )
    return model


def drawable_split(ds: Any, root: Path, columns: Sequence[str]) -> Any:
    """The ``test`` split, refused when empty or without the demo's slice ``columns``."""
    missing = [c for c in columns if c not in ds.manifest.columns]
    if missing:
        raise InvalidParameterError(
            f"demo production: {root} has no {format_items(missing)} column(s), which the "
            f"{ds.task} demo's slices use; pass a dataset written by `datacentric demo-data`."
        )
    test = ds.split("test")
    if len(test) == 0:
        raise InvalidParameterError(f"demo production: {root} has no 'test' split to draw from.")
    return test


def draw(rng: np.random.Generator, test_ids: np.ndarray, rows: int) -> tuple[list[str], np.ndarray]:
    """``rows`` test ids drawn with replacement, and one uniform coin per row."""
    drawn = [str(s) for s in rng.choice(test_ids, rows, replace=True)]
    return drawn, rng.random(rows)


def stamps(rng: np.random.Generator, day: int, rows: int) -> pl.Series:
    """``rows`` sorted UTC time stamps through production day ``day`` (1-based)."""
    seconds = np.sort(rng.integers(0, 86_400, rows))
    return pl.Series(
        "timestamp", [START + timedelta(days=day - 1, seconds=int(s)) for s in seconds]
    )


def darker_copy(root: Path, src: str, out: Path, sample_id: str, darken: float) -> str:
    """Write the image ``src`` (absolute, under ``root``) with its pixels times ``darken`` to
    ``out/images/<sample_id>.png``; return that path relative to ``out``."""
    from PIL import Image

    from datacentric.dataset.images import read_image

    # the same checked, capped read as every dataset image (src = root / manifest path)
    rel = Path(src).relative_to(root).as_posix()
    arr = read_image(root, rel, "RGB").astype(np.float32) * darken
    written = f"images/{sample_id}.png"
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(out / written)
    return written


def darker_shot(
    frame: pl.DataFrame,
    new: np.ndarray,
    root: Path,
    out: Path,
    darken: float,
    classes: Sequence[str],
    task: str = "classification",
) -> tuple[pl.DataFrame, list[str], Any]:
    """The ``new`` rows of ``frame``, the darker copies of their images written under ``out``
    (paths relative to ``out``, :func:`darker_copy`), and an unlabelled dataset of those
    copies for the model to predict on."""
    from datacentric.dataset import Dataset

    rows = frame.filter(pl.Series(new))
    written = [
        darker_copy(root, src, out, sid, darken)
        for sid, src in rows.select("sample_id", "image").iter_rows()
    ]
    shot = Dataset(
        pl.DataFrame(
            {"sample_id": rows["sample_id"], "image": written, "label": [None] * rows.height},
            schema={"sample_id": pl.Utf8, "image": pl.Utf8, "label": pl.Utf8},
        ),
        list(classes),
        root=out,
        task=task,
    )
    return rows, written, shot


def absolute_images(root: Path) -> pl.Expr:
    """The ``image`` column as absolute paths (manifest paths are relative to ``root``)."""
    return (pl.lit(str(root.resolve()) + "/") + pl.col("image")).alias("image")
