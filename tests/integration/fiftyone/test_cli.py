"""``datacentric review fiftyone DIR``: push the demo scan, then pull a review back."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from tests.integration.fiftyone.conftest import Demo

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("mongod_uri")


def test_review_fiftyone_pushes_and_pulls(demo: Demo, tmp_path: Path) -> None:
    root = demo.copy(tmp_path / "digits")
    args = ["review", "fiftyone", str(root), "--name", "dc-test-cli", "--no-brain"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "1737 samples" in res.output and "worst-issues" in res.output
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
