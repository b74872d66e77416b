from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from datacentric import Dataset
from datacentric.cli.export import register
from tests.export.test_compress import _plant_regression
from tests.export.test_forgotten import _plant_class_regression


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps "export" a named sub-command
        pass

    return app


def test_cli_export_passes_and_writes_manifest(
    digits_ds: Dataset, weights: Path, tmp_path: Path
) -> None:
    root = digits_ds.root
    assert root is not None
    out = tmp_path / "out"
    args = ["export", str(root), "--out", str(out), "--weights", str(weights)]
    res = CliRunner().invoke(_app(), [*args, "--targets", "onnx-fp32", "--min-n", "5"])
    assert res.exit_code == 0, res.output
    assert "onnx-fp32" in res.output
    assert json.loads((out / "export.json").read_text())["gate"]["passed"] is True


def test_cli_export_exits_1_on_slice_regression(
    digits_ds: Dataset, weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = digits_ds.root
    assert root is not None
    _plant_regression(monkeypatch, digits_ds, "b")
    args = ["export", str(root), "--out", str(tmp_path), "--weights", str(weights)]
    res = CliRunner().invoke(_app(), [*args, "--targets", "onnx-fp32", "--min-n", "5"])
    assert res.exit_code == 1
    assert "Gate failed" in res.output


def test_cli_unknown_target_is_a_clear_error(
    digits_ds: Dataset, weights: Path, tmp_path: Path
) -> None:
    root = digits_ds.root
    assert root is not None
    args = ["export", str(root), "--out", str(tmp_path), "--weights", str(weights)]
    res = CliRunner().invoke(_app(), [*args, "--targets", "bogus"])
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert "datacentric export: parameter --targets must be a list or a comma-separated" in out
    assert "each one of onnx-fp32" in out and "received 'bogus' (str)" in out
    res = CliRunner().invoke(_app(), [*args, "--recipe", "vgg"])
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert "parameter --recipe must be one of 'resnet18', 'small_cnn'; received 'vgg'" in out


def test_cli_export_qat_and_distilled_targets(
    digits_ds: Dataset, weights: Path, tmp_path: Path
) -> None:
    root = digits_ds.root
    assert root is not None
    out = tmp_path / "out"
    args = ["export", str(root), "--out", str(out), "--weights", str(weights), "--min-n", "5"]
    targets = "qat-int8,distilled-small_cnn-w4-int8"
    res = CliRunner().invoke(_app(), [*args, "--targets", targets, "--max-drop", "1"])
    assert res.exit_code == 0, res.output
    # the target column keeps its longest name whole, even in CliRunner's 80 columns
    assert "qat-int8" in res.output and "distilled-small_cnn-w4-int8" in res.output
    manifest = json.loads((out / "export.json").read_text())
    qat, student = manifest["artefacts"]
    # both trained on the train split (200 rows of the fixture), not on every non-test row
    assert qat["n_train"] == len(digits_ds.split("train")) == 200
    assert student["student"]["params"]["width"] == 4
    assert sorted(p.name for p in out.glob("*.onnx")) == [
        "model-distilled-small_cnn-w4-int8.onnx",
        "model-qat-int8.onnx",
    ]


def test_cli_export_exits_1_on_class_regression(
    digits_ds: Dataset, weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = digits_ds.root
    assert root is not None
    labels = digits_ds.filter(pl.col("split") == "test").manifest["label"].to_list()
    _plant_class_regression(monkeypatch, labels, "0")  # digits' 0s: torch gets most right
    args = ["export", str(root), "--out", str(tmp_path), "--weights", str(weights)]
    res = CliRunner().invoke(
        _app(), [*args, "--targets", "onnx-fp32", "--min-n", "5", "--max-drop", "0.3"]
    )
    assert res.exit_code == 1, res.output
    out = " ".join(res.output.split())
    assert "worst class Δ" in out and "FAIL (class)" in out
    assert "a class's recall dropped more than 0.300" in out
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert manifest["artefacts"][0]["worst_class"] == "0"
