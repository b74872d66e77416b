"""A simulated box reviewer: a detection review queue answered from the demo's true objects.

The detection loop (:func:`~datacentric.loop.fix_boxes`) queues one row per image for a
person to look at. Where no person is at hand — ``datacentric loop --simulated-review``,
``bench_loop_detection`` — :func:`simulate_box_review` stands in: for each queued image it
redraws the image's boxes as the true objects of the demo's ground truth
(:func:`~datacentric.datasets.load_detection_ground_truth`; planted duplicates are not
objects), each object's box exactly and its class right with probability ``accuracy``
(otherwise another class drawn uniformly). That answer is one Label Studio annotation of the
image, turned into box edits against the image's current boxes by the Label Studio pull's
own decision code
(:func:`~datacentric.integrations.labelstudio.box_decision.decide_boxes` with one annotator)
and applied by the same step
(:func:`~datacentric.integrations.review.box_apply.apply_box_edits`): moves, relabels,
removals and additions, a lineage row per box edit whose ``source`` is
``simulated-reviewer``, one new version.

It is a stand-in, never evidence about people: a real reviewer misplaces boxes too, and
misses objects; this one only mistakes classes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric._validation import validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError, format_items
from datacentric.integrations.review.apply import AppliedReview
from datacentric.integrations.review.box_apply import apply_box_edits, box_lineage
from datacentric.integrations.review.simulated import (
    _SETTINGS,
    DEFAULT_ACCURACY,
    SIMULATED_SOURCE,
    _answers,
    _queued,
    versioned,
)

if TYPE_CHECKING:
    from datacentric.integrations.labelstudio.box_decision import BoxAnnotation

__all__ = ["TRUTH_COLUMNS", "simulate_box_review"]

_NAME = "simulate_box_review"

TRUTH_COLUMNS = (
    "sample_id",
    "annotation_id",
    "problem",
    "true_label",
    "true_x",
    "true_y",
    "true_w",
    "true_h",
)
"""The ground-truth columns read (``load_detection_ground_truth(DIR).boxes`` has them)."""

_WHAT = {
    "move": "moved the box to [{x:.6g}, {y:.6g}, {w:.6g}, {h:.6g}]",
    "relabel": "chose the class {label!r}",
    "remove": "deleted the box",
    "add": "drew a {label!r} box at [{x:.6g}, {y:.6g}, {w:.6g}, {h:.6g}]",
}


@validate_call(_SETTINGS)
def simulate_box_review(
    ds: Dataset | str | Path,
    queue: pl.DataFrame,
    ground_truth: pl.DataFrame,
    *,
    accuracy: float = DEFAULT_ACCURACY,
    seed: int = 0,
    splits: Sequence[str] | None = ("train",),
    reviewer: str = SIMULATED_SOURCE,
    commit: bool = True,
    message: str | None = None,
) -> AppliedReview:
    """Redraw the queued images' boxes as their true objects and apply the box edits.

    Parameters
    ----------
    ds : Dataset or path
        The versioned detection dataset the queue is about (a path opens its HEAD).
    queue : polars.DataFrame
        A review queue (``FixResult.review`` of :func:`~datacentric.loop.fix_boxes`, an
        iteration's ``review.parquet``): a ``sample_id`` column, one row per image; with a
        ``status`` column only ``queued`` rows are answered (``deferred`` ones are left
        untouched); answered in ``rank`` order when it has one.
    ground_truth : polars.DataFrame
        The true objects: :data:`TRUTH_COLUMNS` (``load_detection_ground_truth(DIR).boxes``;
        a :class:`~datacentric.datasets.DetectionGroundTruth` is read through its
        ``boxes``). Rows with ``problem == "duplicate"`` (planted copies) are not objects
        and are left out. Every queued image must have an object in it.
    accuracy : float
        Probability that an object's class is answered right, in [0, 1] (default 0.95).
    seed : int
        Seed of the answers. With ``n`` objects answered — the queued images in queue
        order, each image's objects in the ground truth's row order — object ``i`` gets a
        wrong class when ``np.random.default_rng(seed).random(n)[i] >= accuracy``, one of
        the other classes (in the dataset's order) picked by a second draw,
        ``rng.integers(0, len(classes) - 1, n)[i]``: the draw of
        :func:`~datacentric.integrations.review.simulate_review`, per object. Boxes are
        always drawn exactly.
    splits : sequence of str or None
        Answer only queued images of these splits (default the train split: the evaluation
        split is the yardstick of the loop and stays as it is); ``None``: every split.
    reviewer : str
        The lineage ``source`` of the box edits (default ``simulated-reviewer``).
    commit : bool
        Commit the box edits as one new version (otherwise they stay pending on ``ds``).
    message : str, optional
        Commit message (default names the reviewer, its accuracy, seed and edits).

    Returns
    -------
    AppliedReview
        ``backend="simulated"``, ``target`` the reviewer, ``version`` the new version (or
        ``None``: nothing changed, or ``commit=False``), ``applied`` the number of box edits,
        ``already_applied`` the answered images whose boxes already were the answer (no
        edit), ``box_edits`` their lineage rows (``annotation_id, sample_id, field, old,
        new``), ``not_in_dataset`` queued images the dataset does not have. Answering the
        same queue with the same seed again edits nothing.

    Raises
    ------
    SchemaError
        When ``queue`` has no ``sample_id`` column or ``ground_truth`` lacks its columns.
    InvalidParameterError
        When ``ds`` is not a detection dataset (use ``simulate_review``) or has no version
        store, when a queued image has no object in ``ground_truth``, or when a true class
        is not one of the dataset's classes.

    Examples
    --------
    >>> import tempfile
    >>> from datacentric.datasets import load_detection_demo, load_detection_ground_truth
    >>> root = tempfile.mkdtemp()
    >>> ds = load_detection_demo(root, n_scenes=20, size=48)
    >>> truth = load_detection_ground_truth(root).boxes
    >>> queue = pl.DataFrame({"sample_id": ["s00005", "s00012", "s00017"]})
    >>> r = simulate_box_review(ds, queue, truth, accuracy=1.0)
    >>> r.version, r.applied, sorted(r.box_edits["field"].to_list())
    (2, 3, ['bbox', 'box', 'label'])
    >>> ds.lineage("s00005")["source"].to_list()[-1]
    'simulated-reviewer'
    >>> simulate_box_review(ds, queue, truth, accuracy=1.0).applied  # answered already
    0
    """
    # the Label Studio pull's decision code (imported here: importing the review package
    # imports no integration)
    from datacentric.integrations.labelstudio.box_decision import decide_boxes

    t0 = time.perf_counter()
    if not isinstance(ds, Dataset):
        ds = Dataset.open(ds, check_images="none")
    if ds.task != "detection" or ds.annotations is None:
        raise InvalidParameterError(
            f"{_NAME}: the dataset is a {ds.task} dataset, without boxes to redraw; answer a "
            "classification review queue with simulate_review(ds, queue, "
            "load_ground_truth(DIR))."
        )
    versioned(ds, _NAME, "the box edits")  # an open Dataset: only the version-store check
    answered = _queued(queue, _NAME)
    truth = _truth(ground_truth)
    unknown = answered.filter(~pl.col("sample_id").is_in(truth["sample_id"].unique().to_list()))
    if unknown.height:
        raise InvalidParameterError(
            f"{_NAME}: {unknown.height} queued image(s) have no true object in the ground truth "
            f"({format_items(unknown['sample_id'].to_list())}); pass the ground truth of this "
            "dataset (load_detection_ground_truth(DIR).boxes of the demo folder the queue "
            "came from)."
        )
    rows = ds.manifest.select("sample_id", "split")
    missing = answered.filter(~pl.col("sample_id").is_in(rows["sample_id"].to_list()))
    split = dict(rows.iter_rows())
    order = [  # queue order
        s
        for s in answered["sample_id"].to_list()
        if s in split and (splits is None or split[s] in splits)
    ]
    objects = (
        pl.DataFrame(
            {"sample_id": order, "_q": list(range(len(order)))},
            schema_overrides={"sample_id": pl.Utf8, "_q": pl.Int64},
        )
        .join(truth.with_row_index("_t"), on="sample_id", how="inner")
        .sort("_q", "_t")
    )
    unknown_cls = sorted(set(objects["true_label"].to_list()) - set(ds.classes))
    if unknown_cls:
        raise InvalidParameterError(
            f"{_NAME}: the ground truth has classes the dataset does not have "
            f"({format_items(unknown_cls)}; the dataset's: {format_items(list(ds.classes))}); "
            "pass the ground truth of this dataset."
        )
    labels = _answers(objects["true_label"].to_list(), list(ds.classes), accuracy, seed)
    objects = objects.with_columns(pl.Series("answer", labels, dtype=pl.Utf8))
    boxes = ds.annotations
    annotations = _annotations(objects, order, boxes, reviewer)
    decided = decide_boxes(annotations, boxes, ds.classes)
    edits = decided.edits
    start = ds.pending_changes.height
    context = f"simulated reviewer (accuracy {accuracy:g}, seed {seed})"
    n = apply_box_edits(
        ds,
        edits,
        reason=lambda r: (
            f"{context} {_WHAT[r['edit']].format(**r)} from the ground truth, standing in "
            "for a Label Studio review"
        ),
        source=lambda _r: reviewer,
    )
    box_rows = box_lineage(ds, start)  # read before a commit clears the pending rows
    version = None
    if n and commit:
        counts = dict(edits.group_by("edit").len().rows())
        version = ds.commit(
            message
            or f"simulated box review ({reviewer}, accuracy {accuracy:g}, seed {seed}): "
            f"{len(order)} queued images answered, {n} box edits "
            f"({', '.join(f'{counts[k]} {k}' for k in sorted(counts))})",
            meta={
                "simulated_review": {
                    "reviewer": reviewer,
                    "accuracy": float(accuracy),
                    "seed": int(seed),
                    "answered": len(order),
                    "objects": objects.height,
                    "edits": counts,
                    "splits": None if splits is None else list(splits),
                }
            },
        )
    edited = set(edits["sample_id"].to_list())
    return AppliedReview(
        backend="simulated",
        target=reviewer,
        version=version,
        applied=n,
        already_applied=sum(s not in edited for s in order),
        seconds=time.perf_counter() - t0,
        relabels=pl.DataFrame(
            schema={"sample_id": pl.Utf8, "old": pl.Utf8, "new": pl.Utf8, "how": pl.Utf8}
        ),
        verdicts=pl.DataFrame(schema={"sample_id": pl.Utf8, "verdict": pl.Utf8, "issues": pl.Utf8}),
        not_in_dataset=missing["sample_id"].to_list(),
        source=reviewer,
        box_edits=box_rows,
    )


def _annotations(
    objects: pl.DataFrame, order: list[str], boxes: pl.DataFrame, reviewer: str
) -> list[BoxAnnotation]:
    """One annotation per answered image: its true objects with the answered classes.

    A true object keeps its ``annotation_id`` where the image still has that box (the
    reviewer edits the box it was shown); an overlooked object's id is never in the
    dataset's data and its region is a new drawing, matched to the boxes by IoU.
    """
    from datacentric.integrations.labelstudio.box_decision import BoxAnnotation
    from datacentric.integrations.labelstudio.boxes import Region

    current = set(
        boxes.filter(pl.col("sample_id").is_in(order))
        .select(pl.concat_str("sample_id", pl.lit("\x00"), "annotation_id"))
        .to_series()
        .to_list()
    )
    per_image: dict[str, list[Region]] = {s: [] for s in order}
    for sid, aid, problem, label, *box in objects.select(
        "sample_id", "annotation_id", "problem", "answer", "true_x", "true_y", "true_w", "true_h"
    ).iter_rows():
        kept = problem != "overlooked" and f"{sid}\x00{aid}" in current
        per_image[sid].append(
            Region(f"truth-{aid}", aid if kept else None, label, *(float(v) for v in box))
        )
    return [
        BoxAnnotation(k, k, sid, reviewer, "", tuple(per_image[sid])) for k, sid in enumerate(order)
    ]


def _truth(ground_truth: Any) -> pl.DataFrame:
    """The true objects of ``ground_truth`` (planted duplicates left out), typed."""
    boxes = getattr(ground_truth, "boxes", ground_truth)  # a DetectionGroundTruth
    if not isinstance(boxes, pl.DataFrame) or any(c not in boxes.columns for c in TRUTH_COLUMNS):
        got = boxes.columns if isinstance(boxes, pl.DataFrame) else type(boxes).__name__
        raise SchemaError(
            f"{_NAME}: the ground truth must be a polars DataFrame with the columns "
            f"{list(TRUTH_COLUMNS)}; received {got}. Pass load_detection_ground_truth(DIR)"
            ".boxes of a detection demo folder."
        )
    typed = boxes.select(
        *(pl.col(c).cast(pl.Utf8) for c in TRUTH_COLUMNS[:4]),
        *(pl.col(c).cast(pl.Float64, strict=False) for c in TRUTH_COLUMNS[4:]),
    ).filter(pl.col("problem").fill_null("") != "duplicate")
    xywh = [pl.col(c) for c in TRUTH_COLUMNS[4:]]
    bad = typed.filter(
        pl.col("sample_id").is_null()
        | pl.col("true_label").is_null()
        | pl.any_horizontal(*(v.is_null() | ~v.is_finite() for v in xywh))
        | pl.any_horizontal(pl.col("true_w") <= 0, pl.col("true_h") <= 0)
    )
    if bad.height:
        raise SchemaError(
            f"{_NAME}: {bad.height} ground-truth object(s) have no image, no class or no box "
            f"with finite coordinates and a positive size (annotation ids "
            f"{format_items(bad['annotation_id'].to_list())}); pass "
            "load_detection_ground_truth(DIR).boxes of a detection demo folder."
        )
    return typed
