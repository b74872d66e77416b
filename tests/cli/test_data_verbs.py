"""The data verbs of the CLI: demo-data, info, history, diff, and how errors look."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli") / "demo"
    result = runner.invoke(app, ["demo-data", str(d)])
    assert result.exit_code == 0, result.output
    return d


def test_demo_data_writes_and_commits(demo_dir: Path) -> None:
    ds = Dataset.open(demo_dir)
    assert ds.version == 1
    assert len(ds) == 1759
    assert (demo_dir / "ground_truth.parquet").is_file()


def test_info_shows_counts_and_slices(demo_dir: Path) -> None:
    result = runner.invoke(app, ["info", str(demo_dir)])
    assert result.exit_code == 0, result.output
    assert "1759 samples" in result.output
    assert "version 1" in result.output
    for column in ("scanner", "vendor", "writer_group"):
        assert column in result.output


def test_history_and_diff_after_a_commit(demo_dir: Path, tmp_path: Path) -> None:
    ds = Dataset.open(demo_dir)
    sid = ds.sample_ids[0]
    old = ds.manifest["label"][0]
    new = "1" if old != "1" else "2"
    ds.relabel([sid], [new], reason="cli test", source="test")
    ds.commit("cli test relabel")
    hist = runner.invoke(app, ["history", str(demo_dir)])
    assert hist.exit_code == 0, hist.output
    assert "cli test relabel" in hist.output and "demo data" in hist.output
    out = tmp_path / "diff.csv"
    diff = runner.invoke(app, ["diff", str(demo_dir), "1", "--out", str(out)])
    assert diff.exit_code == 0, diff.output
    assert "1 field changes" in diff.output
    text = out.read_text().splitlines()
    assert text[0] == "sample_id,change,field,old,new"
    assert text[1] == f"{sid},modified,label,{old},{new}"


@pytest.mark.parametrize("verb", ["demo-data", "info", "history", "diff"])
def test_every_verb_has_help(verb: str) -> None:
    result = runner.invoke(app, [verb, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_user_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "datacentric", "info", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "does not exist" in proc.stderr
    assert proc.stdout == ""


def test_history_without_store_says_how_to_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "datacentric", "history", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "no committed versions" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_version_is_a_clear_error(demo_dir: Path) -> None:
    result = runner.invoke(app, ["info", str(demo_dir), "--rev", "99"])
    assert result.exit_code == 1
    assert "version 99 does not exist" in result.output
