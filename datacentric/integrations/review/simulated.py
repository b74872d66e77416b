"""A simulated reviewer: the review queue answered from a ground truth, for demos and benchmarks.

In the product a person answers the loop's review queue in Label Studio or FiftyOne and the
answers come back with a pull. Where no person is at hand — ``make demo``, ``bench_loop`` —
:func:`simulate_review` stands in: it answers each queued sample's label from the demo's
ground truth (``true_label``), right with probability ``accuracy`` and otherwise with
another class drawn uniformly, and applies the answers through the same step as a FiftyOne
pull (:func:`~datacentric.integrations.review.apply.apply_review`): the same relabels, a
lineage row per relabel whose ``source`` is ``simulated-reviewer``, one new version, the
same :class:`~datacentric.integrations.review.apply.AppliedReview` result.

It is a stand-in, never evidence about people: a real reviewer's accuracy depends on the
images, the guide and the classes. The default 0.95 is a realistic figure for careful
reviewers of a clear labelling task (crowd annotators of image classes are commonly put at
0.9–0.97), not a measurement on this data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError, format_items
from datacentric.integrations.review.apply import DECISIONS_SCHEMA, AppliedReview, apply_review

__all__ = ["DEFAULT_ACCURACY", "SIMULATED_SOURCE", "simulate_review"]

SIMULATED_SOURCE = "simulated-reviewer"
"""The lineage ``source`` of a simulated reviewer's relabels (default ``reviewer``)."""

DEFAULT_ACCURACY = 0.95
"""The share of queued samples the simulated reviewer labels correctly (see the module)."""

#: What the simulated reviewers' settings accept (``simulate_review``, ``simulate_box_review``).
_SETTINGS: dict[str, list[object]] = {
    "accuracy": [Interval(Real, 0, 1, closed="both")],
    "seed": [Interval(Integral, 0, None, closed="left")],
    "splits": [list, tuple, None],
    "reviewer": [str],
    "commit": ["boolean"],
    "message": [str, None],
}


