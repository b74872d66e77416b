"""Pull completed Label Studio annotations back into a new dataset version, with lineage.

A pull is three steps:

1. :func:`fetch_annotations` reads the tasks with at least one annotation, page by page
   (a server failure here leaves the dataset untouched): every such task on the first pull
   (or with ``full=True``), afterwards only those updated since the last committed pull (the
   journal's cursor, see :mod:`.incremental`);
2. :func:`~datacentric.integrations.labelstudio.decision.decide` (pure) takes each sample's
   majority vote of its (not skipped) annotations; a tie keeps the current label and is
   reported; samples whose annotations were all applied before are skipped;
3. :func:`apply_decisions` relabels and commits one new version whose lineage rows name the
   annotators (``source="labelstudio:<email>[,<email>]"``) and the task and annotation ids
   (``reason``).

The ids of applied annotations go to the project journal, so pulling again applies nothing
twice; an annotation changed on the server after it was applied is applied again. The
journal's cursor moves only once the new version is committed, so a pull interrupted before
then is read again by the next one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._validation import Interval, NonEmptyString, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.integrations.labelstudio.box_pull import BoxPullResult, pull_boxes
from datacentric.integrations.labelstudio.boxes import MAX_REGIONS
from datacentric.integrations.labelstudio.client import LabelStudioClient, LabelStudioError
from datacentric.integrations.labelstudio.config import result_label
from datacentric.integrations.labelstudio.decision import decide
from datacentric.integrations.labelstudio.incremental import ReadStats, read_tasks
from datacentric.integrations.labelstudio.state import ProjectState, PullCursor
from datacentric.integrations.review.results import PullResult as ReviewPullResult
from datacentric.issues.agreement import agreement_report

__all__ = [
    "ANNOTATION_SCHEMA",
    "FetchedAnnotations",
    "PullResult",
    "annotations_frame",
    "apply_decisions",
    "fetch_annotations",
    "pull_annotations",
]

ANNOTATION_SCHEMA: dict[str, Any] = {
    "task_id": pl.Int64,
    "annotation_id": pl.Int64,
    "sample_id": pl.Utf8,
    "annotator": pl.Utf8,
    "annotator_id": pl.Int64,
    "label": pl.Utf8,
    "updated_at": pl.Utf8,
}
_AGREEMENT_KEYS = ("fleiss_kappa", "krippendorff_alpha", "pairwise", "annotators")

#: A project: its title or its id on the server.
_PROJECT: list[object] = [NonEmptyString(), int]
_PAGE_SIZE: list[object] = [Interval(Integral, 1, None, closed="left")]


@dataclass(frozen=True, kw_only=True)
class PullResult(ReviewPullResult):
    """What a pull found and applied (the shared review fields, plus Label Studio's own).

    Attributes
    ----------
    backend, target : str
        ``"labelstudio"`` and the project title.
    version : int or None
        The committed version (``None`` when nothing changed or ``commit=False``).
    applied : int
        Relabels made now.
    already_applied : int
        Samples whose annotations were all applied by an earlier pull (skipped; also
        :attr:`n_already_applied`).
    dataset : Dataset
        The dataset after the pull (the new version when something changed).
    project_id : int
    annotations : polars.DataFrame
        The usable annotations of the tasks read (:data:`ANNOTATION_SCHEMA`): every one of
        the project on a full pull, those of new or updated tasks on an incremental one.
    decisions : polars.DataFrame
        One row per sample with new annotations (see
        :data:`~datacentric.integrations.labelstudio.decision.DECISION_SCHEMA`): ``status`` is
        ``relabeled``, ``confirmed`` (the annotators kept the label), ``tie`` (label kept)
        or ``unknown_label``.
    agreement : dict
        :func:`~datacentric.issues.agreement.agreement_report` over :attr:`annotations`.
    incremental : bool
        Whether only tasks updated since the last committed pull were read.
    tasks_read : int
        Tasks read in full (with their annotations) from the server.
    tasks_listed : int
        Tasks listed by id and ``updated_at`` to find what changed (incremental pulls;
        a cheap call: no annotations, no data).
    seconds : float
    """

    dataset: Dataset = field(repr=False)
    project_id: int
    annotations: pl.DataFrame = field(repr=False)
    decisions: pl.DataFrame = field(repr=False)
    agreement: dict[str, Any] = field(repr=False)
    incremental: bool = False
    tasks_read: int = 0
    tasks_listed: int = 0

    @property
    def n_already_applied(self) -> int:
        """Samples skipped because an earlier pull applied all their annotations."""
        return self.already_applied

    @property
    def relabeled(self) -> pl.DataFrame:
        """Decisions that changed a label."""
        return self.decisions.filter(pl.col("status") == "relabeled")

    @property
    def ties(self) -> pl.DataFrame:
        """Samples whose annotators split evenly (label kept)."""
        return self.decisions.filter(pl.col("status") == "tie")


@dataclass(frozen=True)
class FetchedAnnotations:
    """What :func:`fetch_annotations` read from the server.

    ``stats`` says how many tasks were listed and read; ``cursor`` is the journal cursor to
    save once the annotations are applied and committed.
    """

    url: str
    project_id: int
    project: str
    annotations: pl.DataFrame
    stats: ReadStats = field(default_factory=lambda: ReadStats(incremental=False), repr=False)
    cursor: PullCursor | None = field(default=None, repr=False)


def annotations_frame(tasks: Iterable[dict[str, Any]], users: dict[int, str]) -> pl.DataFrame:
    """Long table of the usable annotations of ``tasks`` (skipped/empty ones left out).

    ``tasks`` is consumed once, so an iterator over pages keeps one page in memory.

    Examples
    --------
    >>> from datacentric.integrations.labelstudio.config import choice_result
    >>> task = {"id": 7, "data": {"sample_id": "s1"}, "annotations": [
    ...     {"id": 1, "completed_by": 2, "result": choice_result("a"), "updated_at": "t"},
    ...     {"id": 2, "completed_by": {"id": 3}, "result": [], "was_cancelled": True}]}
    >>> annotations_frame([task], {2: "ann@x"}).select("sample_id", "annotator", "label").rows()
    [('s1', 'ann@x', 'a')]
    """
    rows: list[dict[str, Any]] = []
    for t in tasks:
        sid = (t.get("data") or {}).get("sample_id")
        if sid is None:
            continue
        for a in t.get("annotations") or []:
            if a.get("was_cancelled"):
                continue
            label = result_label(a.get("result"))
            if label is None:
                continue
            by = a.get("completed_by")
            uid = int(by["id"]) if isinstance(by, dict) else (int(by) if by is not None else -1)
            rows.append(
                {
                    "task_id": int(t["id"]),
                    "annotation_id": int(a["id"]),
                    "sample_id": str(sid),
                    "annotator": users.get(uid, f"user:{uid}"),
                    "annotator_id": uid,
                    "label": label,
                    "updated_at": str(a.get("updated_at") or a.get("created_at") or ""),
                }
            )
    return pl.DataFrame(rows, schema=ANNOTATION_SCHEMA)


def _resolve_project(client: LabelStudioClient, project: str | int) -> tuple[int, str]:
    if isinstance(project, int):
        p = client.call(f"get project {project}", client.sdk.projects.get, project, read=True)
        return project, str(p.title)
    pid = client.find_project(project)
    if pid is None:
        raise InvalidParameterError(
            f"Label Studio at {client.url} has no project titled {project!r}; push to it first "
            f"(`datacentric review push DIR --to labelstudio --project {project!r}`)."
        )
    return pid, project


@validate_call({"project": _PROJECT, "page_size": _PAGE_SIZE, "cursor": [PullCursor, None]})
def fetch_annotations(
    client: LabelStudioClient,
    project: str | int,
    *,
    page_size: int = 500,
    cursor: PullCursor | None = None,
) -> FetchedAnnotations:
    """Read the usable annotations of ``project`` (title or id) from the server.

    Every annotated task is read; with a ``cursor`` (the journal's, see
    :mod:`.incremental`) only the tasks updated since it.

    Raises
    ------
    LabelStudioError
        When the server fails (after the client's retries).
    InvalidParameterError
        When no project has that title.
    """
    pid, title = _resolve_project(client, project)
    return _fetch(client, pid, title, page_size, cursor)


def _fetch(
    client: LabelStudioClient,
    pid: int,
    title: str,
    page_size: int,
    cursor: PullCursor | None,
) -> FetchedAnnotations:
    users = client.users()
    tasks, stats = read_tasks(client, pid, cursor, page_size=page_size)
    frame = annotations_frame(tasks, users)  # consumes the pages one at a time
    return FetchedAnnotations(
        client.url, pid, title, frame, stats=stats, cursor=stats.next_cursor(cursor)
    )


def _journal(
    ds: Dataset, client: LabelStudioClient, pid: int, title: str, full: bool
) -> tuple[ProjectState, PullCursor | None]:
    """The project journal and the cursor to read from (``None``: read every task)."""
    assert ds.root is not None
    state = ProjectState.load(ds.root, client.url, title)
    if state.project_id not in (None, pid):  # another project of that title: start over
        state.applied, state.cursor, state.cursor_problem = {}, None, None
    state.project_id = pid
    if full:
        return state, None
    if state.cursor_problem is not None:
        raise SchemaError(
            f"{state.path}: {state.cursor_problem} (the pull cursor of the Label Studio "
            f"journal of project {title!r}). Pull with full=True (CLI --full) to read every "
            "task and write a fresh cursor; annotations already applied are still not "
            "applied twice."
        )
    return state, state.cursor


def _read_failed(exc: LabelStudioError, ds: Dataset) -> LabelStudioError:
    return type(exc)(
        f"{exc} Nothing was applied: the dataset stays at version {ds.version} and every "
        "annotation is still pending. Pull again when the server answers.",
        exc.status_code,
    )


def apply_decisions(
    ds: Dataset,
    decisions: pl.DataFrame,
    fetched: FetchedAnnotations,
    agreement: dict[str, Any],
    *,
    commit: bool = True,
    message: str | None = None,
) -> int | None:
    """Relabel the ``relabeled`` decisions with lineage and commit them as one version.

    Returns the new version, or ``None`` when nothing was relabeled or ``commit=False``
    (then the relabels stay pending on ``ds``).
    """
    relabel = decisions.filter(pl.col("status") == "relabeled")
    if not relabel.height:
        return None
    pid = fetched.project_id
    ds.relabel(
        relabel["sample_id"].to_list(),
        relabel["decided"].to_list(),
        reason=[
            f"Label Studio project {pid} task {r['task_id']}: {r['votes']} of "
            f"{r['n_annotations']} annotation(s) chose {r['decided']!r} (user ids "
            f"{r['annotator_ids']}; annotation ids {r['annotation_ids']})"
            for r in relabel.iter_rows(named=True)
        ],
        source=[f"labelstudio:{a}" for a in relabel["annotators"].to_list()],
    )
    if not commit:
        return None
    counts = dict(decisions.group_by("status").len().rows())
    n_annotators = fetched.annotations["annotator"].n_unique()
    return ds.commit(
        message
        or f"Label Studio project {fetched.project!r}: {relabel.height} relabels from "
        f"{n_annotators} annotator(s); {counts.get('tie', 0)} ties kept",
        meta={
            "labelstudio": {
                "url": fetched.url,
                "project_id": pid,
                "project": fetched.project,
                "decisions": counts,
                "agreement": {k: agreement[k] for k in _AGREEMENT_KEYS},
            }
        },
    )


@validate_call(
    {
        "project": _PROJECT,
        "commit": ["boolean"],
        "message": [str, None],
        "page_size": _PAGE_SIZE,
        "iou_threshold": [Interval(Real, 0, 1, closed="right")],
        "max_regions": [Interval(Integral, 1, None, closed="left")],
        "full": ["boolean"],
    }
)
def pull_annotations(
    dataset: Dataset | str | Path,
    *,
    project: str | int,
    client: LabelStudioClient | None = None,
    url: str | None = None,
    token: str | None = None,
    commit: bool = True,
    message: str | None = None,
    page_size: int = 500,
    iou_threshold: float = 0.5,
    max_regions: int = MAX_REGIONS,
    full: bool = False,
) -> PullResult | BoxPullResult:
    """Apply the completed annotations of ``project`` to ``dataset`` as a new version.

    A detection dataset's annotations become box edits (see :mod:`.box_pull`) and the
    result is a :class:`~.box_pull.BoxPullResult`.

    Parameters
    ----------
    dataset : Dataset or path
        The folder-backed dataset the tasks were pushed from (a path opens HEAD).
    project : str or int
        Project title (as pushed) or id.
    client : LabelStudioClient, optional
        Or ``url`` / ``token`` (defaults ``$LABEL_STUDIO_URL`` / ``$LABEL_STUDIO_API_KEY``).
    commit : bool
        Commit the relabels as a new version (and mark the annotations applied). With
        ``False`` the edits stay pending on ``result.dataset`` and nothing is marked.
    message : str, optional
        Commit message (default names the project and the counts).
    page_size : int
        Tasks per page when reading the project.
    iou_threshold : float
        Detection only: least IoU for two annotators' boxes (or an annotator's box and a
        current box) to be the same object.
    max_regions : int
        Detection only: an annotation with more regions is skipped with the reason.
    full : bool
        Read every annotated task again instead of only those updated since the last
        committed pull (the journal's cursor; see :mod:`.incremental`). The first pull of a
        project is always full. Either way nothing already applied is applied again.

    Raises
    ------
    LabelStudioError
        When the server fails while reading; nothing is applied and the cursor stays, so
        the next pull reads the same tasks again.
    SchemaError
        When the journal's cursor is damaged (the message says to pull with ``full=True``).
    """
    t0 = time.perf_counter()
    ds = Dataset.open(dataset) if isinstance(dataset, (str, Path)) else dataset
    if ds.root is None:
        raise InvalidParameterError(
            "pull_annotations needs the folder-backed dataset the tasks were pushed from."
        )
    client = client or LabelStudioClient(url, token)
    try:
        pid, title = _resolve_project(client, project)
    except LabelStudioError as exc:
        raise _read_failed(exc, ds) from None
    state, cursor = _journal(ds, client, pid, title, full)
    if ds.task == "detection":
        return _pull_boxes(ds, client, pid, title, state, cursor, commit, message, page_size,
                           iou_threshold, max_regions, t0)  # fmt: skip
    try:  # read everything first: a failure here leaves the dataset untouched
        fetched = _fetch(client, pid, title, page_size, cursor)
    except LabelStudioError as exc:
        raise _read_failed(exc, ds) from None
    ann = fetched.annotations.filter(pl.col("sample_id").is_in(ds.sample_ids))
    fetched = replace(fetched, annotations=ann)  # annotations of other samples play no part
    current = dict(ds.manifest.select("sample_id", "label").rows())
    decided = decide(ann, current, ds.classes, state.applied)
    agreement = agreement_report(
        ann.filter(pl.col("label").is_in(ds.classes)).select("sample_id", "annotator", "label"),
        ds.classes,
    )
    version = apply_decisions(ds, decided.table, fetched, agreement, commit=commit, message=message)
    if commit:  # after the commit: an interrupted pull leaves the cursor where it was
        state.applied |= decided.applied
        state.cursor = fetched.cursor
        state.save()
    return PullResult(
        backend="labelstudio",
        target=fetched.project,
        version=version,
        applied=decided.relabeled.height,
        already_applied=decided.already_applied,
        seconds=time.perf_counter() - t0,
        dataset=ds,
        project_id=fetched.project_id,
        annotations=ann,
        decisions=decided.table,
        agreement=agreement,
        incremental=fetched.stats.incremental,
        tasks_read=fetched.stats.n_read,
        tasks_listed=fetched.stats.n_listed,
    )


def _pull_boxes(
    ds: Dataset,
    client: LabelStudioClient,
    pid: int,
    title: str,
    state: ProjectState,
    cursor: PullCursor | None,
    commit: bool,
    message: str | None,
    page_size: int,
    iou_threshold: float,
    max_regions: int,
    t0: float,
) -> BoxPullResult:
    """The detection half of :func:`pull_annotations`."""
    try:  # read everything first: a failure here leaves the dataset untouched
        users = client.users()
        pages, stats = read_tasks(client, pid, cursor, page_size=page_size)
        tasks = list(pages)
    except LabelStudioError as exc:
        raise _read_failed(exc, ds) from None
    result, decided = pull_boxes(
        ds,
        tasks,
        users,
        url=client.url,
        project_id=pid,
        project=title,
        applied=state.applied,
        commit=commit,
        message=message,
        iou_threshold=iou_threshold,
        max_regions=max_regions,
        t0=t0,
    )
    if commit:  # after the commit: an interrupted pull leaves the cursor where it was
        state.applied |= decided.applied
        state.cursor = stats.next_cursor(cursor)
        state.save()
    return replace(
        result,
        incremental=stats.incremental,
        tasks_read=stats.n_read,
        tasks_listed=stats.n_listed,
    )
