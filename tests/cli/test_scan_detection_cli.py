"""``datacentric scan`` on a detection dataset without --predicted-boxes: the detector is
cross-validated and its boxes saved next to --out, ready for --predicted-boxes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from datacentric.cli import app
from datacentric.datasets import load_detection_demo
from datacentric.issues import ScanResult

runner = CliRunner()


def test_scan_cross_validates_and_saves_predicted_boxes(tmp_path: Path) -> None:
    root = tmp_path / "det"
    ds = load_detection_demo(root, n_scenes=8, size=48)
    out = tmp_path / "out"
    out.mkdir()
    argv = ["scan", str(root), "--out", str(out / "scan.parquet"),
            "--finders", "swapped_box,badly_located_box", "--folds", "2",
            "--engine", "sequential"]  # fmt: skip
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    saved = out / "predicted_boxes.parquet"
    assert "Saved the cross-validated predicted boxes" in result.stdout and saved.is_file()
    boxes = pl.read_parquet(saved)
    assert {"sample_id", "label", "x", "y", "w", "h", "score"} <= set(boxes.columns)
    assert set(boxes["sample_id"]) <= set(ds.sample_ids)
    scanned = ScanResult.load(out / "scan.parquet")
    assert scanned.meta["predicted_boxes"] == "cross-validation (2 folds, centernet)"
    assert not scanned.skipped
    # read back: given boxes, no cross-validation, nothing saved again
    saved.rename(tmp_path / "given.parquet")
    again = runner.invoke(app, [*argv[:-4], "--predicted-boxes", str(tmp_path / "given.parquet"),
                                "--no-cv"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert ScanResult.load(out / "scan.parquet").meta["predicted_boxes"] == "given"
    assert not saved.exists()
