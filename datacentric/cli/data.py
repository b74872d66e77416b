"""Data verbs: ``demo-data``, ``info``, ``history``, ``diff``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich.table import Table

from datacentric._io import atomic_write, ensure_writable
from datacentric.cli._common import check_option, console, esc, user_errors
from datacentric.cli._options import REV
from datacentric.dataset import Dataset, VersionStore

__all__ = ["register"]

DEMO_TASKS = ("classification", "detection")


def _open_any(directory: Path, version: str | None = None) -> Dataset:
    """HEAD of the store when there is one, else the raw folder."""
    if version is not None or VersionStore(directory).exists():
        return Dataset.open(directory, version=version)
    return Dataset.from_folder(directory)


def demo_data(
    directory: Path = typer.Argument(..., help="Where to write the demo dataset."),
    seed: int = typer.Option(0, help="Seed of the simulated problems."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing demo there."),
    task: str = typer.Option(
        "classification",
        "--task",
        help="classification (one digit per image) or detection (scenes of digits with boxes).",
    ),
) -> None:
    """Write the bundled demo dataset (real handwritten digits with planted problems)."""
    from datacentric._validation import Options

    check_option("demo-data", "--task", task, Options(str, DEMO_TASKS), default="detection")
    if task == "detection":
        from datacentric.datasets import load_detection_demo

        ds = load_detection_demo(directory, seed=seed, overwrite=overwrite, progress=True)
        n_boxes = 0 if ds.annotations is None else ds.annotations.height
        console.print(
            f"[green]Wrote[/] {len(ds)} scenes, {n_boxes} boxes, {len(ds.classes)} classes to "
            f"[bold]{esc(directory)}[/] (version {ds.version}). Ground truth of the planted "
            f"problems: {esc(directory / 'ground_truth_boxes.parquet')}, "
            f"{esc(directory / 'ground_truth_images.parquet')}"
        )
        return
    from datacentric.datasets import load_demo

    ds = load_demo(directory, seed=seed, overwrite=overwrite, progress=True)
    console.print(
        f"[green]Wrote[/] {len(ds)} samples, {len(ds.classes)} classes to "
        f"[bold]{esc(directory)}[/] (version {ds.version}). Ground truth of the planted "
        f"problems: {esc(directory / 'ground_truth.parquet')}"
    )


def demo_production(
    directory: Path = typer.Argument(..., help="The demo dataset (after `datacentric loop`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for reference and batches."),
    weights: Path | None = typer.Option(
        None, "--weights", help="Model file (default: the data loop's latest model)."
    ),
    days: int = typer.Option(3, help="Daily production batches."),
    rows_per_day: int = typer.Option(600, "--rows-per-day", help="Rows in each batch."),
    seed: int = typer.Option(0, help="Seed of the draws."),
    darken: float = typer.Option(
        0.45, "--darken", help="Pixel factor of the new device's images, in (0, 1]."
    ),
) -> None:
    """Simulate production traffic for the monitor: a darker new device on the last day.

    On a classification demo, a vendor's rows come from a new scanner; on a detection demo
    (``demo-data --task detection``), a site's from a new camera, and every batch has the
    detector's predicted boxes (``OUT/boxes/dayN.parquet``) for ``monitor ingest --boxes``.
    """
    from datacentric.datasets.production import make_demo_production

    ensure_writable(out, "--out", folder=True)
    made = make_demo_production(
        directory, out, model=weights, days=days, rows_per_day=rows_per_day, seed=seed,
        darken=darken,
    )  # fmt: skip
    console.print(
        f"[green]Wrote[/] reference {esc(made.reference)} and {len(made.batches)} batches "
        f"({esc(', '.join(p.name for p in made.batches))}); on the last day "
        f"{made.n_new_scanner} rows come from {esc(made.new_device)} (darker images). "
        f"Slices: {esc(made.slices)}"
    )
    if made.reference_boxes is not None:
        console.print(
            f"Predicted boxes: reference {esc(made.reference_boxes)}, batches "
            f"{esc(', '.join(str(p) for p in made.batch_boxes))}"
        )
    console.print("Monitor them by slice:")
    console.print(esc(_monitor_command(made, out)), soft_wrap=True, highlight=False)


def _monitor_command(made: Any, out: Path) -> str:
    """The ``datacentric monitor ingest`` command line for what ``demo-production`` wrote."""
    import shlex

    store = out / "monitor.duckdb"
    parts = ["datacentric", "monitor", "ingest", *map(str, made.batches)]
    parts += ["--store", str(store), "--reference", str(made.reference)]
    parts += ["--slices", str(made.slices), "--config", "slices/monitor_alerts.yaml"]
    if made.reference_boxes is not None:
        parts += ["--reference-boxes", str(made.reference_boxes)]
        for box in made.batch_boxes:
            parts += ["--boxes", str(box)]
    report = ["datacentric", "monitor", "report", "--store", str(store)]
    report += ["-o", str(out / "monitor.html")]
    return f"{shlex.join(parts)}\n{shlex.join(report)}"


def info(
    directory: Path = typer.Argument(..., help="Dataset directory."),
    version: str | None = REV,
) -> None:
    """Summarise a dataset: samples per split and class, metadata columns, version."""
    ds = _open_any(directory, version)
    s = ds.summary()
    head = f"version {s['version']}" if s["version"] is not None else "not versioned yet"
    console.print(
        f"[bold]{esc(directory)}[/] — {s['n_samples']} samples, {s['n_classes']} classes, {head}"
    )
    splits = Table(title="Samples per split")
    splits.add_column("split")
    splits.add_column("n", justify="right")
    for k, v in s["per_split"].items():
        splits.add_row(esc(k), str(v))
    console.print(splits)
    classes = Table(title="Samples per class")
    classes.add_column("class")
    classes.add_column("n", justify="right")
    classes.add_column("share", justify="right")
    for k, v in s["per_class"].items():
        classes.add_row(esc(k), str(v), f"{v / max(s['n_samples'], 1):.1%}")
    console.print(classes)
    meta = ds.metadata_columns
    if meta:
        t = Table(title="Metadata (slice) columns")
        t.add_column("column")
        t.add_column("distinct", justify="right")
        t.add_column("top values")
        for col in meta:
            vc = ds.manifest[col].cast(pl.Utf8).value_counts(sort=True).head(4)
            top = ", ".join(f"{r[0]} ({r[1]})" for r in vc.rows())
            t.add_row(esc(col), str(ds.manifest[col].n_unique()), esc(top))
        console.print(t)


def history(directory: Path = typer.Argument(..., help="Dataset directory.")) -> None:
    """List the committed versions, newest first."""
    frame = Dataset.open(directory, check_images="none").history()
    t = Table(title=f"History of {esc(directory)}")
    for col in ("version", "created_at", "n_samples", "n_changes", "message"):
        t.add_column(col, justify="right" if col.startswith("n_") or col == "version" else "left")
    for row in frame.iter_rows(named=True):
        t.add_row(
            *(esc(row[c]) for c in ("version", "created_at", "n_samples", "n_changes", "message"))
        )
    console.print(t)


def diff(
    directory: Path = typer.Argument(..., help="Dataset directory."),
    v1: str = typer.Argument(..., help="Older version (int, HEAD, HEAD~N)."),
    v2: str = typer.Argument("HEAD", help="Newer version (default HEAD)."),
    out: Path | None = typer.Option(None, "--out", help="Write the full diff (.csv or .parquet)."),
    limit: int = typer.Option(20, help="Rows to show."),
) -> None:
    """Show what changed between two versions, sample by sample."""
    if out is not None:
        ensure_writable(out, "--out")
    frame = Dataset.open(directory, check_images="none").diff(v1, v2)
    counts = dict(frame.group_by("change").len().rows())
    console.print(
        f"{esc(v1)} → {esc(v2)}: [green]{counts.get('added', 0)} added[/], "
        f"[red]{counts.get('removed', 0)} removed[/], "
        f"[yellow]{counts.get('modified', 0)} field changes[/]"
    )
    t = Table()
    for col in frame.columns:
        t.add_column(esc(col))
    for row in frame.head(limit).iter_rows():
        t.add_row(*(esc(v) for v in row))
    console.print(t)
    if out is not None:
        if out.suffix == ".parquet":
            atomic_write(out, frame.write_parquet)
        else:
            atomic_write(out, frame.write_csv)
        console.print(f"Full diff ({frame.height} rows) written to {esc(out)}")


def register(app: typer.Typer) -> None:
    """Add the data verbs to the top-level app."""
    app.command("demo-data")(user_errors(demo_data))
    app.command("demo-production")(user_errors(demo_production))
    app.command("info")(user_errors(info))
    app.command("history")(user_errors(history))
    app.command("diff")(user_errors(diff))
