"""One turn of the data loop with the model held fixed, and a loop of several.

scan → fix (policy) → retrain the same recipe → evaluate overall and per slice on the
held-out split → compare with the previous iteration → record it in the experiment log.
Iteration 0 is the baseline: the recipe trained on the data as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric._io import atomic_write, ensure_writable
from datacentric._validation import Interval, invalid_parameter, validate_call
from datacentric.dataset import Dataset
from datacentric.dataset.readable import exclude_unreadable
from datacentric.engine import Engine, get_engine
from datacentric.exceptions import StoreError
from datacentric.issues import ScanResult, scan
from datacentric.loop.box_policy import BoxFixPolicy, fix_boxes
from datacentric.loop.detection import DETECTION_METRIC, calibrated_recipe, evaluate_detectors
from datacentric.loop.log import (
    MODEL_FILE,
    SCAN_BOXES_FILE,
    SCAN_PREDICTIONS_FILE,
    ExperimentLog,
)
from datacentric.loop.policy import FixPolicy, FixResult, fix
from datacentric.loop.review_queue import review_line
from datacentric.loop.seeds import seed_table, train_seeds
from datacentric.slices import SliceMetrics, evaluate, load_slices, seed_summary, seed_verdict

if TYPE_CHECKING:
    from datacentric.train import ModelRecipe

__all__ = ["MAX_SEEDS", "IterationResult", "run_iteration", "run_loop"]

logger = logging.getLogger(__name__)

#: The most training seeds one iteration takes (a typo must not train 10^6 models).
MAX_SEEDS = 100


@dataclass
class IterationResult:
    """One recorded iteration.

    Attributes
    ----------
    metrics : SliceMetrics
        The slice metrics of the first seed's model (the saved one).
    summary : polars.DataFrame
        Per slice, the mean accuracy over the seeds and its interval
        (:func:`datacentric.slices.seed_summary`).
    comparison : polars.DataFrame or None
        The verdict per slice against the previous iteration
        (:func:`datacentric.slices.seed_verdict`); ``None`` for the baseline.
    """

    iteration: int
    version: int | None
    metrics: SliceMetrics
    comparison: pl.DataFrame | None
    scan: ScanResult | None
    fix: FixResult | None
    record: dict[str, Any]
    summary: pl.DataFrame | None = None

    @property
    def accuracy(self) -> float:
        """Overall accuracy on the evaluation split (the mean over the seeds)."""
        return float(self.record["accuracy"])


def _default_recipe(recipe: Any, detection: bool = False) -> Any:
    """``recipe``, or the default one of the task (a detector on a detection dataset)."""
    if recipe is not None:
        return recipe
    if detection:
        from datacentric.train import CenterNetRecipe

        return CenterNetRecipe()
    from datacentric.train import SmallCNNRecipe

    return SmallCNNRecipe()


@validate_call(
    {
        "policy": [FixPolicy, BoxFixPolicy, None],
        "folds": [Interval(Integral, 2, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "seeds": [Interval(Integral, 1, MAX_SEEDS, closed="both")],
        "train_split": [str],
        "eval_split": [str],
        "progress": ["boolean"],
        "say": ["callable", None],
        "cache": ["boolean"],
        "review": ["callable", None],
    }
)
def run_iteration(
    root: str | Path,
    *,
    recipe: ModelRecipe | None = None,
    policy: FixPolicy | None = None,
    slices: Any = None,
    folds: int = 5,
    seed: int = 0,
    seeds: int = 3,
    train_split: str = "train",
    eval_split: str = "test",
    progress: bool = False,
    say: Callable[[str], None] | None = None,
    engine: str | Engine | None = None,
    workers: int | None = None,
    address: str | None = None,
    cache: bool = True,
    review: Callable[[Dataset, pl.DataFrame], Any] | None = None,
) -> IterationResult:
    """Run the next iteration of the loop on the dataset at ``root`` (HEAD) and record it.

    Parameters
    ----------
    root : str or Path
        A versioned dataset directory.
    recipe : ModelRecipe, optional
        The fixed model recipe (default :class:`~datacentric.train.SmallCNNRecipe`).
    policy : FixPolicy, optional
        What may be fixed automatically.
    slices : path, YAML text or slice objects, optional
        Slices to evaluate (default: every metadata value).
    folds, seed : int
        Cross-validation folds of the scan; seed of everything.
    seeds : int
        Train and evaluate the recipe with the seeds ``seed, seed + 1, ...`` (default 3):
        the recorded accuracy is their mean with a seeds × samples interval, and each slice
        gets a verdict against the previous iteration that accounts for seed and sample
        noise (:func:`datacentric.slices.seed_verdict`). Every seed's predictions are kept
        (``seed_predictions.parquet``); only the first seed's model is saved.
    train_split, eval_split : str
        Train on this split, evaluate on that one (never edited automatically).
    progress : bool
        Progress bars.
    say : callable, optional
        Called with a line per step (the CLI prints them).
    engine, workers, address : optional
        Where the scan's cross-validation folds and the seeds after the first run
        (:func:`datacentric.engine.get_engine`; default: every core of this machine).
    cache : bool
        Reuse the scan's cached cross-validation folds (see :func:`datacentric.issues.scan`).
    review : callable, optional
        Who answers the review queue before retraining: called as ``review(ds, queue)``
        with the dataset after the automatic fixes and the queued samples
        (``FixResult.review``), when the queue is not empty; it applies the answers and
        commits them (e.g. a pull, or
        :func:`datacentric.integrations.review.simulate_review` in demos and benchmarks).
        The recipe is then retrained on HEAD; the record's ``review_answered`` says what it
        returned (``backend``, ``target``, ``version``, ``applied``). Default: nobody, the
        queue waits for a person.
    """
    eng = get_engine(engine, workers=workers, address=address)  # bad options fail now
    try:
        return _run_iteration(
            root, recipe, policy, slices, folds, seed, int(seeds), train_split, eval_split,
            progress, say, eng, cache, review,
        )  # fmt: skip
    finally:
        if eng is not engine:
            eng.close()


def _run_iteration(
    root: str | Path,
    recipe: ModelRecipe | None,
    policy: FixPolicy | BoxFixPolicy | None,
    slices: Any,
    folds: int,
    seed: int,
    seeds: int,
    train_split: str,
    eval_split: str,
    progress: bool,
    say: Callable[[str], None] | None,
    engine: Engine,
    cache: bool,
    review: Callable[[Dataset, pl.DataFrame], Any] | None = None,
) -> IterationResult:
    if isinstance(slices, (str, Path)):  # a bad slice file fails now, not after training
        slices = load_slices(slices)
    log = ExperimentLog(root)
    it = log.next_iteration()
    ds = Dataset.open(root)
    splits = sorted(set(ds.manifest["split"].drop_nulls().to_list()))
    if eval_split not in splits:
        raise invalid_parameter(
            "run_iteration",
            "eval_split",
            eval_split,
            f"a split of the dataset ({', '.join(map(repr, splits))})",
            fix=f"The dataset has no {eval_split!r} split to evaluate on: pass one of its "
            "splits, or assign held-out rows to it.",
        )
    note = say or (lambda _msg: None)
    detection = ds.task == "detection"
    if policy is not None and isinstance(policy, BoxFixPolicy) != detection:
        raise invalid_parameter(
            "run_iteration",
            "policy",
            type(policy).__name__,
            "a BoxFixPolicy" if detection else "a FixPolicy",
            fix=f"The dataset's task is {ds.task!r}: boxes are fixed by a BoxFixPolicy, "
            "class labels by a FixPolicy.",
        )
    policy = policy or (BoxFixPolicy() if detection else FixPolicy())
    recipe = _default_recipe(recipe, detection)
    timings: dict[str, float] = {}
    answered: dict[str, Any] | None = None
    version_before = ds.version
    scan_result: ScanResult | None = None
    fixed: FixResult | None = None
    if it > 0:
        note(f"iteration {it}: scanning {len(ds)} samples ({folds}-fold cross-validation)")
        t0 = time.perf_counter()
        scan_result = scan(
            ds,
            finders=policy.scan_finders() if isinstance(policy, BoxFixPolicy) else None,
            recipe=recipe,
            folds=folds,
            seed=seed,
            progress=progress,
            engine=engine,
            cache=cache,
        )
        timings["scan"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        judged = log.last_kept()  # the model the scan judged: its slices weigh the queue
        fixer: Any = fix_boxes if detection else fix
        fixed = fixer(
            ds,
            scan_result,
            policy,
            iteration=it,
            slice_metrics=log.metrics(int(judged["iteration"])) if judged else None,
        )
        timings["fix"] = time.perf_counter() - t0
        ds = fixed.dataset
        done = (
            ", ".join(f"{k} {fixed.counts[k]}" for k in ("relabel", "move", "add", "remove"))
            + " boxes"
            if detection
            else f"relabeled {fixed.counts['relabeled']}, removed {fixed.counts['removed']}"
        )
        note(
            f"iteration {it}: {done} (version {version_before} → {ds.version}); "
            + review_line(fixed.review_summary)
        )
        if review is not None and fixed.review.height:
            t0 = time.perf_counter()
            answered = _answer_queue(review, ds, fixed.review)
            timings["review"] = time.perf_counter() - t0
            ds = Dataset.open(root)
            note(
                f"iteration {it}: review queue answered by {answered['backend']} "
                f"{answered['target']!r}: {answered['applied']} decision(s) applied "
                f"(version {answered['version'] or 'unchanged'})"
            )
    # images that cannot be read are left out of training and evaluation (the scan found
    # them already when there was one; the baseline makes one streaming pass)
    t0 = time.perf_counter()
    used = ds.filter(pl.col("split").is_in([train_split, eval_split]))
    ok, excluded = exclude_unreadable(
        used,
        _scan_excluded(scan_result, ds),
        progress=progress,
        say=lambda line: note(f"iteration {it}: {line} The scan's integrity issues say why."),
    )
    timings["readable_check"] = time.perf_counter() - t0
    if detection and scan_result is not None:  # its models score as the scan calibrated
        recipe = calibrated_recipe(recipe, scan_result.meta)
    used_seeds = list(range(seed, seed + seeds))
    note(
        f"iteration {it}: training {recipe.name} on the {train_split} split, "
        f"seed{'s' * (seeds > 1)} {', '.join(map(str, used_seeds))}"
    )
    t0 = time.perf_counter()
    model, all_preds = train_seeds(
        ok,
        recipe,
        used_seeds,
        train_split=train_split,
        eval_split=eval_split,
        engine=engine,
        progress=progress,
    )
    timings["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = all_preds[0]
    if detection:
        det = evaluate_detectors(
            ok, all_preds, used_seeds, slices=slices, eval_split=eval_split,
            model=recipe.name, seed=seed, previous=_previous_runs(log),
        )  # fmt: skip
        metrics, runs, summary, comparison = det.metrics, det.runs, det.summary, det.comparison
    else:
        metrics = evaluate(ok, preds, slices, split=eval_split, model=recipe.name)
        runs = seed_table([_prediction_table(ok, p, eval_split) for p in all_preds], used_seeds)
        min_n = int(metrics.meta.get("min_n") or 0)
        summary = seed_summary(runs, slices, min_n=min_n, seed=seed)
        comparison = _verdict_vs_previous(log, runs, slices, min_n, seed)
    timings["evaluate"] = time.perf_counter() - t0
    overall = summary.row(0, named=True)
    worst = summary.filter(
        (pl.col("slice") != "overall") & ~pl.col("low_support") & pl.col("mean").is_not_null()
    )
    by_seed = (
        det.by_seed
        if detection
        else runs.group_by("seed", maintain_order=True)
        .agg((pl.col("pred") == pl.col("label")).mean().alias("accuracy"))["accuracy"]
        .to_list()
    )
    record: dict[str, Any] = {
        "iteration": it,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version_before": version_before,
        "version": ds.version,
        "recipe": recipe.name,
        "recipe_params": recipe.get_params(),
        "policy": policy.to_dict() if it > 0 else None,
        # the headline metric: the "accuracy" fields hold it (mAP@0.5 on detection datasets)
        "metric": DETECTION_METRIC if detection else "accuracy",
        "seed": seed,
        "seeds": used_seeds,
        "folds": folds if it > 0 else None,
        "train_split": train_split,
        "eval_split": eval_split,
        "n_train": len(ok.split(train_split)),
        "n_excluded": excluded.height,
        "excluded": excluded.select("sample_id", "reason").to_dicts(),
        "n_eval": overall["n"],
        "accuracy": overall["mean"],  # over the seeds; interval: seeds × samples bootstrap
        "accuracy_ci": [overall["ci_low"], overall["ci_high"]],
        "accuracy_by_seed": by_seed,
        "worst_slice": worst.row(0, named=True)["slice"] if worst.height else None,
        "worst_slice_accuracy": worst.row(0, named=True)["mean"] if worst.height else None,
        "counts": fixed.counts if fixed else {},
        "review_queue": fixed.review_summary if fixed else None,
        "review_answered": answered,
        "issues_flagged": (
            dict(scan_result.summary()["by_type"].select("issue_type", "n_flagged").rows())
            if scan_result
            else {}
        ),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "regressed_slices": _with_verdict(comparison, "regressed"),
        "improved_slices": _with_verdict(comparison, "improved"),
        "verdict_test": comparison["test"].item(0) if comparison is not None else None,
    }
    saver = getattr(model, "save", None)
    if callable(saver):  # the model of every iteration, for `datacentric export`
        atomic_write(log.iteration_dir(it) / MODEL_FILE, saver)
        record["model"] = f"{log.iteration_dir(it).name}/{MODEL_FILE}"
    frames: dict[str, pl.DataFrame] = {
        "predictions": runs.filter(pl.col("seed") == seed).drop("seed"),
        "seed_predictions": runs,
        "seed_summary": summary,
    }
    if comparison is not None:
        frames["verdict"] = comparison
    if scan_result is not None and fixed is not None:
        # the full scan (ScanResult.load reads it back: `datacentric guide`, `review push`)
        scan_result.save(log.iteration_dir(it) / "scan.parquet")
        # and the out-of-sample predictions it judged by (`review fiftyone` shows them)
        if scan_result.predictions is not None:
            scan_result.predictions.save(log.iteration_dir(it) / SCAN_PREDICTIONS_FILE)
        if scan_result.predicted_boxes is not None:
            atomic_write(
                log.iteration_dir(it) / SCAN_BOXES_FILE, scan_result.predicted_boxes.write_parquet
            )
        frames |= {
            "edits": fixed.edits,
            "review": fixed.review,
            "review_deferred": fixed.deferred,
        }
    log.write(record, frames, metrics)
    note(
        f"iteration {it}: {eval_split} {'mAP@0.5' if detection else 'accuracy'} "
        f"{overall['mean']:.4f} "
        f"[{overall['ci_low']:.4f}, {overall['ci_high']:.4f}]"
        + (f" (mean of {seeds} seeds)" if seeds > 1 else "")
    )
    return IterationResult(it, ds.version, metrics, comparison, scan_result, fixed, record, summary)


def _answer_queue(
    review: Callable[[Dataset, pl.DataFrame], Any],
    ds: Dataset,
    queue: pl.DataFrame,
) -> dict[str, Any]:
    """Call ``review`` on the queue; what it returned, as the record keeps it."""
    result = review(ds, queue)
    return {
        "backend": str(getattr(result, "backend", type(result).__name__)),
        "target": str(getattr(result, "target", "")),
        "version": getattr(result, "version", None),
        "applied": int(getattr(result, "applied", 0) or 0),
        "n_queued": queue.height,
    }


def _verdict_vs_previous(
    log: ExperimentLog, runs: pl.DataFrame, slices: Any, min_n: int, seed: int
) -> pl.DataFrame | None:
    """The verdict per slice against the previous iteration (``None`` for the baseline, or
    when the previous iteration recorded no predictions)."""
    from datacentric.loop.intervene import last_kept

    previous = last_kept(log)  # a rejected intervention is not what the data now gives
    if previous is None:
        return None
    try:
        before = log.seed_predictions(int(previous["iteration"]))
    except StoreError:
        logger.warning(
            "iteration %s recorded no predictions: no verdict against it", previous["iteration"]
        )
        return None
    return seed_verdict(before, runs, slices, min_n=min_n, seed=seed)


def _previous_runs(log: ExperimentLog) -> pl.DataFrame | None:
    """The seed box table of the last kept iteration (``None`` for the baseline)."""
    from datacentric.loop.intervene import last_kept

    previous = last_kept(log)
    if previous is None:
        return None
    try:
        return log.seed_predictions(int(previous["iteration"]))
    except StoreError:
        logger.warning(
            "iteration %s recorded no predictions: no verdict against it", previous["iteration"]
        )
        return None


def _with_verdict(comparison: pl.DataFrame | None, verdict: str) -> list[str]:
    """The slices (overall included) with this verdict."""
    if comparison is None:
        return []
    return comparison.filter(pl.col("verdict") == verdict)["slice"].to_list()


def _scan_excluded(scan_result: ScanResult | None, ds: Dataset) -> pl.DataFrame | None:
    """The images a scan of this iteration left out (``None``: it did not check)."""
    if scan_result is None or scan_result.meta.get("excluded") is None:
        return None
    rows = scan_result.meta["excluded"]
    frame = pl.DataFrame(rows, schema={"sample_id": pl.Utf8, "reason": pl.Utf8})
    return frame.join(ds.manifest.select("sample_id", "image"), on="sample_id", how="inner").select(
        "sample_id", "image", "reason"
    )


def _prediction_table(ds: Dataset, preds: Any, split: str) -> pl.DataFrame:
    """``sample_id, label, pred, confidence`` and metadata for the evaluated rows."""
    from datacentric.slices import prediction_frame

    rows = ds.manifest.filter(pl.col("split") == split)
    return rows.join(prediction_frame(ds, preds), on="sample_id", how="inner").drop("image")


@validate_call(
    {
        "iterations": [Interval(Integral, 0, None, closed="left")],
        "stop_when_unchanged": ["boolean"],
        "interventions": ["boolean"],
        "oversample_factor": [Interval(Integral, 2, 100, closed="both")],
    }
)
def run_loop(
    root: str | Path,
    iterations: int = 2,
    *,
    stop_when_unchanged: bool = True,
    interventions: bool = False,
    oversample_factor: int = 2,
    **kwargs: Any,
) -> list[IterationResult]:
    """Run the baseline (if not recorded yet) and then ``iterations`` fix iterations.

    Stops early when an iteration changes nothing (no automatic edit) and
    ``stop_when_unchanged``. Keyword arguments go to :func:`run_iteration` (e.g.
    ``seeds``); one engine (``engine``, ``workers``, ``address``) serves every iteration's
    scan and seeds.

    With ``interventions``, the fix iterations are followed by
    :func:`datacentric.loop.intervene.run_interventions`: when the worst slice's errors are
    not explained by label issues, a matched augmentation and an oversampling of that
    slice are each tried as an iteration, kept only when the slice improves significantly
    and no slice regresses significantly (oversampling: the slice's training rows present
    ``oversample_factor`` times). They are recorded in the experiment log (a record's
    ``intervention`` entry), not returned.
    """
    if isinstance(kwargs.get("slices"), (str, Path)):  # read once, and before any training
        kwargs["slices"] = load_slices(kwargs["slices"])
    if (
        interventions
        and (Path(root) / ".datacentric").is_dir()
        and Dataset.open(root).task == "detection"
    ):
        raise invalid_parameter(
            "run_loop",
            "interventions",
            True,
            "False on a detection dataset",
            fix="Slice interventions (augmentation, oversampling, learning curves) are for "
            "classification datasets so far; run the detection loop without them.",
        )
    # The loop writes versions and its log under root/.datacentric: check before training.
    if Path(root).is_dir():  # (a missing dataset is reported by run_iteration)
        ensure_writable(ExperimentLog(root).path, "the experiment log", folder=True)
    given = kwargs.get("engine")
    eng = get_engine(
        given, workers=kwargs.pop("workers", None), address=kwargs.pop("address", None)
    )
    kwargs["engine"] = eng  # one pool of workers for every iteration
    results: list[IterationResult] = []
    try:
        if ExperimentLog(root).next_iteration() == 0:
            results.append(run_iteration(root, **kwargs))
        for _ in range(iterations):
            res = run_iteration(root, **kwargs)
            results.append(res)
            if stop_when_unchanged and res.fix is not None and res.fix.edits.height == 0:
                break
        if interventions:
            from datacentric.loop.intervene import run_interventions

            run_interventions(
                root,
                recipe=_default_recipe(kwargs.get("recipe")),
                slices=kwargs.get("slices"),
                seed=int(kwargs.get("seed", 0)),
                seeds=int(kwargs.get("seeds", 3)),
                train_split=kwargs.get("train_split", "train"),
                eval_split=kwargs.get("eval_split", "test"),
                engine=eng,
                say=kwargs.get("say"),
                progress=bool(kwargs.get("progress", False)),
                factor=int(oversample_factor),
            )
    finally:
        if eng is not given:
            eng.close()
    return results
