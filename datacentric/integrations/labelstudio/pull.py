"""Pull completed Label Studio annotations back into a new dataset version, with lineage.

Every task with at least one annotation is read, page by page. A sample's decision is the
majority vote of its (not skipped) annotations; a tie keeps the current label and is reported.
Relabels are committed as one new version whose lineage rows name the annotators
(``source="labelstudio:<email>[,<email>]"``) and the task and annotation ids (``reason``).
The ids of applied annotations go to the project journal, so pulling again applies nothing
twice; an annotation changed on the server after it was applied is applied again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.integrations.labelstudio.client import LabelStudioClient, LabelStudioError
from datacentric.integrations.labelstudio.config import result_label
from datacentric.integrations.labelstudio.state import ProjectState
from datacentric.issues.agreement import agreement_report, majority_vote

__all__ = ["ANNOTATION_SCHEMA", "PullResult", "annotations_frame", "pull_annotations"]

ANNOTATION_SCHEMA: dict[str, Any] = {
    "task_id": pl.Int64,
    "annotation_id": pl.Int64,
    "sample_id": pl.Utf8,
    "annotator": pl.Utf8,
    "annotator_id": pl.Int64,
    "label": pl.Utf8,
    "updated_at": pl.Utf8,
}


@dataclass
class PullResult:
    """What a pull found and applied.

    Attributes
    ----------
    dataset : Dataset
        The dataset after the pull (the new version when something changed).
    version : int or None
        The committed version (``None`` when nothing changed or ``commit=False``).
    annotations : polars.DataFrame
        Every usable annotation of the project (:data:`ANNOTATION_SCHEMA`).
    decisions : polars.DataFrame
        One row per sample with new annotations: ``sample_id, task_id, old, decided, votes,
        n_annotations, annotators, annotator_ids, annotation_ids, status`` where status is
        ``relabeled``, ``confirmed`` (the annotators kept the label), ``tie`` (label kept) or
        ``unknown_label``.
    agreement : dict
        :func:`~datacentric.issues.agreement.agreement_report` over all annotations.
    n_already_applied : int
        Samples whose annotations were all applied by an earlier pull (skipped).
    seconds : float
    """

    dataset: Dataset
    version: int | None
    annotations: pl.DataFrame
    decisions: pl.DataFrame
    agreement: dict[str, Any]
    n_already_applied: int
    seconds: float

    @property
    def relabeled(self) -> pl.DataFrame:
        """Decisions that changed a label."""
        return self.decisions.filter(pl.col("status") == "relabeled")

    @property
    def ties(self) -> pl.DataFrame:
        """Samples whose annotators split evenly (label kept)."""
        return self.decisions.filter(pl.col("status") == "tie")


def annotations_frame(tasks: list[dict[str, Any]], users: dict[int, str]) -> pl.DataFrame:
    """Long table of the usable annotations of ``tasks`` (skipped/empty ones left out).

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
) -> PullResult:
    """Apply the completed annotations of ``project`` to ``dataset`` as a new version.

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
    """
    t0 = time.perf_counter()
    ds = Dataset.open(dataset) if isinstance(dataset, (str, Path)) else dataset
    if ds.root is None:
        raise InvalidParameterError(
            "pull_annotations needs the folder-backed dataset the tasks were pushed from."
        )
    client = client or LabelStudioClient(url, token)
    query = {
        "filters": {
            "conjunction": "and",
            "items": [
                {
                    "filter": "filter:tasks:total_annotations",
                    "operator": "greater",
                    "type": "Number",
                    "value": 0,
                }
            ],
        }
    }
    try:  # read everything first: a failure here leaves the dataset untouched
        pid, title = _resolve_project(client, project)
        # no include=: with it, the 1.23 server returns annotations as bare ids for imported ones
        tasks = list(client.iter_tasks(pid, query=query, fields="all", page_size=page_size))
        users = client.users()
    except LabelStudioError as exc:
        raise type(exc)(
            f"{exc} Nothing was applied: the dataset stays at version {ds.version} and every "
            "annotation is still pending. Pull again when the server answers.",
            exc.status_code,
        ) from None
    state = ProjectState.load(ds.root, client.url, title)
    if state.project_id not in (None, pid):
        state.applied = {}
    state.project_id = pid
    ann = annotations_frame(tasks, users)
    known = set(ds.sample_ids)
    ann = ann.filter(pl.col("sample_id").is_in(list(known)))

    by_sample: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in ann.iter_rows(named=True):
        by_sample[row["sample_id"]].append(row)
    current = dict(ds.manifest.select("sample_id", "label").rows())
    decisions: list[dict[str, Any]] = []
    n_done = 0
    newly_applied: dict[str, str] = {}
    for sid, rows in by_sample.items():
        fresh = [r for r in rows if state.applied.get(str(r["annotation_id"])) != r["updated_at"]]
        if not fresh:
            n_done += 1
            continue
        labels = [r["label"] for r in rows]
        decided = majority_vote(labels)
        if decided is None:
            status = "tie"
        elif decided not in ds.classes:
            status = "unknown_label"
        elif decided == current.get(sid):
            status = "confirmed"
        else:
            status = "relabeled"
        voters = sorted({r["annotator"] for r in rows if r["label"] == decided}) or sorted(
            {r["annotator"] for r in rows}
        )
        decisions.append(
            {
                "sample_id": sid,
                "task_id": rows[0]["task_id"],
                "old": current.get(sid),
                "decided": decided,
                "votes": sum(lab == decided for lab in labels),
                "n_annotations": len(rows),
                "annotators": ",".join(voters),
                "annotator_ids": ",".join(
                    str(i)
                    for i in sorted({r["annotator_id"] for r in rows if r["label"] == decided})
                ),
                "annotation_ids": ",".join(str(r["annotation_id"]) for r in rows),
                "status": status,
            }
        )
        newly_applied |= {str(r["annotation_id"]): r["updated_at"] for r in rows}
    dec = pl.DataFrame(
        decisions,
        schema={
            "sample_id": pl.Utf8,
            "task_id": pl.Int64,
            "old": pl.Utf8,
            "decided": pl.Utf8,
            "votes": pl.Int64,
            "n_annotations": pl.Int64,
            "annotators": pl.Utf8,
            "annotator_ids": pl.Utf8,
            "annotation_ids": pl.Utf8,
            "status": pl.Utf8,
        },
    )
    relabel = dec.filter(pl.col("status") == "relabeled")
    if relabel.height:
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
    agreement = agreement_report(
        ann.filter(pl.col("label").is_in(ds.classes)).select("sample_id", "annotator", "label"),
        ds.classes,
    )
    version = None
    if commit:
        if relabel.height:
            counts = dict(dec.group_by("status").len().rows())
            version = ds.commit(
                message
                or f"Label Studio project {title!r}: {relabel.height} relabels from "
                f"{ann['annotator'].n_unique()} annotator(s); {counts.get('tie', 0)} ties kept",
                meta={
                    "labelstudio": {
                        "url": client.url,
                        "project_id": pid,
                        "project": title,
                        "decisions": counts,
                        "agreement": {
                            k: agreement[k]
                            for k in (
                                "fleiss_kappa",
                                "krippendorff_alpha",
                                "pairwise",
                                "annotators",
                            )
                        },
                    }
                },
            )
        state.applied |= newly_applied
        state.save()
    return PullResult(
        dataset=ds,
        version=version,
        annotations=ann,
        decisions=dec,
        agreement=agreement,
        n_already_applied=n_done,
        seconds=time.perf_counter() - t0,
    )