@validate_call(_SETTINGS)
def simulate_review(
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
    """Answer the queued samples of ``queue`` from ``ground_truth`` and apply the answers.

    Parameters
    ----------
    ds : Dataset or path
        The versioned dataset the queue is about (a path opens its HEAD).
    queue : polars.DataFrame
        A review queue (``FixResult.review``, ``review.parquet`` of an iteration): a
        ``sample_id`` column; with a ``status`` column only ``queued`` rows are answered
        (``deferred`` ones are left untouched); answered in ``rank`` order when it has one.
    ground_truth : polars.DataFrame
        ``sample_id, true_label`` (``load_ground_truth`` of a demo folder); every queued
        sample must be in it.
    accuracy : float
        Probability that an answer is the true label, in [0, 1] (default 0.95).
    seed : int
        Seed of the answers. With ``n`` samples answered, in queue order, answer ``i`` is
        wrong when ``np.random.default_rng(seed).random(n)[i] >= accuracy`` (so the number
        of wrong answers is ``(default_rng(seed).random(n) >= accuracy).sum()``); a wrong
        answer is one of the other classes, uniformly (a second draw of ``n`` integers).
    splits : sequence of str or None
        Answer only queued samples of these splits (default the train split: the evaluation
        split is the yardstick of the loop and stays as it is); ``None``: every split.
    reviewer : str
        The lineage ``source`` of the relabels (default ``simulated-reviewer``).
    commit : bool
        Commit the relabels as one new version (otherwise they stay pending on ``ds``).
    message : str, optional
        Commit message (default names the reviewer, its accuracy and seed).

    Returns
    -------
    AppliedReview
        ``backend="simulated"``, ``target`` the reviewer; ``relabels`` the answers that
        changed a label (an answer equal to the current label changes nothing).

    Raises
    ------
    SchemaError
        When ``queue`` has no ``sample_id`` column or ``ground_truth`` lacks its columns.
    InvalidParameterError
        When a queued sample is not in ``ground_truth``, or ``ds`` has no version store.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> ds = Dataset.from_arrays(np.zeros((3, 4, 4)), ["a", "a", "b"], classes=["a", "b"])
    >>> ds = ds.to_folder(tempfile.mkdtemp())
    >>> ds.commit("initial")
    1
    >>> truth = pl.DataFrame({"sample_id": ["0", "1", "2"], "true_label": ["a", "b", "b"]})
    >>> queue = pl.DataFrame({"sample_id": ["1", "2"], "status": ["queued", "deferred"]})
    >>> r = simulate_review(ds, queue, truth, accuracy=1.0)
    >>> r.relabels.rows(), r.version, ds.lineage("1")["source"].to_list()[-1]
    ([('1', 'a', 'b', 'answer')], 2, 'simulated-reviewer')
    """
    t0 = time.perf_counter()
    ds = versioned(ds, "simulate_review", "the answers")
    if ds.task == "detection":
        raise InvalidParameterError(
            "simulate_review: the dataset is a detection dataset, whose review queue is "
            "answered with boxes; use simulate_box_review(ds, queue, "
            "load_detection_ground_truth(DIR).boxes)."
        )
    answered = _queued(queue)
    truth = _truth(ground_truth)
    unknown = answered.filter(~pl.col("sample_id").is_in(truth["sample_id"].to_list()))
    if unknown.height:
        raise InvalidParameterError(
            f"simulate_review: {unknown.height} queued sample(s) are not in the ground truth "
            f"({format_items(unknown['sample_id'].to_list())}); pass the ground truth of this "
            "dataset (load_ground_truth(DIR) of the demo folder the queue came from)."
        )
    rows = ds.manifest.select("sample_id", "split")
    in_ds = answered.join(rows, on="sample_id", how="inner")
    if splits is not None:
        in_ds = in_ds.filter(pl.col("split").is_in(list(splits)))
    # answered in queue order; samples not in the dataset go to apply_review (listed, skipped)
    keep = set(in_ds["sample_id"].to_list())
    missing = answered.filter(~pl.col("sample_id").is_in(rows["sample_id"].to_list()))
    answered = answered.filter(pl.col("sample_id").is_in(list(keep)))
    true = dict(truth.iter_rows())
    answers = _answers(
        [true[s] for s in answered["sample_id"].to_list()], list(ds.classes), accuracy, seed
    )
    decisions = pl.DataFrame(
        {
            "sample_id": answered["sample_id"].to_list() + missing["sample_id"].to_list(),
            "verdict": [None] * (answered.height + missing.height),
            "relabel": answers + [None] * missing.height,
            "how": ["answer"] * (answered.height + missing.height),
            "issues": answered["issues"].to_list() + missing["issues"].to_list(),
        },
        schema=DECISIONS_SCHEMA,
    )
    return apply_review(
        ds,
        decisions,
        backend="simulated",
        target=reviewer,
        source=reviewer,
        source_prefix=reviewer,
        relabel_reason=lambda _how, new, issues: (
            f"simulated reviewer (accuracy {accuracy:g}, seed {seed}) answered {new!r} from "
            f"the ground truth, standing in for a Label Studio review"
            + (f" (flagged: {issues})" if issues else "")
        ),
        verdict_reason=lambda verdict, _issues: verdict,
        commit=commit,
        message=message,
        default_message=lambda n_relabels, _n_verdicts: (
            f"simulated review ({reviewer}, accuracy {accuracy:g}, seed {seed}): "
            f"{answered.height} queued samples answered, {n_relabels} relabels"
        ),
        meta={
            "simulated_review": {
                "reviewer": reviewer,
                "accuracy": float(accuracy),
                "seed": int(seed),
                "answered": answered.height,
                "splits": None if splits is None else list(splits),
            }
        },
        started=t0,
    )


def versioned(ds: Dataset | str | Path, name: str, what: str) -> Dataset:
    """``ds`` (a path opens its HEAD), refused when it has no version store: ``what`` (the
    reviewer's edits) could not become a new version with lineage."""
    if not isinstance(ds, Dataset):
        ds = Dataset.open(ds, check_images="none")
    if ds.root is None or ds.version is None:
        raise InvalidParameterError(
            f"{name}: the dataset has no version store, so {what} cannot become a new "
            "version with lineage; open a versioned dataset directory (Dataset.open)."
        )
    return ds


def _queued(queue: Any, who: str = "simulate_review") -> pl.DataFrame:
    """``sample_id, issues`` of the rows to answer, in queue order (``who`` names the caller
    in the error)."""
    if not isinstance(queue, pl.DataFrame) or "sample_id" not in queue.columns:
        got = queue.columns if isinstance(queue, pl.DataFrame) else type(queue).__name__
        raise SchemaError(
            f"{who}: the queue must be a polars DataFrame with a sample_id column; "
            f"received {got}. Pass a review queue (FixResult.review or an iteration's "
            "review.parquet)."
        )
    q = queue
    if "status" in q.columns:
        q = q.filter(pl.col("status") == "queued")
    if "rank" in q.columns:
        q = q.sort("rank", maintain_order=True)
    if "issue_types" in q.columns and q.schema["issue_types"] == pl.List(pl.Utf8):
        issues = pl.col("issue_types").list.join(",")
    elif "issue_types" in q.columns:
        issues = pl.col("issue_types").cast(pl.Utf8)
    elif "issue_type" in q.columns:
        issues = pl.col("issue_type").cast(pl.Utf8)
    else:
        issues = pl.lit("")
    return q.select(pl.col("sample_id").cast(pl.Utf8), issues.fill_null("").alias("issues")).unique(
        "sample_id", keep="first", maintain_order=True
    )


def _truth(ground_truth: Any) -> pl.DataFrame:
    cols = ("sample_id", "true_label")
    if not isinstance(ground_truth, pl.DataFrame) or any(
        c not in ground_truth.columns for c in cols
    ):
        got = ground_truth.columns if isinstance(ground_truth, pl.DataFrame) else None
        raise SchemaError(
            f"simulate_review: the ground truth must be a polars DataFrame with the columns "
            f"{list(cols)}; received {got if got is not None else type(ground_truth).__name__}. "
            "Pass load_ground_truth(DIR) of a demo folder."
        )
    return ground_truth.select(pl.col(c).cast(pl.Utf8) for c in cols)


def _answers(truth: list[str], classes: list[str], accuracy: float, seed: int) -> list[str]:
    """The reviewer's answer per sample: the truth, or (with probability ``1 - accuracy``)
    another class drawn uniformly.

    Examples
    --------
    >>> _answers(["a", "b", "a"], ["a", "b"], 1.0, 0)
    ['a', 'b', 'a']
    >>> _answers(["a", "b", "a"], ["a", "b"], 0.0, 0)
    ['b', 'a', 'b']
    """
    rng = np.random.default_rng(seed)
    n = len(truth)
    wrong = rng.random(n) >= accuracy
    pick = rng.integers(0, max(len(classes) - 1, 1), size=n)
    out = []
    for t, w, k in zip(truth, wrong, pick, strict=True):
        others = [c for c in classes if c != t]
        out.append(others[int(k)] if w and others else t)
    return out
