"""The ``init`` verb: make a folder of images a versioned dataset (its first version)."""

from __future__ import annotations

from pathlib import Path

import typer

from datacentric._validation import Options
from datacentric.cli._common import check_option, console, user_errors
from datacentric.dataset import Dataset, VersionStore
from datacentric.dataset._schema import VALID_SPLITS
from datacentric.dataset.images import CheckImages
from datacentric.exceptions import InvalidParameterError, StoreError

__all__ = ["register"]


def init_cmd(
    directory: Path = typer.Argument(
        ..., help="Dataset folder: manifest.csv/.parquet, or an ImageFolder layout."
    ),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="Ordered, comma-separated class names (default: classes.txt, else sorted labels).",
    ),
    message: str = typer.Option(
        "initial version", "--message", "-m", help="Message of the first version."
    ),
    decode: bool = typer.Option(
        False, "--decode", help="Decode every image now (slow; catches truncated files)."
    ),
    coco: Path | None = typer.Option(
        None,
        "--coco",
        help="A COCO instances JSON: make DIR a detection dataset with its images and boxes.",
    ),
    images_dir: str = typer.Option(
        ".", "--images-dir", help="With --coco: the folder under DIR that file_name is relative to."
    ),
    split: str = typer.Option("train", "--split", help="With --coco: the split of every image."),
    yolo: bool = typer.Option(
        False,
        "--yolo",
        help="DIR is a YOLO folder (images/, labels/, data.yaml or classes.txt): a detection "
        "dataset.",
    ),
) -> None:
    """Create the first version of a dataset folder, so every other verb can use it."""
    if coco is not None and yolo:
        raise InvalidParameterError(
            "datacentric init: --coco and --yolo are two ways to read boxes; pass one of them."
        )
    if coco is None and (images_dir != "." or split != "train"):
        raise InvalidParameterError(
            "datacentric init: --images-dir and --split only apply with --coco ann.json."
        )
    if coco is not None:
        check_option("init", "--split", split, Options(str, VALID_SPLITS), default="train")
    store = VersionStore(directory)
    if store.exists():
        raise StoreError(
            f"{directory} is already a versioned dataset (HEAD is version {store.head()}); "
            "see `datacentric history DIR`. Edit it through the library or the review verbs."
        )
    names = [c.strip() for c in classes.split(",")] if classes is not None else None
    check: CheckImages = "decode" if decode else "exists"
    if coco is not None:
        if names is not None:
            raise InvalidParameterError(
                "datacentric init: with --coco the classes are the file's categories; leave "
                "out --classes."
            )
        ds = Dataset.from_coco(
            directory, coco, images_dir=images_dir, split=split, check_images=check
        )
    elif yolo:
        ds = Dataset.from_yolo(directory, classes=names, check_images=check)
    else:
        ds = Dataset.from_folder(directory, classes=names, check_images=check)
    number = ds.commit(message)
    boxes = f", {ds.annotations.height} boxes" if ds.annotations is not None else ""
    console.print(
        f"Initialised {directory}: version {number}, {len(ds)} samples{boxes}, "
        f"{len(ds.classes)} classes.",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``init`` to ``app``."""
    app.command("init")(user_errors(init_cmd))
