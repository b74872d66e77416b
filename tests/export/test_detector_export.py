"""Detector export: ONNX fp32 boxes equal torch's, int8 is smaller, the mAP@0.5 slice gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("onnxruntime")

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.export import (
    DetectorExportReport,
    OnnxDetector,
    export_detector,
    export_detector_onnx,
    quantize_dynamic_model,
    quantize_static_model,
)
from datacentric.export.detector import _inputs
from datacentric.testing import check_parameter_constraints
from datacentric.train import CenterNetRecipe
from datacentric.train.detector import BOX_PREDICTION_SCHEMA

TINY = {"image_size": 48, "width": 8, "epochs": 2, "batch_size": 8}
FAST = {"n_boot": 100, "latency_repeats": 2, "min_n": 1, "slices": []}


@pytest.fixture(scope="module")
def fitted(scenes: Dataset) -> CenterNetRecipe:
    return CenterNetRecipe(**TINY).fit(scenes.filter(pl.col("split") != "test"), seed=0)


@pytest.fixture(scope="module")
def files(fitted: CenterNetRecipe, scenes: Dataset, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("onnx")
    x = _inputs(fitted, scenes, fitted.image_size)
    fp32 = export_detector_onnx(fitted, out / "fp32.onnx", x[:2])
    dynamic = quantize_dynamic_model(fp32, out / "dyn.onnx")
    static = quantize_static_model(fp32, out / "static.onnx", x[:16])
    return {"fp32": fp32, "dynamic": dynamic, "static": static}


def test_fp32_onnx_boxes_equal_torch_boxes(
    scenes: Dataset, fitted: CenterNetRecipe, files: dict[str, Path]
) -> None:
    torch_pred = fitted.predict(scenes)
    onnx_pred = OnnxDetector(fitted, files["fp32"]).predict(scenes)
    a, b = torch_pred.boxes, onnx_pred.boxes
    assert dict(b.schema) == BOX_PREDICTION_SCHEMA and a.height > len(scenes)  # many boxes
    assert b["sample_id"].to_list() == a["sample_id"].to_list()
    assert b["label"].to_list() == a["label"].to_list()
    coords = ["x", "y", "w", "h"]
    assert np.abs(a.select(coords).to_numpy() - b.select(coords).to_numpy()).max() <= 1e-4
    assert np.abs(a["score"].to_numpy() - b["score"].to_numpy()).max() <= 1e-5
    np.testing.assert_allclose(onnx_pred.embeddings, torch_pred.embeddings, atol=1e-4)
    assert onnx_pred.sample_ids == scenes.sample_ids


def test_int8_runs_and_is_at_most_half_the_size(
    scenes: Dataset, fitted: CenterNetRecipe, files: dict[str, Path]
) -> None:
    fp32_size = files["fp32"].stat().st_size
    torch_boxes = fitted.predict(scenes).boxes
    for kind in ("dynamic", "static"):
        assert files[kind].stat().st_size <= 0.5 * fp32_size, kind
        pred = OnnxDetector(fitted, files[kind]).predict(scenes)
        assert dict(pred.boxes.schema) == BOX_PREDICTION_SCHEMA
        assert set(pred.boxes["sample_id"].to_list()) <= set(scenes.sample_ids)
        # quantized weights and activations move the scores: not the torch boxes bit for bit
        assert not pred.boxes.equals(torch_boxes), kind


def _own_truth(scenes: Dataset, fitted: CenterNetRecipe) -> Dataset:
    """The scenes with the torch model's own boxes as the truth: torch scores mAP@0.5 1.0, so
    any change of the boxes by the int8 model (a box moved, dropped or added) can only lower
    it."""
    found = fitted.predict(scenes).boxes
    ann = (
        found.drop("score")
        .with_row_index("annotation_id")
        .with_columns(pl.col("annotation_id").cast(pl.Utf8))
    )
    return Dataset(scenes.manifest, scenes.classes, scenes.root, annotations=ann)


def test_gate_fails_on_a_slice_drop_and_passes_with_a_loose_bound(
    scenes: Dataset, fitted: CenterNetRecipe, tmp_path: Path
) -> None:
    ds = _own_truth(scenes, fitted)
    targets = "onnx-fp32,onnx-int8-static"
    strict = export_detector(
        fitted, ds, targets=targets, out_dir=tmp_path / "a", max_drop=0.0, **FAST
    )
    assert isinstance(strict, DetectorExportReport)
    assert strict.baseline.map50 == pytest.approx(1.0)
    fp32, int8 = strict["onnx-fp32"], strict["onnx-int8-static"]
    assert fp32.passed and fp32.map50 == pytest.approx(1.0)
    assert fp32.extra["max_abs_box_diff_px"] <= 1e-4
    assert int8.map50 < 1.0 and int8.passed is False
    assert strict.failed_targets == ["onnx-int8-static"] and not strict.passed
    assert "overall" in int8.failing_slices
    row = int8.verdict.filter(pl.col("slice") == "overall").row(0, named=True)  # type: ignore[union-attr]
    assert row["diff"] == pytest.approx(int8.map50 - 1.0)
    assert row["ci_low"] <= row["diff"] <= row["ci_high"] <= 0.0
    assert set(int8.latency_ms) == {"p50@1", "p95@1", "p50@16", "p95@16"}
    assert int8.size_ratio <= 0.5 and fp32.size_ratio == 1.0
    manifest = json.loads((tmp_path / "a" / "export.json").read_text())
    assert manifest["gate"] == {"passed": False, "failed_targets": ["onnx-int8-static"]}
    assert "outside the graph" in manifest["recipe"]["output"]["post_processing"]
    assert "**FAIL**" in (tmp_path / "a" / "export.md").read_text()
    page = (tmp_path / "a" / "export.html").read_text()  # the report (tests/report/ checks it)
    assert "Why the gate failed" in page and page.count('class="num hot"') == len(
        int8.failing_slices
    )

    loose = export_detector(
        fitted, ds, targets="onnx-int8-static", out_dir=tmp_path / "b", max_drop=1.0, **FAST
    )
    assert loose.passed and loose["onnx-int8-static"].map50 == pytest.approx(int8.map50)
    assert not (tmp_path / "b" / "model-fp32.onnx").exists()  # only the requested targets


def test_bad_arguments(scenes: Dataset, fitted: CenterNetRecipe, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"received an unfitted CenterNetRecipe"):
        export_detector(CenterNetRecipe(), scenes, out_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match=r"none repeated; received 'pruned-50'"):
        export_detector(fitted, scenes, targets="pruned-50", out_dir=tmp_path)
    with pytest.raises(InvalidDatasetError, match=r"no images in split 'valid'"):
        export_detector(fitted, scenes, split="valid", out_dir=tmp_path)
    other = Dataset(scenes.manifest, ["a", "b"], scenes.root, annotations=None)
    with pytest.raises(InvalidDatasetError, match=r"the model's classes"):
        export_detector(fitted, other, out_dir=tmp_path)
    assert (
        check_parameter_constraints(export_detector, {"ds": scenes}) == 34
    )  # targets: 5 bad values


def test_cli_export_on_a_detection_dataset(
    scenes: Dataset, fitted: CenterNetRecipe, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from tests.export.test_cli_export import _app

    scenes.commit("detection fixture")
    weights = tmp_path / "model.pt"
    fitted.save(weights)
    args = ["export", str(scenes.root), "--out", str(tmp_path / "out"), "--weights", str(weights)]
    res = CliRunner().invoke(_app(), [*args, "--targets", "onnx-fp32", "--min-n", "1"])
    assert res.exit_code == 0, res.output
    assert "mAP@0.5" in res.output and "onnx-fp32" in res.output
    assert "export.html" in "".join(res.output.split())  # the report's path is printed
    assert (tmp_path / "out" / "export.html").read_text().startswith("<!DOCTYPE html>")
    manifest = json.loads((tmp_path / "out" / "export.json").read_text())
    assert manifest["format"] == "datacentric.export.detector"
    assert manifest["gate"] == {"passed": True, "failed_targets": []}
    assert manifest["artefacts"][0]["max_abs_box_diff_px"] <= 1e-4
    res = CliRunner().invoke(_app(), [*args, "--targets", "pruned-50"])
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert "parameter --targets must be a list or a comma-separated string of detector" in out
    assert "received 'pruned-50'" in out
