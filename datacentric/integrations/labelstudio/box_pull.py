"""Pull annotators' boxes back from Label Studio as box edits with lineage, in one version.

The same three steps as a classification pull: read every annotated task (nothing written
if the server fails), decide (:func:`~.box_decision.decide_boxes`: IoU-matched majority per
box, agreement), then apply the edits — ``move_boxes``, ``relabel_boxes``, ``remove_boxes``,
``add_boxes`` — and commit them as one version. An annotation that cannot be read as boxes
(NaN, negative or over-100 % coordinates, an unknown class, a rotation, too many regions, a
task whose image is not in the dataset) is skipped whole and listed with its reason in
:attr:`BoxPullResult.skipped`; nothing of it is applied.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from datacentric.dataset import Dataset
from datacentric.dataset.annotations import image_sizes
from datacentric.integrations.labelstudio.box_decision import (
    BoxAnnotation,
    BoxDecisions,
    decide_boxes,
)
from datacentric.integrations.labelstudio.boxes import MAX_REGIONS, RegionError, read_regions
from datacentric.integrations.review.box_apply import apply_box_edits
from datacentric.integrations.review.results import PullResult as ReviewPullResult

__all__ = ["SKIPPED_SCHEMA", "BoxPullResult", "apply_box_decisions", "read_box_annotations"]

SKIPPED_SCHEMA: dict[str, Any] = {
    "task_id": pl.Int64,
    "ls_annotation_id": pl.Int64,
    "sample_id": pl.Utf8,
    "annotator": pl.Utf8,
    "reason": pl.Utf8,
}
"""Columns of :attr:`BoxPullResult.skipped`."""


@dataclass(frozen=True, kw_only=True)
class BoxPullResult(ReviewPullResult):
    """What a pull of box annotations found and applied (the shared review fields, plus).

    Attributes
    ----------
    applied : int
        Box edits made now (moves, relabels, removals, additions).
    already_applied : int
        Images whose annotations were all applied by an earlier pull (skipped).
    dataset : Dataset
        The dataset after the pull.
    project_id : int
    edits : polars.DataFrame
        One row per edit (:data:`~.box_decision.EDIT_SCHEMA`): ``edit`` is ``move``,
        ``relabel``, ``remove`` or ``add``, with the votes and the annotators behind it.
    ties : polars.DataFrame
        Boxes exactly half the annotators dropped (kept).
    agreement : dict
        ``mean_iou`` and ``class_agreement`` of the boxes two annotators both drew (IoU-
        matched), ``n_matched``, ``n_unmatched``, ``n_images`` and per pair ``pairs``.
    n_annotations : int
        Readable annotations read from the project (of images of the dataset).
    skipped : polars.DataFrame
        Annotations not applied and why (:data:`SKIPPED_SCHEMA`).
    incremental : bool
        Whether only tasks updated since the last committed pull were read.
    tasks_read : int
        Tasks read in full (with their annotations) from the server.
    tasks_listed : int
        Tasks listed by id and ``updated_at`` to find what changed (incremental pulls).
    """

    dataset: Dataset = field(repr=False)
    project_id: int
    edits: pl.DataFrame = field(repr=False)
    ties: pl.DataFrame = field(repr=False)
    agreement: dict[str, Any] = field(repr=False)
    n_annotations: int
    skipped: pl.DataFrame = field(repr=False)
    incremental: bool = False
    tasks_read: int = 0
    tasks_listed: int = 0

    @property
    def decisions(self) -> pl.DataFrame:
        """The edits (named like a classification pull's table)."""
        return self.edits


def _regions_map(data: dict[str, Any]) -> dict[str, str]:
    raw = data.get("regions")
    if isinstance(raw, str):  # some exports store nested data as JSON text
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, (str, int))}


