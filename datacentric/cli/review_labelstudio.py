"""How ``datacentric review push|pull`` reports a Label Studio round trip.

``push DIR --to labelstudio --project NAME`` sends the review queue (or a saved scan's flagged
samples) as tasks, worst first; ``pull DIR --from labelstudio --project NAME`` commits the
annotators' labels as a new version. The server is ``--url`` or ``$LABEL_STUDIO_URL``; the token
is ``--token`` or ``$LABEL_STUDIO_API_KEY`` and is never printed. The verbs themselves are
the backend-neutral ones of :mod:`datacentric.cli.review_verbs`.
"""

from __future__ import annotations

from rich.table import Table

from datacentric.cli._common import console, esc
from datacentric.cli.review_verbs import show_pull, show_push
from datacentric.integrations.labelstudio.box_pull import BoxPullResult
from datacentric.integrations.labelstudio.pull import PullResult
from datacentric.integrations.labelstudio.push import PushResult

__all__ = ["show_labelstudio_box_pull", "show_labelstudio_pull", "show_labelstudio_push"]


@show_push.register
def show_labelstudio_push(res: PushResult) -> None:
    """One line: tasks created, already there, asked, and the project's page."""
    console.print(
        f"Pushed {res.created} new task(s) to project {res.project_id} ({res.existing} already "
        f"there, {res.n_items} asked) in {res.seconds:.1f}s: [bold]{esc(res.project_url)}[/]"
    )


def _show_read(res: PullResult | BoxPullResult) -> None:
    """How many tasks the pull read (and listed, when incremental)."""
    how = (
        f"updated since the last pull ({res.tasks_listed} listed by update time)"
        if res.incremental
        else "with annotations (full read)"
    )
    console.print(f"Read {res.tasks_read} task(s) {how} in {res.seconds:.1f}s.")


@show_pull.register
def show_labelstudio_pull(res: PullResult) -> None:
    """Decision counts, the new version, and the annotators' agreement."""
    counts = dict(res.decisions.group_by("status").len().rows())
    _show_read(res)
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


@show_pull.register
def show_labelstudio_box_pull(res: BoxPullResult) -> None:
    """Box edits by kind, skipped annotations with their reasons, the version, agreement."""
    counts = dict(res.edits.group_by("edit").len().rows())
    kinds = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("move", "relabel", "remove", "add"))
    _show_read(res)
    console.print(
        f"{res.n_annotations} box annotation(s); new edits: {kinds}; {res.ties.height} tie(s) "
        f"kept; {res.already_applied} image(s) already applied earlier."
    )
    for r in res.skipped.head(10).iter_rows(named=True):
        console.print(
            f"  skipped annotation {r['ls_annotation_id']} (task {r['task_id']}): "
            f"{esc(r['reason'])}"
        )
    if res.skipped.height > 10:
        console.print(f"  ... and {res.skipped.height - 10} more skipped annotation(s)")
    console.print(
        f"New version: [bold]{esc(res.version)}[/]"
        if res.version is not None
        else "Nothing to commit."
    )
    ag = res.agreement
    if ag.get("n_matched"):
        console.print(
            f"Agreement over {ag['n_images']} image(s) with 2+ annotators: {ag['n_matched']} "
            f"matched box pair(s), mean IoU {ag['mean_iou']:.3f}, same class "
            f"{ag['class_agreement']:.0%}; {ag['n_unmatched']} box(es) only one annotator drew."
        )
