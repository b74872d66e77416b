"""``datacentric monitor ...``: production monitoring by slice (ingest, labels, status, report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from datacentric._io import ensure_writable
from datacentric.cli._common import console, esc, new_app, user_errors
from datacentric.cli._options import slices_option
from datacentric.exceptions import InvalidParameterError

__all__ = ["app"]

app = new_app("Production monitoring by slice: ingest batches, drift, alerts, dashboard.")

_STORE = typer.Option(Path("monitor.duckdb"), "--store", help="The DuckDB monitor store.")


def _open(
    store: Path,
    reference: Path | None = None,
    slices: Path | None = None,
    config: Path | None = None,
    image_root: Path | None = None,
    extra_columns: str = "error",
    reference_boxes: Path | None = None,
    score_threshold: float | None = None,
) -> Any:
    from datacentric.exceptions import InvalidParameterError
    from datacentric.monitor import Monitor

    if reference is None and not store.is_file():
        raise InvalidParameterError(
            f"the monitor store {str(store)!r} does not exist yet. Create it by passing "
            "--reference (labelled rows like the production ones), --slices and --config."
        )
    if reference is not None and not store.exists():
        ensure_writable(store, "--store")
    return Monitor(
        store, reference=reference, slices=slices, config=config,
        image_root=image_root, extra_columns=extra_columns, reference_boxes=reference_boxes,
        score_threshold=score_threshold,
    )  # fmt: skip


_MAX_ALERT_ROWS = 30


def _alert_table(alerts: Any, title: str) -> Table:
    """The first alerts as a table; a caption says how many more were left out."""
    more = alerts.height - _MAX_ALERT_ROWS
    caption = f"… and {more} more alert(s): see `datacentric monitor report`" if more > 0 else None
    t = Table(title=title, caption=caption)
    for col in ("window", "slice", "metric", "statistic", "value", "severity"):
        t.add_column(col, justify="right" if col == "value" else "left")
    for r in alerts.head(_MAX_ALERT_ROWS).iter_rows(named=True):
        style = "red" if r["severity"] == "critical" else "yellow"
        t.add_row(
            f"{r['window_start']:%Y-%m-%d %H:%M}", esc(r["slice"]), esc(r["metric"]),
            esc(r["statistic"]), f"{r['value']:.3g}", f"[{style}]{esc(r['severity'])}[/]",
        )  # fmt: skip
    return t


@app.command("ingest")
@user_errors
def ingest_cmd(
    batches: list[Path] = typer.Argument(..., help="Batch files (.parquet or .csv), in order."),
    store: Path = _STORE,
    reference: Path | None = typer.Option(
        None, "--reference", "-r", help="Reference rows (.parquet/.csv); creates a new store."
    ),
    slices: Path | None = slices_option("YAML slice definitions."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML alert config."),
    batch_id: str | None = typer.Option(
        None, "--batch-id", help="Id of the (single) batch; default: a hash of its content."
    ),
    image_root: Path | None = typer.Option(None, help="Root of relative 'image' paths."),
    drop_extra: bool = typer.Option(
        False, "--drop-extra-columns", help="Drop (and log) columns the reference lacks."
    ),
    fail_on_alert: bool = typer.Option(
        False, "--fail-on-alert", help="Exit with status 2 when the batches leave alerts."
    ),
    boxes: list[Path] | None = typer.Option(
        None,
        "--boxes",
        help="A detector's predicted boxes (.parquet: sample_id, label, x, y, w, h, score) "
        "for each batch, repeated in the batches' order (a store made with --reference-boxes).",
    ),
    reference_boxes: Path | None = typer.Option(
        None, "--reference-boxes", help="Predicted boxes of the reference rows (with -r)."
    ),
    score_threshold: float | None = typer.Option(
        None,
        "--score-threshold",
        help="Score from which a predicted box counts, in [0, 1] (new store; default 0.5).",
    ),
) -> None:
    """Ingest production batches (idempotent: a batch already in the store is skipped)."""
    from datacentric.exceptions import InvalidParameterError

    if batch_id is not None and len(batches) > 1:
        raise InvalidParameterError(
            f"--batch-id names one batch, received {len(batches)} files. Ingest them one at a "
            "time, or leave --batch-id out (each gets a hash of its content)."
        )
    if boxes and len(boxes) != len(batches):
        raise InvalidParameterError(
            f"--boxes gives the predicted boxes of each batch, in order: received "
            f"{len(boxes)} --boxes for {len(batches)} batch file(s). Pass one --boxes per batch."
        )
    extra = "drop" if drop_extra else "error"
    with _open(
        store, reference, slices, config, image_root, extra, reference_boxes, score_threshold
    ) as mon:
        n_alerts = 0
        for i, path in enumerate(batches):
            res = mon.ingest(path, batch_id=batch_id, boxes=boxes[i] if boxes else None)
            n_alerts += res.alerts.height
            note = "already in the store, skipped" if res.status == "skipped" else (
                f"{res.n_rows:,} rows, {len(res.windows)} window(s), {res.seconds:.1f} s, "
                f"{res.alerts.height} alert(s) in its windows"
            )  # fmt: skip
            console.print(f"[bold]{esc(res.batch_id)}[/] ({esc(path.name)}): {note}")
            if res.alerts.height:
                title = f"Alerts in the windows of {esc(res.batch_id)}"
                console.print(_alert_table(res.alerts, title))
    if fail_on_alert and n_alerts:
        raise typer.Exit(2)


@app.command("labels")
@user_errors
def labels_cmd(
    labels: Path = typer.Argument(..., help="sample_id,label rows (.parquet or .csv)."),
    store: Path = _STORE,
) -> None:
    """Record ground-truth labels that arrived later; accuracy by slice is recomputed."""
    with _open(store) as mon:
        n = mon.record_labels(labels)
        console.print(f"Recorded {n:,} label(s); {mon.alerts().height} alert(s) in the store.")


@app.command("status")
@user_errors
def status_cmd(
    store: Path = _STORE,
    fmt: str = typer.Option(
        "table", "--format", help="How to print: table (default) or json (for scripts)."
    ),
) -> None:
    """Batches, rows, windows and current alerts of a store."""
    if fmt not in ("table", "json"):
        raise InvalidParameterError(
            f"--format must be 'table' or 'json', received {fmt!r}. Use --format json to get "
            "machine-readable output."
        )
    with _open(store) as mon:
        status = mon.status()
        if fmt == "json":
            console.print_json(json.dumps(status, default=str))
            return
        console.print(
            f"[bold]{esc(status['store'])}[/]: {status['n_batches']} batch(es), "
            f"{status['n_rows']:,} rows, {status['n_labels']:,} labels, "
            f"{status['n_windows']} window(s) of {esc(status['window'])}"
            + (
                f" ({status['first_window']:%Y-%m-%d} .. {status['last_window']:%Y-%m-%d})"
                if status["first_window"] is not None
                else ""
            )
        )
        alerts = mon.alerts()
        if alerts.height:
            console.print(_alert_table(alerts, f"{alerts.height} alert(s)"))
        else:
            console.print("[green]No alerts.[/]")


@app.command("report")
@user_errors
def report_cmd(
    store: Path = _STORE,
    out: list[Path] = typer.Option(
        [Path("monitor.html")], "--out", "-o", help=".html, .md or .json (repeatable)."
    ),
) -> None:
    """Write the dashboard (self-contained HTML), a Markdown summary or JSON."""
    for path in out:
        ensure_writable(path, "--out")
    with _open(store) as mon:
        for path in out:
            mon.report(path)
            console.print(f"Wrote {esc(path)}")
