"""``datacentric review fiftyone DIR``: push a scan to FiftyOne, launch the App, pull verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from datacentric.cli._common import console, esc, user_errors
from datacentric.exceptions import InvalidParameterError

__all__ = ["find_scan", "register"]

SCAN_FILE = "scan.parquet"
PREDICTIONS_FILE = "predictions.npz"


def find_scan(directory: Path, scan: Path | None = None) -> Path:
    """The scan to push: ``scan`` if given, else ``DIR/scan.parquet``, else a
    ``./scan.parquet`` that was made from ``DIR`` (what ``datacentric scan DIR`` writes).

    Raises
    ------
    InvalidParameterError
        When there is none; the message says to run ``datacentric scan DIR`` first.

    Examples
    --------
    >>> import tempfile
    >>> find_scan(Path(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: no scan found for ...
    """
    if scan is not None:
        if not scan.is_file():
            raise InvalidParameterError(
                f"--scan {scan} does not exist; pass the .parquet file written by "
                f"`datacentric scan {directory} --out FILE`."
            )
        return scan
    inside = directory / SCAN_FILE
    if inside.is_file():
        return inside
    here = Path(SCAN_FILE)
    if here.is_file() and _scanned_root(here) == directory.resolve():
        return here
    raise InvalidParameterError(
        f"no scan found for {directory} (looked for {inside} and a ./{SCAN_FILE} made from "
        f"it). Run `datacentric scan {directory} --out {inside}` first, or pass --scan FILE."
    )


def _scanned_root(path: Path) -> Path | None:
    from datacentric.issues import ScanResult

    try:
        root = ScanResult.load(path).meta.get("root")
    except Exception:  # an unreadable file is simply not this dataset's scan
        return None
    return Path(root).resolve() if root else None


def _predictions(
    directory: Path, ds: Any, path: Path | None, probs: Path | None, emb: Path | None
) -> Any:
    """The predictions to push, read and checked by ``Predictions.coerce`` (matched by
    sample id and class name; samples without one get none)."""
    from datacentric.train import Predictions
    from datacentric.train.coerce import coerce_embeddings

    if path is None and probs is None and (directory / PREDICTIONS_FILE).is_file():
        path = directory / PREDICTIONS_FILE
    if path is not None:
        if path.suffix != ".npz" or not path.is_file():
            raise InvalidParameterError(
                f"--predictions must be an existing .npz written by Predictions.save(), "
                f"received {path}."
            )
        return Predictions.coerce(path, ds, allow_missing=True, allow_extra=True)
    if probs is None:
        if emb is not None:
            raise InvalidParameterError("--embeddings needs --pred-probs as well.")
        return None
    if probs.suffix != ".npy":
        raise InvalidParameterError(
            f"--pred-probs must be an existing .npy file (N x K, manifest order), received "
            f"{probs}; pass a predictions .npz with --predictions."
        )
    given = Predictions.coerce(probs, ds)
    if emb is None:
        return given
    return Predictions(
        given.sample_ids, given.pred_probs, coerce_embeddings(emb, ds), classes=given.classes
    )


def fiftyone_cmd(
    directory: Path = typer.Argument(..., help="Dataset directory."),
    scan: Path | None = typer.Option(
        None, "--scan", help=f"Scan to push (default: DIR/{SCAN_FILE} or ./{SCAN_FILE})."
    ),
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        "-p",
        help=f"Predictions .npz (Predictions.save; default: DIR/{PREDICTIONS_FILE} if present).",
    ),
    pred_probs: Path | None = typer.Option(
        None, "--pred-probs", help="Or pred_probs .npy (N x K, manifest order)."
    ),
    embeddings: Path | None = typer.Option(
        None, "--embeddings", help="With --pred-probs: embeddings .npy (N x D)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="FiftyOne dataset name (default: datacentric-<folder name>)."
    ),
    slices: Path | None = typer.Option(
        None, "--slices", "-s", help="YAML slices for the worst-slice views."
    ),
    brain: bool = typer.Option(
        True, "--brain/--no-brain", help="FiftyOne Brain uniqueness and mistakenness."
    ),
    launch: bool = typer.Option(
        False, "--launch", help="Serve the App on 127.0.0.1 on the worst-issues view."
    ),
    port: int | None = typer.Option(None, "--port", help="App port (default: a free one)."),
    pull: bool = typer.Option(
        False, "--pull", help="Pull reviewer tags and label edits back as a new version."
    ),
    reviewer: str | None = typer.Option(None, "--reviewer", help="Reviewer name for lineage."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a same-named dataset datacentric did not create."
    ),
    version: str | None = typer.Option(None, "--version", "-v", help="Dataset version."),
) -> None:
    """Review issues, predictions and worst slices in the FiftyOne App; pull verdicts back.

    Push (default) creates or incrementally updates a FiftyOne dataset; [bold]--launch[/]
    serves the App; [bold]--pull[/] turns the tags [cyan]confirmed_issue[/],
    [cyan]not_an_issue[/], [cyan]relabel:<class>[/] and label edits into a new version.
    """
    from datacentric.cli.data import _open_any

    if pull:
        from datacentric.integrations.fiftyone import from_fiftyone

        result = from_fiftyone(directory, name, reviewer=reviewer)
        if result.version is None:
            console.print(
                f"Nothing new to pull ({result.already_applied} decision(s) already applied)."
            )
        else:
            console.print(
                f"[green]Committed version {result.version}[/]: {result.relabels.height} "
                f"relabel(s), {result.verdicts.height} verdict(s) (source {esc(result.source)}; "
                f"{result.already_applied} already applied)."
            )
        if result.not_in_dataset:
            console.print(
                f"[yellow]{len(result.not_in_dataset)} reviewed sample(s) are no longer in "
                "the dataset and were skipped.[/]"
            )
        return
    scan_path = find_scan(directory, scan)
    from datacentric.integrations.fiftyone import launch_app, to_fiftyone
    from datacentric.issues import ScanResult

    ds = _open_any(directory, version)
    result_scan = ScanResult.load(scan_path)
    preds = _predictions(directory, ds, predictions, pred_probs, embeddings)
    pushed = to_fiftyone(
        ds, result_scan, preds, name=name, slices=slices, brain=brain, overwrite=overwrite
    )
    console.print(
        f"FiftyOne dataset [bold]{esc(pushed.name)}[/]: {pushed.n_samples} samples (added "
        f"{pushed.added}, updated {pushed.updated}, deleted {pushed.deleted}, unchanged "
        f"{pushed.unchanged})",
        soft_wrap=True,
    )
    console.print(f"Saved views: {esc(', '.join(pushed.views))}", soft_wrap=True)
    if preds is None:
        console.print(
            "[yellow]No predictions[/] (--predictions or DIR/predictions.npz): no predictions "
            "field, worst-slice views or Brain fields."
        )
    if launch:
        app = launch_app(pushed.name, port=port)
        console.print(f"FiftyOne App: [bold]{esc(app.url)}[/] (Ctrl-C to stop)")
        try:
            app.wait()
        except KeyboardInterrupt:
            pass
        finally:
            app.close()


def register(app: typer.Typer) -> None:
    """Add the ``fiftyone`` verb to the ``review`` group."""
    app.command("fiftyone")(user_errors(fiftyone_cmd))
