"""``datacentric review fiftyone DIR``: push a scan to FiftyOne, launch the App, pull verdicts.

The verb goes through the FiftyOne review backend (the same as ``review push --to fiftyone``
and ``review pull --from fiftyone``) and adds what only FiftyOne has: ``--launch`` serves the
App. This module also says how the FiftyOne results are printed for every review verb.
"""

from __future__ import annotations

from pathlib import Path

import typer

from datacentric.cli._common import console, esc, user_errors
from datacentric.cli._options import REV, slices_option
from datacentric.cli.review_inputs import (
    PREDICTIONS_FILE,
    SCAN_FILE,
    find_scan,
    load_predictions,
    loop_defaults,
    read_queue,
)
from datacentric.cli.review_verbs import show_pull, show_push
from datacentric.integrations.fiftyone.pull import PullResult
from datacentric.integrations.fiftyone.push import PushResult

__all__ = ["find_scan", "register", "show_fiftyone_pull", "show_fiftyone_push"]


@show_push.register
def show_fiftyone_push(pushed: PushResult) -> None:
    """Sample counts and the saved views."""
    console.print(
        f"FiftyOne dataset [bold]{esc(pushed.name)}[/]: {pushed.n_samples} samples (added "
        f"{pushed.added}, updated {pushed.updated}, deleted {pushed.deleted}, unchanged "
        f"{pushed.unchanged})",
        soft_wrap=True,
    )
    console.print(f"Saved views: {esc(', '.join(pushed.views))}", soft_wrap=True)


@show_pull.register
def show_fiftyone_pull(result: PullResult) -> None:
    """The committed version with its relabels and verdicts, or that nothing was new."""
    read = (
        f"; {result.n_read} sample(s) written in FiftyOne since the last pull were read"
        if result.incremental
        else ""
    )
    if result.version is None:
        console.print(
            f"Nothing new to pull ({result.already_applied} decision(s) already applied{read})."
        )
    else:
        console.print(
            f"[green]Committed version {result.version}[/]: {result.relabels.height} "
            f"relabel(s), {result.verdicts.height} verdict(s) (source {esc(result.source)}; "
            f"{result.already_applied} already applied{read})."
        )
    if result.not_in_dataset:
        console.print(
            f"[yellow]{len(result.not_in_dataset)} reviewed sample(s) are no longer in "
            "the dataset and were skipped.[/]"
        )


def fiftyone_cmd(
    directory: Path = typer.Argument(..., help="Dataset directory."),
    scan: Path | None = typer.Option(
        None,
        "--scan",
        help=f"Scan to push (default: the last `datacentric loop` iteration's scan, with its "
        f"predictions and review queue; else DIR/{SCAN_FILE} or ./{SCAN_FILE}).",
    ),
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        "-p",
        help=f"Predictions .npz (Predictions.save; default: the loop scan's, else "
        f"DIR/{PREDICTIONS_FILE} if present).",
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
    slices: Path | None = slices_option("YAML slices for the worst-slice views."),
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
    version: str | None = REV,
) -> None:
    """Review issues, predictions and worst slices in the FiftyOne App; pull verdicts back.

    Push (default) creates or incrementally updates a FiftyOne dataset; [bold]--launch[/]
    serves the App; [bold]--pull[/] turns the tags [cyan]confirmed_issue[/],
    [cyan]not_an_issue[/], [cyan]relabel:<class>[/] and label edits into a new version.
    """
    from datacentric.cli.data import _open_any
    from datacentric.integrations import review

    if pull:
        show_pull(review.pull(directory, backend="fiftyone", target=name, reviewer=reviewer))
        return
    picked = loop_defaults(directory, scan)
    scan_path = picked.scan if picked is not None else find_scan(directory, scan)
    from datacentric.issues import ScanResult

    ds = _open_any(directory, version)
    result_scan = ScanResult.load(scan_path)
    extra: dict[str, object] = {}
    if picked is not None:
        console.print(
            f"Using the {esc(picked.describe())} (--scan/--predictions choose others).",
            soft_wrap=True,
        )
        if predictions is None and pred_probs is None and picked.predictions is not None:
            predictions = picked.predictions
        if ds.task == "detection" and picked.predicted_boxes is not None:
            extra["predicted_boxes"] = picked.predicted_boxes
        if picked.queue is not None:
            extra["review_queue"] = read_queue(picked.queue)
    preds = load_predictions(directory, ds, predictions, pred_probs, embeddings)
    pushed = review.push(
        ds,
        result_scan,
        backend="fiftyone",
        target=name,
        predictions=preds,
        slices=slices,
        brain=brain,
        overwrite=overwrite,
        **extra,
    )
    show_push(pushed)
    if preds is None:
        console.print(
            "[yellow]No predictions[/] (--predictions or DIR/predictions.npz): no predictions "
            "field, worst-slice views or Brain fields."
        )
    if launch:
        from datacentric.integrations.fiftyone import launch_app

        app = launch_app(pushed.target, port=port)
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
