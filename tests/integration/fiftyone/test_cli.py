"""``datacentric review fiftyone DIR``: push the demo scan, then pull a review back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from datacentric.integrations.fiftyone.app import free_port
from tests.integration.fiftyone.conftest import Demo

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("mongod_uri")


def test_review_fiftyone_pushes_and_pulls(demo: Demo, tmp_path: Path) -> None:
    root = demo.copy(tmp_path / "digits")
    args = ["review", "fiftyone", str(root), "--name", "dc-test-cli", "--no-brain"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "1759 samples" in res.output and "worst-issues" in res.output
    assert "slice-vendor-vendor-c" in res.output  # DIR/predictions.npz was found

    import fiftyone as fo

    fds = fo.load_dataset("dc-test-cli")
    sid = demo.scan.flagged("label")["sample_id"][0]
    fds.match({"sample_id": sid}).tag_samples("relabel:0")
    res = runner.invoke(app, [*args[:5], "--pull", "--reviewer", "bob"])
    assert res.exit_code == 0, res.output
    assert "Committed version 2" in res.output and "fiftyone:bob" in res.output
    head = Dataset.open(root)
    assert head.version == 2 and head.changes()["source"].to_list() == ["fiftyone:bob"]
    res = runner.invoke(app, [*args[:5], "--pull", "--reviewer", "bob"])
    assert res.exit_code == 0 and "Nothing new to pull" in res.output

    # A second push of the same data rewrites nothing.
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output


def test_review_push_pull_through_the_fiftyone_backend(demo: Demo, tmp_path: Path) -> None:
    root = demo.copy(tmp_path / "digits")
    scan = root / "scan.parquet"
    push = ["review", "push", str(root), "--to", "fiftyone", "--name", "dc-test-verbs"]
    res = runner.invoke(
        app, [*push, "--scan", str(scan), "--no-brain", "--option", "worst_slices=2"]
    )
    assert res.exit_code == 0, res.output
    assert "FiftyOne dataset dc-test-verbs: 1759 samples (added 1759" in res.output

    import fiftyone as fo

    fds = fo.load_dataset("dc-test-verbs")
    assert len([v for v in fds.list_saved_views() if v.startswith("slice-")]) == 2
    assert "uniqueness" not in fds.get_field_schema()
    sid = demo.scan.flagged("label")["sample_id"][0]
    fds.match({"sample_id": sid}).tag_samples("relabel:0")
    pull = ["review", "pull", str(root), "--from", "fiftyone", "--name", "dc-test-verbs"]
    res = runner.invoke(app, [*pull, "--reviewer", "carol"])
    assert res.exit_code == 0, res.output
    assert "Committed version 2" in res.output and "fiftyone:carol" in res.output
    lineage = Dataset.open(root).lineage(sid)
    assert lineage.filter(pl.col("field") == "label")["new"].to_list() == ["0"]
    res = runner.invoke(app, pull)
    assert res.exit_code == 0, res.output
    assert "Nothing new to pull (0 decision(s) already applied; 0 sample(s)" in res.output
    res = runner.invoke(app, [*pull, "--option", "full=true"])
    assert "Nothing new to pull (1 decision(s) already applied)" in res.output
    # no --scan: DIR/scan.parquet; nothing changed but the relabelled sample
    res = runner.invoke(app, [*push, "--no-brain", "--option", "worst_slices=2"])
    assert res.exit_code == 0, res.output
    assert f"updated 1, deleted 0, unchanged {len(demo.ds) - 1}" in res.output


def test_review_fiftyone_launch_serves_the_app_until_interrupted(
    demo: Demo, tmp_path: Path
) -> None:
    root = demo.copy(tmp_path / "digits")
    port = free_port()
    cmd = [sys.executable, "-m", "datacentric", "review", "fiftyone", str(root)]
    cmd += ["--name", "dc-test-launch", "--no-brain", "--launch", "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        url = None
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("FiftyOne App: "):
                url = line.split()[2]
        assert url == f"http://127.0.0.1:{port}/datasets/dc-test-launch?view=worst-issues"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200 and b"FiftyOne" in resp.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(OSError):  # the App is gone
        urllib.request.urlopen(url, timeout=5)
