"""``datacentric guide DIR``: a draft guide from a saved scan, with its example images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from datacentric.integrations.guide import AnnotationGuide
from datacentric.issues.result import ScanResult

runner = CliRunner()


def _dataset(tmp_path: Path) -> Path:
    ds = Dataset.from_arrays(
        np.random.default_rng(0).integers(0, 255, (4, 8, 8), dtype=np.uint8),
        ["1", "7", "1", "7"],
        classes=["1", "7"],
    ).to_folder(tmp_path / "ds")
    ds.commit("initial")
    assert ds.root is not None
    return ds.root


def test_guide_from_scan_copies_example_images(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    ds = Dataset.open(root)
    issues = pl.DataFrame(
        {
            "sample_id": ["0", "1"],
            "issue_type": ["label", "label"],
            "is_issue": [True, True],
            "severity": [0.9, 0.8],
            "suggested_label": ["7", "1"],
            "detail": ["", ""],
        }
    )
    scan_path = ScanResult(
        issues, ds.manifest.select("sample_id", "label", "split"), ds.classes
    ).save(tmp_path / "scan.parquet")
    out = tmp_path / "guides" / "digits.md"
    res = runner.invoke(
        app,
        [
            "guide",
            str(root),
            "--scan",
            str(scan_path),
            "--out",
            str(out),
            "--title",
            "Ones and sevens",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "2 classes, 1 ambiguous cases" in res.output
    g = AnnotationGuide.load(out)
    assert g.title == "Ones and sevens" and g.class_names == ["1", "7"]
    case = g.ambiguous[0]
    assert (case.title, case.sample_ids) == ("1 vs 7", ["0", "1"])
    assert case.images == ["digits_images/0.png", "digits_images/1.png"]
    assert all((out.parent / p).is_file() for p in case.images)

    again = runner.invoke(app, ["guide", str(root), "--scan", str(scan_path), "--out", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output


def test_guide_without_scan_prints_the_classes(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    res = runner.invoke(app, ["guide", str(root)])
    assert res.exit_code == 0, res.output
    assert "No scan found" in res.output and "- **7**: TODO: define" in res.output
    assert AnnotationGuide.from_markdown(res.stdout).class_names == ["1", "7"]
