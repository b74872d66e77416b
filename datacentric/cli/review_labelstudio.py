"""``datacentric review push|pull``: the Label Studio round trip from the command line.

``push DIR --to labelstudio --project NAME`` sends the review queue (or a saved scan's flagged
samples) as tasks, worst first; ``pull DIR --from labelstudio --project NAME`` commits the
annotators' labels as a new version. The server is ``--url`` or ``$LABEL_STUDIO_URL``; the token
is ``--token`` or ``$LABEL_STUDIO_API_KEY`` and is never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from datacentric.cli._common import console, esc, user_errors

__all__ = ["register"]

if TYPE_CHECKING:
    from datacentric.integrations.labelstudio import LabelStudioClient

_TARGETS = ("labelstudio",)


def _check_target(value: str, option: str) -> None:
    from datacentric.exceptions import InvalidParameterError

    if value not in _TARGETS:
        raise InvalidParameterError(
            f"{option} must be one of {list(_TARGETS)} for push/pull; received {value!r}. "
            "(FiftyOne review is `datacentric review fiftyone`.)"
        )


def _client(url: str | None, token: str | None) -> LabelStudioClient:
    from datacentric.integrations.labelstudio import LabelStudioClient

    return LabelStudioClient(url, token)


_URL = typer.Option(None, "--url", help="Label Studio URL (default: $LABEL_STUDIO_URL).")
_TOKEN = typer.Option(
    None,
    "--token",
    help="API token (default: $LABEL_STUDIO_API_KEY; prefer the variable, options show in ps).",
    show_default=False,
)
_PROJECT = typer.Option(..., "--project", "-p", help="Label Studio project title.")


def push_cmd(
    directory: Path = typer.Argument(..., help="A versioned dataset directory."),
    to: str = typer.Option("labelstudio", "--to", help="Where to push: labelstudio."),
    project: str = _PROJECT,
    scan: Path | None = typer.Option(
        None, "--scan", help="Push this saved scan's flagged samples (default: review queue)."
    ),
    issue_type: list[str] | None = typer.Option(
        None, "--issue-type", "-t", help="Only these issue types (repeatable)."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Push the N worst only."),
    guide: Path | None = typer.Option(
        None, "--guide", "-g", help="Annotation guide (Markdown) shown as the instructions."
    ),
    images: str = typer.Option(
        "auto", "--images", help="auto | local-files | data-uri: how tasks reference images."
    ),
    document_root: Path | None = typer.Option(
        None,
        "--document-root",
        help="The server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: that variable).",
    ),
    chunk_size: int = typer.Option(500, help="Tasks per import request."),
    url: str | None = _URL,
    token: str | None = _TOKEN,
) -> None:
    """Push flagged samples to Label Studio as tasks (resumable; never duplicates a task)."""
    from datacentric.integrations.labelstudio import push_review
    from datacentric.issues import ScanResult

    _check_target(to, "--to")
    mode: Any = images
    items = ScanResult.load(scan) if scan is not None else None
    res = push_review(
        directory,
        items,
        project=project,
        issue_types=issue_type or None,
        client=_client(url, token),
        guide=guide,
        images=mode,
        document_root=document_root,
        chunk_size=chunk_size,
        limit=limit,
    )
    console.print(
        f"Pushed {res.created} new task(s) to project {res.project_id} ({res.existing} already "
        f"there, {res.n_items} asked) in {res.seconds:.1f}s: [bold]{esc(res.project_url)}[/]"
    )


def pull_cmd(
    directory: Path = typer.Argument(..., help="The dataset directory the tasks came from."),
    from_: str = typer.Option("labelstudio", "--from", help="Where to pull from: labelstudio."),
    project: str = _PROJECT,
    message: str | None = typer.Option(None, "--message", "-m", help="Commit message."),
    url: str | None = _URL,
    token: str | None = _TOKEN,
) -> None:
    """Pull completed annotations into a new dataset version (majority vote; ties kept)."""
    from datacentric.integrations.labelstudio import pull_annotations

    _check_target(from_, "--from")
    res = pull_annotations(
        directory,
        project=project,
        client=_client(url, token),
        message=message,
    )
    counts = dict(res.decisions.group_by("status").len().rows())
    console.print(
        f"{res.annotations.height} annotation(s) by {res.annotations['annotator'].n_unique()} "
        f"annotator(s); new decisions: {counts.get('relabeled', 0)} relabeled, "
        f"{counts.get('confirmed', 0)} confirmed, {counts.get('tie', 0)} tie(s) kept; "
        f"{res.n_already_applied} sample(s) already applied earlier."
    )
    console.print(
        f"New version: [bold]{esc(res.version)}[/]"
        if res.version is not None
        else "Nothing to commit."
    )
    pairs = res.agreement.get("pairwise") or []
    if pairs:
        t = Table(title="Annotator agreement (Cohen's kappa on shared items)")
        for col in ("annotator a", "annotator b", "shared", "kappa"):
            t.add_column(col, justify="right" if col in ("shared", "kappa") else "left")
        for p in pairs:
            k = p["cohens_kappa"]
            t.add_row(
                esc(p["annotator_a"]),
                esc(p["annotator_b"]),
                str(p["n_shared"]),
                "n/a" if k is None else f"{k:.3f}",
            )
        console.print(t)
    for a in res.agreement.get("annotators") or []:
        if a["agreement_with_consensus"] is not None:
            console.print(
                f"  {esc(a['annotator'])}: {a['n_labeled']} labeled, agrees with the majority on "
                f"{a['agreement_with_consensus']:.0%} of {a['n_with_consensus']} shared item(s)"
            )


def register(app: typer.Typer) -> None:
    """Add ``push`` and ``pull`` to the ``review`` group."""
    app.command("push")(user_errors(push_cmd))
    app.command("pull")(user_errors(pull_cmd))
