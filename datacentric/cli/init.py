"""The ``init`` verb: make a folder of images a versioned dataset (its first version)."""

from __future__ import annotations

from pathlib import Path

import typer

from datacentric.cli._common import console, user_errors
from datacentric.dataset import Dataset, VersionStore
from datacentric.exceptions import StoreError

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
) -> None:
    """Create the first version of a dataset folder, so every other verb can use it."""
    store = VersionStore(directory)
    if store.exists():
        raise StoreError(
            f"{directory} is already a versioned dataset (HEAD is version {store.head()}); "
            "see `datacentric history DIR`. Edit it through the library or the review verbs."
        )
    names = [c.strip() for c in classes.split(",")] if classes is not None else None
    ds = Dataset.from_folder(
        directory, classes=names, check_images="decode" if decode else "exists"
    )
    number = ds.commit(message)
    console.print(
        f"Initialised {directory}: version {number}, {len(ds)} samples, {len(ds.classes)} classes.",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``init`` to ``app``."""
    app.command("init")(user_errors(init_cmd))
