"""The distilled-<student> targets of compress, and the target names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datacentric import Dataset
from datacentric.exceptions import CalibrationDataError, InvalidParameterError
from datacentric.export import compress, parse_targets
from datacentric.export.onnx import (
    fitted_net,
    normalised_inputs,
    onnx_logits,
    open_session,
    torch_logits,
)
from datacentric.train import SmallCNNRecipe

FAST = {"latency_repeats": 2, "min_n": 5, "max_drop": 1.0}


def test_target_names() -> None:
    names = "qat-int8, distilled-small_cnn, distilled-small_cnn-w8-int8, distilled-small_cnn-int8"
    assert parse_targets(names) == [
        "qat-int8",
        "distilled-small_cnn",
        "distilled-small_cnn-w8-int8",
        "distilled-small_cnn-int8",
    ]
    assert parse_targets("distilled-small_cnn-w8-e5-int8") == ["distilled-small_cnn-w8-e5-int8"]
    for bad in (
        "distilled-resnet50",
        "distilled-small_cnn-w0",
        "distilled-small_cnn-e0",
        "distilled-small_cnn-e5-w8",  # width first
        "distilled-small_cnn-8",
        "qat",
    ):
        with pytest.raises(InvalidParameterError, match="distilled-small_cnn\\[-w<width>\\]"):
            parse_targets(bad)


def test_distilled_student_fp32_and_int8(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path
) -> None:
    targets = "distilled-small_cnn-w4-e4,distilled-small_cnn-w4-e4-int8"
    rep = compress(recipe, digits_ds, targets=targets, out_dir=tmp_path, **FAST)
    fp32, int8 = rep["distilled-small_cnn-w4-e4"], rep["distilled-small_cnn-w4-e4-int8"]
    assert fp32.path is not None and int8.path is not None
    assert fp32.path.name == "model-distilled-small_cnn-w4-e4.onnx"
    # one student, trained once: the int8 form is its quantization
    assert fp32.extra["student"] == int8.extra["student"]
    assert fp32.extra["student"]["params"]["width"] == 4
    assert fp32.extra["student"]["params"]["epochs"] == 4
    assert fp32.extra["student_parameters"] < fp32.extra["teacher_parameters"]
    assert int8.size_bytes < fp32.size_bytes < rep.baseline.size_bytes
    # the student takes the teacher's input: the teacher's normalised batch goes in as is,
    # and the changed predictions are exactly where the two disagree
    fn = fitted_net(recipe)
    x = normalised_inputs(fn, digits_ds.split("test"))
    student = onnx_logits(open_session(fp32.path), x).argmax(1)
    teacher = torch_logits(fn.net, x).argmax(1)
    assert fp32.changed.height == int((student != teacher).sum())
    assert (student == teacher).mean() > 0.5
    assert not (tmp_path / "model-fp32.onnx").exists()  # onnx-fp32 was not asked for
    manifest = json.loads((tmp_path / "export.json").read_text())
    assert [a["target"] for a in manifest["artefacts"]] == targets.split(",")


def test_int8_student_alone_leaves_no_fp32_file(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path
) -> None:
    rep = compress(recipe, digits_ds, targets="distilled-small_cnn-int8", out_dir=tmp_path, **FAST)
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == [
        "model-distilled-small_cnn-int8.onnx"
    ]
    # the defaults: SmallCNNRecipe's width, a longer schedule than training on labels
    params = rep["distilled-small_cnn-int8"].extra["student"]["params"]
    assert (params["width"], params["epochs"]) == (16, 30)


def test_training_targets_need_training_rows(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path
) -> None:
    with pytest.raises(CalibrationDataError, match="train on labeled rows; received no calib_ds"):
        compress(recipe, None, digits_ds, targets="distilled-small_cnn", out_dir=tmp_path, **FAST)
    assert not list(tmp_path.iterdir())
