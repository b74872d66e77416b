"""The reference profile: what production is compared with, fitted once and kept in the store.

From a labelled reference frame (e.g. the test split with the model's predictions) the
profile keeps the expected batch columns, each metric's bins (reference quantiles or
categories), the reference histogram of every metric in every slice, the reference accuracy
and the CBPE calibrator per slice, and the embedding centroid when there are embeddings.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._numbers import nonfinite_rows
from datacentric._validation import Interval, SequenceOf, validate_call
from datacentric.exceptions import SchemaError, format_items
from datacentric.monitor.boxes import (
    BOX_METRICS,
    PER_BOX_METRICS,
    box_rows,
    boxes_digest,
    check_image_sizes,
    read_boxes,
)
from datacentric.monitor.drift import quantile_edges
from datacentric.monitor.hist import MetricSpec, histograms
from datacentric.monitor.performance import Calibrator, fit_calibrator
from datacentric.monitor.schema import (
    CONFIDENCE,
    EMBEDDING,
    IMAGE,
    LABEL,
    PREDICTION,
    RESERVED,
    SAMPLE_ID,
    check_numbers,
    column_kind,
    expected_columns,
)
from datacentric.slices.spec import Slice, SliceSpec, expand_slices, load_slices, slices_to_yaml

__all__ = [
    "EMBEDDING_DISTANCE",
    "IMAGE_METRICS",
    "OVERALL",
    "ReferenceProfile",
    "build_profile",
    "derive_columns",
    "slices_of",
]

logger = logging.getLogger(__name__)

OVERALL = "overall"
EMBEDDING_DISTANCE = "embedding_distance"
#: Metrics that can be computed from an ``image`` column (see ``compute_image_stats``).
IMAGE_METRICS = (
    "width", "height", "channels", "brightness_p99", "brightness_p1", "brightness_mean",
    "contrast", "blurriness", "entropy", "aspect_ratio",
)  # fmt: skip
_MAX_CATEGORIES = 100


@dataclass
class ReferenceProfile:
    """Everything about the reference that window statistics need (JSON-serialisable)."""

    expected: dict[str, str]
    metrics: list[MetricSpec]
    slices_yaml: str
    n_rows: int
    ref_n: dict[str, int]
    ref_counts: dict[str, dict[str, list[int]]]
    ref_accuracy: dict[str, float | None]
    calibrator: Calibrator | None = None
    centroid: list[float] | None = None
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: CBPE's estimate on the reference rows of each slice: a window's estimate is compared
    #: with this (same estimator both sides), so a calibrator that is off for one slice does
    #: not read as a drop in that slice.
    ref_expected_accuracy: dict[str, float | None] = field(default_factory=dict)

    @property
    def specs(self) -> list[SliceSpec]:
        """The slice entries (unexpanded)."""
        return load_slices(self.slices_yaml) if self.slices_yaml.strip() else []

    @property
    def score_threshold(self) -> float | None:
        """The score from which a predicted box counts, or None when the reference had no
        boxes (see :mod:`datacentric.monitor.boxes`)."""
        boxes = self.extra.get("boxes")
        return None if boxes is None else float(boxes["score_threshold"])

    @property
    def row_metrics(self) -> list[MetricSpec]:
        """The metrics with one value per row (all but the per-box ones)."""
        return [m for m in self.metrics if m.name not in PER_BOX_METRICS]

    @property
    def box_metrics(self) -> list[MetricSpec]:
        """The metrics with one value per predicted box."""
        return [m for m in self.metrics if m.name in PER_BOX_METRICS]

    def metric(self, name: str) -> MetricSpec:
        """The spec of one metric."""
        return next(m for m in self.metrics if m.name == name)

    def to_json(self) -> str:
        """The profile as JSON text."""
        return json.dumps(
            {
                "expected": self.expected,
                "metrics": [m.to_dict() for m in self.metrics],
                "slices_yaml": self.slices_yaml,
                "n_rows": self.n_rows,
                "ref_n": self.ref_n,
                "ref_counts": self.ref_counts,
                "ref_accuracy": self.ref_accuracy,
                "ref_expected_accuracy": self.ref_expected_accuracy,
                "calibrator": None if self.calibrator is None else self.calibrator.to_dict(),
                "centroid": self.centroid,
                "fingerprint": self.fingerprint,
                "extra": self.extra,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        cal = d.pop("calibrator")
        metrics = [MetricSpec.from_dict(m) for m in d.pop("metrics")]
        return cls(
            metrics=metrics, calibrator=None if cal is None else Calibrator.from_dict(cal), **d
        )


def slices_of(specs: Sequence[SliceSpec], frame: pl.DataFrame) -> list[Slice]:
    """Expand ``specs`` on ``frame`` and put the ``overall`` slice first.

    Examples
    --------
    >>> [s.name for s in slices_of(load_slices("[{by: v}]"), pl.DataFrame({"v": ["a", "b"]}))]
    ['overall', 'v=a', 'v=b']
    """
    expanded = expand_slices(specs, frame)
    if any(s.name == OVERALL for s in expanded):
        raise SchemaError(f"slice name {OVERALL!r} is reserved for all rows. Rename that slice.")
    overall = Slice(OVERALL, pl.lit(True), (), {"name": OVERALL, "where": {}}, "<monitor>")
    return [overall, *expanded]


def derive_columns(
    frame: pl.DataFrame,
    *,
    expected: Sequence[str] | None,
    centroid: Sequence[float] | None,
    image_root: str | Path | None,
) -> pl.DataFrame:
    """Add computed columns: image metrics from ``image`` paths when they are missing (and
    ``expected``), and ``embedding_distance``, the embedding's Euclidean distance to the
    reference ``centroid``. The ``embedding`` column itself is dropped (logged when there is
    no centroid to measure it against)."""
    need = [m for m in IMAGE_METRICS if m not in frame.columns]
    if expected is not None:
        need = [m for m in need if m in expected]
    if IMAGE in frame.columns and need:
        frame = frame.with_columns(_image_metrics(frame, need, image_root))
    if EMBEDDING in frame.columns:
        if centroid is None:
            logger.warning("monitor: the reference has no embeddings; ignoring 'embedding'")
            return frame.drop(EMBEDDING)
        emb = _embedding_matrix(frame)
        if emb.shape[1] != len(centroid):
            raise SchemaError(
                f"column 'embedding' has vectors of length {emb.shape[1]}, the reference's have "
                f"length {len(centroid)}. Use the same embedding model as for the reference."
            )
        with np.errstate(over="ignore"):
            dist = np.linalg.norm(emb - np.asarray(centroid)[None, :], axis=1)
        _check_finite_rows(
            dist, "the distance of column 'embedding' to the reference centroid",
            "Its values are too large to measure; rescale the embeddings",
        )  # fmt: skip
        frame = frame.drop(EMBEDDING).with_columns(pl.Series(EMBEDDING_DISTANCE, dist))
    elif centroid is not None:
        raise SchemaError(
            "batch has no 'embedding' column but the reference had one. Pass the embeddings "
            "of the batch's images (a list or array column named 'embedding')."
        )
    return frame


def _embedding_matrix(frame: pl.DataFrame) -> np.ndarray:
    col = frame[EMBEDDING]
    if col.null_count():
        raise SchemaError(
            f"column 'embedding' has {col.null_count()} null value(s). Every row needs its "
            "embedding (a vector of the same length)."
        )
    if isinstance(col.dtype, pl.List):
        lens = col.list.len()
        if lens.n_unique() > 1:
            raise SchemaError(
                f"column 'embedding' has vectors of different lengths "
                f"{format_items(lens.unique().sort().to_list())}. All must have one length."
            )
        width = int(lens[0])
    elif isinstance(col.dtype, pl.Array):
        width = int(col.dtype.size)
    else:
        raise SchemaError(
            f"column 'embedding' must hold numeric vectors (a list or array column), received "
            f"dtype {col.dtype}."
        )
    try:
        arr = col.cast(pl.Array(pl.Float64, width)).to_numpy()
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(f"column 'embedding' is not a numeric vector column ({exc}).") from None
    out = np.asarray(arr, dtype=np.float64).reshape(frame.height, width)
    _check_finite_rows(out, "column 'embedding'", "Recompute the embeddings of those rows")
    return out


def _check_finite_rows(values: np.ndarray, what: str, fix: str) -> None:
    """A :class:`SchemaError` naming the count and first rows holding NaN or infinities."""
    bad = nonfinite_rows(values)
    if bad.size:
        raise SchemaError(
            f"{what} has NaN or infinite values in {bad.size} row(s) (rows "
            f"{format_items(bad[:10].tolist())}). {fix}; every vector must be finite."
        )


def _image_metrics(
    frame: pl.DataFrame, need: list[str], image_root: str | Path | None
) -> list[pl.Series]:
    from datacentric.issues.image_stats import compute_file_image_stats

    root = Path(image_root) if image_root is not None else Path.cwd()
    # batch files are named by the user's own rows (absolute or under image_root): read with
    # the pixel cap, not confined to a dataset root
    stats = compute_file_image_stats(frame[IMAGE].cast(pl.String).to_list(), root)
    bad = stats.filter(~pl.col("readable"))
    if bad.height:
        raise SchemaError(
            f"{bad.height} image(s) of the batch could not be read: "
            f"{format_items(bad['error'].to_list())}. Fix the paths (relative to image_root="
            f"{str(root)!r}) or pass the image metrics as columns."
        )
    return [stats[m].cast(pl.Float64).alias(m) for m in need]


#: Bins per continuous metric (shared with :class:`~datacentric.monitor.Monitor`).
N_BINS = [Interval(Integral, 2, 1000)]
#: The score from which a predicted box counts (shared with ``Monitor``).
SCORE_THRESHOLD = [Interval(Real, 0, 1)]


@validate_call(
    {"metrics": [SequenceOf(str), None], "n_bins": N_BINS, "score_threshold": SCORE_THRESHOLD}
)
def build_profile(
    reference: pl.DataFrame,
    specs: Sequence[SliceSpec],
    *,
    metrics: Sequence[str] | None = None,
    n_bins: int = 32,
    image_root: str | Path | None = None,
    boxes: Any = None,
    score_threshold: float = 0.5,
) -> ReferenceProfile:
    """Fit the profile of a reference frame.

    Parameters
    ----------
    reference : polars.DataFrame
        Rows like the production ones (``prediction``, ``confidence``, metadata, input
        metrics), with ``label`` for the performance estimate; ``sample_id`` and
        ``timestamp`` are optional.
    specs : sequence of SliceSpec
        The slices to monitor.
    metrics : sequence of str, optional
        Columns to watch for drift. Default: every numeric column that is not a reserved
        one, then ``confidence`` and ``prediction`` (categorical), and
        ``embedding_distance`` when there is an ``embedding`` column.
    n_bins : int
        Bins per continuous metric: reference quantiles, plus as many equal-width steps.
    image_root : path, optional
        Where relative ``image`` paths are resolved.
    boxes : polars.DataFrame, mapping or path, optional
        A detector's predicted boxes for the reference rows (matched by ``sample_id``; see
        :mod:`datacentric.monitor.boxes`): adds ``box_count``, ``box_area``,
        ``box_confidence`` and ``box_class`` to the default metrics, and makes
        ``prediction`` and ``confidence`` optional.
    score_threshold : float
        With ``boxes``: the score from which a box counts, in [0, 1].

    Examples
    --------
    >>> ref = pl.DataFrame({"site": ["a", "b"] * 50, "x": [float(i) for i in range(100)],
    ...                     "prediction": ["cat", "dog"] * 50, "confidence": [0.9] * 100})
    >>> p = build_profile(ref, load_slices("[{by: site}]"), n_bins=4)
    >>> [m.name for m in p.metrics], p.metric("x").edges, p.ref_n
    (['x', 'confidence', 'prediction'], (0.0, 24.75, 49.5, 74.25, 99.0), {'overall': 100, ...})
    """
    if reference.height == 0:
        raise SchemaError(
            "the reference has no rows. Pass the labelled rows the model was tested on."
        )
    for col in (PREDICTION, CONFIDENCE):
        if col not in reference.columns and boxes is None:
            raise SchemaError(
                f"the reference has no {col!r} column (received {format_items(reference.columns)})."
                f" The monitor needs the model's {col} on every reference row."
            )
    check_numbers(reference, "reference")
    if LABEL in reference.columns and PREDICTION not in reference.columns:
        raise SchemaError(
            "the reference has a 'label' column but no 'prediction' column to compare it "
            "with. Drop 'label' (a detector's boxes are monitored without image labels), or "
            "add the model's prediction per row."
        )
    if LABEL in reference.columns:
        dtype = reference.schema[LABEL]
        if not (column_kind(dtype) == "string" or dtype.is_integer() or dtype == pl.Null):
            raise SchemaError(
                f"reference column 'label' must be text (class names), received {dtype}. A "
                "float column would turn NaN into the label 'NaN'; write class names, null "
                "where unknown."
            )
    centroid = None
    if EMBEDDING in reference.columns:
        with np.errstate(over="ignore"):
            centroid = _embedding_matrix(reference).mean(axis=0)
        _check_finite_rows(
            centroid[None, :], "the mean of the reference's column 'embedding'",
            "Its values are too large to average; rescale the embeddings",
        )  # fmt: skip
        centroid = centroid.tolist()
    reference = derive_columns(reference, expected=None, centroid=centroid, image_root=image_root)
    expected = expected_columns(reference.drop(EMBEDDING_DISTANCE, strict=False).schema)
    per_box = table = None
    if boxes is not None:
        reference, per_box, table = _reference_boxes(reference, boxes, score_threshold)
    names = list(metrics) if metrics is not None else _default_metrics(reference)
    if per_box is not None and metrics is None:
        names += list(BOX_METRICS)
    have = [*reference.columns, *(PER_BOX_METRICS if per_box is not None else ())]
    unknown = [m for m in names if m not in have]
    if unknown:
        raise SchemaError(
            f"metric column(s) {format_items(unknown)} are not in the reference (received "
            f"{format_items(reference.columns)}). Pick metrics among its columns."
        )
    specs_list = list(specs)
    slices = slices_of(specs_list, reference)
    metric_specs = [
        _fit_metric(reference if m not in PER_BOX_METRICS or per_box is None else per_box, m,
                    n_bins)
        for m in names
    ]  # fmt: skip
    calibrator, correct = None, None
    if LABEL in reference.columns and reference[LABEL].null_count() < reference.height:
        lab = reference.filter(pl.col(LABEL).is_not_null())
        correct_l = (lab[PREDICTION].cast(pl.String) == lab[LABEL].cast(pl.String)).fill_null(False)
        calibrator = fit_calibrator(
            lab[CONFIDENCE].cast(pl.Float64).fill_null(np.nan).to_numpy(), correct_l.to_numpy()
        )
        correct = (pl.col(PREDICTION).cast(pl.String) == pl.col(LABEL).cast(pl.String)).fill_null(
            False
        )
    masks = [(s.name, s.expr) for s in slices]
    row_specs = [m for m in metric_specs if m.name not in PER_BOX_METRICS]
    calibrated = None
    if calibrator is not None:
        conf = reference[CONFIDENCE].cast(pl.Float64).fill_null(np.nan).to_numpy()
        calibrated = calibrator.apply(conf)
    items = None
    if per_box is not None:
        box_specs = [m for m in metric_specs if m.name in PER_BOX_METRICS]
        items = (per_box, per_box["row"].to_numpy(), box_specs)
    h = histograms(reference, masks, row_specs, pl.lit(0), calibrated, items)
    ref_accuracy: dict[str, float | None] = {s.name: None for s in slices}
    # CBPE on the reference rows: the histograms already summed the calibrated confidences
    ref_expected: dict[str, float | None] = {
        s: (
            float(h.expected_correct[0, j] / h.scored[0, j])
            if calibrator is not None and h.scored[0, j]
            else None
        )
        for j, s in enumerate(h.slices)
    }
    if correct is not None:
        has = pl.col(LABEL).is_not_null()
        sums = reference.select(
            *[(s.expr & has & correct).sum().alias(f"c{i}") for i, s in enumerate(slices)],
            *[(s.expr & has).sum().alias(f"n{i}") for i, s in enumerate(slices)],
        ).row(0)
        k = len(slices)
        for i, s in enumerate(slices):
            ref_accuracy[s.name] = sums[i] / sums[k + i] if sums[k + i] else None
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(reference.hash_rows(seed=0).sum()).encode())
    digest.update(json.dumps(expected).encode())
    extra: dict[str, Any] = {}
    if table is not None:
        extra["boxes"] = {"score_threshold": float(score_threshold)}
        digest.update(json.dumps(extra).encode())
        digest.update(boxes_digest(table))
    return ReferenceProfile(
        expected=expected,
        metrics=metric_specs,
        slices_yaml=slices_to_yaml(specs_list) if specs_list else "",
        n_rows=reference.height,
        ref_n={s: int(h.n[0, j]) for j, s in enumerate(h.slices)},
        ref_counts={
            s: {m: h.counts[m][0, j].tolist() for m in h.counts} for j, s in enumerate(h.slices)
        },
        ref_accuracy=ref_accuracy,
        ref_expected_accuracy=ref_expected,
        calibrator=calibrator,
        centroid=centroid,
        fingerprint=digest.hexdigest(),
        extra=extra,
    )


def _default_metrics(reference: pl.DataFrame) -> list[str]:
    out = [
        c for c, t in reference.schema.items()
        if c not in RESERVED and c != EMBEDDING_DISTANCE and c not in BOX_METRICS
        and column_kind(t) == "numeric"
    ]  # fmt: skip
    extra = [EMBEDDING_DISTANCE] if EMBEDDING_DISTANCE in reference.columns else []
    model = [c for c in (CONFIDENCE, PREDICTION) if c in reference.columns]
    return [*out, *extra, *model]


def _reference_boxes(
    reference: pl.DataFrame, boxes: Any, score_threshold: float
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The reference with ``box_count``, its kept boxes with the per-box metrics, and the
    checked box table."""
    taken = [c for c in BOX_METRICS if c in reference.columns]
    if taken:
        raise SchemaError(
            f"the reference has column(s) {format_items(taken)}, the names of the metrics "
            "derived from predicted boxes. Rename them."
        )
    if SAMPLE_ID not in reference.columns:
        raise SchemaError(
            "the reference has no 'sample_id' column, so its predicted boxes cannot be "
            f"matched to its rows (received {format_items(reference.columns, limit=12)}). Add "
            "the sample id of every row."
        )
    ids = reference[SAMPLE_ID]
    if ids.null_count() or ids.n_unique() < reference.height:
        raise SchemaError(
            f"the reference's 'sample_id' column has {ids.null_count()} null and "
            f"{reference.height - ids.n_unique()} repeated value(s); its predicted boxes are "
            "matched to rows by it. Give every row its own sample id."
        )
    check_image_sizes(reference, "reference")
    reference = reference.with_columns(pl.col(SAMPLE_ID).cast(pl.String))
    table = read_boxes(boxes, reference, name="reference_boxes")
    counted, per_box = box_rows(reference, table, score_threshold)
    if per_box.height == 0:
        raise SchemaError(
            f"reference_boxes: none of the {table.height:,} box(es) has a score of at least "
            f"score_threshold={score_threshold}, so there is nothing to compare production "
            "boxes with. Lower score_threshold, or pass the detector's boxes on the reference."
        )
    return counted, per_box, table


def _fit_metric(reference: pl.DataFrame, name: str, n_bins: int) -> MetricSpec:
    kind = column_kind(reference.schema[name])
    if kind == "numeric" and name != PREDICTION:
        x = reference[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        finite = x[np.isfinite(x)]
        std = float(np.std(finite)) if finite.size else 1.0
        return MetricSpec(
            name, "continuous", tuple(float(e) for e in quantile_edges(x, n_bins)), (), std
        )
    if kind in ("string", "bool") or name == PREDICTION:
        counts = (
            reference.select(pl.col(name).cast(pl.String))
            .drop_nulls()[name]
            .value_counts(sort=True)
        )
        cats = sorted(counts[name].head(_MAX_CATEGORIES).to_list())
        return MetricSpec(name, "categorical", (), tuple(cats), 1.0)
    raise SchemaError(
        f"metric column {name!r} has dtype {reference.schema[name]}; drift is measured on "
        "numeric (continuous) or text/boolean (categorical) columns."
    )
