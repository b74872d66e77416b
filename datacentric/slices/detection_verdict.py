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
from datacentric.slices.seeds import VERDICT_SCHEMA, _interval, bootstrap_p

__all__ = ["detection_seed_verdict"]

TEST_BOTH = "bootstrap over seeds × images"
TEST_IMAGES = "bootstrap over images only (1 seed on a side: seed noise not measured)"


def _runs(runs: Any, ds: Dataset, name: str) -> list[pl.DataFrame]:
    """One predicted-box table per seed (a single table or path is one seed)."""
    items = list(runs) if isinstance(runs, (list, tuple)) else [runs]
    if not items:
        raise invalid_parameter(
            "detection_seed_verdict",
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
    truth, m, resolved = detection_split(ds, slices, split, "detection_seed_verdict")
    rname = _precision_level_name(float(precision))
    if metric not in ("map", "map50", rname):
        raise invalid_parameter(
            "detection_seed_verdict",
            "metric",
            metric,
            f"'map', 'map50' or {rname!r}",
            fix="Pass one of those (per-class AP is read through the box_class= slices).",
        )
    sides = [_runs(before, ds, "before"), _runs(after, ds, "after")]
    ids = m["sample_id"].to_list()
    inputs = [[_CocoInputs(truth, p, ds.classes, ids) for p in side] for side in sides]
    s_before, s_after = len(sides[0]), len(sides[1])
    test = TEST_BOTH if min(s_before, s_after) >= 2 else TEST_IMAGES
    rng = np.random.default_rng(seed)
    level_f = float(precision)

    def values(images: np.ndarray) -> list[list[dict[tuple[str, str], float]]]:
        """The summaries of every seed of both sides on ``images``."""
        return [
            [_summaries(_coco_precision(*x.coco(images)), ds.classes, level_f) for x in side]
            for side in inputs
        ]

    # image groups: everything (with the box slices), then each image slice
    everything = np.arange(len(ids))
    groups: list[tuple[np.ndarray, list[tuple[str, str]]]] = []
    box_keys: list[tuple[str, str]] = [(OVERALL, "")]
    if box_slices:
        box_keys += [(f"box_area={a}", f"area={a}") for a in AREAS]
        box_keys += [(f"box_class={c}", f"class={c}") for c in ds.classes]
    groups.append((everything, box_keys))
    for sl in resolved:
        mask = sl.mask(m).fill_null(False).to_numpy()
        groups.append((np.flatnonzero(mask), [(sl.name, "")]))

    rows: list[dict[str, Any]] = []
    for images, keys in groups:
        base = values(images) if len(images) else None
        draws: list[list[list[dict[tuple[str, str], float]]]] = []
        if len(images):
            for _ in range(int(n_boot)):
                draws.append(values(rng.choice(images, size=len(images))))
        seed_picks = [rng.integers(0, s, size=(int(n_boot), s)) for s in (s_before, s_after)]
        for name, key in keys:
            row: dict[str, Any] = {
                "slice": name,
                "metric": metric,
                "n": len(images),
                "seeds_before": s_before,
                "seeds_after": s_after,
                "verdict": "empty",
                "low_support": len(images) < min_n,
                "test": test,
            }
            point = (
                [np.array([v[(key, metric)] for v in side]) for side in base]
                if base is not None
                else None
            )
            if point is None or any(np.isnan(p).any() for p in point):
                if key == "":  # an image slice without images or true boxes: empty
                    rows.append(row)
                continue  # a box slice without true boxes is left out (as in evaluation)
            side_draws = []
            for j in range(2):
                per_seed = np.array([[d[j][k][(key, metric)] for d in draws]
                                     for k in range(len(inputs[j]))])  # fmt: skip
                wide = _widened(per_seed)  # seeds × draws
                picks = seed_picks[j]
                side_draws.append(np.take_along_axis(wide.T, picks, axis=1).mean(axis=1))
            # a resample can lack every true box of a box slice (NaN): such draws are left out
            keep = np.isfinite(side_draws[0]) & np.isfinite(side_draws[1])
            da, db = side_draws[0][keep], side_draws[1][keep]
            d = db - da
            b_mean, a_mean = float(point[0].mean()), float(point[1].mean())
            diff = a_mean - b_mean
            lo, hi = _interval(d, level, (-1.0, 1.0))
            verdict = "no significant change"
            if abs(diff) >= min_effect and (lo > 0 or hi < 0):
                verdict = "improved" if lo > 0 else "regressed"
            rows.append(
                row
                | {
                    "before": b_mean,
                    "before_low": _interval(da, level, (0.0, 1.0))[0],
                    "before_high": _interval(da, level, (0.0, 1.0))[1],
                    "after": a_mean,
                    "after_low": _interval(db, level, (0.0, 1.0))[0],
                    "after_high": _interval(db, level, (0.0, 1.0))[1],
                    "diff": diff,
                    "ci_low": lo,
                    "ci_high": hi,
                    "p_value": bootstrap_p(d),
                    "verdict": verdict,
                }
            )
    out = pl.DataFrame(rows, schema=VERDICT_SCHEMA)
    return pl.concat([out.head(1), out.slice(1).sort("diff", "slice", nulls_last=True)])
