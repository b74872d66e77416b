"""Try the slice interventions of :mod:`datacentric.loop.interventions` as loop iterations.

After the label-fix iterations, when the worst slice's errors are not explained by label
issues, each intervention (matched augmentation, then oversampling) is trained over the
loop's seeds on the dataset as it is (HEAD: the dataset is not edited), judged per slice
against the last kept iteration (:func:`datacentric.slices.seed_verdict`), and recorded
as an iteration whose record carries an ``intervention`` entry: its kind, its parameters,
the diagnosis, ``kept`` and why. A kept intervention stays in the training set of the ones
after it; a rejected one saves no model (``datacentric export`` never picks it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric._validation import Interval, SequenceOf, invalid_parameter, validate_call
from datacentric.dataset import Dataset
from datacentric.dataset.readable import exclude_unreadable
from datacentric.engine import Engine
from datacentric.issues import ScanResult
from datacentric.loop.interventions import (
    augmented_copies,
    diagnose_slice,
    keep_intervention,
    matched_augmentation,
    oversample,
    slice_statistics,
)
from datacentric.loop.log import MODEL_FILE, ExperimentLog
from datacentric.loop.seeds import seed_table, train_seeds
from datacentric.slices import evaluate, seed_summary, seed_verdict
from datacentric.slices.evaluate import resolve_slices

if TYPE_CHECKING:
    from datacentric.train import ModelRecipe

__all__ = ["INTERVENTIONS", "LABEL_ISSUE_TYPES", "last_kept", "run_interventions"]

#: The interventions tried, in this order.
INTERVENTIONS = ("augment", "oversample")
#: Issue types whose flags explain an error by its label.
LABEL_ISSUE_TYPES = ("label", "label_inconsistency", "annotator_disagreement")


def last_kept(log: ExperimentLog) -> dict[str, Any] | None:
    """The latest record that is not a rejected intervention (what the next iteration is
    judged against): :meth:`ExperimentLog.last_kept`."""
    return log.last_kept()


def _label_flags(log: ExperimentLog) -> tuple[set[str], int | None]:
    """Sample ids flagged as label issues by the latest recorded scan (and its iteration)."""
    for rec in reversed(log.records()):
        path = log.iteration_dir(int(rec["iteration"])) / "scan.parquet"
        if path.is_file():
            scan = ScanResult.load(path)
            types = [t for t in LABEL_ISSUE_TYPES if t in scan.issue_types]
            ids = scan.flagged(types)["sample_id"].to_list() if types else []
            return set(ids), int(rec["iteration"])
    return set(), None


@validate_call(
    {
        "seed": [Interval(Integral, 0, None, closed="left")],
        "seeds": [Interval(Integral, 1, None, closed="left")],
        "train_split": [str],
        "eval_split": [str],
        "engine": [Engine],
        "say": ["callable", None],
        "kinds": [SequenceOf(str)],
        "factor": [Interval(Integral, 2, 100, closed="both")],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "learning_curve": ["boolean"],
        "progress": ["boolean"],
    }
)
def run_interventions(
    root: Any,
    *,
    recipe: ModelRecipe,
    slices: Any = None,
    seed: int = 0,
    seeds: int = 3,
    train_split: str = "train",
    eval_split: str = "test",
    engine: Engine,
    say: Callable[[str], None] | None = None,
    kinds: Sequence[str] = INTERVENTIONS,
    factor: int = 2,
    threshold: float = 0.5,
    learning_curve: bool = True,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Diagnose the worst slice of the last kept iteration; when label issues do not
    explain its errors, try each intervention of ``kinds`` as an iteration.

    Parameters
    ----------
    root : str or Path
        The dataset directory of the loop.
    recipe : ModelRecipe
        The loop's fixed recipe.
    slices, seed, seeds, train_split, eval_split, engine, progress
        As in :func:`datacentric.loop.run_iteration`.
    say : callable, optional
        Called with a line per step.
    kinds : sequence of {"augment", "oversample"}
    factor : int
        How many times the slice's training rows are present when oversampling.
    threshold : float
        The slice is an input problem when fewer than this share of its errors are
        flagged as label issues (:func:`datacentric.loop.interventions.diagnose_slice`).
    learning_curve : bool
        Before the interventions, estimate how many more samples of the slice would bring
        it to the overall accuracy (:func:`datacentric.loop.learning_curve.slice_learning_curve`:
        4 × ``seeds`` more trainings); the estimate is the diagnosis's ``data_collection``.

    Returns
    -------
    list of dict
        The records written (empty when nothing was tried: no worst slice, or its errors
        are explained by labels; ``say`` tells which).
    """
    unknown = [k for k in kinds if k not in INTERVENTIONS]
    if unknown:
        raise invalid_parameter(
            "run_interventions",
            "kinds",
            kinds,
            f"a list of {', '.join(map(repr, INTERVENTIONS))}",
            fix=f"Unknown intervention(s) {', '.join(map(repr, unknown))}.",
        )
    note = say or (lambda _msg: None)
    log = ExperimentLog(root)
    before = last_kept(log)
    if before is None or before.get("worst_slice") is None:
        note("interventions: no worst slice recorded; nothing to try")
        return []
    target = str(before["worst_slice"])
    ds = Dataset.open(root)
    metadata = ds.metadata_columns
    found = [s for s in resolve_slices(slices, ds.manifest, metadata) if s.name == target]
    if not found:
        note(f"interventions: the worst slice {target} is not a slice of the dataset now")
        return []
    expr = found[0].expr
    runs_before = log.seed_predictions(int(before["iteration"]))
    flagged, scan_at = _label_flags(log)
    diagnosis = diagnose_slice(runs_before, expr, flagged, threshold=threshold)
    diagnosis |= {"slice": target, "scan_iteration": scan_at, "threshold": threshold}
    explained = (
        "no error"
        if diagnosis["share_explained"] is None
        else f"{diagnosis['n_label_issues']} of {diagnosis['n_errors']} errors flagged as "
        "label issues"
    )
    if not diagnosis["input_problem"]:
        note(f"interventions: worst slice {target}: {explained}; relabeling is the fix")
        return []
    note(f"interventions: worst slice {target}: {explained}; trying {', '.join(kinds)}")
    used = ds.filter(pl.col("split").is_in([train_split, eval_split]))
    base, _ = exclude_unreadable(used, None, progress=progress)
    if learning_curve:
        from datacentric.loop.learning_curve import slice_learning_curve

        est = slice_learning_curve(
            base, recipe, expr, seeds=list(range(seed, seed + seeds)),
            target=float(before["accuracy"]), engine=engine, train_split=train_split,
            eval_split=eval_split,
        )  # fmt: skip
        diagnosis["data_collection"] = {
            "curve": est["curve"].to_dicts(),
            "fit": est["fit"],
            "n_now": est["n_now"],
            "target": est["target"],
            "additional": est["additional"],
            "statement": est["statement"],
        }
        note(f"interventions: data collection for {target}: {est['statement']}")
    out: list[dict[str, Any]] = []
    for kind in kinds:
        t0 = time.perf_counter()
        if kind == "augment":
            s_stats, r_stats, rest_images = slice_statistics(
                base, expr, split=train_split, seed=seed
            )
            specs = matched_augmentation(s_stats, r_stats, calibration=rest_images)
            if not specs:
                note(
                    f"interventions: {target} looks like the rest (image statistics): "
                    "no augmentation"
                )
                continue
            params: dict[str, Any] = {
                "transforms": specs,
                "slice_stats": s_stats,
                "rest_stats": r_stats,
            }
            candidate = augmented_copies(base, expr, specs, split=train_split, seed=seed)
        else:
            params = {"factor": factor}
            candidate = oversample(base, expr, factor, split=train_split)
        rec, kept = _try(
            log, candidate, recipe, slices, seed, seeds, train_split, eval_split, engine,
            progress, before, target, kind, params, diagnosis, t0,
        )  # fmt: skip
        note(
            f"iteration {rec['iteration']}: intervention {kind} on {target}: "
            f"{'kept' if kept else 'rejected'} ({rec['intervention']['reason']})"
        )
        out.append(rec)
        if kept:
            base, before = candidate, rec
    return out


