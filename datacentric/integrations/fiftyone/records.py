"""One row per sample with everything pushed to FiftyOne — built with polars, no FiftyOne.

:func:`build_records` joins a dataset's manifest, a scan's issue table and (optionally) the
model's predictions into the flat table that :func:`~datacentric.integrations.fiftyone.to_fiftyone`
writes, and computes the worst slices. Keeping this apart from the FiftyOne calls makes it
testable without a database, and gives each row a content hash so that an update only
touches the samples whose content changed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, validate_call
from datacentric.dataset.images import check_paths_inside
from datacentric.exceptions import InvalidParameterError, SchemaError

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.integrations.fiftyone.boxes import BoxRecords
    from datacentric.issues import ScanResult
    from datacentric.train import Predictions

__all__ = [
    "ISSUE_TAG_PREFIX",
    "RELABEL_TAG_PREFIX",
    "REVIEW_TAGS",
    "Records",
    "WorstSlice",
    "build_records",
    "field_for_column",
    "issue_field",
    "issue_tag",
]

log = logging.getLogger(__name__)

ISSUE_TAG_PREFIX = "issue:"
RELABEL_TAG_PREFIX = "relabel:"
CONFIRMED = "confirmed_issue"
NOT_AN_ISSUE = "not_an_issue"
REVIEW_TAGS = (CONFIRMED, NOT_AN_ISSUE)

# Sample fields FiftyOne owns, and the ones this integration writes itself.
_RESERVED = {
    "id",
    "_id",
    "filepath",
    "tags",
    "metadata",
    "media_type",
    "created_at",
    "last_modified_at",
    "frames",
}
OWN_FIELDS = (
    "sample_id",
    "ground_truth",
    "predictions",
    "dc_label",
    "dc_hash",
    "n_issues",
    "max_severity",
    "suggested_label",
    "details",
    "embedding",
    "worst_slices",
    "uniqueness",
    "mistakenness",
)


def issue_field(issue_type: str) -> str:
    """Name of the FiftyOne field holding the severity of one issue type.

    Examples
    --------
    >>> issue_field("near_duplicate")
    'issue_near_duplicate'
    """
    return f"issue_{issue_type}"


def issue_tag(issue_type: str) -> str:
    """Sample tag of a flagged issue type.

    Examples
    --------
    >>> issue_tag("label")
    'issue:label'
    """
    return ISSUE_TAG_PREFIX + issue_type


def field_for_column(column: str) -> str:
    """FiftyOne field name of a manifest metadata column (prefixed when the name is taken).

    Examples
    --------
    >>> field_for_column("scanner"), field_for_column("metadata"), field_for_column("issue_x")
    ('scanner', 'meta_metadata', 'meta_issue_x')
    """
    taken = column in _RESERVED or column in OWN_FIELDS or column.startswith(("issue_", "_"))
    return f"meta_{column}" if taken else column


@dataclass(frozen=True)
class WorstSlice:
    """A slice where the model does worst: its name, support and score (``metric``:
    ``accuracy`` for classification, ``map50`` for detection — stored as ``accuracy``)."""

    name: str
    n: int
    accuracy: float
    metric: str = "accuracy"


@dataclass
class Records:
    """The per-sample table to push, and what was derived along the way.

    Attributes
    ----------
    frame : polars.DataFrame
        One row per sample: ``sample_id, filepath, label, pred_label, confidence``, one
        field per metadata column (see ``columns``), ``issue_<type>`` severities,
        ``issue_tags``, ``n_issues``, ``max_severity``, ``suggested_label``,
        ``details``, ``worst_slices`` and ``dc_hash`` (content hash of the row).
    embeddings : numpy.ndarray or None
        Rows aligned with ``frame``.
    issue_types : list of str
        Issue types the scan examined.
    flagged_types : list of str
        Issue types with at least one flagged sample.
    columns : dict
        Manifest column → FiftyOne field (``split`` and the metadata columns).
    worst_slices : list of WorstSlice
        Worst first.
    boxes : BoxRecords or None
        A detection dataset's ``ground_truth``/``predictions`` Detections, aligned with
        ``frame`` (``None`` for classification).
    """

    frame: pl.DataFrame
    embeddings: np.ndarray | None
    issue_types: list[str]
    flagged_types: list[str]
    columns: dict[str, str]
    worst_slices: list[WorstSlice] = field(default_factory=list)
    boxes: BoxRecords | None = None

    @property
    def scalar_fields(self) -> list[str]:
        """Plain (string/number) FiftyOne fields written from ``frame``."""
        return [
            *self.columns.values(),
            *(issue_field(t) for t in self.issue_types),
            "dc_label",
            "n_issues",
            "max_severity",
            "suggested_label",
            "details",
        ]


@validate_call(
    {
        "worst_slices": [Interval(Integral, 0, None, closed="left")],
        "min_slice_n": [Interval(Integral, 1, None, closed="left")],
    }
)
def build_records(
    ds: Dataset,
    scan: ScanResult | None = None,
    predictions: Predictions | None = None,
    *,
    slices: Any = None,
    worst_slices: int = 5,
    min_slice_n: int = 30,
    predicted_boxes: Any = None,
) -> Records:
    """Join manifest, scan and predictions into one row per sample of ``ds``.

    Parameters
    ----------
    ds : Dataset
        A dataset whose images are files under ``ds.root``.
    scan : ScanResult, optional
        Issues of (a version of) this dataset; samples it did not examine get null scores.
    predictions : Predictions, optional
        Predictions keyed by sample id (with embeddings); samples without one get none,
        predictions of samples not in ``ds`` are ignored. Checked by
        :meth:`Predictions.coerce` (classes matched by name, probabilities checked).
    slices : YAML path/text or Slice objects, optional
        Candidate slices for the worst-slice views (default: every metadata value).
    worst_slices : int
        How many of the lowest-accuracy slices to keep (needs ``predictions``).
    min_slice_n : int
        Slices with fewer labelled, predicted samples are not considered.
    predicted_boxes : polars.DataFrame or path, optional
        A detection dataset's out-of-sample predicted boxes (pixels, with ``score``; see
        :func:`~datacentric.dataset.read_predicted_boxes`): the ``predictions`` Detections,
        and the worst slices by mAP@0.5. Detection datasets take these instead of
        ``predictions``.

    Returns
    -------
    Records

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from datacentric import Dataset
    >>> from datacentric.issues import scan
    >>> imgs = np.random.default_rng(0).integers(0, 255, (6, 8, 8), dtype=np.uint8)
    >>> imgs[4] = imgs[1]
    >>> ds = Dataset.from_arrays(imgs, [0, 1, 0, 1, 0, 1], ["cat", "dog"],
    ...                          metadata={"site": list("xxxyyy")}).to_folder(tempfile.mkdtemp())
    >>> result = scan(ds, finders=["exact_duplicate"], cross_validate=False)
    >>> rec = build_records(ds, result)
    >>> rec.frame.filter(pl.col("n_issues") > 0).select("sample_id", "issue_tags").rows()
    [('1', ['issue:exact_duplicate']), ('4', ['issue:exact_duplicate'])]
    >>> rec.columns, rec.flagged_types
    ({'split': 'split', 'site': 'site'}, ['exact_duplicate'])
    """
    if ds.root is None:
        raise InvalidParameterError(
            "to_fiftyone: the dataset lives in memory, but FiftyOne shows image files; save it "
            "with ds.to_folder(DIR) (or open a dataset directory) and push that."
        )
    m = ds.manifest
    # FiftyOne reads the files it is pointed at: none outside the dataset root
    check_paths_inside(Path(ds.root), m["sample_id"].to_list(), m["image"].to_list())
    root = Path(ds.root).resolve()
    meta_cols = [c for c in ["split", *ds.metadata_columns] if c in m.columns]
    columns = {c: field_for_column(c) for c in dict.fromkeys(meta_cols)}
    frame = m.select(
        pl.col("sample_id"),
        (pl.lit(str(root) + "/") + pl.col("image")).alias("filepath"),
        pl.col("label"),
        pl.col("label").alias("dc_label"),
        *(pl.col(c).cast(pl.Utf8).alias(f) for c, f in columns.items()),
    )
    issue_types: list[str] = []
    flagged_types: list[str] = []
    if scan is not None:
        if scan.meta.get("version") not in (None, ds.version):
            log.warning(
                "the scan was made on version %s, the dataset is version %s; samples it did "
                "not examine get no issue scores",
                scan.meta.get("version"),
                ds.version,
            )
        frame, issue_types, flagged_types = _join_issues(frame, scan.issues)
    else:
        frame = frame.with_columns(
            pl.lit([], pl.List(pl.Utf8)).alias("issue_tags"),
            pl.lit(0, pl.Int64).alias("n_issues"),
            pl.lit(0.0).alias("max_severity"),
            pl.lit(None, pl.Utf8).alias("suggested_label"),
            pl.lit(None, pl.Utf8).alias("details"),
        )
    embeddings = None
    box_recs = None
    if ds.task == "detection":
        if predictions is not None:
            raise InvalidParameterError(
                "to_fiftyone: predictions= are class probabilities, for classification; this "
                "is a detection dataset. Pass its predicted boxes as predicted_boxes= (CLI: "
                "--option predicted_boxes=FILE.parquet)."
            )
        from datacentric.integrations.fiftyone.boxes import box_records

        box_recs = box_records(
            ds,
            frame["sample_id"].to_list(),
            scan.issues if scan is not None else None,
            predicted_boxes,
        )
        # dc_label holds the digest of the boxes as pushed: edits in FiftyOne change it
        frame = frame.with_columns(
            pl.Series("dc_label", box_recs.digest, dtype=pl.Utf8),
            pl.Series(
                "box_hash",
                box_recs.content,
                dtype=pl.Utf8,
            ),
        )
    elif predicted_boxes is not None:
        raise InvalidParameterError(
            "to_fiftyone: predicted_boxes= are for detection datasets; this dataset's task is "
            f"{ds.task!r}. Pass predictions= (probabilities) for classification."
        )
    if predictions is not None:
        from datacentric.train.recipe import Predictions as _Predictions

        predictions = _Predictions.coerce(predictions, ds, allow_missing=True, allow_extra=True)
        frame, embeddings = _join_predictions(frame, predictions, ds.classes)
    else:
        frame = frame.with_columns(
            pl.lit(None, pl.Utf8).alias("pred_label"), pl.lit(None, pl.Float64).alias("confidence")
        )
    worst: list[WorstSlice] = []
    membership = [[] for _ in range(frame.height)]  # type: list[list[str]]
    if predictions is not None and worst_slices > 0:
        worst, membership = _worst_slices(ds, frame, slices, worst_slices, min_slice_n)
    elif predicted_boxes is not None and worst_slices > 0:
        worst, membership = _worst_box_slices(
            ds, predicted_boxes, slices, worst_slices, min_slice_n
        )
    frame = frame.with_columns(pl.Series("worst_slices", membership, dtype=pl.List(pl.Utf8)))
    frame = frame.with_columns(pl.Series("dc_hash", _row_hashes(frame, embeddings), pl.Utf8))
    if box_recs is not None:
        frame = frame.drop("box_hash")
    return Records(frame, embeddings, issue_types, flagged_types, columns, worst, box_recs)


def _join_issues(
    frame: pl.DataFrame, issues: pl.DataFrame
) -> tuple[pl.DataFrame, list[str], list[str]]:
    ours = issues.filter(pl.col("sample_id").is_in(frame["sample_id"].implode()))
    types = issues["issue_type"].unique(maintain_order=True).to_list()
    if ours.height:
        scores = ours.pivot(
            on="issue_type", index="sample_id", values="severity", aggregate_function="max"
        ).rename({t: issue_field(t) for t in types if t in ours["issue_type"]})
    else:
        scores = pl.DataFrame(schema={"sample_id": pl.Utf8})
    for t in types:
        if issue_field(t) not in scores.columns:
            scores = scores.with_columns(pl.lit(None, pl.Float64).alias(issue_field(t)))
    flagged = ours.filter(pl.col("is_issue")).sort(
        ["severity", "issue_type"], descending=[True, False]
    )
    per_sample = flagged.group_by("sample_id", maintain_order=True).agg(
        (pl.lit(ISSUE_TAG_PREFIX) + pl.col("issue_type")).sort().alias("issue_tags"),
        pl.len().cast(pl.Int64).alias("n_issues"),
        pl.col("severity").max().alias("max_severity"),
        pl.col("suggested_label").drop_nulls().first().alias("suggested_label"),
        (pl.col("issue_type") + pl.lit(": ") + pl.col("detail").fill_null(""))
        .str.join("; ")
        .alias("details"),
    )
    out = (
        frame.join(scores, on="sample_id", how="left", maintain_order="left")
        .join(per_sample, on="sample_id", how="left", maintain_order="left")
        .with_columns(
            pl.col("issue_tags").fill_null(pl.lit([], pl.List(pl.Utf8))),
            pl.col("n_issues").fill_null(0),
            pl.col("max_severity").fill_null(0.0),
        )
    )
    flagged_types = [t for t in types if t in set(flagged["issue_type"].to_list())]
    return out, types, flagged_types


def _join_predictions(
    frame: pl.DataFrame, predictions: Predictions, classes: Sequence[str]
) -> tuple[pl.DataFrame, np.ndarray | None]:
    """Predictions already coerced to ``classes`` (``Predictions.coerce``) joined by id."""
    names = list(classes)
    index = {s: i for i, s in enumerate(predictions.sample_ids)}
    ids = frame["sample_id"].to_list()
    rows = np.array([index.get(s, -1) for s in ids], dtype=np.int64)
    have = rows >= 0
    if not have.any():
        raise SchemaError(
            f"to_fiftyone: none of the dataset's sample ids (e.g. {ids[:3]}) has a prediction; "
            "pass the predictions of this dataset."
        )
    probs = predictions.pred_probs[np.where(have, rows, 0)]
    arg = probs.argmax(axis=1)
    labels = [names[a] if h else None for a, h in zip(arg, have, strict=True)]
    conf = np.where(have, probs[np.arange(len(ids)), arg], np.nan)
    emb: np.ndarray | None = None
    if predictions.embeddings.shape[1] > 0:
        emb = predictions.embeddings[np.where(have, rows, 0)].copy()
        emb[~have] = np.nan
    out = frame.with_columns(
        pl.Series("pred_label", labels, dtype=pl.Utf8),
        pl.Series("confidence", conf, dtype=pl.Float64).fill_nan(None),
    )
    return out, emb


def _worst_slices(
    ds: Dataset, frame: pl.DataFrame, slices: Any, k: int, min_n: int
) -> tuple[list[WorstSlice], list[list[str]]]:
    from datacentric.slices.evaluate import resolve_slices

    m = ds.manifest.join(
        frame.select("sample_id", "pred_label"), on="sample_id", how="left", maintain_order="left"
    )
    metadata = [c for c in ds.metadata_columns if c != "annotator"]
    resolved = resolve_slices(slices, m, metadata)
    scored = m.select(
        (pl.col("label").is_not_null() & pl.col("pred_label").is_not_null()).alias("ok"),
        (pl.col("label") == pl.col("pred_label")).fill_null(False).alias("hit"),
    )
    ok = scored["ok"].to_numpy()
    hit = scored["hit"].to_numpy()
    overall = hit[ok].mean() if ok.any() else float("nan")
    candidates = []
    masks = {}
    for s in resolved:
        mask = s.mask(m).fill_null(False).to_numpy()
        n = int((mask & ok).sum())
        if n < min_n:
            continue
        acc = float(hit[mask & ok].mean())
        if acc < overall:
            candidates.append(WorstSlice(s.name, n, acc))
            masks[s.name] = mask
    candidates.sort(key=lambda w: (w.accuracy, w.name))
    worst = candidates[:k]
    membership: list[list[str]] = [[] for _ in range(m.height)]
    for w in worst:
        for i in np.flatnonzero(masks[w.name]):
            membership[i].append(w.name)
    return worst, membership


def _worst_box_slices(
    ds: Dataset, predicted_boxes: Any, slices: Any, k: int, min_n: int
) -> tuple[list[WorstSlice], list[list[str]]]:
    """Slices whose mAP@0.5 (all splits, no bootstrap) is lowest and below the overall."""
    from datacentric.slices.detection import evaluate_detection
    from datacentric.slices.evaluate import resolve_slices

    m = ds.manifest
    metadata = [c for c in ds.metadata_columns if c not in ("annotator", "width", "height")]
    resolved = resolve_slices(slices, m, metadata)
    table = evaluate_detection(
        ds, predicted_boxes, resolved, split=None, min_n=min_n, n_boot=0, box_slices=False
    ).metric("map50")
    values = dict(table.select("slice", "value").iter_rows())
    support = dict(table.select("slice", "n").iter_rows())
    overall = values.get("overall")
    candidates = [
        WorstSlice(s.name, int(support[s.name]), float(values[s.name]), "map50")
        for s in resolved
        if values.get(s.name) is not None
        and overall is not None
        and support[s.name] >= min_n
        and values[s.name] < overall
    ]
    candidates.sort(key=lambda w: (w.accuracy, w.name))
    worst = candidates[:k]
    membership: list[list[str]] = [[] for _ in range(m.height)]
    for w in worst:
        mask = next(s for s in resolved if s.name == w.name).mask(m).fill_null(False).to_numpy()
        for i in np.flatnonzero(mask):
            membership[i].append(w.name)
    return worst, membership


def _row_hashes(frame: pl.DataFrame, embeddings: np.ndarray | None) -> list[str]:
    cols = sorted(c for c in frame.columns if c != "dc_hash")
    out = []
    for i, row in enumerate(frame.select(cols).iter_rows()):
        h = hashlib.blake2b(repr(row).encode(), digest_size=12)
        if embeddings is not None:
            h.update(np.ascontiguousarray(embeddings[i]).tobytes())
        out.append(h.hexdigest())
    return out
