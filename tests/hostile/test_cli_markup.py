"""User strings that look like rich markup or emoji codes are printed literally by the CLI.

Labels, class names, commit messages, slice names, sample ids and paths with ``[/]``,
``[red]x[/red]``, ``[bold``, ``:cat:`` or emoji must neither crash a verb (rich raises
``MarkupError`` on a stray closing tag) nor be swallowed or restyled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image
from typer.testing import CliRunner

from datacentric import Dataset
from datacentric.cli import app
from datacentric.cli._common import esc
from datacentric.slices.metrics import METRICS_SCHEMA
from datacentric.slices.result import SliceMetrics

runner = CliRunner()

CLASSES = ("[/]", "[red]x[/red]", "[bold 🐱 :cat:")
SITES = ("[red]s[/red]", "<b>|[/]")
MESSAGE = "fix [/] and [red]y[/red] :smile: 🐱 [bold"
NEW_LABEL = CLASSES[1]


def _ok(result) -> str:  # type: ignore[no-untyped-def]
    shown = f"exit={result.exit_code}\nstdout={result.stdout}\nstderr={result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert result.exit_code == 0, shown
    return str(result.stdout)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed dataset in a folder whose path holds markup, with markup in its class
    names, metadata values and commit messages (version 2 relabels one sample)."""
    root = tmp_path_factory.mktemp("markup") / "d[red]x[/red] [bold"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        rel = f"images/{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / rel)
        rows.append(
            {
                "sample_id": f"s[/]{i:03d}",
                "image": rel,
                "label": CLASSES[i % 3],
                "split": "test" if i % 4 == 3 else "train",
                "site": SITES[i % 2],
            }
        )
    pl.DataFrame(rows).write_csv(root / "manifest.csv")
    ds = Dataset.from_folder(root, classes=list(CLASSES))
    ds.commit("first [/] commit")
    ds.relabel(["s[/]000"], NEW_LABEL, reason="markup [/] reason")
    ds.commit(MESSAGE)
    return root


def test_esc_round_trips_through_rich() -> None:
    from rich.console import Console

    console = Console(width=200, emoji=False)
    for text in (*CLASSES, *SITES, MESSAGE, "a\\", "C:\\dir\\[red]", "\\\\", "[", "]"):
        with console.capture() as cap:
            console.print(f"[bold]{esc(text)}[/] after", highlight=False)
        assert cap.get() == f"{text} after\n", text


def test_info_prints_labels_and_path_literally(hostile: Path) -> None:
    out = _ok(runner.invoke(app, ["info", str(hostile)]))
    for text in (*CLASSES, "[red]s[/red]", str(hostile)):
        assert text in out, text


def test_history_prints_commit_messages_literally(hostile: Path) -> None:
    out = _ok(runner.invoke(app, ["history", str(hostile)]))
    assert MESSAGE in out and "first [/] commit" in out


def test_diff_prints_changed_values_literally(hostile: Path) -> None:
    out = _ok(runner.invoke(app, ["diff", str(hostile), "1"]))
    assert "s[/]000" in out and NEW_LABEL in out and CLASSES[0] in out


def test_scan_summary_prints_path_literally(hostile: Path, tmp_path: Path) -> None:
    argv = [
        "scan", str(hostile), "--out", str(tmp_path / "s[/].parquet"),
        "--finders", "integrity,imbalance", "--no-cv",
    ]  # fmt: skip
    out = _ok(runner.invoke(app, argv))
    squeezed = "".join(out.split())  # the table title wraps the path at the table width
    assert "".join(f"Scan of {hostile}".split()) in squeezed
    assert str(tmp_path / "s[/].parquet") in out


def test_slices_evaluate_prints_slice_names_literally(hostile: Path, tmp_path: Path) -> None:
    ds = Dataset.open(hostile)
    preds = tmp_path / "p.parquet"
    ds.manifest.select("sample_id", pl.col("label").alias("pred")).write_parquet(preds)
    argv = [
        "slices", "evaluate", str(hostile), "-p", str(preds), "--split", "all",
        "--out", str(tmp_path / "m.json"), "--min-n", "1",
    ]  # fmt: skip
    out = _ok(runner.invoke(app, argv))
    assert "site=[red]s[/red]" in out and "site=<b>|[/]" in out


def _metrics(values: dict[str, float]) -> SliceMetrics:
    rows = [
        {"slice": s, "n": 500, "metric": "accuracy", "support": 500, "value": v,
         "ci_low": None, "ci_high": None, "delta_vs_overall": 0.0, "p_value": None,
         "low_support": False}
        for s, v in values.items()
    ]  # fmt: skip
    return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))


SLICE = "site=[red]x[/red] [/] <script>|x"


def test_slices_check_prints_slice_names_literally(tmp_path: Path) -> None:
    base = _metrics({"overall": 0.9, SLICE: 0.9}).save(tmp_path / "base.json")
    good = _metrics({"overall": 0.9, SLICE: 0.9}).save(tmp_path / "good.json")
    bad = _metrics({"overall": 0.9, SLICE: 0.5}).save(tmp_path / "bad.json")
    md = tmp_path / "gate [/].md"
    argv = ["slices", "check", "--baseline", str(base), "--markdown", str(md)]
    out = _ok(runner.invoke(app, [*argv, "--current", str(good)]))
    assert "Slice gate passed" in out
    failed = runner.invoke(app, [*argv, "--current", str(bad)])
    assert failed.exit_code == 1 and "Traceback" not in failed.stdout + failed.stderr
    assert f"FAIL {SLICE}:" in failed.stdout
    assert "&lt;script&gt;\\|x" in md.read_text() and "<script>" not in md.read_text()


def test_monitor_alert_table_prints_slices_literally() -> None:
    import datetime as dt

    from rich.console import Console

    from datacentric.cli.monitor import _alert_table

    n = 35
    alerts = pl.DataFrame(
        {
            "window_start": [dt.datetime(2024, 5, 1)] * n,
            "slice": [SLICE] * n,
            "metric": ["[bold"] * n,
            "statistic": ["ks_p_value"] * n,
            "value": [0.001] * n,
            "severity": ["critical"] * n,
        }
    )
    console = Console(width=300, emoji=False)
    with console.capture() as cap:
        console.print(_alert_table(alerts, f"Alerts of {esc('[/]batch')}"))
    text = cap.get()
    assert SLICE in text and "[bold" in text and "[/]batch" in text
    assert "… and 5 more alert(s)" in text  # 30 rows shown of 35


def test_error_line_keeps_markup_in_paths(tmp_path: Path) -> None:
    missing = tmp_path / "[red]nope[/red]"
    result = runner.invoke(app, ["info", str(missing)])
    assert result.exit_code == 1 and "Traceback" not in result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(missing) in lines[0]
