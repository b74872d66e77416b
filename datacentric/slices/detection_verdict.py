"""Verdicts for detectors over several training seeds: did mAP change by more than noise?

The detection twin of :func:`~datacentric.slices.seed_verdict`. mAP is not a mean of
per-image scores, so each bootstrap draw evaluates the models themselves: it resamples the
test images (with replacement, one draw shared by both sides: the images are paired), runs
one COCO evaluation per training seed of each side on those images, and resamples the seeds
of each side (with replacement, each seed's offset from its side's mean widened by
``sqrt(S / (S - 1))`` as in ``seed_verdict``). The difference of the sides' mean metric gets
a percentile interval and a two-sided p-value; a slice is ``improved`` or ``regressed`` only
when the interval excludes 0 (and the difference is at least ``min_effect``).

Cost: ``n_boot × (seeds before + seeds after)`` COCO evaluations per image slice (the
overall draw also serves the box slices). One evaluation of 75 demo images takes about
20 ms, of 1,000 images about 0.25 s (docs/detection.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, invalid_parameter, validate_call
from datacentric.dataset import Dataset, read_predicted_boxes
from datacentric.slices.detection import (
    AREAS,
    _coco_precision,
    _CocoInputs,
    _precision_level_name,
    _summaries,
    detection_split,
)
from datacentric.slices.evaluate import SlicesArg
from datacentric.slices.metrics import OVERALL
from datacentric.slices.seeds import SUMMARY_SCHEMA, VERDICT_SCHEMA, _interval, bootstrap_p

__all__ = ["detection_seed_summary", "detection_seed_verdict"]

TEST_BOTH = "bootstrap over seeds × images"
TEST_IMAGES = "bootstrap over images only (1 seed on a side: seed noise not measured)"


def _runs(runs: Any, ds: Dataset, name: str, owner: str) -> list[pl.DataFrame]:
    """One predicted-box table per seed (a single table or path is one seed)."""
    if ds.task != "detection":
        raise invalid_parameter(
            owner,
            "ds",
            f"a {ds.task} dataset",
            "a detection dataset (with boxes)",
            fix="Use datacentric.slices.seed_verdict / seed_summary for classification.",
        )
    items = list(runs) if isinstance(runs, (list, tuple)) else [runs]
    if not items:
        raise invalid_parameter(
            owner,
            name,
            "an empty list",
            "one predicted-box table (or .parquet path) per training seed",
            fix="Pass the predicted boxes of at least one trained model.",
        )
    return [read_predicted_boxes(r, ds, unit_scores=False).drop("prediction_id") for r in items]


def _widened(values: np.ndarray) -> np.ndarray:
    """Seeds' values (seeds × draws) with each offset from the draw's mean widened by
    ``sqrt(S / (S - 1))`` (a bootstrap of S values has (S - 1) / S of their variance)."""
    s = values.shape[0]
    if s < 2:
        return values
    mean = values.mean(axis=0, keepdims=True)
    return mean + math.sqrt(s / (s - 1)) * (values - mean)


@validate_call(
    {
        "ds": [Dataset],
        "split": [str, None],
        "metric": [str],
        "level": [Interval(Real, 0, 1, closed="neither")],
        "n_boot": [Interval(Integral, 100, None, closed="left")],
        "min_effect": [Interval(Real, 0, 1, closed="both")],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "precision": [Interval(Real, 0, 1, closed="right")],
        "box_slices": [bool],
    }
)
def detection_seed_verdict(
    ds: Dataset,
    before: Any,
    after: Any,
    slices: SlicesArg = None,
    *,
    split: str | None = "test",
    metric: str = "map",
    level: float = 0.95,
    n_boot: int = 200,
    min_effect: float = 0.0,
    min_n: int = 30,
    seed: int = 0,
    precision: float = 0.9,
    box_slices: bool = True,
) -> pl.DataFrame:
    """Per slice: mAP before and after (means over training seeds, with intervals), the
    difference with its interval and p-value, and a verdict that accounts for seed and
    image noise.

    Parameters
    ----------
    ds : Dataset
        A detection dataset; its boxes are the truth.
    before, after : predicted boxes, or a list of them (one per training seed)
        Each a polars DataFrame or ``.parquet`` path of ``sample_id, label, x, y, w, h,
        score`` (see :func:`~datacentric.dataset.read_predicted_boxes`). The two sides are
        evaluated on the same images (paired); they may have different numbers of seeds.
    slices : path, YAML text, list of Slice/SliceSpec, or None
        Image slices, as for :func:`~datacentric.slices.evaluate_detection` (``None``: one
        per value of each metadata column except ``width``/``height``).
    split : str or None
        The images compared (default ``"test"``; ``None`` for all).
    metric : str
        ``"map"`` (mAP@[.5:.95], default), ``"map50"`` or ``"recall@p<precision>"``.
    level : float
        Level of the intervals (default 95 %).
    n_boot : int
        Bootstrap draws (at least 100; see the module's note on cost).
    min_effect : float
        A significant difference smaller than this is still ``no significant change``.
    min_n : int
        Slices with fewer images are marked ``low_support`` (still tested).
    seed : int
        Seed of the resampling.
    precision : float
        The precision level of ``recall@p..`` (default 0.9).
    box_slices : bool
        Add the box slices ``box_area=<small|medium|large>`` and ``box_class=<c>`` (over
        all the images, as in ``evaluate_detection``) when they have true boxes.

    Returns
    -------
    polars.DataFrame
        The schema of :func:`~datacentric.slices.seed_verdict` (``slice, metric, n,
        seeds_before, seeds_after, before, before_low, before_high, after, after_low,
        after_high, diff, ci_low, ci_high, p_value, verdict, low_support, test``); ``n``
        counts images. Overall first, then the slices worst difference first; ``empty``
        for an image slice without a true box (box slices without one are left out).

    Examples
    --------
    >>> ds = Dataset(pl.DataFrame({"sample_id": [str(i) for i in range(40)],
    ...     "image": [f"{i}.png" for i in range(40)], "label": [None] * 40,
    ...     "split": ["test"] * 40}), ["cat"], annotations=pl.DataFrame({
    ...     "annotation_id": [str(i) for i in range(40)], "sample_id": [str(i) for i in range(40)],
    ...     "label": ["cat"] * 40, "x": [0.0] * 40, "y": [0.0] * 40, "w": [40.0] * 40,
    ...     "h": [40.0] * 40}))
    >>> found = ds.annotations.drop("annotation_id").with_columns(score=pl.lit(0.9))
    >>> v = detection_seed_verdict(ds, found.head(20), found.head(36), metric="map50",
    ...                            n_boot=100, box_slices=False)
    >>> v.select("slice", pl.col("before", "after").round(3), "verdict").rows()
    [('overall', 0.505, 0.901, 'improved')]
    """
    verdict, _ = verdict_and_summary(
        ds, before, after, slices, split=split, metric=metric, level=level, n_boot=n_boot,
        min_effect=min_effect, min_n=min_n, seed=seed, precision=precision,
        box_slices=box_slices,
    )  # fmt: skip
    return verdict


def verdict_and_summary(
    ds: Dataset,
    before: Any,
    after: Any,
    slices: SlicesArg = None,
    *,
    split: str | None,
    metric: str,
    level: float,
    n_boot: int,
    min_effect: float,
    min_n: int,
    seed: int,
    precision: float,
    box_slices: bool,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`detection_seed_verdict` and, from the same draws, the
    :func:`detection_seed_summary` of the ``after`` side (the loop needs both: one
    bootstrap instead of two). Parameters as checked by ``detection_seed_verdict``."""
    owner = "detection_seed_verdict"
    sides = [_runs(before, ds, "before", owner), _runs(after, ds, "after", owner)]
    s_before, s_after = len(sides[0]), len(sides[1])
    test = TEST_BOTH if min(s_before, s_after) >= 2 else TEST_IMAGES
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for name, n, point, draws in _bootstrap(
        ds, sides, slices, split, metric, n_boot, seed, precision, box_slices,
        "detection_seed_verdict",
    ):  # fmt: skip
        row: dict[str, Any] = {
            "slice": name,
            "metric": metric,
            "n": n,
            "seeds_before": s_before,
            "seeds_after": s_after,
            "verdict": "empty",
            "low_support": n < min_n,
            "test": test,
        }
        if point is None:
            rows.append(row)
            summary.append(_summary_row(name, metric, n, s_after, min_n, None, None, level))
            continue
        summary.append(_summary_row(name, metric, n, s_after, min_n, point[1], draws[1], level))
        # a resample can lack every true box of a box slice (NaN): such draws are left out
        keep = np.isfinite(draws[0]) & np.isfinite(draws[1])
        da, db = draws[0][keep], draws[1][keep]
        d = db - da
        b_mean, a_mean = float(point[0].mean()), float(point[1].mean())
        diff = a_mean - b_mean
        lo, hi = _interval(d, level, (-1.0, 1.0))
        verdict = "no significant change"
        if abs(diff) >= min_effect and (lo > 0 or hi < 0):
            verdict = "improved" if lo > 0 else "regressed"
        before_ci = _interval(da, level, (0.0, 1.0))
        after_ci = _interval(db, level, (0.0, 1.0))
        rows.append(
            row
            | {
                "before": b_mean,
                "before_low": before_ci[0],
                "before_high": before_ci[1],
                "after": a_mean,
                "after_low": after_ci[0],
                "after_high": after_ci[1],
                "diff": diff,
                "ci_low": lo,
                "ci_high": hi,
                "p_value": bootstrap_p(d),
                "verdict": verdict,
            }
        )
    out = pl.DataFrame(rows, schema=VERDICT_SCHEMA)
    return (
        pl.concat([out.head(1), out.slice(1).sort("diff", "slice", nulls_last=True)]),
        _summary_frame(summary),
    )


def _bootstrap(
    ds: Dataset,
    sides: list[list[pl.DataFrame]],
    slices: SlicesArg,
    split: str | None,
    metric: str,
    n_boot: int,
    seed: int,
    precision: float,
    box_slices: bool,
    owner: str,
    paired_seeds: bool = False,
) -> Iterator[tuple[str, int, list[np.ndarray] | None, list[np.ndarray]]]:
    """Per slice: its name, its images, each side's per-seed values on all its images
    (``None`` for an image slice without images or true boxes; box slices without true boxes
    are left out) and each side's ``n_boot`` bootstrap means (images resampled with one draw
    shared by the sides, seeds resampled per side with widened offsets; NaN where a draw
    had no true box of the slice).

    ``paired_seeds``: the sides hold the same training seeds in the same order (e.g. arms
    of a benchmark trained with seeds 0, 1, 2), so one seed draw is shared by every side,
    as the image draw is; the sides must then have as many seeds each."""
    truth, m, resolved = detection_split(ds, slices, split, owner)
    rname = _precision_level_name(float(precision))
    if metric not in ("map", "map50", rname):
        raise invalid_parameter(
            owner,
            "metric",
            metric,
            f"'map', 'map50' or {rname!r}",
            fix="Pass one of those (per-class AP is read through the box_class= slices).",
        )
    if paired_seeds and len({len(side) for side in sides}) > 1:
        raise ValueError(
            f"{owner}: paired seeds need as many seeds on every side, received "
            f"{[len(side) for side in sides]}; pass the same training seeds to each side."
        )
    ids = m["sample_id"].to_list()
    inputs = [[_CocoInputs(truth, p, ds.classes, ids) for p in side] for side in sides]
    rng = np.random.default_rng(seed)
    level = float(precision)

    def values(images: np.ndarray) -> list[list[dict[tuple[str, str], float]]]:
        """The summaries of every seed of every side on ``images``."""
        return [
            [_summaries(_coco_precision(*x.coco(images)), ds.classes, level) for x in side]
            for side in inputs
        ]

    # image groups: everything (with the box slices), then each image slice
    box_keys: list[tuple[str, str]] = [(OVERALL, "")]
    if box_slices:
        box_keys += [(f"box_area={a}", f"area={a}") for a in AREAS]
        box_keys += [(f"box_class={c}", f"class={c}") for c in ds.classes]
    groups: list[tuple[np.ndarray, list[tuple[str, str]]]] = [(np.arange(len(ids)), box_keys)]
    for sl in resolved:
        mask = sl.mask(m).fill_null(False).to_numpy()
        groups.append((np.flatnonzero(mask), [(sl.name, "")]))
    for images, keys in groups:
        base = values(images) if len(images) else None
        draws = (
            [values(rng.choice(images, size=len(images))) for _ in range(n_boot)]
            if len(images)
            else []
        )
        if paired_seeds:  # one seed draw for every side (the same seeds, in the same order)
            shared = rng.integers(0, len(inputs[0]), size=(n_boot, len(inputs[0])))
            picks = [shared] * len(inputs)
        else:
            picks = [rng.integers(0, len(side), size=(n_boot, len(side))) for side in inputs]
        for name, key in keys:
            point = (
                [np.array([v[(key, metric)] for v in side]) for side in base]
                if base is not None
                else None
            )
            if point is None or any(np.isnan(p).any() for p in point):
                if key == "":  # an image slice without images or true boxes: empty
                    yield name, len(images), None, []
                continue  # a box slice without true boxes is left out (as in evaluation)
            side_draws = []
            for j, side in enumerate(inputs):
                per_seed = np.array([[d[j][k][(key, metric)] for d in draws]
                                     for k in range(len(side))])  # fmt: skip
                wide = _widened(per_seed)  # seeds × draws
                side_draws.append(np.take_along_axis(wide.T, picks[j], axis=1).mean(axis=1))
            yield name, len(images), point, side_draws


@validate_call(
    {
        "ds": [Dataset],
        "split": [str, None],
        "metric": [str],
        "level": [Interval(Real, 0, 1, closed="neither")],
        "n_boot": [Interval(Integral, 100, None, closed="left")],
        "min_n": [Interval(Integral, 0, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "precision": [Interval(Real, 0, 1, closed="right")],
        "box_slices": [bool],
    }
)
def detection_seed_summary(
    ds: Dataset,
    runs: Any,
    slices: SlicesArg = None,
    *,
    split: str | None = "test",
    metric: str = "map",
    level: float = 0.95,
    n_boot: int = 200,
    min_n: int = 30,
    seed: int = 0,
    precision: float = 0.9,
    box_slices: bool = True,
) -> pl.DataFrame:
    """Per slice: a detector's mean mAP over its training seeds, with an interval over seeds
    and images (the detection twin of :func:`~datacentric.slices.seed_summary`).

    ``runs`` is one predicted-box table (or ``.parquet`` path) per training seed; the other
    parameters are those of :func:`detection_seed_verdict`.

    Returns
    -------
    polars.DataFrame
        :data:`~datacentric.slices.seeds.SUMMARY_SCHEMA` (``slice, metric, n, seeds, mean,
        ci_low, ci_high, seed_min, seed_max, low_support``), overall first, then the slices
        worst mean first.

    Examples
    --------
    >>> ds = Dataset(pl.DataFrame({"sample_id": [str(i) for i in range(40)],
    ...     "image": [f"{i}.png" for i in range(40)], "label": [None] * 40,
    ...     "split": ["test"] * 40}), ["cat"], annotations=pl.DataFrame({
    ...     "annotation_id": [str(i) for i in range(40)], "sample_id": [str(i) for i in range(40)],
    ...     "label": ["cat"] * 40, "x": [0.0] * 40, "y": [0.0] * 40, "w": [40.0] * 40,
    ...     "h": [40.0] * 40}))
    >>> found = ds.annotations.drop("annotation_id").with_columns(score=pl.lit(0.9))
    >>> s = detection_seed_summary(ds, [found.head(20), found.head(30)], metric="map50",
    ...                            n_boot=100, box_slices=False)
    >>> s.select("slice", "seeds", pl.col("mean", "seed_min", "seed_max").round(3)).rows()
    [('overall', 2, 0.629, 0.505, 0.752)]
    """
    side = _runs(runs, ds, "runs", "detection_seed_summary")
    boot = _bootstrap(
        ds, [side], slices, split, metric, n_boot, seed, precision, box_slices,
        "detection_seed_summary",
    )  # fmt: skip
    rows = []
    for name, n, point, draws in boot:
        per_seed = None if point is None else point[0]
        mean_draws = None if point is None else draws[0]
        rows.append(_summary_row(name, metric, n, len(side), min_n, per_seed, mean_draws, level))
    return _summary_frame(rows)


def _summary_row(
    name: str,
    metric: str,
    n: int,
    seeds: int,
    min_n: int,
    per_seed: np.ndarray | None,
    draws: np.ndarray | None,
    level: float,
) -> dict[str, Any]:
    """A :data:`SUMMARY_SCHEMA` row from a side's per-seed values and bootstrap means."""
    row: dict[str, Any] = {"slice": name, "metric": metric, "n": n, "seeds": seeds,
                           "low_support": n < min_n}  # fmt: skip
    if per_seed is not None and draws is not None:
        lo, hi = _interval(draws[np.isfinite(draws)], level, (0.0, 1.0))
        row |= {
            "mean": float(per_seed.mean()),
            "ci_low": lo,
            "ci_high": hi,
            "seed_min": float(per_seed.min()),
            "seed_max": float(per_seed.max()),
        }
    return row


def _summary_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Overall first, then the slices worst mean first."""
    out = pl.DataFrame(rows, schema=SUMMARY_SCHEMA)
    return pl.concat([out.head(1), out.slice(1).sort("mean", "slice", nulls_last=True)])
