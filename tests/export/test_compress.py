from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.export import (
    CalibrationDataError,
    CompressionReport,
    calibration_sample,
    compress,
    parse_targets,
    prune_network,
    sparsity,
    verify_manifest,
    verify_onnx,
)
from datacentric.export.onnx import export_onnx, fitted_net, normalised_inputs
from datacentric.testing import check_parameter_constraints
from datacentric.train import SmallCNNRecipe

# the package re-exports the function `compress`, which shadows the module attribute
compress_mod = importlib.import_module("datacentric.export.compress")
FAST: dict[str, Any] = {"latency_repeats": 2, "min_n": 5}


@pytest.fixture(scope="module")
def report(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> CompressionReport:
    out = tmp_path_factory.mktemp("export")
    return compress(recipe, digits_ds, out_dir=out, max_drop=1.0, **FAST)


def test_onnx_fp32_matches_torch(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path
) -> None:
    fn = fitted_net(recipe)
    x = normalised_inputs(fn, digits_ds.split("test"))
    path = export_onnx(fn.net, tmp_path / "m.onnx", x[:2])
    assert verify_onnx(path, fn.net, x) < 1e-4


def test_report_targets_sizes_latency(report: CompressionReport) -> None:
    assert [a.target for a in report.artefacts] == [
        "onnx-fp32",
        "onnx-int8-dynamic",
        "onnx-int8-static",
        "pruned-50",
    ]
    assert report["onnx-fp32"].extra["max_abs_diff_vs_torch"] < 1e-4
    assert report["onnx-fp32"].changed.height == 0
    for name in ("onnx-int8-dynamic", "onnx-int8-static"):
        a = report[name]
        assert a.path is not None and a.path.is_file()
        assert a.size_ratio < 0.5
        assert 0.0 <= a.accuracy <= 1.0
    assert report["onnx-int8-static"].extra["n_calibration"] == 200
    for a in [report.baseline, *report.artefacts]:
        assert set(a.latency_ms) == {"p50@1", "p95@1", "p50@64", "p95@64"}
        assert all(v > 0 for v in a.latency_ms.values())
    assert abs(report["pruned-50"].extra["sparsity"] - 0.5) < 0.01
    assert report.passed  # max_drop=1.0
    assert "| onnx-int8-static |" in report.to_markdown()


def test_static_int8_keeps_first_conv_and_avgpool_float(report: CompressionReport) -> None:
    import onnx

    from datacentric.export.quantize import float_input_convs

    fp32 = report["onnx-fp32"].path
    static = report["onnx-int8-static"].path
    assert fp32 is not None and static is not None
    first = float_input_convs(fp32)
    assert first == ["/features/features.0/Conv"]  # the 3-channel input convolution
    graph = onnx.load(str(static)).graph
    weights = {t.name: t for t in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 3
    # QDQ: a quantized conv reads its weight through DequantizeLinear; the float one directly
    float_convs = [n.name for n in convs if n.input[1] in weights]
    assert float_convs == first
    assert any(n.op_type == "AveragePool" for n in graph.node)
    # the average pool runs in float: its output is not quantized (QDQ would follow it by
    # QuantizeLinear), so onnxruntime does not fold it into a slow QLinearAveragePool
    pool = next(n for n in graph.node if n.op_type == "AveragePool")
    consumers = [n.op_type for n in graph.node if pool.output[0] in n.input]
    assert consumers and "QuantizeLinear" not in consumers


def test_manifest_hashes_match(report: CompressionReport) -> None:
    out = report.out_dir
    assert verify_manifest(out) == []
    m = json.loads((out / "export.json").read_text())
    assert m["recipe"]["class"] == "SmallCNNRecipe"
    assert m["dataset"]["n_eval"] == 100
    assert m["gate"]["passed"] is True
    assert {a["target"] for a in m["artefacts"]} == set(m["settings"]["targets"])
    assert (out / "export.md").is_file()
    assert pl.read_parquet(out / "changed_predictions.parquet").columns[:4] == [
        "sample_id",
        "label",
        "before",
        "after",
    ]
    (out / "model-fp32.onnx").write_bytes(b"tampered")
    assert verify_manifest(out) == ["model-fp32.onnx"]


def test_pruning_reaches_sparsity(recipe: SmallCNNRecipe) -> None:
    net = fitted_net(recipe).net
    pruned = prune_network(net, 0.7)
    assert abs(sparsity(pruned) - 0.7) < 0.01
    assert sparsity(net) < 0.01  # the original is untouched
    with pytest.raises(InvalidParameterError, match=r"amount must be a number in \(0, 1\)"):
        prune_network(net, 1.5)


def _plant_regression(monkeypatch: pytest.MonkeyPatch, ds: Dataset, site: str) -> None:
    """Make every ONNX prediction of one slice wrong (logits rolled by one class)."""
    test = ds.filter(pl.col("split") == "test")
    _plant_rows(monkeypatch, (test.manifest["site"] == site).to_numpy())


def _plant_rows(monkeypatch: pytest.MonkeyPatch, mask: np.ndarray) -> None:
    """Make the ONNX predictions of the test rows in ``mask`` wrong (logits rolled by one
    class), leaving every other row as torch predicts it."""
    orig = compress_mod.onnx_logits

    def fake(session: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        out = orig(session, x, batch_size)
        if len(out) == len(mask):
            out[mask] = np.roll(out[mask], 1, axis=1)
        return out

    monkeypatch.setattr(compress_mod, "onnx_logits", fake)


def test_gate_fires_on_planted_slice_regression(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = compress(recipe, digits_ds, targets=["onnx-fp32"], out_dir=tmp_path / "ok", **FAST)
    assert ok.passed
    _plant_regression(monkeypatch, digits_ds, "b")
    bad = compress(recipe, digits_ds, targets=["onnx-fp32"], out_dir=tmp_path / "bad", **FAST)
    assert not bad.passed and bad.failed_targets == ["onnx-fp32"]
    gate = bad["onnx-fp32"].gate
    assert gate is not None and "site=b" in gate.failures["slice"].to_list()
    assert bad["onnx-fp32"].changed.height > 0
    assert set(bad["onnx-fp32"].changed["site"].to_list()) == {"b"}
    assert "Compression gate failed" in bad.to_markdown()
    assert json.loads((tmp_path / "bad" / "export.json").read_text())["gate"]["passed"] is False
    # the HTML report names the failing slice, marks its drop, and shows the changed samples
    html = (tmp_path / "bad" / "export.html").read_text()
    assert "Why the gate failed" in html and "site=b: accuracy dropped" in html
    # one red cell per failing slice (site=b and, dragged down by it, overall); site=a stays
    assert html.count('class="num hot"') == gate.failures.height
    assert set(gate.failures["slice"].to_list()) == {"site=b", "overall"}
    gallery = html.split('id="changed"')[1].split('id="forgotten"')[0]
    assert gallery.count("data:image/png;base64,") == bad["onnx-fp32"].changed.height
    # the rolled logits also fail the per-class gate, and the forgotten report ranks site=b
    assert bad["onnx-fp32"].class_gate is not None and not bad["onnx-fp32"].class_gate.passed
    lost = bad["onnx-fp32"].forgotten
    assert lost is not None and lost.slices["slice"][1] == "site=b"
    assert lost.slices["flip_rate"][1] == 1.0  # every site=b prediction moved
    ok_html = (tmp_path / "ok" / "export.html").read_text()
    assert "Why the gate failed" not in ok_html and "No test image changed" in ok_html


def test_calibration_sample_covers_rare_groups() -> None:
    site = ["x"] * 95 + ["y"] * 5
    ds = Dataset.from_arrays(np.zeros((100, 2, 2)), [0] * 100, ["a"], metadata={"site": site})
    ids = calibration_sample(ds, size=10, seed=1)
    assert len(ids) == 10 and len(set(ids)) == 10
    assert sum(int(i) >= 95 for i in ids) == 5  # round-robin: the rare slice fully drawn
    assert ids == calibration_sample(ds, size=10, seed=1)  # seeded
    assert len(calibration_sample(ds, size=1000)) == 100


def test_bad_inputs(recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"^compress: parameter targets must be a list or a comma-separated string of "
        r"export targets, each one of onnx-fp32, .*; received \['onnx-int4'\] \(list\)",
    ):
        compress(recipe, digits_ds, targets=["onnx-int4"], out_dir=tmp_path)
    for repeated in ("onnx-fp32, onnx-fp32", ["pruned-30", "pruned-30"]):
        with pytest.raises(InvalidParameterError, match=r"none repeated; received"):
            parse_targets(repeated)
    assert parse_targets(" onnx-fp32 ,pruned-30,") == ["onnx-fp32", "pruned-30"]
    assert check_parameter_constraints(parse_targets) == 8
    with pytest.raises(InvalidParameterError, match="not fitted"):
        compress(SmallCNNRecipe(), digits_ds, out_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match=r"^compress: parameter threads must be an"):
        compress(recipe, digits_ds, out_dir=tmp_path, threads=0)  # refused before any export
    # targets: 8 bad values; train_ds: 1
    assert check_parameter_constraints(compress) == 28 - 2 + 8 + 1
    assert check_parameter_constraints(calibration_sample) == 6
    assert check_parameter_constraints(prune_network) == 6
    with pytest.raises(CalibrationDataError, match="calibration data"):
        compress(recipe, None, digits_ds, targets=["onnx-int8-static"], out_dir=tmp_path)
    empty = digits_ds.filter(pl.col("split") == "nope")
    with pytest.raises(CalibrationDataError, match="0 rows"):
        compress(recipe, empty, digits_ds, targets=["onnx-int8-static"], out_dir=tmp_path)
    train_only = digits_ds.split("train")
    with pytest.raises(InvalidDatasetError, match="no labeled rows in split 'test'"):
        compress(recipe, train_only, train_only, targets=["onnx-fp32"], out_dir=tmp_path)


def test_empty_slice_is_low_support_not_a_crash(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path
) -> None:
    slices = "slices:\n  - name: nobody\n    where: {site: zzz}\n  - by: site\n"
    rep = compress(
        recipe, digits_ds, targets=["onnx-fp32"], slices=slices, out_dir=tmp_path, **FAST
    )
    gate = rep["onnx-fp32"].gate
    assert gate is not None and rep.passed
    assert rep.baseline.low_support() == {"nobody": 0}
    assert "nobody (n=0)" in rep.to_markdown()
    m = json.loads((tmp_path / "export.json").read_text())
    assert m["artefacts"][0]["low_support_slices"] == {"nobody": 0}
