"""Push flagged samples to a Label Studio project as tasks, worst first, resumably.

Each sample becomes one task: its image (served by the project's local-files storage, or
inlined as a data URI), its ``sample_id``, issue types, severity and the scan's detail, plus a
pre-annotation (a prediction with ``score`` and ``model_version``). Tasks already in the
project are looked up by ``sample_id`` first and never created again, so a push interrupted by
an outage resumes where it stopped when run again, and re-pushing the same items is a no-op.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import polars as pl

from datacentric._read import read_parquet
from datacentric._validation import (
    Constraint,
    Interval,
    Options,
    SequenceOf,
    validate_call,
)
from datacentric.dataset import Dataset
from datacentric.dataset.images import check_paths_inside, read_image_bytes
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError, format_items
from datacentric.integrations.labelstudio.box_push import box_tasks, check_box_inputs
from datacentric.integrations.labelstudio.boxes import BOX_FROM, box_label_config
from datacentric.integrations.labelstudio.client import LabelStudioClient, LabelStudioError
from datacentric.integrations.labelstudio.config import (
    choice_result,
    instructions_html,
    label_config,
)
from datacentric.integrations.labelstudio.state import ProjectState
from datacentric.integrations.review.results import PushResult as ReviewPushResult

if TYPE_CHECKING:
    from datacentric.integrations.guide import AnnotationGuide
    from datacentric.issues.result import ScanResult
    from datacentric.train.recipe import Predictions

__all__ = ["ENV_DOCUMENT_ROOT", "PushResult", "ensure_project", "push_review", "review_items"]

ENV_DOCUMENT_ROOT = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
ImageMode = Literal["auto", "local-files", "data-uri"]


class _ProjectTitle(Constraint):
    """A Label Studio project title: at least 3 characters."""

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, str) and len(value) >= 3

    def __str__(self) -> str:
        return "a project title of at least 3 characters"

    def invalid_values(self) -> list[object]:
        return ["ab"]


#: What a Label Studio project title accepts (``push_review``, ``ensure_project``).
PROJECT_TITLE = [_ProjectTitle()]


@dataclass(frozen=True, kw_only=True)
class PushResult(ReviewPushResult):
    """What a push did (the shared review fields, plus the project and its task ids).

    Attributes
    ----------
    backend, target : str
        ``"labelstudio"`` and the project title.
    url : str
        The project's page on the server (also :attr:`project_url`).
    n_items : int
        Samples asked for.
    created : int
        Tasks created by this call.
    updated : int
        Always 0: a task that exists is never rewritten.
    unchanged : int
        Samples that already had a task (skipped; nothing duplicated; also :attr:`existing`).
    project_id : int
    task_ids : dict
        sample_id → task id, for every asked sample.
    seconds : float
    """

    project_id: int
    task_ids: dict[str, int]

    @property
    def project_url(self) -> str:
        """The project's page on the server."""
        return self.url or ""

    @property
    def existing(self) -> int:
        """Samples that already had a task (the same as ``unchanged``)."""
        return self.unchanged


