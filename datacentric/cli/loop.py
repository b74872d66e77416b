"""The ``loop`` verb: scan → fix → retrain the same recipe → evaluate by slice, N times."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer
from rich.table import Table

from datacentric._io import ensure_writable
from datacentric.cli._common import check_option, console, esc, user_errors
from datacentric.cli._options import (
    ADDRESS,
    CACHE,
    ENGINE,
    WORKERS,
    engine_kwargs,
    slices_option,
)

if TYPE_CHECKING:
    from datacentric.loop import ExperimentLog

__all__ = ["register"]


def loop_cmd(
    directory: Path = typer.Argument(..., help="A versioned dataset directory."),
    iterations: int = typer.Option(2, "--iterations", "-i", help="Fix iterations to run."),
    slices: Path | None = slices_option("YAML slices to evaluate (default: every metadata value)."),
    folds: int = typer.Option(5, help="Cross-validation folds of each scan."),
    seed: int = typer.Option(0, help="Seed of everything."),
    seeds: int = typer.Option(
        3,
        "--seeds",
        help="Training seeds per iteration (seed, seed+1, ...): accuracy is their mean, and "
        "each slice's verdict accounts for seed and sample noise.",
    ),
    min_confidence: float = typer.Option(
        0.9,
        help="Relabel automatically when the model gives the new class at least this (on a "
        "detection dataset: fix a box when the detector's box behind the fix scores this).",
    ),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report here."),
    review_budget: str | None = typer.Option(
        None,
        "--review-budget",
        help="Samples queued for review, best first: an integer >= 0, or 'all' (default: "
        "min(300, 5% of the samples)); the other flagged samples are kept as deferred.",
    ),
    interventions: bool = typer.Option(
        False,
        "--interventions/--no-interventions",
        help="After the fix iterations, when label issues do not explain the worst slice's "
        "errors: estimate the samples it needs (a learning curve), then try a matched "
        "augmentation and an oversampling of it, each kept only if the slice improves "
        "significantly and no slice regresses.",
    ),
    oversample_factor: int = typer.Option(
        2,
        "--oversample-factor",
        help="With --interventions: how many times the worst slice's training rows are "
        "present when oversampling (2 to 100).",
    ),
    simulated_review: float | None = typer.Option(
        None,
        "--simulated-review",
        metavar="ACCURACY",
        help="Demo folders only: answer each iteration's review queue (train samples) with a "
        "simulated reviewer of this accuracy (e.g. 0.95) from the demo's ground truth, "
        "standing in for a Label Studio review, before retraining (a detection demo: the "
        "queued images' boxes are redrawn as their true objects).",
    ),
    engine: str | None = ENGINE,
    workers: str | None = WORKERS,
    address: str | None = ADDRESS,
    cache: bool = CACHE,
) -> None:
    """Improve the data with the model fixed; print and record what each iteration gained."""
    from numbers import Real

    from datacentric._validation import Interval

    check_option("loop", "--min-confidence", min_confidence, Interval(Real, 0, 1), default=0.9)
    budget = _review_budget(review_budget)
    _check_seeds(seeds)
    _check_oversample_factor(oversample_factor)
    if simulated_review is not None:
        check_option("loop", "--simulated-review", simulated_review, Interval(Real, 0, 1),
                     default=0.95)  # fmt: skip
    run_on = engine_kwargs("loop", engine, workers, address)
    from datacentric.dataset import Dataset
    from datacentric.loop import BoxFixPolicy, ExperimentLog, FixPolicy, run_loop

    if report is not None:  # before the iterations (minutes of training), not after
        ensure_writable(report, "--report")
    detection = Dataset.open(directory).task == "detection"
    policy: FixPolicy | BoxFixPolicy = (
        BoxFixPolicy(min_detector_score=min_confidence, review_budget=budget)
        if detection
        else FixPolicy(relabel_min_confidence=min_confidence, review_budget=budget)
    )
    review = None if simulated_review is None else _simulated_reviewer(
        directory, simulated_review, seed, detection
    )  # fmt: skip
    run_loop(
        directory,
        iterations,
        slices=slices,
        folds=folds,
        seed=seed,
        seeds=seeds,
        policy=policy,
        progress=False,
        say=lambda msg: console.print(f"[dim]·[/] {esc(msg)}"),
        cache=cache,
        interventions=interventions,
        oversample_factor=oversample_factor,
        review=review,
        **run_on,
    )
    records = ExperimentLog(directory).records()
    t = Table(title=f"Data iterations of {esc(directory)} (model held fixed)")
    metric = "mAP@0.5" if detection else "accuracy"
    edits = ("relabel", "move", "add", "remove") if detection else ("relabel", "remove")
    for col in ("it", "ver", *edits, "review", f"test {metric} [95% CI]", "worst slice"):
        t.add_column(col, justify="left" if col == "worst slice" else "right")
    base = records[0]["accuracy"] if records else None
    for r in records:
        c = r.get("counts", {})
        gain = f" {r['accuracy'] - base:+.3f}" if base is not None and r["iteration"] else ""
        lo, hi = r["accuracy_ci"]
        worst = (
            f"{esc(r['worst_slice'])} {r['worst_slice_accuracy']:.3f}"
            if r["worst_slice_accuracy"] is not None
            else ""
        )
        t.add_row(
            str(r["iteration"]),
            str(r["version"]),
            *(str(c.get(k, "")) for k in (edits if detection else ("relabeled", "removed"))),
            str(c.get("queued_for_review", "")),
            f"{r['accuracy']:.3f} [{lo:.3f}, {hi:.3f}]{gain}",
            worst,
        )
    console.print(t)
    if records and records[-1].get("review_queue"):
        from datacentric.loop.review_queue import review_line

        console.print(f"Review queue: {esc(review_line(records[-1]['review_queue']))}")
    if records and records[-1].get("regressed_slices"):
        regressed = records[-1]["regressed_slices"]
        console.print(f"[red]Regressed vs previous iteration:[/] {esc(regressed)}")
    _print_interventions(records)
    if len(records) > 1:
        _print_verdicts(ExperimentLog(directory))
    if report is not None:
        from datacentric.report.loop import render_loop_report

        render_loop_report(directory, report)
        console.print(f"Report: [bold]{esc(report)}[/]")


def _review_budget(text: str | None) -> int | Literal["all"] | None:
    """``--review-budget``: an integer >= 0, ``all``, or None (the default), checked."""
    from numbers import Integral

    from datacentric._validation import Interval, Options

    if text is None:
        return None
    value: int | str = text.strip()
    if re.fullmatch(r"[+-]?\d+", str(value)):
        value = int(value)
    check_option(
        "loop",
        "--review-budget",
        value,
        Interval(Integral, 0, None, closed="left"),
        Options(str, ("all",)),
        default="100 (or all)",
    )
    return "all" if value == "all" else int(value)


def _check_seeds(seeds: int) -> None:
    from numbers import Integral

    from datacentric._validation import Interval
    from datacentric.loop.iteration import MAX_SEEDS

    check_option("loop", "--seeds", seeds, Interval(Integral, 1, MAX_SEEDS, closed="both"),
                 default=3)  # fmt: skip


def _simulated_reviewer(
    directory: Path, accuracy: float, seed: int, detection: bool | None = None
) -> Any:
    """``--simulated-review``: the hook that answers each queue from the demo's ground truth
    (read now: a folder without one is refused before any training). A detection dataset's
    queue is answered with boxes (``simulate_box_review``), a classification one's with
    labels (``simulate_review``); ``detection=None`` reads the dataset's task."""
    from datacentric.integrations.review import simulate_box_review, simulate_review

    if detection is None:
        from datacentric.dataset import Dataset

        detection = Dataset.open(directory, check_images="none").task == "detection"
    truth: Any
    if detection:
        from datacentric.datasets import load_detection_ground_truth

        truth, answer, what = (
            load_detection_ground_truth(directory).boxes,
            simulate_box_review,
            "redraws each queued image's boxes as its true objects (classes right with "
            f"probability {accuracy:g})",
        )
    else:
        from datacentric.datasets import load_ground_truth

        truth, answer, what = (
            load_ground_truth(directory),
            simulate_review,
            f"answers each queued sample's label (accuracy {accuracy:g})",
        )
    calls: list[int] = []
    console.print(
        f"[bold]Simulated review:[/] a simulated reviewer {what} from the demo's ground "
        "truth, standing in for Label Studio; its edits are committed with lineage source "
        "'simulated-reviewer'."
    )

    def review(ds: Any, queue: Any) -> Any:
        calls.append(1)  # the k-th queue gets seed 1000 * seed + k (as bench_loop does)
        return answer(ds, queue, truth, accuracy=accuracy, seed=1000 * seed + len(calls) - 1)

    return review


def _check_oversample_factor(factor: int) -> None:
    from numbers import Integral

    from datacentric._validation import Interval

    check_option("loop", "--oversample-factor", factor,
                 Interval(Integral, 2, 100, closed="both"), default=2)  # fmt: skip


def _print_interventions(records: list[dict[str, Any]]) -> None:
    """One line per slice intervention tried: kept or rejected, and why."""
    for r in records:
        iv = r.get("intervention")
        if isinstance(iv, dict):
            mark = "[green]kept[/]" if iv.get("kept") else "[yellow]rejected[/]"
            console.print(
                f"Intervention {r['iteration']}: {esc(iv.get('kind'))} on "
                f"{esc(iv.get('slice'))}: {mark} ({esc(iv.get('reason'))})"
            )


def _print_verdicts(log: ExperimentLog) -> None:
    """Per slice, baseline → latest: mean over seeds [95% interval], the difference with its
    interval and p-value, and the verdict (seed and sample noise accounted for)."""
    from datacentric.cli.slices import verdict_table

    table = verdict_table(log.verdict(), "Accuracy by slice", ("baseline", "latest"), "seeds")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``loop`` to the top-level app."""
    app.command("loop")(user_errors(loop_cmd))
