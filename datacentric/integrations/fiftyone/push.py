"""`to_fiftyone`: create or incrementally update a persistent FiftyOne dataset for review."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from datacentric.exceptions import InvalidParameterError
from datacentric.integrations.fiftyone import _raw
from datacentric.integrations.fiftyone._env import FiftyOneError, import_fiftyone
from datacentric.integrations.fiftyone.records import (
    ISSUE_TAG_PREFIX,
    Records,
    WorstSlice,
    build_records,
    issue_field,
)
from datacentric.integrations.review.results import PushResult as ReviewPushResult

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.issues import ScanResult
    from datacentric.train import Predictions

__all__ = ["PushResult", "default_name", "to_fiftyone"]

log = logging.getLogger(__name__)

INFO_KEY = "datacentric"
_BATCH = 2000


def default_name(ds: Dataset) -> str:
    """The FiftyOne dataset name used when none is given: ``datacentric-<folder name>``.

    Examples
    --------
    >>> from pathlib import Path
    >>> class _D:
    ...     root = Path("/data/digits")
    >>> default_name(_D())
    'datacentric-digits'
    """
    return f"datacentric-{ds.root.name}" if ds.root is not None else "datacentric"


@dataclass(frozen=True, kw_only=True)
class PushResult(ReviewPushResult):
    """What :func:`to_fiftyone` did (the shared review fields, plus FiftyOne's own).

    Attributes
    ----------
    backend, target : str
        ``"fiftyone"`` and the FiftyOne dataset name (also :attr:`name`).
    n_items : int
        Samples of the dataset version pushed.
    created, updated, unchanged : int
        Samples inserted (also :attr:`added`), rewritten (content changed) and left untouched.
    deleted : int
        Samples removed (no longer in the dataset version).
    n_samples : int
        Samples in the FiftyOne dataset after the push.
    views : list of str
        Saved views written (worst issues, one per flagged issue type, one per worst slice).
    worst_slices : list of WorstSlice
    brain : list of str
        FiftyOne Brain fields computed (``uniqueness``, ``mistakenness``).
    write_path : str
        ``"raw"`` (bulk documents, on a FiftyOne version in
        :data:`~datacentric.integrations.fiftyone._raw.RAW_WRITE_VERSIONS`) or ``"public"``
        (``add_samples`` / ``set_values``).
    timings : dict
        Step → seconds.
    seconds : float
    """

    n_samples: int
    deleted: int
    views: list[str] = field(default_factory=list)
    worst_slices: list[WorstSlice] = field(default_factory=list)
    brain: list[str] = field(default_factory=list)
    write_path: str = "public"
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The FiftyOne dataset (``target``)."""
        return self.target

    @property
    def added(self) -> int:
        """Samples inserted (``created``)."""
        return self.created

    def __repr__(self) -> str:
        return (
            f"PushResult({self.name!r}: {self.n_samples} samples; added {self.added}, updated "
            f"{self.updated}, deleted {self.deleted}, unchanged {self.unchanged}; "
            f"{len(self.views)} saved views)"
        )

    def load(self) -> Any:
        """The ``fiftyone.Dataset`` (imports fiftyone)."""
        return import_fiftyone().load_dataset(self.name)


def to_fiftyone(
    ds: Dataset,
    scan: ScanResult | None = None,
    predictions: Predictions | None = None,
    *,
    name: str | None = None,
    slices: Any = None,
    worst_slices: int = 5,
    min_slice_n: int = 30,
    brain: bool = True,
    overwrite: bool = False,
    predicted_boxes: Any = None,
    review_queue: Any = None,
) -> PushResult:
    """Create or update a persistent FiftyOne dataset with samples, issues, predictions, slices.

    Each sample gets its image ``filepath``, ``sample_id``, ``ground_truth`` and
    ``predictions`` classifications (with confidence), the split and metadata columns,
    one ``issue_<type>`` severity field per issue type, an ``issue:<type>`` tag per flagged
    issue, ``n_issues``/``max_severity``/``suggested_label``/``details``, the model's
    ``embedding`` and ``worst_slices`` (the worst slices it belongs to). Saved views: one
    ``worst-issues`` view, one per flagged issue type and one per worst slice, each sorted
    by severity. With ``brain``, FiftyOne Brain's ``uniqueness`` (from our embeddings) and
    ``mistakenness`` (from our predictions) are computed offline.

    A detection dataset (``ds.task == "detection"``) gets ``Detections`` instead: one
    ``Detection`` per box in ``ground_truth`` (relative ``[x, y, w, h]`` from the image size,
    its ``annotation_id``), the ``predicted_boxes`` in ``predictions`` (with confidence and
    ``prediction_id``), and per box an ``issue:<type>`` label tag per flagged issue and an
    ``issue_<type>`` severity attribute from the scan's box rows (overlooked-box rows attach
    to the predicted box). Its box issue views hold only the flagged boxes; worst slices
    are by mAP@0.5.

    Pushing again updates in place, keyed by ``sample_id``: only samples whose content
    changed are rewritten, new ones are added, ones gone from ``ds`` are deleted. Reviewer
    tags and label edits made in FiftyOne are kept (pull them with
    :func:`~datacentric.integrations.fiftyone.from_fiftyone`).

    Parameters
    ----------
    ds : Dataset
        The dataset version to review; its images must be files under ``ds.root``.
    scan : ScanResult, optional
        Its issues (``datacentric scan``).
    predictions : Predictions, optional
        Out-of-sample predictions with embeddings, keyed by sample id.
    name : str, optional
        FiftyOne dataset name (default ``datacentric-<folder name>``).
    slices : YAML path/text or Slice objects, optional
        Candidate slices for the worst-slice views (default: every metadata value).
    worst_slices : int
        How many lowest-accuracy slices get a view (needs ``predictions``).
    min_slice_n : int
        Smallest slice considered.
    brain : bool
        Compute uniqueness and mistakenness (needs ``predictions``).
    overwrite : bool
        Replace a same-named FiftyOne dataset that datacentric did not create.
    predicted_boxes : polars.DataFrame or path, optional
        A detection dataset's out-of-sample predicted boxes (``sample_id, label, x, y, w, h,
        score``, pixels; see :func:`~datacentric.dataset.read_predicted_boxes`).
    review_queue : polars.DataFrame or sequence of str, optional
        A ranked review queue (the data loop's ``review.parquet``: ``sample_id`` and
        ``priority``) or sample ids in review order: saved as the ``review-queue`` view,
        highest priority first.

    Returns
    -------
    PushResult

    Raises
    ------
    FiftyOneError
        When a dataset of that name exists and was not created by datacentric.
    """
    timings: dict[str, float] = {}
    start = t0 = time.perf_counter()
    records = build_records(
        ds,
        scan,
        predictions,
        slices=slices,
        worst_slices=worst_slices,
        min_slice_n=min_slice_n,
        predicted_boxes=predicted_boxes,
    )
    timings["records"] = time.perf_counter() - t0
    fo = import_fiftyone()
    name = name or default_name(ds)
    t0 = time.perf_counter()
    fds = _open_or_create(fo, name, overwrite)
    _ensure_schema(fo, fds, records)
    timings["open"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    frame = records.frame
    existing = dict(zip(fds.values("sample_id"), fds.values("dc_hash"), strict=True))
    ids = frame["sample_id"].to_list()
    hashes = frame["dc_hash"].to_list()
    wanted = set(ids)
    new_rows = [i for i, s in enumerate(ids) if s not in existing]
    changed_rows = [
        i
        for i, (s, h) in enumerate(zip(ids, hashes, strict=True))
        if s in existing and existing[s] != h
    ]
    gone = [s for s in existing if s not in wanted]
    raw = _raw.raw_writes(fo.__version__)
    if not raw and (new_rows or changed_rows):
        log.info(
            "FiftyOne %s is not a version the raw writes were tested with (%s): writing "
            "through add_samples/set_values (slower)",
            fo.__version__,
            ", ".join(sorted(_raw.RAW_WRITE_VERSIONS)),
        )
    if gone:
        fds.delete_samples(fds.select_by("sample_id", gone))
    if new_rows:
        _add(fo, fds, records, new_rows, raw=raw)
    if changed_rows:
        _update(fo, fds, records, changed_rows, raw=raw)
    timings["write"] = time.perf_counter() - t0

    from datacentric.integrations.fiftyone.views import save_views

    t0 = time.perf_counter()
    computed: list[str] = []
    missing = "mistakenness" not in fds.get_field_schema()  # e.g. pushed with brain=False
    if brain and predictions is not None and (new_rows or changed_rows or gone or missing):
        from datacentric.integrations.fiftyone.brain import compute_brain, embeddings_digest

        touched = None if missing else [ids[i] for i in (*new_rows, *changed_rows)]
        digest = embeddings_digest(records)
        same = (
            digest == fds.info.get(INFO_KEY, {}).get("embeddings_digest")
            and "uniqueness" in fds.get_field_schema()
        )
        computed = compute_brain(fds, records, touched, uniqueness=not same)
        if "uniqueness" in computed:
            fds.info.setdefault(INFO_KEY, {})["embeddings_digest"] = digest
    timings["brain"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    views = save_views(fds, records, _queue_ids(review_queue, ids))
    fds.info[INFO_KEY] = {
        "embeddings_digest": fds.info.get(INFO_KEY, {}).get("embeddings_digest"),
        "root": str(ds.root),
        "version": ds.version,
        "classes": list(ds.classes),
        "task": ds.task,
        "issue_types": records.issue_types,
        "flagged_types": records.flagged_types,
        "fields": records.columns,
        "worst_slices": [w.__dict__ for w in records.worst_slices],
        "scan_created_at": scan.meta.get("created_at") if scan is not None else None,
        "pushed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    fds.save()
    timings["views"] = time.perf_counter() - t0
    n_unchanged = len(ids) - len(new_rows) - len(changed_rows)
    log.info(
        "pushed %s: %d new, %d changed, %d deleted",
        name,
        len(new_rows),
        len(changed_rows),
        len(gone),
    )
    return PushResult(
        backend="fiftyone",
        target=name,
        n_items=len(ids),
        created=len(new_rows),
        updated=len(changed_rows),
        unchanged=n_unchanged,
        seconds=time.perf_counter() - start,
        n_samples=len(fds),
        deleted=len(gone),
        views=views,
        worst_slices=records.worst_slices,
        brain=computed,
        write_path="raw" if raw else "public",
        timings=timings,
    )


def _queue_ids(queue: Any, known: list[str]) -> list[str] | None:
    """Sample ids of a review queue in review order (highest ``priority`` first when the
    frame has one), restricted to the samples pushed.

    Examples
    --------
    >>> q = pl.DataFrame({"sample_id": ["b", "a", "z", "b"], "priority": [0.2, 0.9, 1.0, 0.1]})
    >>> _queue_ids(q, ["a", "b"]), _queue_ids(["b", "a"], ["a", "b"]), _queue_ids(None, [])
    (['a', 'b'], ['b', 'a'], None)
    """
    if queue is None:
        return None
    if isinstance(queue, pl.DataFrame):
        if "sample_id" not in queue.columns:
            raise InvalidParameterError(
                f"review_queue needs a 'sample_id' column; received columns {queue.columns}. "
                "Pass the loop's review queue (review.parquet) or a list of sample ids."
            )
        if "priority" in queue.columns:
            queue = queue.sort("priority", descending=True, maintain_order=True, nulls_last=True)
        queue = queue["sample_id"].cast(pl.Utf8).to_list()
    elif isinstance(queue, str) or not all(isinstance(s, str) for s in queue):
        raise InvalidParameterError(
            f"review_queue must be a DataFrame with 'sample_id' or a list of sample ids; "
            f"received {type(queue).__name__}."
        )
    have = set(known)
    return [s for s in dict.fromkeys(queue) if s in have]


def _open_or_create(fo: Any, name: str, overwrite: bool) -> Any:
    if fo.dataset_exists(name):
        fds = fo.load_dataset(name)
        if INFO_KEY in fds.info or "dc_hash" in fds.get_field_schema():
            return fds
        if not overwrite:
            raise FiftyOneError(
                f"a FiftyOne dataset named {name!r} exists and was not created by datacentric "
                f"({len(fds)} samples); received name={name!r}. Pass another name, or "
                "overwrite=True (CLI: --overwrite) to replace it."
            )
        fds.delete()
    fds = fo.Dataset(name, persistent=True)
    fds.add_sample_field("sample_id", fo.StringField)
    fds.create_index("sample_id", unique=True)
    return fds


def _ensure_schema(fo: Any, fds: Any, records: Records) -> None:
    schema = fds.get_field_schema()
    frame = records.frame
    label_type = fo.Detections if records.boxes is not None else fo.Classification
    for f in ("ground_truth", "predictions"):
        have = getattr(schema.get(f), "document_type", None)
        if have is not None and have is not label_type:
            raise FiftyOneError(
                f"FiftyOne dataset {fds.name!r} holds {f} as {have.__name__}, but this dataset "
                f"needs {label_type.__name__} (it was pushed from a dataset of another task); "
                "pass another name (CLI: --name), or delete it with fo.delete_dataset(name)."
            )
    wanted: dict[str, tuple[Any, dict[str, Any]]] = {
        "ground_truth": (fo.EmbeddedDocumentField, {"embedded_doc_type": label_type}),
        "predictions": (fo.EmbeddedDocumentField, {"embedded_doc_type": label_type}),
        "embedding": (fo.VectorField, {}),
        "worst_slices": (fo.ListField, {"subfield": fo.StringField}),
        "dc_hash": (fo.StringField, {}),
    }
    for name in records.scalar_fields:
        dtype = frame.schema[name]
        if dtype.is_float():
            wanted[name] = (fo.FloatField, {})
        elif dtype.is_integer():
            wanted[name] = (fo.IntField, {})
        else:
            wanted[name] = (fo.StringField, {})
    for name, (ftype, kwargs) in wanted.items():
        if name not in schema:
            fds.add_sample_field(name, ftype, **kwargs)
    if records.boxes is not None:
        from datacentric.integrations.fiftyone.boxes import GT_ID, PRED_ID, SUGGESTED

        flat = fds.get_field_schema(flat=True)
        attrs = {GT_ID: fo.StringField, SUGGESTED: fo.StringField}
        attrs.update({issue_field(t): fo.FloatField for t in records.boxes.issue_types})
        for f, extra in (("ground_truth", GT_ID), ("predictions", PRED_ID)):
            for a, ftype in {**attrs, extra: fo.StringField}.items():
                if a == GT_ID and f == "predictions":
                    continue
                path = f"{f}.detections.{a}"
                if path not in flat:
                    fds.add_sample_field(path, ftype)
    # Issue types the new scan does not have: their old scores would be stale.
    stale = [f for f in schema if f.startswith("issue_") and f not in wanted]
    if stale:
        fds.delete_sample_fields(stale)


def _columns(records: Records, rows: list[int]) -> tuple[pl.DataFrame, np.ndarray | None]:
    sub = records.frame[rows]
    emb = records.embeddings[rows] if records.embeddings is not None else None
    return sub, emb


def _classification(fo: Any, label: str | None, conf: float | None = None) -> Any:
    if label is None:
        return None
    return fo.Classification(label=label, confidence=conf)


_Boxes = tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]] | None]


def _box_lists(records: Records, rows: list[int]) -> _Boxes | None:
    """The rows' ground-truth and predicted label dicts (detection), else ``None``."""
    b = records.boxes
    if b is None:
        return None
    return [b.gt[i] for i in rows], ([b.pred[i] for i in rows] if b.has_predictions else None)


def _detections(fo: Any, dets: list[dict[str, Any]]) -> Any:
    return fo.Detections(detections=[fo.Detection(**d) for d in dets])


def _label(
    fo: Any, boxes: _Boxes | None, which: int, i: int, label: str | None, conf: float | None = None
) -> Any:
    """Sample i's ground truth (``which=0``) or prediction (1): Detections or Classification."""
    if boxes is None:
        return _classification(fo, label, conf)
    lists = boxes[which]
    return None if lists is None else _detections(fo, lists[i])


def _add(fo: Any, fds: Any, records: Records, rows: list[int], *, raw: bool) -> None:
    """Insert new samples: bulk documents on a pinned FiftyOne version (see :mod:`._raw`),
    else through the public ``add_samples``."""
    sub, emb = _columns(records, rows)
    cols: dict[str, list[Any]] = {
        c: sub[c].to_list() for c in ("filepath", "sample_id", *records.scalar_fields, "dc_hash")
    }
    cols["tags"] = sub["issue_tags"].to_list()
    cols["worst_slices"] = sub["worst_slices"].to_list()
    gt = sub["label"].to_list()
    pred = sub["pred_label"].to_list()
    conf = sub["confidence"].to_list()
    if emb is not None:
        cols["embedding"] = [e if p is not None else None for e, p in zip(emb, pred, strict=True)]
    boxes = _box_lists(records, rows)
    if raw:
        _raw.insert(fds, cols, gt, pred, conf, boxes=boxes)
        return
    samples = [
        fo.Sample(
            ground_truth=_label(fo, boxes, 0, i, gt[i]),
            predictions=_label(fo, boxes, 1, i, pred[i], conf[i]),
            **{c: v[i] for c, v in cols.items()},
        )
        for i in range(len(gt))
    ]
    batcher: Callable[..., Any] = functools.partial(fo.core.utils.StaticBatcher, batch_size=_BATCH)
    fds.add_samples(samples, expand_schema=False, validate=False, batcher=batcher, progress=False)


def _carry_tags(
    gt: list[list[dict[str, Any]]], old_ids: list[Any], old_tags: list[Any]
) -> list[list[dict[str, Any]]]:
    """The new ground-truth dicts with each box's reviewer label tags (not ``issue:``) from
    FiftyOne carried over (matched by ``annotation_id``)."""
    out = []
    for dets, ids, tags in zip(gt, old_ids, old_tags, strict=True):
        kept = {
            a: [t for t in tg or [] if not t.startswith(ISSUE_TAG_PREFIX)]
            for a, tg in zip(ids or [], tags or [], strict=True)
            if a is not None
        }
        out.append(
            [
                {**d, "tags": sorted({*d["tags"], *kept[d["annotation_id"]]})}
                if kept.get(d["annotation_id"])
                else d
                for d in dets
            ]
        )
    return out


def _update(fo: Any, fds: Any, records: Records, rows: list[int], *, raw: bool) -> None:
    """Rewrite changed samples in place (same FiftyOne ids), keeping reviewers' work: their
    tags, and label edits not pulled yet."""
    sub, emb = _columns(records, rows)
    ids = sub["sample_id"].to_list()
    view = fds.select_by("sample_id", ids, ordered=True)
    boxes = _box_lists(records, rows)
    if boxes is None:
        got_ids, oids, old_tags, old_gt, old_pushed = view.values(
            ["sample_id", "_id", "tags", "ground_truth.label", "dc_label"]
        )
    else:
        from datacentric.integrations.fiftyone.boxes import boxes_digest

        got_ids, oids, old_tags, old_pushed, *dets = view.values(
            ["sample_id", "_id", "tags", "dc_label"]
            + [
                f"ground_truth.detections.{a}"
                for a in ("annotation_id", "label", "bounding_box", "tags")
            ]
        )
        old_gt = [boxes_digest(*(d or [] for d in per[:3])) for per in zip(*dets, strict=True)]
        # boxes equal to the new version's (e.g. edits pulled since) are not unpulled edits
        new_digest = sub["dc_label"].to_list()
        old_pushed = [
            og if og == nd else op
            for og, op, nd in zip(old_gt, old_pushed, new_digest, strict=True)
        ]
        boxes = (_carry_tags(boxes[0], dets[0], dets[3]), boxes[1])
    if got_ids != ids:  # pragma: no cover - the unique index prevents it
        raise FiftyOneError(f"FiftyOne dataset {fds.name!r} lost samples during the update.")
    edited = [og != op for og, op in zip(old_gt, old_pushed, strict=True)]
    if any(edited):
        log.warning(
            "%d sample(s) have label edits in FiftyOne that were not pulled yet; they are kept",
            sum(edited),
        )
    cols: dict[str, list[Any]] = {c: sub[c].to_list() for c in records.scalar_fields}
    cols["tags"] = [
        sorted({t for t in old if not t.startswith(ISSUE_TAG_PREFIX)}) + new
        for old, new in zip(old_tags, sub["issue_tags"].to_list(), strict=True)
    ]
    cols["worst_slices"] = sub["worst_slices"].to_list()
    cols["dc_hash"] = sub["dc_hash"].to_list()
    gt = sub["label"].to_list()
    pred = sub["pred_label"].to_list()
    conf = sub["confidence"].to_list()
    if emb is not None:
        cols["embedding"] = [e if np.isfinite(e).all() else None for e in emb]
    if raw:
        _raw.update(fds, oids, edited, cols, gt, pred, conf, boxes=boxes)
        return
    for c, values in cols.items():
        view.set_values(c, values, progress=False)
    view.set_values(
        "predictions",
        [_label(fo, boxes, 1, i, p, c) for i, (p, c) in enumerate(zip(pred, conf, strict=True))],
        progress=False,
    )
    fresh = [i for i, e in enumerate(edited) if not e]  # reviewers' label edits are kept
    if fresh:
        fds.select_by("sample_id", [ids[i] for i in fresh], ordered=True).set_values(
            "ground_truth", [_label(fo, boxes, 0, i, gt[i]) for i in fresh], progress=False
        )
