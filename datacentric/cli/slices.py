"""``datacentric slices ...``: evaluate by slice, discover bad slices, gate CI, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from datacentric._io import ensure_writable
from datacentric.cli._common import check_option, console, esc, new_app, user_errors
from datacentric.cli._options import REV, slices_option

__all__ = ["app"]

app = new_app("Metrics by slice, slice discovery, and the CI gate that fails on a regression.")


_PRED_HELP = (
    "Predictions: .npz (Predictions.save, or scan's predictions.npz), .npy (N x K, manifest "
    "order), or .parquet/.csv with sample_id, pred[, confidence]. For a detection dataset: "
    ".parquet of predicted boxes (sample_id, label, x, y, w, h, score)."
)


def _num(value: float | None, spec: str) -> str:
    """A metric cell: ``-`` for a missing value (no interval, no box in the slice)."""
    return "-" if value is None else format(value, spec)


def _open(directory: Path, version: str | None) -> Any:
    from datacentric.cli.data import _open_any

    return _open_any(directory, version)


@app.command("evaluate")
@user_errors
def evaluate_cmd(
    directory: Path = typer.Argument(..., help="Dataset directory."),
    predictions: Path = typer.Option(..., "--predictions", "-p", help=_PRED_HELP),
    slices: Path | None = slices_option("YAML slice definitions (default: every metadata value)."),
    out: Path = typer.Option(Path("slice_metrics.json"), "--out", "-o", help="JSON to write."),
    split: str = typer.Option("test", help="Split to evaluate ('all' for every labelled row)."),
    min_n: int = typer.Option(30, help="Slices with fewer rows are marked low support."),
    version: str | None = REV,
    report: Path | None = typer.Option(None, "--report", help="Also write .html or .md."),
) -> None:
    """Evaluate predictions overall and per slice (with intervals and tests).

    On a detection dataset: COCO mAP@[.5:.95] (``map``), mAP@0.5 (``map50``), recall at
    precision 0.9 and per-class AP, per slice of image metadata and of box area/class."""
    from datacentric.slices import evaluate, evaluate_detection

    ensure_writable(out, "--out")
    if report is not None:
        ensure_writable(report, "--report")
    ds = _open(directory, version)
    run = evaluate_detection if ds.task == "detection" else evaluate
    metrics = run(
        ds,
        predictions,
        slices,
        split=None if split == "all" else split,
        min_n=min_n,
    )
    metrics.save(out)
    name = "map" if ds.task == "detection" else "accuracy"
    acc = metrics.metric(name)
    title = "Accuracy" if name == "accuracy" else "mAP@[.5:.95]"
    t = Table(title=f"{title} by slice ({acc.height - 1} slices), worst first")
    for col in ("slice", "n", name, "95% CI", "Δ overall", "p"):
        t.add_column(col, justify="left" if col == "slice" else "right")
    for r in acc.head(15).iter_rows(named=True):
        bad = r["p_value"] is not None and r["p_value"] < 0.05 and r["delta_vs_overall"] < 0
        style = "red" if bad else ("dim" if r["low_support"] else "")
        t.add_row(
            f"[{style}]{esc(r['slice'])}[/]" if style else esc(r["slice"]),
            str(r["n"]),
            _num(r["value"], ".4f"),
            f"[{_num(r['ci_low'], '.3f')}, {_num(r['ci_high'], '.3f')}]",
            _num(r["delta_vs_overall"], "+.4f"),
            "" if r["p_value"] is None else f"{r['p_value']:.3g}",
        )
    console.print(t)
    console.print(f"Saved to [bold]{esc(out)}[/]")
    if report is not None:
        metrics.report(report)
        console.print(f"Report: [bold]{esc(report)}[/]")


@app.command("check")
@user_errors
def check_cmd(
    baseline: Path = typer.Option(..., "--baseline", help="Baseline slice metrics JSON."),
    current: Path = typer.Option(..., "--current", help="Current slice metrics JSON."),
    max_drop: float = typer.Option(0.02, help="Largest allowed drop of the metric per slice."),
    min_n: int = typer.Option(30, help="Skip slices with fewer rows."),
    metric: str | None = typer.Option(
        None, help="Metric to gate on (default: accuracy; map for detection results)."
    ),
    require_significant: bool = typer.Option(
        False, "--require-significant", help="Fail only when the drop is also significant."
    ),
    markdown: Path | None = typer.Option(None, "--markdown", help="Write a Markdown summary."),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML."),
    json_out: Path | None = typer.Option(None, "--json", help="Write JSON."),
) -> None:
    """Fail (exit 1) when any slice regresses by more than --max-drop."""
    from numbers import Real

    from datacentric._validation import Interval
    from datacentric.slices import SliceMetrics, check

    check_option(
        "slices check", "--max-drop", max_drop, Interval(Real, 0, None, closed="left"),
        default=0.02,
    )  # fmt: skip

    for path, option in ((markdown, "--markdown"), (junit, "--junit"), (json_out, "--json")):
        if path is not None:
            ensure_writable(path, option)
    base, cur = SliceMetrics.load(baseline), SliceMetrics.load(current)
    if metric is None:
        metric = "map" if base.meta.get("task") == "detection" else "accuracy"
    result = check(
        base,
        cur,
        metric=metric,
        max_drop=max_drop,
        min_n=min_n,
        require_significant=require_significant,
    )
    result.write(markdown=markdown, junit=junit, json_path=json_out)
    n_fail = result.failures.height
    for r in result.failures.iter_rows(named=True):
        console.print(f"[red]FAIL[/] {esc(r['slice'])}: {esc(r['reason'])}")
    skipped = int((result.table["status"] == "skip").sum())
    if result.passed:
        console.print(
            f"[green]Slice gate passed[/]: {result.table.height - skipped} slices checked, "
            f"{skipped} skipped (n < {min_n})."
        )
        return
    console.print(
        f"[bold red]Slice gate failed[/]: {n_fail} slice(s) dropped more than {max_drop}."
    )
    raise typer.Exit(1)


@app.command("discover")
@user_errors
def discover_cmd(
    directory: Path = typer.Argument(..., help="Dataset directory."),
    predictions: Path = typer.Option(..., "--predictions", "-p", help=_PRED_HELP),
    out: Path = typer.Option(Path("discovered_slices.yaml"), "--out", "-o"),
    split: str = typer.Option("test", help="Split to search ('all' for every labelled row)."),
    top: int = typer.Option(10, help="Slices to keep."),
    max_level: int = typer.Option(3, help="Largest number of conditions combined."),
    version: str | None = REV,
) -> None:
    """Find the worst slices automatically (SliceLine) and save them as YAML."""
    from datacentric.slices.discover import discover_dataset

    ensure_writable(out, "--out")
    ds = _open(directory, version)
    result = discover_dataset(
        ds,
        predictions,
        split=None if split == "all" else split,
        k=top,
        max_level=max_level,
    )
    result.save_yaml(out, top=top)
    console.print(esc(result.summary()))
    console.print(f"Saved {len(result.definitions(top))} slice definitions to [bold]{esc(out)}[/]")


@app.command("report")
@user_errors
def report_cmd(
    metrics: Path = typer.Argument(..., help="Slice metrics JSON."),
    out: Path = typer.Option(Path("slices.html"), "--out", "-o", help=".html or .md"),
    baseline: Path | None = typer.Option(None, "--baseline", help="Compare with this run."),
) -> None:
    """Render slice metrics (and a comparison) as HTML or Markdown."""
    from datacentric.slices import SliceMetrics

    ensure_writable(out, "--out")
    current = SliceMetrics.load(metrics)
    base = SliceMetrics.load(baseline) if baseline is not None else None
    current.report(out, baseline=base)
    console.print(f"Report: [bold]{esc(out)}[/]")


def _expand(paths: list[Path], option: str) -> list[Path]:
    """The files of ``--before``/``--after``: each path, or the matches of a quoted glob."""
    import glob

    out: list[Path] = []
    for p in paths:
        text = str(p)
        if not p.exists() and any(c in text for c in "*?["):
            found = sorted(glob.glob(text))
            if not found:
                from datacentric.exceptions import InvalidParameterError

                raise InvalidParameterError(
                    f"datacentric slices compare: {option} {text!r} matches no file. Pass "
                    "prediction files, or a glob (quoted) that matches some."
                )
            out += [Path(f) for f in found]
        else:
            out.append(p)
    return out


_RUNS_HELP = (
    "Predictions of one seed (repeat the option, or give a quoted glob); the same formats "
    "as --predictions (predicted boxes, .parquet, on a detection dataset)."
)


@app.command("compare")
@user_errors
def compare_cmd(
    directory: Path = typer.Argument(..., help="Dataset directory (the evaluated samples)."),
    before: list[Path] = typer.Option(..., "--before", help=_RUNS_HELP),
    after: list[Path] = typer.Option(..., "--after", help=_RUNS_HELP),
    slices: Path | None = slices_option("YAML slice definitions (default: every metadata value)."),
    split: str = typer.Option("test", help="Split to compare ('all' for every labelled row)."),
    metric: str | None = typer.Option(
        None,
        help="accuracy (default) or recall[<class>]; on a detection dataset map (default), "
        "map50 or recall@p90.",
    ),
    min_n: int = typer.Option(30, help="Slices with fewer rows are marked low support."),
    min_effect: float = typer.Option(
        0.0, help="Smallest difference called improved/regressed, even when significant."
    ),
    n_boot: int | None = typer.Option(
        None, "--n-boot", help="Bootstrap draws (default 2000; 200 on a detection dataset)."
    ),
    version: str | None = REV,
    json_out: Path | None = typer.Option(None, "--json", help="Write the verdicts as JSON."),
) -> None:
    """Before vs after per slice over several seeds: mean [95% CI] of each side, the
    difference with its interval and p-value, and a verdict (seed and sample noise).
    On a detection dataset the runs are predicted boxes and the metric is mAP."""
    from numbers import Integral, Real

    from datacentric._validation import Interval
    from datacentric.slices import detection_seed_verdict, seed_runs, seed_verdict

    check_option("slices compare", "--min-effect", min_effect, Interval(Real, 0, 1), default=0.0)
    check_option(
        "slices compare", "--min-n", min_n, Interval(Integral, 0, None, closed="left"), default=30
    )
    if json_out is not None:
        ensure_writable(json_out, "--json")
    detection_boot = 200
    if n_boot is not None:
        at_least_100 = Interval(Integral, 100, None, closed="left")
        check_option("slices compare", "--n-boot", n_boot, at_least_100, default=detection_boot)
    ds = _open(directory, version)
    at = None if split == "all" else split
    paths = [_expand(p, option) for p, option in ((before, "--before"), (after, "--after"))]
    if ds.task == "detection":
        metric = metric or "map"
        v = detection_seed_verdict(ds, paths[0], paths[1], slices, split=at, metric=metric,
                                   min_n=min_n, min_effect=min_effect,
                                   n_boot=n_boot or detection_boot)  # fmt: skip
    else:
        metric = metric or "accuracy"
        runs = [seed_runs(ds, p, split=at) for p in paths]
        v = seed_verdict(runs[0], runs[1], slices, metric=metric, min_n=min_n,
                         min_effect=min_effect, n_boot=n_boot or 2000)  # fmt: skip
    console.print(verdict_table(v, f"{metric} by slice", ("before", "after"), "runs"))
    if json_out is not None:
        from datacentric._io import atomic_write_text

        atomic_write_text(json_out, v.write_json())
        console.print(f"Saved to [bold]{esc(json_out)}[/]")


_VERDICT_STYLE = {"improved": "green", "regressed": "red"}


def verdict_table(v: Any, what: str, sides: tuple[str, str], unit: str) -> Table:
    """A verdict table (:func:`datacentric.slices.seed_verdict`) for the terminal: per slice,
    each side's mean [95% CI], the difference [95% CI], p and the verdict."""
    first = v.row(0, named=True)
    t = Table(
        title=f"{what}, {sides[0]} ({first['seeds_before']} {unit}) → {sides[1]} "
        f"({first['seeds_after']} {unit}); {first['test']}"
    )
    columns = ("slice", "n", f"{sides[0]} [95% CI]", f"{sides[1]} [95% CI]", "Δ [95% CI]", "p")
    for col in (*columns, "verdict"):
        t.add_column(col, justify="left" if col in ("slice", "verdict") else "right")
    for r in v.iter_rows(named=True):
        t.add_row(*_verdict_cells(r))
    return t


def _verdict_cells(r: dict[str, Any]) -> list[str]:
    """A row of a verdict table (:func:`datacentric.slices.seed_verdict`) as table cells."""

    def ci(mid: float | None, lo: float | None, hi: float | None, sign: str = "") -> str:
        return "" if mid is None else f"{mid:{sign}.3f} [{lo:{sign}.3f}, {hi:{sign}.3f}]"

    style = _VERDICT_STYLE.get(r["verdict"], "dim" if r["low_support"] else "")
    return [
        esc(r["slice"]),
        str(r["n"]),
        ci(r["before"], r["before_low"], r["before_high"]),
        ci(r["after"], r["after_low"], r["after_high"]),
        ci(r["diff"], r["ci_low"], r["ci_high"], "+"),
        "" if r["p_value"] is None else f"{r['p_value']:.3g}",
        f"[{style}]{esc(r['verdict'])}[/]" if style else esc(r["verdict"]),
    ]
