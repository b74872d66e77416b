"""``datacentric review fiftyone``: the errors a user meets before any database is touched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from datacentric import Dataset
from datacentric.cli import app
from datacentric.issues import scan

runner = CliRunner()


def _dataset_dir(root: Path) -> Path:
    imgs = np.random.default_rng(0).integers(0, 255, (6, 8, 8), dtype=np.uint8)
    Dataset.from_arrays(imgs, [0, 1] * 3, ["cat", "dog"]).to_folder(root)
    return root


def test_no_scan_says_to_run_scan_first(tmp_path: Path) -> None:
    d = _dataset_dir(tmp_path / "data")
    res = runner.invoke(app, ["review", "fiftyone", str(d)])
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert "no scan found" in out and f"datacentric scan {d}" in out


def test_missing_scan_file_is_named(tmp_path: Path) -> None:
    d = _dataset_dir(tmp_path / "data")
    res = runner.invoke(app, ["review", "fiftyone", str(d), "--scan", str(tmp_path / "x.parquet")])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_bad_predictions_file_is_refused(tmp_path: Path) -> None:
    d = _dataset_dir(tmp_path / "data")
    scan(Dataset.from_folder(d), finders=["integrity"], cross_validate=False).save(
        d / "scan.parquet"
    )
    bad = tmp_path / "preds.txt"
    bad.write_text("x")
    res = runner.invoke(app, ["review", "fiftyone", str(d), "--predictions", str(bad)])
    assert res.exit_code == 1
    assert "--predictions must be an existing .npz" in " ".join(res.output.split())


def test_errors_come_before_fiftyone_is_imported(tmp_path: Path) -> None:
    d = _dataset_dir(tmp_path / "data")
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom datacentric.cli import app\n"
        f"r = CliRunner().invoke(app, ['review', 'fiftyone', {str(d)!r}])\n"
        "print(r.exit_code, 'fiftyone' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "False"]


def test_help_lists_the_verb() -> None:
    res = runner.invoke(app, ["review", "fiftyone", "--help"])
    assert res.exit_code == 0
    assert "--launch" in res.output and "--pull" in res.output
