"""The boxes of a detection dataset as FiftyOne ``Detections`` — built with polars, no FiftyOne.

:func:`box_records` turns a detection dataset's boxes (pixels), its predicted boxes and the
box rows of a scan's issue table into one list of label dicts per sample, in FiftyOne's
terms: ``bounding_box`` is ``[x, y, w, h]`` relative to the image size (read from the image
headers), each box carries its ``annotation_id`` (a prediction its ``prediction_id``), an
``issue:<type>`` label tag per flagged issue of the box and an ``issue_<type>`` attribute
with its severity. Rows of an issue table with an ``annotation_id`` attach to that box;
rows with a ``prediction_id`` (``overlooked_box``) attach to the predicted box.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric.exceptions import SchemaError, format_items
from datacentric.integrations.fiftyone.records import ISSUE_TAG_PREFIX, issue_field

if TYPE_CHECKING:
    from datacentric.dataset import Dataset

__all__ = ["BoxRecords", "box_records", "boxes_digest", "to_relative"]

#: Label attributes written besides FiftyOne's own (label, bounding_box, confidence, tags).
GT_ID = "annotation_id"
PRED_ID = "prediction_id"
SUGGESTED = "suggested_label"


@dataclass
class BoxRecords:
    """Per-sample label dicts for the ``ground_truth`` and ``predictions`` Detections.

    Attributes
    ----------
    gt, pred : list of list of dict
        Aligned with the sample ids given to :func:`box_records`; each dict holds
        ``label``, ``bounding_box`` (relative), ``tags`` and the attributes (``annotation_id``
        or ``prediction_id`` and ``confidence``, ``issue_<type>``, ``suggested_label``),
        without the ones that are null.
    digest : list of str
        Per sample, :func:`boxes_digest` of its ground-truth boxes as pushed.
    content : list of str
        Per sample, a hash of everything pushed on its boxes (for the row's ``dc_hash``).
    gt_issue_types, pred_issue_types : list of str
        Issue types with rows on ground-truth boxes / on predicted boxes (their
        ``issue_<type>`` label attributes).
    has_predictions : bool
        Whether predicted boxes were given (or derived from overlooked rows).
    """

    gt: list[list[dict[str, Any]]]
    pred: list[list[dict[str, Any]]]
    digest: list[str]
    content: list[str]
    gt_issue_types: list[str]
    pred_issue_types: list[str]
    has_predictions: bool

    @property
    def issue_types(self) -> list[str]:
        """Every issue type with box-level rows."""
        return list(dict.fromkeys([*self.gt_issue_types, *self.pred_issue_types]))


def to_relative(x: float, y: float, w: float, h: float, width: float, height: float) -> list[float]:
    """A pixel box ``x, y, w, h`` as FiftyOne's relative ``[x, y, w, h]``.

    Examples
    --------
    >>> to_relative(24.0, 12.0, 48.0, 6.0, 96, 48)
    [0.25, 0.25, 0.5, 0.125]
    """
    return [x / width, y / height, w / width, h / height]


def boxes_digest(
    ids: Sequence[str | None],
    labels: Sequence[str | None],
    bboxes: Sequence[Sequence[float] | None],
) -> str:
    """Content hash of one sample's ground-truth Detections: ids, classes and boxes (rounded
    to 1e-9 of the image size, so a box that went to pixels and back hashes the same).

    The push stores it as ``dc_label``; a sample whose boxes hash differently in FiftyOne was
    edited there (an update keeps its boxes until they are pulled). Label tags are not part
    of it: an update carries reviewers' label tags over to the rewritten boxes.

    Examples
    --------
    >>> a = boxes_digest(["1"], ["cat"], [[0.1, 0.2, 0.3, 0.4]])
    >>> a == boxes_digest(["1"], ["cat"], [[0.1, 0.2, 0.30000000000000004, 0.4]])
    True
    >>> a == boxes_digest(["1"], ["dog"], [[0.1, 0.2, 0.3, 0.4]])
    False
    """
    h = hashlib.blake2b(digest_size=12)
    flat: list[float] = []
    for i, lab, b in zip(ids, labels, bboxes, strict=True):
        h.update(json.dumps([i, lab, len(b or [])]).encode())
        flat.extend(round(float(v), 9) for v in (b or []))
    h.update(array("d", flat).tobytes())
    return "boxes:" + h.hexdigest()


def _content_hashes(frame: pl.DataFrame, columns: list[str]) -> dict[str, int]:
    """``sample_id`` → a hash of its rows of ``frame`` (in order), computed by polars
    (stable within one polars version: an upgrade rewrites every sample once)."""
    if frame.height == 0:
        return {}
    per = (
        frame.select("sample_id", pl.struct(columns).hash(seed=0).alias("_h"))
        .group_by("sample_id", maintain_order=True)
        .agg(pl.col("_h"))
        .select("sample_id", pl.col("_h").hash(seed=1))
    )
    return dict(zip(per["sample_id"].to_list(), per["_h"].to_list(), strict=True))


def _issue_attributes(issues: pl.DataFrame, key: str) -> tuple[pl.DataFrame, list[str]]:
    """Per box (``key``): ``issue_<type>`` max severity, flagged tags, suggested label."""
    rows = issues.filter(pl.col(key).is_not_null()) if key in issues.columns else issues.clear()
    types = rows["issue_type"].unique(maintain_order=True).to_list()
    if rows.height == 0:
        return pl.DataFrame(schema={key: pl.Utf8}), []
    scores = rows.pivot(
        on="issue_type", index=key, values="severity", aggregate_function="max"
    ).rename({t: issue_field(t) for t in types})
    flagged = (
        rows.filter(pl.col("is_issue"))
        .sort(["severity", "issue_type"], descending=[True, False])
        .group_by(key, maintain_order=True)
        .agg(
            (pl.lit(ISSUE_TAG_PREFIX) + pl.col("issue_type")).unique().sort().alias("_tags"),
            pl.col(SUGGESTED).drop_nulls().first().alias(SUGGESTED),
        )
    )
    return scores.join(flagged, on=key, how="left"), types


def image_sizes(ds: Dataset, needed: set[str]) -> pl.DataFrame:
    """``sample_id, width, height, reason`` of the images: the manifest's ``width`` and
    ``height`` columns when they hold a positive integer for every image in ``needed`` (COCO
    and YOLO imports and the demo keep them), else read from the image headers."""
    m = ds.manifest
    if {"width", "height"} <= set(m.columns) and all(
        m.schema[c].is_integer() for c in ("width", "height")
    ):
        sizes = m.select(
            "sample_id", "width", "height", pl.lit(None, pl.Utf8).alias("reason")
        ).filter(pl.col("sample_id").is_in(list(needed)))
        if sizes.height == len(needed) and sizes.filter(
            (pl.col("width") > 0) & (pl.col("height") > 0)
        ).height == len(needed):
            return sizes
    return ds.image_sizes()


def _sizes(ds: Dataset, needed: set[str]) -> dict[str, tuple[int, int]]:
    sizes = image_sizes(ds, needed)
    known = sizes.filter(pl.col("width").is_not_null() & pl.col("height").is_not_null())
    out = {s: (int(w), int(h)) for s, w, h in known.select("sample_id", "width", "height").rows()}
    bad = sizes.filter(pl.col("sample_id").is_in(list(needed - set(out))))
    if bad.height:
        named = [f"{s}: {r}" for s, r in bad.select("sample_id", "reason").rows()]
        raise SchemaError(
            f"to_fiftyone: FiftyOne boxes are relative to the image size, and {bad.height} "
            f"image(s) with boxes have no readable size: {format_items(named)}. Fix or remove "
            "those images (ds.unreadable_images() lists them)."
        )
    return out


def _label_dicts(
    frame: pl.DataFrame,
    key: str,
    sizes: dict[str, tuple[int, int]],
    attributes: list[str],
    confidence: str | None,
) -> dict[str, list[dict[str, Any]]]:
    """``sample_id`` → label dicts of the rows of ``frame`` (pixel boxes → relative, as
    :func:`to_relative` computes them)."""
    out: dict[str, list[dict[str, Any]]] = {}
    size = pl.DataFrame(
        {
            "sample_id": list(sizes),
            "_W": [float(v[0]) for v in sizes.values()],
            "_H": [float(v[1]) for v in sizes.values()],
        },
        schema={"sample_id": pl.Utf8, "_W": pl.Float64, "_H": pl.Float64},
    )
    rel = frame.join(size, on="sample_id", how="left", maintain_order="left").select(
        "sample_id",
        "label",
        key,
        pl.concat_list(
            pl.col("x") / pl.col("_W"),
            pl.col("y") / pl.col("_H"),
            pl.col("w") / pl.col("_W"),
            pl.col("h") / pl.col("_H"),
        ).alias("_bb"),
        pl.col("_tags").fill_null(pl.lit([], pl.List(pl.Utf8))),
        pl.col(confidence) if confidence is not None else pl.lit(None).alias("_conf"),
        *attributes,
    )
    columns = [rel[c].to_list() for c in rel.columns]
    for sid, label, ident, bb, tags, conf, *attrs in zip(*columns, strict=True):
        d: dict[str, Any] = {"label": label, "bounding_box": bb, "tags": tags, key: ident}
        if conf is not None:
            d["confidence"] = float(conf)
        for a, v in zip(attributes, attrs, strict=True):
            if v is not None:
                d[a] = v
        out.setdefault(sid, []).append(d)
    return out


def box_records(
    ds: Dataset,
    sample_ids: Sequence[str],
    issues: pl.DataFrame | None = None,
    predicted_boxes: Any = None,
) -> BoxRecords:
    """The Detections of ``sample_ids`` (samples of the detection dataset ``ds``).

    Parameters
    ----------
    ds : Dataset
        A detection dataset whose images are files (their sizes are read from the headers).
    sample_ids : sequence of str
        The samples, in the order of the result's lists.
    issues : polars.DataFrame, optional
        A scan's issue table; rows with an ``annotation_id`` attach to that box, rows with a
        ``prediction_id`` to that predicted box.
    predicted_boxes : polars.DataFrame or path, optional
        Out-of-sample predicted boxes (checked by
        :func:`~datacentric.dataset.read_predicted_boxes`). Without them, the predicted boxes
        of overlooked-box rows (their ``suggested_x..h``) are the predictions.

    Returns
    -------
    BoxRecords

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from datacentric.datasets import load_detection_demo
    >>> ds = load_detection_demo(tempfile.mkdtemp(), n_scenes=8, commit=False)
    >>> rec = box_records(ds, ds.sample_ids[:1])
    >>> first = rec.gt[0][0]
    >>> sorted(first), first["annotation_id"] == ds.annotations["annotation_id"][0]
    (['annotation_id', 'bounding_box', 'label', 'tags'], True)
    >>> box = ds.annotations.row(0, named=True)
    >>> first["bounding_box"][0] * 96 == box["x"]  # the demo's scenes are 96 x 96
    True
    """
    from datacentric.dataset import read_predicted_boxes

    boxes = ds.annotations
    if boxes is None:  # pragma: no cover - callers pass detection datasets only
        raise SchemaError("box_records: the dataset has no boxes (it is not a detection dataset).")
    wanted = pl.Series("sample_id", list(sample_ids), dtype=pl.Utf8)
    boxes = boxes.filter(pl.col("sample_id").is_in(wanted.implode()))
    pred = None
    if predicted_boxes is not None:
        pred = read_predicted_boxes(predicted_boxes, ds)
        pred = pred.filter(pl.col("sample_id").is_in(wanted.implode()))
    rows = (
        issues.filter(pl.col("sample_id").is_in(wanted.implode()))
        if issues is not None
        else pl.DataFrame(
            schema={
                "sample_id": pl.Utf8,
                "issue_type": pl.Utf8,
                "is_issue": pl.Boolean,
                "severity": pl.Float64,
                SUGGESTED: pl.Utf8,
            }
        )
    )
    if SUGGESTED not in rows.columns:
        rows = rows.with_columns(pl.lit(None, pl.Utf8).alias(SUGGESTED))
    gt_attr, gt_types = _issue_attributes(rows, GT_ID)
    pred_attr, pred_types = _issue_attributes(rows, PRED_ID)
    if pred is None and pred_attr.height and "suggested_x" in rows.columns:
        # no predicted boxes given: the overlooked rows' predicted boxes stand in for them
        suggested = (
            rows.filter(pl.col(PRED_ID).is_not_null() & pl.col("suggested_x").is_not_null())
            .unique(PRED_ID, keep="first", maintain_order=True)
            .select(
                PRED_ID,
                "sample_id",
                pl.col(SUGGESTED).alias("label"),
                *(pl.col(f"suggested_{c}").alias(c) for c in "xywh"),
                pl.lit(None, pl.Float64).alias("score"),
            )
        )
        pred = suggested.filter(pl.col("label").is_not_null())
    needed = set(boxes["sample_id"].to_list()) | (
        set(pred["sample_id"].to_list()) if pred is not None else set()
    )
    sizes = _sizes(ds, needed)
    gt_frame = boxes.join(gt_attr, on=GT_ID, how="left", maintain_order="left")
    gt_cols = [c for c in gt_attr.columns if c not in (GT_ID, "_tags")]
    if "_tags" not in gt_frame.columns:
        gt_frame = gt_frame.with_columns(pl.lit(None, pl.List(pl.Utf8)).alias("_tags"))
    gt = _label_dicts(gt_frame, GT_ID, sizes, gt_cols, None)
    gt_hash = _content_hashes(gt_frame, [GT_ID, "label", "x", "y", "w", "h", "_tags", *gt_cols])
    pred_hash: dict[str, int] = {}
    pr: dict[str, list[dict[str, Any]]] = {}
    if pred is not None:
        pred_frame = pred.join(pred_attr, on=PRED_ID, how="left", maintain_order="left")
        pred_cols = [c for c in pred_attr.columns if c not in (PRED_ID, "_tags")]
        if "_tags" not in pred_frame.columns:
            pred_frame = pred_frame.with_columns(pl.lit(None, pl.List(pl.Utf8)).alias("_tags"))
        pr = _label_dicts(pred_frame, PRED_ID, sizes, pred_cols, "score")
        pred_hash = _content_hashes(
            pred_frame, [PRED_ID, "label", "x", "y", "w", "h", "score", "_tags", *pred_cols]
        )
    gt_lists = [gt.get(s, []) for s in sample_ids]
    digest = [
        boxes_digest(
            [d[GT_ID] for d in dets],
            [d["label"] for d in dets],
            [d["bounding_box"] for d in dets],
        )
        for dets in gt_lists
    ]
    return BoxRecords(
        gt=gt_lists,
        pred=[pr.get(s, []) for s in sample_ids],
        digest=digest,
        content=[f"{gt_hash.get(s)}:{pred_hash.get(s)}:{sizes.get(s)}" for s in sample_ids],
        gt_issue_types=gt_types,
        pred_issue_types=pred_types,
        has_predictions=pred is not None,
    )
