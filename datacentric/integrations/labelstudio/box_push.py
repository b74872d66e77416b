"""Label Studio tasks for the images of a detection dataset: current boxes to check, the
detector's boxes beside them, and the issue of each box in the task text.

Each task carries one prediction (``model_version`` as pushed). Label Studio copies a
task's prediction into the draft an annotator edits, so its :data:`~.boxes.BOX_FROM`
regions — the dataset's current boxes, one per ``annotation_id`` — are what annotators
move, resize, relabel or delete, and what they draw is added under the same name. Its
:data:`~.boxes.DETECTOR_FROM` regions are the predicted boxes (read-only, with their
scores), for comparison only. ``data.regions`` maps each region id to the dataset's
``annotation_id`` so a pull knows which box an annotator changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from datacentric.dataset import Dataset
from datacentric.dataset.annotations import image_sizes
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError, format_items
from datacentric.integrations.labelstudio.boxes import DETECTOR_FROM, box_region

__all__ = ["box_issue_texts", "box_tasks", "check_box_inputs"]


def check_box_inputs(
    ds: Dataset, predictions: object | None, predicted_boxes: Any | None
) -> pl.DataFrame | None:
    """The checked predicted boxes of a push (``None`` when none were given).

    A detection dataset takes ``predicted_boxes`` (not ``predictions``); a classification
    dataset takes no ``predicted_boxes``.
    """
    if ds.task != "detection":
        if predicted_boxes is not None:
            raise InvalidParameterError(
                "push_review: predicted_boxes= is for detection datasets; this dataset's task "
                "is 'classification'. Pass predictions= (class probabilities) instead."
            )
        return None
    if predictions is not None:
        raise InvalidParameterError(
            "push_review: this is a detection dataset, so predictions= (class probabilities) "
            "does not apply; pass the detector's boxes as predicted_boxes= (a DataFrame or "
            ".parquet of sample_id, label, x, y, w, h, score)."
        )
    if predicted_boxes is None:
        return None
    from datacentric.dataset import read_predicted_boxes

    return read_predicted_boxes(predicted_boxes, ds)


def box_issue_texts(rows: pl.DataFrame) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(annotation_id → its issues as text, sample_id → lines of the task text).

    ``rows`` are flagged issue rows; box rows have an ``annotation_id``, the others (an
    overlooked object, an image issue) are about the image.

    Examples
    --------
    >>> t = pl.DataFrame({"sample_id": ["s", "s"], "annotation_id": ["7", None],
    ...     "issue_type": ["swapped_box", "overlooked_box"],
    ...     "detail": ["Looks like a dog.", "A cat may be missing."]})
    >>> per_box, lines = box_issue_texts(t)
    >>> per_box["7"], lines["s"]
    ('swapped_box: Looks like a dog.', ['box 7: swapped_box: Looks like a dog.', 'overlooked_box: A cat may be missing.'])
    """  # noqa: E501
    per_box: dict[str, list[str]] = defaultdict(list)
    lines: dict[str, list[str]] = defaultdict(list)
    has_aid = "annotation_id" in rows.columns
    for r in rows.iter_rows(named=True):
        text = f"{r.get('issue_type') or 'review'}: {' '.join(str(r.get('detail') or '').split())}"
        text = text.rstrip(": ").strip()
        aid = r.get("annotation_id") if has_aid else None
        if aid is not None:
            if text not in per_box[str(aid)]:
                per_box[str(aid)].append(text)
                lines[str(r["sample_id"])].append(f"box {aid}: {text}")
        elif text not in lines[str(r["sample_id"])]:
            lines[str(r["sample_id"])].append(text)
    return {k: " ".join(v) for k, v in per_box.items()}, dict(lines)


def _sizes(ds: Dataset, todo: pl.DataFrame) -> dict[str, tuple[int, int]]:
    manifest = ds.manifest.filter(pl.col("sample_id").is_in(todo["sample_id"].implode()))
    sizes = image_sizes(Path(str(ds.root)), manifest)
    bad = sizes.filter(pl.col("width").is_null())
    if bad.height:
        ids = bad["sample_id"].to_list()
        raise InvalidDatasetError(
            f"push_review: the size of {len(ids)} image(s) could not be read, and boxes are "
            f"sent in percent of it: {format_items(ids)} ({bad['reason'][0]}). Fix or remove "
            "those images.",
            rows=ids,
        )
    return {s: (int(w), int(h)) for s, w, h, _ in sizes.iter_rows()}


def box_tasks(
    ds: Dataset,
    todo: pl.DataFrame,
    rows: pl.DataFrame,
    predicted_boxes: pl.DataFrame | None,
    image_url: Callable[[str], str],
    model_version: str,
) -> list[dict[str, Any]]:
    """One task per row of ``todo`` (``sample_id, image, issue_type, severity, split``):
    image, issue text, and a prediction with the current and the predicted boxes."""
    sizes = _sizes(ds, todo)
    per_box, lines = box_issue_texts(rows)
    boxes = ds.annotations
    assert boxes is not None  # a detection dataset
    cols = ("annotation_id", "label", "x", "y", "w", "h")
    by_sample: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in (
        boxes.filter(pl.col("sample_id").is_in(todo["sample_id"].implode()))
        .select("sample_id", *cols)
        .iter_rows()
    ):
        by_sample[r[0]].append(r[1:])
    predicted: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    if predicted_boxes is not None:
        for r in (
            predicted_boxes.filter(pl.col("sample_id").is_in(todo["sample_id"].implode()))
            .select("sample_id", "label", "x", "y", "w", "h", "score")
            .iter_rows()
        ):
            predicted[r[0]].append(r[1:])
    tasks: list[dict[str, Any]] = []
    for row in todo.iter_rows(named=True):
        sid = row["sample_id"]
        size = sizes[sid]
        regions: dict[str, str] = {}
        result: list[dict[str, Any]] = []
        for k, (aid, label, *box) in enumerate(by_sample.get(sid, [])):
            rid = f"b{k}"
            regions[rid] = str(aid)
            note = per_box.get(str(aid))
            text = f"box {aid}" + (f": {note}" if note else "")
            result.append(box_region(rid, label, box, size, text=text))
        for k, (label, *box, score) in enumerate(predicted.get(sid, [])):
            result.append(
                box_region(
                    f"p{k}",
                    label,
                    box,
                    size,
                    from_name=DETECTOR_FROM,
                    score=score,
                    readonly=True,
                    text=f"detector: {label} {score:.2f}",
                )
            )
        text = " | ".join(lines.get(sid, [])) or str(row.get("detail") or "")
        tasks.append(
            {
                "data": {
                    "image": image_url(row["image"]),
                    "sample_id": sid,
                    "issue_type": row["issue_type"],
                    "severity": round(float(row["severity"]), 6),
                    "detail": text,
                    "split": row["split"],
                    "width": size[0],
                    "height": size[1],
                    "regions": regions,
                },
                "predictions": [{"result": result, "model_version": model_version}],
            }
        )
    return tasks
