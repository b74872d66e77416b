"""The ``export`` verb: compress a model, measure it by slice, gate it, write a manifest.

Register it in ``datacentric/cli/__init__.py`` with
``from datacentric.cli.export import register as _register_export`` and
``_register_export(app)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from datacentric._io import ensure_writable
from datacentric.cli._common import check_option, console, esc, user_errors
from datacentric.cli._options import REV
from datacentric.exceptions import InvalidParameterError

__all__ = ["export_cmd", "register"]


def export_cmd(
    directory: Path = typer.Argument(..., help="Dataset directory (its test split is evaluated)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the artefacts and export.json."),
    weights: Path | None = typer.Option(
        None,
        "--weights",
        help="A model saved by recipe.save (default: the data loop's latest model, else train "
        "--recipe).",
    ),
    recipe_name: str = typer.Option(
        "small_cnn",
        "--recipe",
        help="Recipe to train when there is no model: small_cnn, resnet18 (a detection dataset "
        "trains centernet).",
    ),
    targets: str | None = typer.Option(
        None,
        "--targets",
        help="Comma-separated: onnx-fp32, onnx-int8-dynamic, onnx-int8-static, qat-int8 "
        "(quantization-aware fine-tuning, then int8), pruned-<pct>, "
        "distilled-small_cnn[-w<width>][-e<epochs>][-int8] (a small CNN student trained on the "
        "model's soft predictions) (default: onnx-fp32, both int8, pruned-50; a detection dataset: "
        "onnx-fp32,onnx-int8-static only).",
    ),
    slices: Path | None = typer.Option(None, "--slices", help="Slice YAML (default: by metadata)."),
    max_drop: float = typer.Option(
        0.01,
        "--max-drop",
        help="Allowed drop per slice of accuracy (detection: mAP@0.5), and per class of recall.",
    ),
    min_n: int = typer.Option(30, "--min-n", help="Slices with fewer test rows are not gated."),
    calib_size: int = typer.Option(256, "--calib-size", help="Calibration sample size."),
    version: str | None = REV,
    seed: int = typer.Option(0, help="Seed for training, calibration sampling, bootstrap."),
) -> None:
    """Export ONNX fp32/int8, QAT, pruned and distilled models; exit 1 if a slice or class drops.

    qat-int8 and distilled-* train on the train split (the model's training rows).

    On a detection dataset the model is a CenterNetRecipe, exported to ONNX fp32/int8 (the
    network; decoding stays outside the graph) and gated per slice on mAP@0.5.
    """
    from numbers import Real

    from datacentric._validation import Interval, Options
    from datacentric.export.compress import TARGETS
    from datacentric.export.detector import DEFAULT_DETECTOR_TARGETS
    from datacentric.export.detector import TARGETS as DETECTOR_TARGETS
    from datacentric.train.load import RECIPES

    check_option("export", "--max-drop", max_drop, Interval(Real, 0, 1), default=0.01)
    recipes = Options(str, tuple(sorted(RECIPES)))
    check_option("export", "--recipe", recipe_name, recipes, default="small_cnn")
    from datacentric.cli.data import _open_any
    from datacentric.dataset.readable import exclude_unreadable
    from datacentric.export import compress
    from datacentric.loop.log import ExperimentLog
    from datacentric.slices import load_slices
    from datacentric.train import load_recipe, make_recipe

    opened = _open_any(directory, version)
    detection = opened.task == "detection"
    # before any work: a bad target must not cost a training run
    if detection:
        targets = targets or ",".join(DEFAULT_DETECTOR_TARGETS)
        check_option("export", "--targets", targets, *DETECTOR_TARGETS, default="onnx-fp32")
    else:
        targets = targets or "onnx-fp32,onnx-int8-dynamic,onnx-int8-static,pruned-50"
        check_option("export", "--targets", targets, *TARGETS, default="onnx-fp32,pruned-50")
    slice_specs = None if slices is None else load_slices(slices)  # fail before any training
    ensure_writable(out, "--out", folder=True)  # before training/exporting, not after
    # images that cannot be read are left out of training, calibration and evaluation
    ds, _ = exclude_unreadable(
        opened, progress=True, say=lambda line: console.print(f"[yellow]{esc(line)}[/]")
    )
    if weights is None and version is None:
        weights = ExperimentLog(directory).model_path()
        if weights is not None:
            console.print(f"Exporting the data loop's latest model: [bold]{esc(weights)}[/]")
    if weights is not None:
        if not weights.is_file():
            raise InvalidParameterError(
                f"--weights must be a file written by recipe.save, received {weights} (not found)."
            )
        recipe = load_recipe(weights, task=opened.task)
        console.print(f"Loaded {esc(repr(recipe))} from [bold]{esc(weights)}[/]")
    else:
        recipe = _new_detector() if detection else make_recipe(recipe_name)
        console.print(
            "[yellow]No model given and no data-loop model found:[/] training "
            f"{esc(repr(recipe))} on the train split (pass --weights model.pt to export a "
            "trained model)."
        )
        recipe.fit(ds.split("train"), seed=seed, progress=True)
    if detection:
        _export_detector(recipe, ds, directory, out, targets, slice_specs, max_drop, min_n,
                         calib_size, seed)  # fmt: skip
        return
    train = ds.split("train")
    report = compress(
        recipe,
        ds,
        train_ds=train if len(train) else None,
        targets=targets,
        slices=slice_specs,
        out_dir=out,
        max_drop=max_drop,
        min_n=min_n,
        calib_size=calib_size,
        seed=seed,
    )
    _print_report(
        report,
        f"Export of {esc(directory)} → {esc(out)}",
        out,
        batch=64,
        metric=("accuracy", lambda a: a.accuracy),
        passed=lambda a: a.passed,
        dropped=f"a slice's accuracy or a class's recall dropped more than {max_drop:.3f}",
        worst_class=lambda a: a.worst_class,
    )


def _print_report(
    report: Any,
    title: str,
    out: Path,
    *,
    batch: int,
    metric: tuple[str, Callable[[Any], float]],
    passed: Callable[[Any], bool | None],
    dropped: str,
    note: str = "",
    worst_class: Callable[[Any], tuple[str | None, float | None]] | None = None,
) -> None:
    """One table row per form (the baseline first), the report paths, exit 1 on a failed gate.

    ``worst_class`` (a classifier's export) adds the class whose recall dropped most."""
    t = Table(title=title)
    for col, just in (
        ("target", "left"),
        ("size", "right"),
        ("ratio", "right"),
        ("p50@1 ms", "right"),
        (f"p50@{batch} ms", "right"),
        (metric[0], "right"),
        ("worst slice Δ", "right"),
        *([("worst class Δ", "right")] if worst_class is not None else []),
        ("gate", "left"),
    ):
        # a target's name is never cut: the column is as wide as the longest name (the other
        # columns shrink first), and folds only in a terminal too narrow even for that
        longest = max(len(a.target) for a in [report.baseline, *report.artefacts])
        wide = {"overflow": "fold", "min_width": longest} if col == "target" else {}
        t.add_column(col, justify=just, **wide)  # type: ignore[arg-type]
    for a in [report.baseline, *report.artefacts]:
        worst, delta = a.worst_slice
        ok = passed(a)
        cls: list[str] = []
        if worst_class is not None:
            name, change = worst_class(a)
            cls = ["" if change is None else f"{change:+.4f} ({esc(name)})"]
        t.add_row(
            esc(a.target),
            f"{a.size_bytes / 1024:.1f} KiB",
            f"{a.size_ratio:.2f}",
            f"{a.latency_ms['p50@1']:.2f}",
            f"{a.latency_ms[f'p50@{batch}']:.2f}",
            f"{metric[1](a):.4f}",
            "" if delta is None else f"{delta:+.4f} ({esc(worst)})",
            *cls,
            "" if ok is None else ("[green]pass[/]" if ok else f"[bold red]FAIL{_which(a)}[/]"),
        )
    console.print(t)
    console.print(
        f"Manifest: [bold]{esc(out / 'export.json')}[/]; report: "
        f"[bold]{esc(out / 'export.html')}[/] (Markdown: {esc(out / 'export.md')}{note})"
    )
    if not report.passed:
        console.print(
            f"[bold red]Gate failed[/] for {esc(', '.join(report.failed_targets))}: {dropped}; "
            f"see {esc(out / 'export.md')}."
        )
        raise typer.Exit(1)


def _which(a: Any) -> str:
    """`` (slice, class)``: the gates of a classifier's form that failed; empty otherwise."""
    gates = [(n, getattr(a, f, None)) for n, f in (("slice", "gate"), ("class", "class_gate"))]
    failed = [n for n, g in gates if g is not None and hasattr(g, "passed") and not g.passed]
    return f" ({', '.join(failed)})" if failed and hasattr(a, "class_gate") else ""


def _new_detector() -> Any:
    from datacentric.train import CenterNetRecipe

    return CenterNetRecipe()


def _export_detector(
    recipe: Any,
    ds: Any,
    directory: Path,
    out: Path,
    targets: str,
    slice_specs: Any,
    max_drop: float,
    min_n: int,
    calib_size: int,
    seed: int,
) -> None:
    """The detection branch of ``export``: export, gate on mAP@0.5, print, exit 1 on fail."""
    from datacentric.export import export_detector

    report = export_detector(
        recipe,
        ds,
        targets=targets,
        slices=slice_specs,
        out_dir=out,
        max_drop=max_drop,
        min_n=min_n,
        calib_size=calib_size,
        seed=seed,
    )
    _print_report(
        report,
        f"Detector export of {esc(directory)} → {esc(out)}",
        out,
        batch=16,
        metric=("mAP@0.5", lambda a: a.map50),
        passed=lambda a: a.passed,
        dropped=f"a slice's mAP@0.5 dropped more than {max_drop:.3f}",
        note="; decoding runs outside the ONNX graph: CenterNetRecipe.predict_with",
    )


def register(app: typer.Typer) -> None:
    """Add ``export`` to the top-level app."""
    app.command("export")(user_errors(export_cmd))
