"""``datacentric review push --to NAME`` / ``review pull --from NAME``: any review backend.

The verbs look the backend up in the registry
(:func:`datacentric.integrations.review.get_backend`), so a backend registered by a plugin
works here without a change. Backend-specific flags (``--guide``, ``--brain``, ...) are
passed as that backend's options and refused by a backend that does not take them; any
other option is ``--option KEY=VALUE``. Results are printed by :func:`show_push` /
:func:`show_pull`, which backends extend for their own result types.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from datacentric.cli._common import console, esc, user_errors
from datacentric.cli._options import slices_option
from datacentric.exceptions import InvalidParameterError
from datacentric.integrations.review import PullResult, PushResult, ReviewBackend

__all__ = ["register", "show_pull", "show_push"]


@functools.singledispatch
def show_push(result: PushResult) -> None:
    """Print what a push did (backends register their own result types)."""
    where = f": [bold]{esc(result.url)}[/]" if result.url else ""
    console.print(
        f"Pushed {result.n_items} item(s) to {esc(result.backend)} {esc(repr(result.target))} "
        f"({result.created} created, {result.updated} updated, {result.unchanged} unchanged) "
        f"in {result.seconds:.1f}s{where}",
        soft_wrap=True,
    )


@functools.singledispatch
def show_pull(result: PullResult) -> None:
    """Print what a pull applied (backends register their own result types)."""
    console.print(
        f"Pulled from {esc(result.backend)} {esc(repr(result.target))}: {result.applied} "
        f"decision(s) applied, {result.already_applied} already applied earlier."
    )
    console.print(
        f"New version: [bold]{esc(result.version)}[/]"
        if result.version is not None
        else "Nothing to commit."
    )


def _options(
    backend: ReviewBackend, verb: str, flags: Mapping[str, tuple[str, Any]], extra: list[str]
) -> dict[str, Any]:
    """The given flags as ``backend``'s options (refusing flags it does not take), plus the
    ``--option KEY=VALUE`` pairs."""
    from datacentric.cli.review_inputs import parse_options

    known = backend.push_options if verb == "push" else backend.pull_options
    given = {flag: kv for flag, kv in flags.items() if kv[1] is not None}
    foreign = [flag for flag, (key, _) in given.items() if key not in known]
    if foreign:
        takes = [f"--{k.replace('_', '-')}" for k in known if f"--{k.replace('_', '-')}" in flags]
        raise InvalidParameterError(
            f"{', '.join(foreign)} do(es) not apply to `review {verb}` with the {backend.name} "
            f"backend; its flags are {takes} (other options: --option KEY=VALUE with KEY in "
            f"{sorted(known)})."
        )
    return {key: value for key, value in given.values()} | parse_options(extra)


_TARGET_HELP = (
    "Where: the Label Studio project title, or the FiftyOne dataset name (default "
    "datacentric-<folder name>)."
)
_URL = typer.Option(None, "--url", help="labelstudio: server URL (default: $LABEL_STUDIO_URL).")
_TOKEN = typer.Option(
    None,
    "--token",
    help="labelstudio: API token (default: $LABEL_STUDIO_API_KEY; prefer the variable, options "
    "show in ps).",
    show_default=False,
)
_OPTION = typer.Option(
    None, "--option", help="A backend option KEY=VALUE (repeatable), e.g. worst_slices=3."
)


def push_cmd(
    directory: Path = typer.Argument(..., help="A dataset directory."),
    to: str = typer.Option(
        "labelstudio", "--to", help="Review backend: labelstudio, fiftyone or a registered one."
    ),
    target: str | None = typer.Option(None, "--project", "--name", help=_TARGET_HELP),
    scan: Path | None = typer.Option(
        None,
        "--scan",
        help="Push this saved scan (default after `datacentric loop`: the latest iteration's "
        "review queue (labelstudio) or scan with its queue as a view (fiftyone), and its "
        "predictions; else fiftyone DIR/scan.parquet).",
    ),
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        help="Predictions .npz (Predictions.save; default: DIR/predictions.npz if present).",
    ),
    issue_type: list[str] | None = typer.Option(
        None, "--issue-type", "-t", help="labelstudio: only these issue types (repeatable)."
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", help="labelstudio: push the N worst only."
    ),
    guide: Path | None = typer.Option(
        None, "--guide", "-g", help="labelstudio: annotation guide shown as the instructions."
    ),
    images: str | None = typer.Option(
        None, "--images", help="labelstudio: auto | local-files | data-uri (default auto)."
    ),
    document_root: Path | None = typer.Option(
        None,
        "--document-root",
        help="labelstudio: the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT.",
    ),
    chunk_size: int | None = typer.Option(
        None, "--chunk-size", help="labelstudio: tasks per import request (default 500)."
    ),
    url: str | None = _URL,
    token: str | None = _TOKEN,
    slices: Path | None = slices_option("fiftyone: YAML slices for the worst-slice views."),
    brain: bool | None = typer.Option(
        None, "--brain/--no-brain", help="fiftyone: Brain uniqueness and mistakenness (on)."
    ),
    overwrite: bool | None = typer.Option(
        None, "--overwrite", help="fiftyone: replace a same-named dataset datacentric did not make."
    ),
    option: list[str] | None = _OPTION,
    select: str | None = typer.Option(
        None,
        "--select",
        help="Push unlabeled samples chosen by a strategy instead of flagged ones: "
        "uncertainty, margin, entropy, diversity, hybrid or random (docs/what-to-label-next.md).",
    ),
    budget: int | None = typer.Option(
        None, "--budget", help="With --select: how many unlabeled samples to push (default 100)."
    ),
) -> None:
    """Push samples to review to a review backend (pushing again duplicates nothing)."""
    from datacentric.cli.data import _open_any
    from datacentric.cli.review_inputs import (
        find_scan,
        load_predictions,
        loop_defaults,
        read_queue,
    )
    from datacentric.integrations import review
    from datacentric.issues import ScanResult

    backend = review.get_backend(to)
    flags = {
        "--issue-type": ("issue_types", issue_type or None),
        "--limit": ("limit", limit),
        "--guide": ("guide", guide),
        "--images": ("images", images),
        "--document-root": ("document_root", document_root),
        "--chunk-size": ("chunk_size", chunk_size),
        "--url": ("url", url),
        "--token": ("token", token),
        "--slices": ("slices", slices),
        "--brain": ("brain", brain),
        "--overwrite": ("overwrite", overwrite),
    }
    if select is None and budget is not None:
        raise InvalidParameterError(
            f"--budget {budget} needs --select STRATEGY (it sizes the batch of unlabeled samples "
            "to label); to push only the N worst flagged samples use --limit N."
        )
    if select is not None:
        _check_select(select, budget)
        flagged = (("--scan", scan), ("--issue-type", issue_type), ("--limit", limit))
        given = [f for f, v in flagged if v is not None and v != []]
        if given:
            raise InvalidParameterError(
                f"--select chooses unlabeled samples, so it does not take {', '.join(given)} "
                "(flagged samples); push those in a separate `review push` without --select."
            )
    options = _options(backend, "push", flags, option or [])
    items = ScanResult.load(find_scan(directory, scan)) if scan is not None else None
    ds = _open_any(directory)
    picked = loop_defaults(directory, scan)
    if picked is not None:  # after `datacentric loop DIR`: its latest scan, queue, predictions
        said = picked.describe()
        if predictions is None and picked.predictions is not None:
            predictions = picked.predictions
        if to == "fiftyone":
            items = ScanResult.load(picked.scan)
            if picked.queue is not None:
                options.setdefault("review_queue", read_queue(picked.queue))
            if ds.task == "detection" and picked.predicted_boxes is not None:
                options.setdefault("predicted_boxes", picked.predicted_boxes)
        elif picked.queue is not None:
            items = read_queue(picked.queue)
        console.print(
            f"Using the {esc(said)} (--scan/--predictions choose others).", soft_wrap=True
        )
    preds = load_predictions(directory, ds, predictions, None, None)
    if select is not None:
        items, preds = _selected(ds, preds, select, 100 if budget is None else budget)
    result = review.push(ds, items, backend=to, target=target, predictions=preds, **options)
    show_push(result)


def _check_select(select: str, budget: int | None) -> None:
    """``--select`` is a known strategy and ``--budget`` at least 1 (before anything loads)."""
    from datacentric.loop.select import STRATEGIES

    if select not in STRATEGIES:
        raise InvalidParameterError(
            f"--select must be one of {', '.join(STRATEGIES)}; received {select!r}. See "
            "docs/what-to-label-next.md for what each does (margin is a good default)."
        )
    if budget is not None and budget < 1:
        raise InvalidParameterError(
            f"--budget must be an integer >= 1; received {budget}. Pass how many unlabeled "
            "samples to send, e.g. --budget 100."
        )


def _selected(ds: Any, preds: Any, strategy: str, budget: int) -> tuple[Any, Any]:
    """The unlabeled samples ``strategy`` chooses, as review items, and the predictions
    (cross-validated now when there are none on disk) that pre-annotate them."""
    from datacentric.loop.select import as_review_items, select_unlabeled

    if preds is None:
        from datacentric.train import cross_val_predict

        console.print(
            "No predictions found (DIR/predictions.npz or --predictions): cross-validating the "
            "fixed recipe for them (minutes; `datacentric scan DIR --out DIR/scan.parquet` "
            "saves them for next time)."
        )
        preds = cross_val_predict(ds, progress=True)
    table = select_unlabeled(ds, preds, strategy=strategy, budget=budget)  # type: ignore[arg-type]
    n_unlabeled = int(ds.manifest["label"].null_count())
    took_all = " (the budget is more than that: all of them)" if budget > n_unlabeled else ""
    console.print(
        f"Chose {table.height} of {n_unlabeled} unlabeled sample(s) by {esc(strategy)}"
        f"{took_all}; the model's guesses are attached as pre-annotations."
    )
    return as_review_items(table), preds


def pull_cmd(
    directory: Path = typer.Argument(..., help="The dataset directory the items came from."),
    from_: str = typer.Option(
        "labelstudio", "--from", help="Review backend: labelstudio, fiftyone or a registered one."
    ),
    target: str | None = typer.Option(None, "--project", "--name", help=_TARGET_HELP),
    message: str | None = typer.Option(None, "--message", "-m", help="Commit message."),
    reviewer: str | None = typer.Option(
        None, "--reviewer", help="fiftyone: reviewer name for the lineage source."
    ),
    url: str | None = _URL,
    token: str | None = _TOKEN,
    full: bool = typer.Option(
        False,
        "--full",
        help="labelstudio: read every annotated task again, not only those updated since the "
        "last pull (nothing is applied twice either way).",
    ),
    option: list[str] | None = _OPTION,
) -> None:
    """Pull the verdicts into a new dataset version with lineage (nothing applied twice)."""
    from datacentric.integrations import review

    backend = review.get_backend(from_)
    flags = {
        "--full": ("full", True if full else None),
        "--reviewer": ("reviewer", reviewer),
        "--url": ("url", url),
        "--token": ("token", token),
    }
    options = _options(backend, "pull", flags, option or [])
    result = review.pull(directory, backend=from_, target=target, message=message, **options)
    show_pull(result)


def register(app: typer.Typer) -> None:
    """Add ``push`` and ``pull`` to the ``review`` group."""
    app.command("push")(user_errors(push_cmd))
    app.command("pull")(user_errors(pull_cmd))
