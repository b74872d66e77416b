"""Bulk writes in FiftyOne's own document format — only on the FiftyOne versions tested.

FiftyOne's public ``Dataset.add_samples`` builds a mongoengine document per sample (and
converts it back after the insert): for the 10,000 samples of ``benchmarks/bench_fiftyone.py``
that took 16-19 s on a 2-core machine, against 1.5-2.2 s for writing the same documents in
bulk as FiftyOne's own dataset importer does (``fiftyone.core.odm.insert_documents``); filling
fields afterwards with ``set_values`` costs ~0.5 s a field for 10,000 samples (~16 s in all).
The push has a 10 s budget for 10,000 samples, so it writes documents itself — but only on
an exact FiftyOne version in :data:`RAW_WRITE_VERSIONS`, whose document layout
(``_id``, ``_cls``, ``_rand``, ``_media_type``, ``_dataset_id``, timestamps, serialized
vectors) the integration tests compare field by field with what ``add_samples`` writes.
On any other version :func:`raw_writes` is ``False`` and the push uses the public API
(``add_samples`` / ``set_values``); the tests run that path too.

To support a new FiftyOne version: add it to :data:`RAW_WRITE_VERSIONS` once
``tests/integration/fiftyone`` passes on it (the raw-vs-public comparisons in particular).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

__all__ = ["RAW_WRITE_VERSIONS", "insert", "raw_writes", "update"]

RAW_WRITE_VERSIONS: frozenset[str] = frozenset({"1.22.1"})
"""FiftyOne versions whose sample-document layout the raw writes were tested against."""


def raw_writes(version: str) -> bool:
    """Whether the raw bulk writes may be used with FiftyOne ``version`` (exact match).

    Examples
    --------
    >>> raw_writes("1.22.1"), raw_writes("1.22.2"), raw_writes("1.23.0")
    (True, False, False)
    """
    return version in RAW_WRITE_VERSIONS


Boxes = tuple[Sequence[Sequence[dict[str, Any]]], Sequence[Sequence[dict[str, Any]]] | None]
"""Per sample, the ground-truth and (or ``None``) predicted label dicts of a detection push."""


def detections_doc(dets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A ``Detections`` document as FiftyOne stores it, from label dicts (``label``,
    ``bounding_box``, ``tags``, attributes)."""
    from bson import ObjectId

    return {
        "_cls": "Detections",
        "detections": [
            {"_id": ObjectId(), "_cls": "Detection", "attributes": {}, **d} for d in dets
        ],
    }


def documents(
    cols: dict[str, list[Any]],
    gt: Sequence[str | None],
    pred: Sequence[str | None],
    conf: Sequence[float | None],
    boxes: Boxes | None = None,
) -> list[dict[str, Any]]:
    """One dict of field values per sample, serialised as FiftyOne stores them (``boxes``:
    Detections instead of Classifications)."""
    from bson import ObjectId
    from fiftyone.core.utils import serialize_numpy_array

    emb = cols.get("embedding")
    names = [c for c in cols if c != "embedding"]

    def label(value: str | None, confidence: float | None = None) -> dict[str, Any] | None:
        if value is None:
            return None
        doc = {"_id": ObjectId(), "_cls": "Classification", "tags": [], "label": value}
        if confidence is not None:
            doc["confidence"] = confidence
        return doc

    out = []
    for i, values in enumerate(zip(*(cols[c] for c in names), strict=True)):
        doc = dict(zip(names, values, strict=True))
        if boxes is None:
            doc["ground_truth"] = label(gt[i])
            doc["predictions"] = label(pred[i], conf[i])
        else:
            doc["ground_truth"] = detections_doc(boxes[0][i])
            doc["predictions"] = detections_doc(boxes[1][i]) if boxes[1] is not None else None
        if emb is not None:
            doc["embedding"] = serialize_numpy_array(emb[i]) if emb[i] is not None else None
        out.append(doc)
    return out


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def insert(
    fds: Any,
    cols: dict[str, list[Any]],
    gt: Sequence[str | None],
    pred: Sequence[str | None],
    conf: Sequence[float | None],
    boxes: Boxes | None = None,
) -> None:
    """Insert new image samples into ``fds`` as documents, in one bulk write."""
    from fiftyone.core.odm.database import insert_documents

    if fds.media_type is None and len(fds) == 0:
        # as add_samples does: without it, a later add_sample refuses the dataset
        fds.media_type = "image"
    now = _now()
    rand = np.random.default_rng().random(len(gt)) * 0.001 + 0.999  # as FiftyOne's _rand
    # like add_samples, a new document leaves out the fields that are None
    docs = [
        {k: v for k, v in d.items() if v is not None}
        for d in documents(cols, gt, pred, conf, boxes)
    ]
    for doc, r in zip(docs, rand, strict=True):
        doc.update(
            _media_type="image",
            _rand=float(r),
            _dataset_id=fds._doc.id,
            created_at=now,
            last_modified_at=now,
        )
    insert_documents(docs, fds._sample_collection, ordered=False, batcher=False, progress=False)


def update(
    fds: Any,
    oids: Sequence[Any],
    keep_ground_truth: Sequence[bool],
    cols: dict[str, list[Any]],
    gt: Sequence[str | None],
    pred: Sequence[str | None],
    conf: Sequence[float | None],
    boxes: Boxes | None = None,
) -> None:
    """Rewrite the fields of existing samples (by FiftyOne ``_id``) in one bulk write;
    ``keep_ground_truth[i]`` leaves sample i's label document as it is."""
    from pymongo import UpdateOne

    now = _now()
    ops = []
    docs = documents(cols, gt, pred, conf, boxes)
    for oid, keep, doc in zip(oids, keep_ground_truth, docs, strict=True):
        if keep:
            del doc["ground_truth"]
        doc["last_modified_at"] = now
        ops.append(UpdateOne({"_id": oid}, {"$set": doc}))
    fds._sample_collection.bulk_write(ops, ordered=False)