def _try(
    log: ExperimentLog,
    train_ds: Dataset,
    recipe: ModelRecipe,
    slices: Any,
    seed: int,
    seeds: int,
    train_split: str,
    eval_split: str,
    engine: Engine,
    progress: bool,
    before: dict[str, Any],
    target: str,
    kind: str,
    params: dict[str, Any],
    diagnosis: dict[str, Any],
    t0: float,
) -> tuple[dict[str, Any], bool]:
    """Train one intervention's training set over the seeds, judge it, record it."""
    from datacentric.loop.iteration import _prediction_table

    it = log.next_iteration()
    used_seeds = list(range(seed, seed + seeds))
    model, all_preds = train_seeds(
        train_ds, recipe, used_seeds, train_split=train_split, eval_split=eval_split,
        engine=engine, progress=progress,
    )  # fmt: skip
    metrics = evaluate(train_ds, all_preds[0], slices, split=eval_split, model=recipe.name)
    min_n = int(metrics.meta.get("min_n") or 0)
    runs = seed_table([_prediction_table(train_ds, p, eval_split) for p in all_preds], used_seeds)
    summary = seed_summary(runs, slices, min_n=min_n, seed=seed)
    verdict = seed_verdict(
        log.seed_predictions(int(before["iteration"])), runs, slices, min_n=min_n, seed=seed
    )
    kept, reason = keep_intervention(verdict, target)
    overall = summary.row(0, named=True)
    worst = summary.filter(
        (pl.col("slice") != "overall") & ~pl.col("low_support") & pl.col("mean").is_not_null()
    )
    n_train = len(train_ds.split(train_split))
    record: dict[str, Any] = {
        "iteration": it,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version_before": before["version"],
        "version": before["version"],
        "recipe": recipe.name,
        "recipe_params": recipe.get_params(),
        "seed": seed,
        "seeds": used_seeds,
        "train_split": train_split,
        "eval_split": eval_split,
        "n_train": n_train,
        "n_eval": overall["n"],
        "accuracy": overall["mean"],
        "accuracy_ci": [overall["ci_low"], overall["ci_high"]],
        "worst_slice": worst.row(0, named=True)["slice"] if worst.height else None,
        "worst_slice_accuracy": worst.row(0, named=True)["mean"] if worst.height else None,
        "counts": {},
        "issues_flagged": {},
        "timings_s": {"intervention": round(time.perf_counter() - t0, 3)},
        "regressed_slices": verdict.filter(pl.col("verdict") == "regressed")["slice"].to_list(),
        "improved_slices": verdict.filter(pl.col("verdict") == "improved")["slice"].to_list(),
        "verdict_test": verdict["test"].item(0),
        "intervention": {
            "kind": kind,
            "slice": target,
            "against_iteration": int(before["iteration"]),
            "params": params,
            "diagnosis": diagnosis,
            "kept": kept,
            "reason": reason,
        },
    }
    saver = getattr(model, "save", None)
    if kept and callable(saver):
        from datacentric._io import atomic_write

        log.iteration_dir(it).mkdir(parents=True, exist_ok=True)
        atomic_write(log.iteration_dir(it) / MODEL_FILE, saver)
        record["model"] = f"{log.iteration_dir(it).name}/{MODEL_FILE}"
    frames = {
        "predictions": runs.filter(pl.col("seed") == seed).drop("seed"),
        "seed_predictions": runs,
        "seed_summary": summary,
        "verdict": verdict,
    }
    log.write(record, frames, metrics)
    return record, kept