def review_items(
    items: pl.DataFrame | ScanResult | None,
    root: Path | None,
    ds: Dataset,
    issue_types: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per sample to review: ``sample_id, issue_type, severity, detail,
    suggested_label`` (issue types and details of a sample joined), worst first (by
    ``priority`` when the items have it, as the loop's ranked queue does, else severity).

    ``items`` is an IssueTable (only ``is_issue`` rows are kept when that column is present),
    a :class:`~datacentric.issues.ScanResult` (its flagged rows), or ``None`` for the review
    queue of the last loop iteration recorded under ``root``. ``issue_types`` keeps only
    rows of those issue types.

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset.from_arrays(np.zeros((2, 4, 4)), ["a", "b"], classes=["a", "b"])
    >>> t = pl.DataFrame({"sample_id": ["0", "0", "1"], "issue_type": ["label", "dark", "dark"],
    ...                   "severity": [0.9, 0.2, 0.5], "detail": ["x", "y", "z"]})
    >>> review_items(t, None, ds).select("sample_id", "issue_type", "severity").rows()
    [('0', 'label, dark', 0.9), ('1', 'dark', 0.5)]
    """
    t = issue_rows(items, root)
    if isinstance(t.schema.get("issue_types"), pl.List):  # a ranked queue: one row per sample
        t = t.drop("issue_type", strict=False).explode("issue_types")
        t = t.rename({"issue_types": "issue_type"})
    defaults: dict[str, pl.Expr] = {
        "issue_type": pl.lit("review"),
        "severity": pl.lit(0.0),
        "detail": pl.lit(""),
        "suggested_label": pl.lit(None, dtype=pl.Utf8),
    }
    t = t.with_columns([e.alias(c) for c, e in defaults.items() if c not in t.columns])
    if issue_types:
        present = sorted(set(t["issue_type"].cast(pl.Utf8).drop_nulls().to_list()))
        absent = sorted(set(issue_types) - set(present))
        if absent:
            raise InvalidParameterError(
                f"issue type(s) {absent} are not among the items to push, which have "
                f"{present}. Choose among those."
            )
        t = t.filter(pl.col("issue_type").is_in(list(issue_types)))
    t = t.with_columns(pl.col("severity").cast(pl.Float64).fill_null(0.0)).sort(
        ["severity", "sample_id"], descending=[True, False]
    )
    ranked = "priority" in t.columns  # the loop's queue keeps its own order (rank_review_queue)
    out = t.group_by("sample_id", maintain_order=True).agg(
        pl.col("issue_type").cast(pl.Utf8).unique(maintain_order=True).str.join(", "),
        pl.col("severity").max(),
        pl.col("detail").cast(pl.Utf8).drop_nulls().unique(maintain_order=True).str.join(" "),
        pl.col("suggested_label").cast(pl.Utf8).drop_nulls().first(),
        *(
            [pl.col("predicted_prob").cast(pl.Float64).max()]
            if "predicted_prob" in t.columns
            else []
        ),
        *([pl.col("priority").cast(pl.Float64).max()] if ranked else []),
    )
    outside = out.filter(~pl.col("sample_id").is_in(ds.manifest["sample_id"].implode()))
    if outside.height:
        ids = outside["sample_id"].to_list()
        raise InvalidDatasetError(
            f"{len(ids)} sample(s) to push are not in the dataset: {format_items(ids)}. Push "
            "items of the dataset version that was scanned.",
            rows=ids,
        )
    by = "priority" if ranked else "severity"
    return out.sort([by, "sample_id"], descending=[True, False])


def issue_rows(items: pl.DataFrame | ScanResult | None, root: Path | None) -> pl.DataFrame:
    """The flagged rows of ``items`` (an IssueTable's ``is_issue`` rows, a ScanResult's
    flagged rows, or the last loop's review queue under ``root`` for ``None``)."""
    if items is None:
        items = _last_review_queue(root)
    elif not isinstance(items, pl.DataFrame):
        items = items.flagged()
    if "sample_id" not in items.columns:
        raise InvalidParameterError(
            f"the items to push need a 'sample_id' column; received columns {items.columns}. "
            "Pass an IssueTable, a ScanResult or the review queue of fix()."
        )
    if "is_issue" in items.columns:
        items = items.filter(pl.col("is_issue"))
    return items


def _last_review_queue(root: Path | None) -> pl.DataFrame:
    from datacentric.loop.log import ExperimentLog

    if root is not None:
        found = sorted(ExperimentLog(root).path.glob("iter_*/review.parquet"))
        if found:
            return read_parquet(
                found[-1],
                what="the review queue of a data-loop iteration",
                fix="Run `datacentric loop DIR` again, or pass a scan: `--scan scan.parquet`.",
                columns={"sample_id": "string"},
            )
    raise InvalidParameterError(
        f"nothing to push: no items were given and {root} has no review queue (run `datacentric "
        "loop DIR` first, or pass a scan: `--scan scan.parquet`)."
    )


@validate_call({"title": PROJECT_TITLE})
def ensure_project(
    client: LabelStudioClient,
    title: str,
    classes: list[str],
    guide: AnnotationGuide | None,
    task: str = "classification",
) -> int:
    """Id of the project titled ``title``; created (labeling config, instructions) if missing.

    An existing project must offer a choice (a box label, for ``task="detection"``) for
    every class; its instructions are replaced by the guide when one is given.
    """
    detection = task == "detection"
    pid = client.find_project(title)
    if pid is not None:
        found = client.call(f"get project {pid}", client.sdk.projects.get, pid, read=True)
        config = str(found.label_config or "")
        tag, what = ("<Label value=", "box label") if detection else ("<Choice value=", "choice")
        missing = [c for c in classes if f"{tag}{quoteattr(c)}" not in config]
        if detection and f'<RectangleLabels name="{BOX_FROM}"' not in config:
            missing = list(classes)
        if missing:
            raise InvalidParameterError(
                f"the Label Studio project {title!r} (id {pid}) was not made for these classes: "
                f"its labeling config has no {what} for {missing}. Push to a new project title, "
                "or fix the project's labeling config in Label Studio."
            )
        if guide is not None:
            client.call(
                f"update the instructions of project {pid}",
                client.sdk.projects.update,
                pid,
                expert_instruction=instructions_html(guide, classes, task),
                show_instruction=True,
            )
        return pid
    project = client.call(
        f"create project {title!r}",
        client.sdk.projects.create,
        title=title,
        label_config=box_label_config(classes) if detection else label_config(classes),
        expert_instruction=instructions_html(guide, classes, task),
        show_instruction=True,
        description=f"datacentric review: {len(classes)} classes"
        + (" (boxes)" if detection else ""),
    )
    return int(project.id)


def _check_prelabel_version(
    client: LabelStudioClient, pid: int, title: str, model_version: str
) -> None:
    """Label Studio pre-labels (copies into the annotator's draft) only the predictions of
    the project's ``model_version``: box tasks pushed with another would show no boxes."""
    found = client.call(f"get project {pid}", client.sdk.projects.get, pid, read=True)
    current = str(getattr(found, "model_version", "") or "")
    if current and current != model_version:
        raise InvalidParameterError(
            f"the Label Studio project {title!r} (id {pid}) pre-labels tasks with the "
            f"predictions of model_version {current!r}, so boxes pushed with model_version="
            f"{model_version!r} would not be shown to annotators. Push with model_version="
            f"{current!r}, or to a new project title."
        )


def _local_files_url(
    client: LabelStudioClient, pid: int, ds_root: Path, document_root: Path
) -> Callable[[str], str]:
    root = ds_root.resolve()
    doc = document_root.resolve()
    if not root.is_relative_to(doc):
        raise InvalidParameterError(
            f"images='local-files' needs the dataset inside the server's document root: the "
            f"dataset is at {root} but ${ENV_DOCUMENT_ROOT} is {doc}. Start Label Studio with "
            f"{ENV_DOCUMENT_ROOT} set to a parent of the dataset, or push with images='data-uri'."
        )
    storages = client.call(
        f"list local storages of project {pid}",
        client.sdk.import_storage.local.list,
        read=True,
        project=pid,
    )
    if not any(Path(str(s.path)).resolve() == root for s in storages):
        client.call(
            f"add local-files storage {root} to project {pid} (the server needs "
            f"LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and {ENV_DOCUMENT_ROOT} = a parent "
            "of it)",
            client.sdk.import_storage.local.create,
            project=pid,
            path=str(root),
            title=f"datacentric {root.name}",
            use_blob_urls=False,
        )
    # the paths were checked to stay inside the dataset root (links resolved) before
    return lambda rel: "/data/local-files/?d=" + quote(str((root / rel).relative_to(doc)))


def _data_uri(root: Path) -> Callable[[str], str]:
    def encode(rel: str) -> str:
        data = read_image_bytes(root, rel)  # inside the root, links resolved, a regular file
        mime = mimetypes.guess_type(Path(rel).name)[0] or "application/octet-stream"
        return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")

    return encode


def _predictions(
    items: pl.DataFrame, predictions: Predictions | None, labels: dict[str, str | None]
) -> dict[str, tuple[str, float | None]]:
    """sample_id → (pre-annotated label, score)."""
    out: dict[str, tuple[str, float | None]] = {}
    if predictions is not None:
        pred = predictions.take(items["sample_id"].to_list()).to_polars()
        for sid, lab, conf in pred.select("sample_id", "pred_label", "confidence").rows():
            out[str(sid)] = (str(lab), float(conf))
        return out
    prob = "predicted_prob" in items.columns
    for row in items.iter_rows(named=True):
        sid = row["sample_id"]
        if row["suggested_label"] is not None:
            out[sid] = (row["suggested_label"], row["predicted_prob"] if prob else None)
        elif labels.get(sid) is not None:
            out[sid] = (str(labels[sid]), None)
    return out


@validate_call(
    {
        "project": PROJECT_TITLE,
        "issue_types": [SequenceOf(str), None],
        "model_version": [str],
        "images": [Options(str, ("auto", "local-files", "data-uri"))],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "limit": [Interval(Integral, 0, None, closed="left"), None],
        "on_chunk": ["callable", None],
    }
)
def push_review(
    dataset: Dataset | str | Path,
    items: pl.DataFrame | ScanResult | None = None,
    *,
    project: str,
    issue_types: Sequence[str] | None = None,
    client: LabelStudioClient | None = None,
    url: str | None = None,
    token: str | None = None,
    guide: AnnotationGuide | str | Path | None = None,
    predictions: Predictions | str | Path | None = None,
    predicted_boxes: pl.DataFrame | str | Path | None = None,
    model_version: str = "datacentric",
    images: ImageMode = "auto",
    document_root: str | Path | None = None,
    chunk_size: int = 500,
    limit: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> PushResult:
    """Push samples to review to the Label Studio project ``project`` (created if missing).

    Parameters
    ----------
    dataset : Dataset or path
        A folder-backed dataset (a path opens its HEAD version).
    items : IssueTable, ScanResult or None
        What to review (see :func:`review_items`); default: the last loop review queue.
    project : str
        Project title; found by title, or created with the labeling config for the dataset's
        classes and the guide as instructions.
    issue_types : sequence of str, optional
        Push only items of these issue types.
    client : LabelStudioClient, optional
        Or ``url`` / ``token`` (defaults ``$LABEL_STUDIO_URL`` / ``$LABEL_STUDIO_API_KEY``).
    guide : AnnotationGuide or path, optional
        Shown to annotators as the project instructions (when the project is created).
    predictions : Predictions or path, optional
        Pre-annotations with their confidence as ``score``, checked by
        :meth:`~datacentric.train.Predictions.coerce` (matched by sample id and class name;
        every pushed sample needs one); default: the scan's suggested
        label (score = ``predicted_prob`` when the items carry it), else the current label.
        Classification only.
    predicted_boxes : polars.DataFrame or path, optional
        Detection only: the detector's boxes (``sample_id, label, x, y, w, h, score``,
        pixels; checked by :func:`~datacentric.dataset.read_predicted_boxes`), shown
        read-only beside the current boxes (see :mod:`.box_push`).
    model_version : str
        Recorded on every prediction.
    images : {"auto", "local-files", "data-uri"}
        ``local-files``: served by a local-files storage of the project (the dataset must be
        under the server's document root); ``data-uri``: the image bytes inlined in the task;
        ``auto``: local-files when a document root is known, else data-uri.
    document_root : path, optional
        The server's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` (default: that env var).
    chunk_size : int
        Tasks per import request; the journal is saved after each.
    limit : int, optional
        Push only the ``limit`` worst samples.
    on_chunk : callable, optional
        Called as ``on_chunk(created_so_far, to_create)`` after each imported chunk.

    Raises
    ------
    LabelStudioError
        When the server fails; the message says how many tasks were created and kept, and
        that running the same push again resumes (tasks are looked up by ``sample_id``).
    """
    from datacentric.integrations.guide import AnnotationGuide

    t0 = time.perf_counter()
    ds = Dataset.open(dataset) if isinstance(dataset, (str, Path)) else dataset
    if ds.root is None:
        raise InvalidParameterError(
            "push_review needs a folder-backed dataset (its images are sent to Label Studio); "
            "save it with ds.to_folder(DIR) first."
        )
    pred_boxes = check_box_inputs(ds, predictions, predicted_boxes)
    if predictions is not None:  # checked before anything is sent (classes by name, ranges)
        from datacentric.train.recipe import Predictions as _Predictions

        predictions = _Predictions.coerce(predictions, ds, allow_missing=True, allow_extra=True)
    client = client or LabelStudioClient(url, token)
    if isinstance(guide, (str, Path)):
        guide = AnnotationGuide.load(guide)
    rows = issue_rows(items, ds.root)
    table = review_items(rows, ds.root, ds, issue_types)
    if issue_types and "issue_type" in rows.columns:
        rows = rows.filter(pl.col("issue_type").is_in(list(issue_types)))
    if limit is not None:
        table = table.head(limit)
    doc = document_root or os.environ.get(ENV_DOCUMENT_ROOT)
    mode = ("local-files" if doc else "data-uri") if images == "auto" else images
    if mode == "local-files" and not doc:
        raise InvalidParameterError(
            f"images='local-files' needs the server's document root: pass document_root= (CLI "
            f"--document-root) or set ${ENV_DOCUMENT_ROOT}; or push with images='data-uri'."
        )

    state = ProjectState.load(ds.root, client.url, project)
    try:
        pid = ensure_project(client, project, ds.classes, guide, ds.task)
        if ds.task == "detection":
            _check_prelabel_version(client, pid, project, model_version)
        image_url = (
            _local_files_url(client, pid, Path(ds.root), Path(str(doc)))
            if mode == "local-files"
            else _data_uri(Path(ds.root))
        )
        existing = {
            str(t["data"]["sample_id"]): int(t["id"])
            for t in client.iter_tasks(pid, include="id,data", page_size=1000)
            if isinstance(t.get("data"), dict) and t["data"].get("sample_id") is not None
        }
    except LabelStudioError as exc:
        raise type(exc)(
            f"{exc} This push created no task yet; run it again when the server answers.",
            exc.status_code,
        ) from None
    if state.project_id != pid:  # a new project of that title: its own tasks and cursor
        state.project_id, state.tasks, state.cursor = pid, {}, None
    state.tasks = {s: existing[s] for s in existing}
    state.save()
    todo = table.filter(~pl.col("sample_id").is_in(list(existing)))
    manifest = ds.manifest.select("sample_id", "image", "label", "split")
    todo = todo.join(manifest, on="sample_id", how="left", maintain_order="left")
    # nothing read or pointed at outside the dataset root (symbolic links resolved)
    check_paths_inside(Path(ds.root), todo["sample_id"].to_list(), todo["image"].to_list())
    tasks: list[dict[str, Any]] = []
    if ds.task == "detection":
        tasks = box_tasks(ds, todo, rows, pred_boxes, image_url, model_version)
    labels = dict(manifest.select("sample_id", "label").rows())
    preds = _predictions(todo, predictions, labels) if ds.task != "detection" else {}
    for row in todo.iter_rows(named=True) if ds.task != "detection" else ():
        sid = row["sample_id"]
        task: dict[str, Any] = {
            "data": {
                "image": image_url(row["image"]),
                "sample_id": sid,
                "issue_type": row["issue_type"],
                "severity": round(float(row["severity"]), 6),
                "detail": row["detail"] or "",
                "label": row["label"],
                "split": row["split"],
            }
        }
        if sid in preds:
            lab, score = preds[sid]
            pred: dict[str, Any] = {"result": choice_result(lab), "model_version": model_version}
            if score is not None:
                pred["score"] = float(score)
            task["predictions"] = [pred]
        tasks.append(task)

    created = 0
    for start in range(0, len(tasks), chunk_size):
        chunk = tasks[start : start + chunk_size]
        try:
            resp = client.call(
                f"import {len(chunk)} tasks into project {pid}",
                client.sdk.projects.import_tasks,
                id=pid,
                request=chunk,
                return_task_ids=True,
            )
        except LabelStudioError as exc:
            state.save()
            raise type(exc)(
                f"{exc} Pushed {created} of {len(tasks)} new tasks before the failure; they and "
                f"the {len(existing)} tasks already there are kept in project {pid}, and the "
                f"journal {state.path} records them. Run the same push again to resume: tasks "
                "are looked up by sample_id, so none is duplicated.",
                exc.status_code,
            ) from None
        ids = list(getattr(resp, "task_ids", None) or [])
        for task, tid in zip(chunk, ids, strict=False):
            state.tasks[task["data"]["sample_id"]] = int(tid)
        created += len(chunk)
        state.save()
        if on_chunk is not None:
            on_chunk(created, len(tasks))
    asked = table["sample_id"].to_list()
    return PushResult(
        backend="labelstudio",
        target=project,
        url=f"{client.url}/projects/{pid}/data",
        n_items=len(asked),
        created=created,
        updated=0,
        unchanged=len(set(asked) & set(existing)),
        seconds=time.perf_counter() - t0,
        project_id=pid,
        task_ids={s: state.tasks[s] for s in asked if s in state.tasks},
    )