def read_box_annotations(
    tasks: list[dict[str, Any]],
    users: dict[int, str],
    ds: Dataset,
    *,
    max_regions: int = MAX_REGIONS,
) -> tuple[list[BoxAnnotation], pl.DataFrame]:
    """The readable box annotations of ``tasks`` and the skipped ones with their reasons.

    Cancelled (skipped in Label Studio) annotations are left out silently.
    """
    boxes = ds.annotations
    assert boxes is not None
    in_ds = set(ds.sample_ids)
    wanted = {
        str((t.get("data") or {}).get("sample_id"))
        for t in tasks
        if isinstance(t.get("data"), dict)
    } & in_ds
    manifest = ds.manifest.filter(pl.col("sample_id").is_in(sorted(wanted)))
    sizes = {
        s: (int(w), int(h))
        for s, w, h, _ in image_sizes(ds.root, manifest).iter_rows()
        if w is not None and h is not None
    }
    pushed = {
        str(a): (float(x), float(y), float(w), float(h))
        for a, x, y, w, h in boxes.filter(pl.col("sample_id").is_in(sorted(wanted)))
        .select("annotation_id", "x", "y", "w", "h")
        .iter_rows()
    }
    good: list[BoxAnnotation] = []
    skipped: list[dict[str, Any]] = []
    for t in tasks:
        raw = t.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        sid = data.get("sample_id")
        for a in t.get("annotations") or []:
            if not isinstance(a, dict) or a.get("was_cancelled"):
                continue
            by = a.get("completed_by")
            uid = int(by["id"]) if isinstance(by, dict) else (int(by) if by is not None else -1)
            who = users.get(uid, f"user:{uid}")
            base = {
                "task_id": int(t["id"]),
                "ls_annotation_id": int(a["id"]),
                "sample_id": None if sid is None else str(sid)[:200],
                "annotator": who,
            }
            if sid is None or str(sid) not in in_ds:
                skipped.append(base | {"reason": f"image {str(sid)[:80]!r} is not in the dataset"})
                continue
            if str(sid) not in sizes:
                skipped.append(base | {"reason": "the image's size could not be read"})
                continue
            try:
                regions = read_regions(
                    a.get("result"),
                    ds.classes,
                    sizes[str(sid)],
                    _regions_map(data),
                    pushed,
                    max_regions=max_regions,
                )
            except RegionError as exc:
                skipped.append(base | {"reason": str(exc)[:300]})
                continue
            good.append(
                BoxAnnotation(
                    task_id=int(t["id"]),
                    ls_annotation_id=int(a["id"]),
                    sample_id=str(sid),
                    annotator=who,
                    updated_at=str(a.get("updated_at") or a.get("created_at") or ""),
                    regions=tuple(regions),
                )
            )
    return good, pl.DataFrame(skipped, schema=SKIPPED_SCHEMA)


def _reason(pid: int, r: dict[str, Any]) -> str:
    what = {
        "move": "moved/resized the box to [{x:.6g}, {y:.6g}, {w:.6g}, {h:.6g}]",
        "relabel": "chose the class {label!r}",
        "remove": "deleted the box",
        "add": "drew a {label!r} box",
    }[r["edit"]].format(**r)
    return (
        f"Label Studio project {pid} task {r['task_id']}: {r['votes']} of {r['n_annotations']} "
        f"annotation(s) {what} (annotation ids {r['ls_annotation_ids']})"
    )


def apply_box_decisions(ds: Dataset, edits: pl.DataFrame, pid: int) -> int:
    """Apply ``edits`` to ``ds`` as pending box edits with lineage; returns how many.

    The shared apply step of box reviews
    (:func:`~datacentric.integrations.review.box_apply.apply_box_edits`), with a Label Studio
    reason and the source ``labelstudio:<annotators>``. All or nothing: when one edit is
    refused, ``ds`` is left as it was and the error raised.
    """
    return apply_box_edits(
        ds,
        edits,
        reason=lambda r: _reason(pid, r),
        source=lambda r: f"labelstudio:{r['annotators']}",
    )


def pull_boxes(
    ds: Dataset,
    tasks: list[dict[str, Any]],
    users: dict[int, str],
    *,
    url: str,
    project_id: int,
    project: str,
    applied: dict[str, str],
    commit: bool,
    message: str | None,
    iou_threshold: float,
    max_regions: int,
    t0: float,
) -> tuple[BoxPullResult, BoxDecisions]:
    """Decide and apply the box annotations of ``tasks`` (read from the server)."""
    good, skipped = read_box_annotations(tasks, users, ds, max_regions=max_regions)
    boxes = ds.annotations
    assert boxes is not None
    decided = decide_boxes(good, boxes, ds.classes, applied, iou_threshold=iou_threshold)
    n = apply_box_decisions(ds, decided.edits, project_id) if decided.edits.height else 0
    version = None
    if n and commit:
        counts = dict(decided.edits.group_by("edit").len().rows())
        agreement = {k: v for k, v in decided.agreement.items() if k != "pairs"}
        version = ds.commit(
            message
            or f"Label Studio project {project!r}: {n} box edit(s) from "
            f"{len({a.annotator for a in good})} annotator(s) "
            f"({', '.join(f'{counts[k]} {k}' for k in sorted(counts))})",
            meta={
                "labelstudio": {
                    "url": url,
                    "project_id": project_id,
                    "project": project,
                    "edits": counts,
                    "skipped": skipped.height,
                    "agreement": agreement,
                }
            },
        )
    result = BoxPullResult(
        backend="labelstudio",
        target=project,
        version=version,
        applied=n,
        already_applied=decided.already_applied,
        seconds=time.perf_counter() - t0,
        dataset=ds,
        project_id=project_id,
        edits=decided.edits,
        ties=decided.ties,
        agreement=decided.agreement,
        n_annotations=len(good),
        skipped=skipped,
    )
    return result, decided
