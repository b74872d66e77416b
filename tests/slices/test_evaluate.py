"""evaluate() on the demo data with planted prediction errors; the CLI verbs end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.datasets import load_demo
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices import SliceMetrics, evaluate
from datacentric.testing import check_parameter_constraints


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("slices") / "demo"
    ds = load_demo(root)
    m = ds.manifest
    rng = np.random.default_rng(0)
    # predictions: right except on 40 % of scanner_c rows and 3 % elsewhere
    wrong = rng.random(m.height) < np.where(m["scanner"] == "scanner_c", 0.40, 0.03)
    other = [str((int(lab) + 1) % 10) for lab in m["label"].to_list()]
    pred = np.where(wrong, other, m["label"].to_numpy())
    preds = pl.DataFrame(
        {"sample_id": m["sample_id"], "pred": pred, "confidence": np.where(wrong, 0.6, 0.95)}
    )
    return root, ds, preds


def test_planted_scanner_is_worst_and_significant(demo) -> None:
    _, ds, preds = demo
    metrics = evaluate(ds, preds, "slices: [{by: scanner}, {by: vendor}]", split="test")
    acc = metrics.metric("accuracy")
    worst = acc.row(0, named=True)
    assert worst["slice"] == "scanner=scanner_c"
    assert worst["p_value"] < 1e-6 and worst["delta_vs_overall"] < -0.1
    test = ds.manifest.filter(pl.col("split") == "test")
    assert acc.filter(pl.col("slice") == "overall")["n"].item() == test.height
    n_c = test.filter(pl.col("scanner") == "scanner_c").height
    assert worst["n"] == n_c
    assert metrics.meta["split"] == "test"
    assert "scanner=scanner_c" in metrics.meta["slices"]


def test_default_slices_are_every_metadata_value(demo) -> None:
    _, ds, preds = demo
    names = set(evaluate(ds, preds, split=None).slices)
    assert {"scanner=scanner_a", "vendor=vendor_c", "writer_group=adult"} <= names


def test_errors(demo) -> None:
    _, ds, preds = demo
    with pytest.raises(InvalidParameterError, match="split 'val' has no rows"):
        evaluate(ds, preds, split="val")
    with pytest.raises(InvalidParameterError, match=r"^evaluate: parameter n_boot must be an"):
        evaluate(ds, preds, n_boot=0)
    assert check_parameter_constraints(evaluate, {"ds": ds}) == 12
    with pytest.raises(SchemaError, match="have no prediction"):
        evaluate(ds, preds.head(10), split="test")
    with pytest.raises(SchemaError, match="sample_id and pred"):
        evaluate(ds, preds.rename({"pred": "p"}), split="test")


def test_cli_evaluate_and_report(demo, tmp_path: Path) -> None:
    root, _, preds = demo
    preds.write_parquet(tmp_path / "p.parquet")
    yaml = tmp_path / "s.yaml"
    yaml.write_text(
        "slices:\n  - by: scanner\n  - name: noisy_vendor\n    where: {vendor: vendor_c}\n"
    )
    out = tmp_path / "m.json"
    res = CliRunner().invoke(
        app,
        [
            "slices",
            "evaluate",
            str(root),
            "-p",
            str(tmp_path / "p.parquet"),
            "-s",
            str(yaml),
            "-o",
            str(out),
            "--report",
            str(tmp_path / "r.md"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "scanner=scanner_c" in res.output
    m = SliceMetrics.load(out)
    assert set(m.slices) == {
        "overall",
        "scanner=scanner_a",
        "scanner=scanner_b",
        "scanner=scanner_c",
        "noisy_vendor",
    }
    assert (tmp_path / "r.md").read_text().count("scanner_c") >= 1
