"""Compacted int8 ONNX files: the same outputs bit for bit, fewer bytes, and where they go."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("onnxruntime")

from datacentric.dataset import Dataset
from datacentric.export import OnnxDetector, export_detector_onnx, export_onnx
from datacentric.export.detector import _inputs
from datacentric.export.onnx import fitted_net, normalised_inputs, open_session
from datacentric.export.quantize import (
    compact_quantized_model,
    onnx_size_breakdown,
    quantize_dynamic_model,
    quantize_static_model,
)
from datacentric.train import CenterNetRecipe, SmallCNNRecipe

# the default detector's layers (width 16: ~140k parameters, a 564 kB fp32 file); the
# file's bytes do not depend on the image size, so small images keep the test quick
DETECTOR = {"image_size": 48, "width": 16, "epochs": 1, "batch_size": 8}


@pytest.fixture(scope="module")
def detector(scenes: Dataset) -> CenterNetRecipe:
    return CenterNetRecipe(**DETECTOR).fit(scenes.filter(pl.col("split") != "test"), seed=0)


@pytest.fixture(scope="module")
def det_files(
    detector: CenterNetRecipe, scenes: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("onnx")
    x = _inputs(detector, scenes, detector.image_size)
    fp32 = export_detector_onnx(detector, out / "fp32.onnx", x[:2])
    return {
        "fp32": fp32,
        "static": quantize_static_model(fp32, out / "static.onnx", x[:16]),
        "static-raw": quantize_static_model(fp32, out / "static-raw.onnx", x[:16], compact=False),
        "dynamic": quantize_dynamic_model(fp32, out / "dyn.onnx"),
        "dynamic-raw": quantize_dynamic_model(fp32, out / "dyn-raw.onnx", compact=False),
    }


def _outputs(path: Path, x: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(o) for o in open_session(path).run(None, {"input": x})]


def test_compacted_detector_gives_the_same_outputs_and_boxes(
    detector: CenterNetRecipe, scenes: Dataset, det_files: dict[str, Path]
) -> None:
    x = _inputs(detector, scenes, detector.image_size)
    for kind in ("static", "dynamic"):
        raw, small = det_files[f"{kind}-raw"], det_files[kind]
        assert small.stat().st_size < raw.stat().st_size, kind
        for a, b in zip(_outputs(raw, x), _outputs(small, x), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b), kind
        boxes = OnnxDetector(detector, small).predict(scenes).boxes
        assert boxes.height > 0 and boxes.equals(OnnxDetector(detector, raw).predict(scenes).boxes)


def test_detector_int8_is_at_most_0_3_of_fp32(det_files: dict[str, Path]) -> None:
    fp32 = det_files["fp32"].stat().st_size
    assert 540_000 < fp32 < 590_000  # the size class the property is about
    for kind in ("static", "dynamic"):
        assert det_files[kind].stat().st_size <= 0.3 * fp32, kind


def test_breakdown_accounts_for_every_byte_and_shows_what_compaction_removed(
    det_files: dict[str, Path],
) -> None:
    raw, small = (onnx_size_breakdown(det_files[k]) for k in ("static-raw", "static"))
    for b, path in ((raw, det_files["static-raw"]), (small, det_files["static"])):
        assert b["total"] == path.stat().st_size
        parts = sum(v["bytes"] for v in b["initializers"].values())
        parts += b["nodes"]["bytes"] + b["value_info"] + b["metadata"] + b["other"]
        assert parts == b["total"] and b["other"] >= 0
        # 12 int8 weights and the float first convolution, kept in float on purpose
        assert b["initializers"]["weight_int8"]["count"] == 12
        assert b["initializers"]["float_weight"]["count"] == 1
        assert b["float_compute_nodes"]["Conv"] == 1
    assert raw["value_info"] > 0 and small["value_info"] == 0
    assert raw["initializers"]["bias_zero_point"]["count"] == 11
    assert "bias_zero_point" not in small["initializers"]
    assert "weight_zero_point" not in small["initializers"]
    assert (
        small["initializers"]["activation_zero_point"]
        == raw["initializers"]["activation_zero_point"]
    )
    assert small["nodes"]["ops"] == raw["nodes"]["ops"]  # no node added or removed
    fp32 = onnx_size_breakdown(det_files["fp32"])
    assert fp32["value_info"] == 0 and set(fp32["initializers"]) == {"float_weight", "float_bias"}


def test_compaction_keeps_classification_logits(
    digits_ds: Dataset, recipe: SmallCNNRecipe, tmp_path: Path
) -> None:
    fn = fitted_net(recipe)
    x = normalised_inputs(fn, digits_ds)
    fp32 = export_onnx(fn.net, tmp_path / "fp32.onnx", x[:2])
    raw = quantize_static_model(fp32, tmp_path / "raw.onnx", x[:64], compact=False)
    copy = tmp_path / "small.onnx"
    copy.write_bytes(raw.read_bytes())
    small = compact_quantized_model(copy)
    assert small.stat().st_size < raw.stat().st_size
    assert np.array_equal(_outputs(raw, x)[0], _outputs(small, x)[0])
    # compaction is what quantize_static_model does by default: the same file
    again = quantize_static_model(fp32, tmp_path / "again.onnx", x[:64])
    assert again.read_bytes() == small.read_bytes()
