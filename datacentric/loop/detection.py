"""The loop's evaluation of a detector: mAP@0.5 by slice over the training seeds.

A detection iteration is evaluated like a classification one, with the metric changed:
the first seed's predicted boxes give the slice metrics (:func:`~datacentric.slices.
evaluate_detection`); every seed's boxes give the mean mAP@0.5 per slice with a seeds ×
images interval and the verdict against the previous iteration, from one bootstrap
(:func:`~datacentric.slices.detection_verdict.verdict_and_summary`, ``n_boot`` draws).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from datacentric.dataset import Dataset
from datacentric.slices import SliceMetrics, detection_metrics, evaluate_detection
from datacentric.slices.detection_verdict import detection_seed_summary, verdict_and_summary

__all__ = [
    "DETECTION_METRIC",
    "LOOP_N_BOOT",
    "DetectionEvaluation",
    "calibrated_recipe",
    "evaluate_detectors",
]

#: The loop's headline metric on a detection dataset (the record's ``accuracy`` fields).
DETECTION_METRIC = "map50"
#: Bootstrap draws of the loop's detection verdicts: each draw is one COCO evaluation per
#: seed and side, so this is kept at the minimum the verdicts accept.
LOOP_N_BOOT = 100


@dataclass(frozen=True)
class DetectionEvaluation:
    """What the loop records for a detector: see :func:`evaluate_detectors`."""

    metrics: SliceMetrics
    runs: pl.DataFrame
    summary: pl.DataFrame
    comparison: pl.DataFrame | None
    by_seed: list[float]


def seed_box_table(preds: list[Any], seeds: list[int]) -> pl.DataFrame:
    """``seed, sample_id, label, x, y, w, h, score``: every seed's predicted boxes."""
    return pl.concat(
        [p.boxes.select(pl.lit(s, dtype=pl.Int64).alias("seed"), pl.all())
         for p, s in zip(preds, seeds, strict=True)],
        how="vertical",
    )  # fmt: skip


def runs_by_seed(table: pl.DataFrame) -> list[pl.DataFrame]:
    """The per-seed box tables of a :func:`seed_box_table`, in seed order."""
    return [g.drop("seed") for _, g in sorted(table.partition_by("seed", as_dict=True).items())]


def evaluate_detectors(
    ds: Dataset,
    preds: list[Any],
    seeds: list[int],
    *,
    slices: Any,
    eval_split: str,
    model: str,
    seed: int,
    previous: pl.DataFrame | None,
) -> DetectionEvaluation:
    """Evaluate the seeds' detectors of one iteration on ``eval_split``.

    Parameters
    ----------
    ds : Dataset
        The detection dataset (its boxes on ``eval_split`` are the truth).
    preds : list of BoxPredictions
        Each seed's predictions on ``eval_split``, in the order of ``seeds``.
    slices, eval_split, model, seed
        As in :func:`~datacentric.loop.run_iteration`.
    previous : polars.DataFrame or None
        The previous kept iteration's :func:`seed_box_table` (``None``: no verdict).

    Returns
    -------
    DetectionEvaluation
        ``metrics`` (the first seed, every detection metric by slice), ``runs`` (the seed
        box table), ``summary`` (mean mAP@0.5 per slice over the seeds,
        ``SUMMARY_SCHEMA``), ``comparison`` (the verdict against ``previous``,
        ``VERDICT_SCHEMA``) and ``by_seed`` (each seed's overall mAP@0.5).
    """
    metrics = evaluate_detection(ds, preds[0].boxes, slices, split=eval_split, model=model)
    min_n = int(metrics.meta.get("min_n") or 0)
    runs = seed_box_table(preds, seeds)
    kw: dict[str, Any] = {
        "split": eval_split,
        "metric": DETECTION_METRIC,
        "n_boot": LOOP_N_BOOT,
        "min_n": min_n,
        "seed": seed,
    }
    comparison = None
    if previous is not None and previous.height and "score" in previous.columns:
        comparison, summary = verdict_and_summary(
            ds, runs_by_seed(previous), [p.boxes for p in preds], slices,
            level=0.95, min_effect=0.0, precision=0.9, box_slices=True, **kw,
        )  # fmt: skip
    else:
        summary = detection_seed_summary(ds, [p.boxes for p in preds], slices, **kw)
    truth = ds.annotations if ds.annotations is not None else pl.DataFrame()
    ids = ds.manifest.filter(pl.col("split") == eval_split)["sample_id"].to_list()
    by_seed = [
        float(detection_metrics(truth, p.boxes, ds.classes, ids)[DETECTION_METRIC]) for p in preds
    ]
    return DetectionEvaluation(metrics, runs, summary, comparison, by_seed)


def calibrated_recipe(recipe: Any, scan_meta: dict[str, Any] | None) -> Any:
    """``recipe`` scoring its boxes as the scan calibrated its cross-validated ones.

    The scan fits Platt constants on its out-of-sample boxes against the dataset's boxes
    (``meta["score_calibration"]``, see :mod:`datacentric.train.box_calibration`); a recipe
    with ``score_scale`` / ``score_shift`` parameters (:class:`~datacentric.train.
    CenterNetRecipe`) gets them composed with its own, so the models the loop trains and
    saves (for export and monitoring) score as calibrated probabilities too. Training is
    unchanged: the two only map the heatmap logit to a score. Any other recipe, or a scan
    without a calibration, gives ``recipe`` back.

    Examples
    --------
    >>> from datacentric.train import CenterNetRecipe
    >>> cal = {"scale": 2.0, "shift": 0.5, "n_boxes": 900, "n_right": 600, "iou": 0.5}
    >>> calibrated_recipe(CenterNetRecipe(epochs=3), {"score_calibration": cal})
    CenterNetRecipe(epochs=3, score_scale=2.0, score_shift=0.5)
    >>> calibrated_recipe(CenterNetRecipe(), {"score_calibration": None})
    CenterNetRecipe()
    """
    fitted = (scan_meta or {}).get("score_calibration")
    params = recipe.get_params()
    if not fitted or "score_scale" not in params or "score_shift" not in params:
        return recipe
    from datacentric.train.box_calibration import ScoreCalibration

    scale, shift = ScoreCalibration(**fitted).compose(params["score_scale"], params["score_shift"])
    # the recipe's own bounds (0, 100] and [-100, 100]
    scale, shift = min(scale, 100.0), min(max(shift, -100.0), 100.0)
    return type(recipe)(**{**params, "score_scale": scale, "score_shift": shift})
