"""The ``scan`` verb: run the issue finders and save/report what they found."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from datacentric._io import atomic_write, ensure_writable
from datacentric.cli._common import console, esc, user_errors
from datacentric.cli._options import ADDRESS, CACHE, ENGINE, REV, WORKERS, engine_kwargs
from datacentric.cli.data import _open_any
from datacentric.exceptions import InvalidParameterError

__all__ = ["register"]


def _array_file(path: Path | None, option: str, shape: str) -> Path | None:
    """``path`` when it is an existing .npy/.npz file (read later by ``Predictions.coerce``)."""
    if path is not None and (path.suffix.lower() not in (".npy", ".npz") or not path.is_file()):
        raise InvalidParameterError(
            f"{option} must be an existing .npy file ({shape}, manifest order) or a predictions "
            f".npz (Predictions.save, or the predictions.npz a scan wrote), received {path}."
        )
    return path


def scan_cmd(
    directory: Path = typer.Argument(..., help="Dataset directory."),
    out: Path = typer.Option(Path("scan.parquet"), "--out", "-o", help="Where to save the scan."),
    report: Path | None = typer.Option(None, "--report", help="Also write a report (.html/.md)."),
    finders: str | None = typer.Option(
        None, "--finders", help="Comma-separated finder names (default: all)."
    ),
    version: str | None = REV,
    predictions: Path | None = typer.Option(
        None,
        "--pred-probs",
        help="Out-of-sample pred_probs: a predictions .npz (Predictions.save, or the "
        "predictions.npz a previous scan wrote; matched by sample id and class name) or a .npy "
        "(N x K, manifest order, columns in the dataset's class order).",
    ),
    embeddings: Path | None = typer.Option(
        None, "--embeddings", help="Embeddings (.npy, N x D, manifest order; or a .npz)."
    ),
    cross_validate: bool = typer.Option(
        True, "--cv/--no-cv", help="Cross-validate the fixed recipe when predictions are missing."
    ),
    folds: int = typer.Option(5, help="Cross-validation folds."),
    seed: int = typer.Option(0, help="Seed for cross-validation."),
    predictions_out: Path | None = typer.Option(
        None,
        "--predictions-out",
        help="Where to save the predictions the scan used (default: predictions.npz next to "
        "--out, where `datacentric review fiftyone` picks them up).",
    ),
    predicted_boxes: Path | None = typer.Option(
        None,
        "--predicted-boxes",
        help="Detection datasets: out-of-sample predicted boxes, a .parquet with sample_id, "
        "label, x, y, w, h, score (for overlooked_box, badly_located_box, swapped_box); "
        "without it (and with --cv) the default detector is cross-validated for them and "
        "saved as predicted_boxes.parquet next to --out.",
    ),
    engine: str | None = ENGINE,
    workers: str | None = WORKERS,
    address: str | None = ADDRESS,
    cache: bool = CACHE,
) -> None:
    """Find label errors, duplicates, leakage, outliers, image problems, imbalance."""
    from datacentric.issues import scan

    run_on = engine_kwargs("scan", engine, workers, address)
    # Check every output before the scan (minutes of cross-validation) starts.
    ensure_writable(out, "--out")
    if report is not None:
        ensure_writable(report, "--report")
    if predictions_out is not None:
        ensure_writable(predictions_out, "--predictions-out")
    ds = _open_any(directory, version)
    names = [f.strip() for f in finders.split(",") if f.strip()] if finders else None
    result = scan(
        ds,
        _array_file(predictions, "--pred-probs", "N x K"),
        _array_file(embeddings, "--embeddings", "N x D"),
        finders=names,
        cross_validate="auto" if cross_validate else False,
        folds=folds,
        seed=seed,
        progress=True,
        cache=cache,
        predicted_boxes=predicted_boxes,
        **run_on,
    )
    result.save(out)
    summary = result.summary()["by_type"]
    t = Table(title=f"Scan of {esc(directory)} ({len(ds)} samples)")
    t.add_column("issue type")
    t.add_column("flagged", justify="right")
    t.add_column("rate", justify="right")
    for row in summary.iter_rows(named=True):
        style = "bold red" if row["n_flagged"] else "green"
        t.add_row(esc(row["issue_type"]), f"[{style}]{row['n_flagged']}[/]", f"{row['rate']:.1%}")
    console.print(t)
    n_excluded = result.meta.get("n_excluded")
    if n_excluded:
        console.print(
            f"[yellow]{n_excluded} image{'s' if n_excluded != 1 else ''} excluded (unreadable/too "
            "large)[/] from training and prediction; the unreadable_image rows say why."
        )
    for name, reason in result.skipped.items():
        console.print(f"[yellow]skipped[/] {esc(name)}: {esc(reason)}")
    console.print(f"Saved the scan to [bold]{esc(out)}[/]")
    if result.predictions is not None:
        dest = predictions_out or out.parent / "predictions.npz"
        result.predictions.save(dest)
        console.print(f"Saved the predictions it used to [bold]{esc(dest)}[/]")
    boxes_from = str(result.meta.get("predicted_boxes") or "")
    if result.predicted_boxes is not None and boxes_from.startswith("cross-validation"):
        dest = out.parent / "predicted_boxes.parquet"
        atomic_write(dest, lambda tmp: result.predicted_boxes.write_parquet(tmp))
        console.print(
            f"Saved the cross-validated predicted boxes to [bold]{esc(dest)}[/] (reuse them with "
            "--predicted-boxes)"
        )
    if report is not None:
        result.report(report, dataset=ds)
        console.print(f"Report: [bold]{esc(report)}[/]")


def register(app: typer.Typer) -> None:
    """Add ``scan`` to the top-level app."""
    app.command("scan")(user_errors(scan_cmd))
