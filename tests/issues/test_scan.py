"""scan(): skipping with reasons, alignment of predictions, save/load, summary, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.issues import OutlierFinder, ScanResult, scan
from datacentric.testing import make_check_context


@pytest.fixture(scope="module")
def ctx_parts():
    ctx = make_check_context()
    return ctx.dataset, ctx.pred_probs, ctx.embeddings, ctx.annotations


def test_all_finders_run_when_inputs_exist(ctx_parts) -> None:
    ds, probs, emb, ann = ctx_parts
    result = scan(ds, probs, emb, annotations=ann, cross_validate=False)
    assert result.skipped == {}
    for t in (
        "label",
        "outlier",
        "exact_duplicate",
        "near_duplicate",
        "leakage",
        "dark",
        "imbalance",
        "missing_label",
        "label_inconsistency",
        "annotator_disagreement",
    ):
        assert t in result.issue_types, t
    flagged = result.flagged("exact_duplicate")
    assert set(flagged["sample_id"]) == {"0", str(len(ds) - 1)}
    assert "site" in flagged.columns  # joined with the sample's metadata
    assert set(result.statistics) >= {"imbalance", "annotator_disagreement"}


def test_missing_inputs_skip_with_reasons(ctx_parts) -> None:
    ds = ctx_parts[0]
    result = scan(ds, finders=["label", "outlier", "integrity"], cross_validate=False)
    assert result.skipped == {
        "label": "no pred_probs were given",
        "outlier": "no embeddings were given",
    }
    assert result.issue_types == ["missing_label", "unreadable_image", "null_metadata"]


def test_errors_for_bad_arguments(ctx_parts) -> None:
    ds, probs, _, _ = ctx_parts
    with pytest.raises(InvalidParameterError, match="available finders"):
        scan(ds, finders=["nope"], cross_validate=False)
    with pytest.raises(InvalidParameterError, match="given twice"):
        scan(ds, finders=["label", "label"], cross_validate=False)
    with pytest.raises(SchemaError, match="sum to 1"):
        scan(ds, probs * 0.5, finders=["label"], cross_validate=False)
    with pytest.raises(InvalidParameterError, match=r"^scan: parameter cross_validate must be"):
        scan(ds, finders=["label"], cross_validate="yes")
    with pytest.raises(InvalidParameterError, match=r"^scan: parameter folds must be"):
        scan(ds, finders=["label"], folds=1)
    finder = OutlierFinder()
    finder.k = 0  # changed after construction: checked again before the scan runs it
    with pytest.raises(InvalidParameterError, match=r"^OutlierFinder: parameter k must be"):
        scan(ds, finders=[finder], cross_validate=False)


def test_predictions_object_is_aligned_by_sample_id(ctx_parts) -> None:
    from datacentric.train import Predictions

    ds, probs, emb, _ = ctx_parts
    rev = list(reversed(range(len(ds))))
    preds = Predictions([ds.sample_ids[i] for i in rev], probs[rev], emb[rev].astype(np.float32))
    a = scan(ds, probs, emb, finders=["label"], cross_validate=False)
    b = scan(ds, preds, finders=["label"], cross_validate=False)
    assert a.issues.equals(b.issues)


def test_save_load_round_trip_and_summary(ctx_parts, tmp_path: Path) -> None:
    ds, probs, emb, ann = ctx_parts
    result = scan(ds, probs, emb, annotations=ann, cross_validate=False)
    path = result.save(tmp_path / "scan.parquet")
    back = ScanResult.load(path)
    assert back.issues.equals(result.issues)
    assert back.samples.equals(result.samples)
    assert (
        back.statistics["imbalance"]["class_counts"]
        == result.statistics["imbalance"]["class_counts"]
    )
    by_type = back.summary()["by_type"]
    n_dup = by_type.filter(pl.col("issue_type") == "exact_duplicate")["n_flagged"].item()
    assert n_dup == 2
    by_slice = back.summary()["by_slice"]
    assert set(by_slice["column"]) == {"split", "site"}
    with pytest.raises(InvalidParameterError, match=r"\.parquet"):
        result.save(tmp_path / "scan.csv")
    with pytest.raises(SchemaError, match="not a datacentric scan"):
        pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "other.parquet")
        ScanResult.load(tmp_path / "other.parquet")


def test_cli_scan_with_given_arrays(ctx_parts, tmp_path: Path) -> None:
    ds, probs, emb, _ = ctx_parts
    folder = ds.to_folder(tmp_path / "data")
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "e.npy", emb)
    out = tmp_path / "scan.parquet"
    result = CliRunner().invoke(
        app,
        [
            "scan",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--pred-probs",
            str(tmp_path / "p.npy"),
            "--embeddings",
            str(tmp_path / "e.npy"),
            "--no-cv",
            "--report",
            str(tmp_path / "r.md"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "exact_duplicate" in result.output
    assert ScanResult.load(out).samples.height == len(folder)
    assert (tmp_path / "r.md").read_text().count("exact_duplicate") >= 1
    # the predictions the scan used are saved next to it, for `datacentric review fiftyone`
    from datacentric.train import Predictions

    used = Predictions.load(tmp_path / "predictions.npz")
    assert used.sample_ids == folder.sample_ids and used.classes == folder.classes
    np.testing.assert_allclose(used.pred_probs, probs, rtol=1e-6)
    np.testing.assert_allclose(used.embeddings, emb, rtol=1e-6)
    bad = CliRunner().invoke(app, ["scan", str(tmp_path / "data"), "--pred-probs", "x.csv"])
    assert bad.exit_code == 1
    assert "must be an existing .npy file" in bad.output


def test_scan_cross_validates_the_demo_end_to_end(tmp_path: Path) -> None:
    """No predictions given: scan trains the fixed recipe by K-fold and finds planted issues."""
    from datacentric.datasets import load_demo, load_ground_truth
    from datacentric.train import SmallCNNRecipe

    ds = load_demo(tmp_path / "demo")
    truth = load_ground_truth(tmp_path / "demo")
    result = scan(ds, recipe=SmallCNNRecipe(epochs=3), folds=2, seed=0)
    assert result.meta["predictions"].startswith("cross-validation (2 folds")
    assert result.predictions is not None and result.predictions.sample_ids == ds.sample_ids
    assert result.predictions.embeddings.shape[0] == len(ds)
    assert "cross_validation" in result.timings
    assert result.skipped == {
        "annotator_disagreement": "no sample has labels from two or more annotators "
        "(pass annotations=)"
    }
    dark = set(result.flagged("dark")["sample_id"])
    assert dark == set(truth.filter(pl.col("is_dark"))["sample_id"])
    leaks = set(result.flagged("leakage")["sample_id"])
    planted = set(truth.filter(pl.col("leak_of").is_not_null())["sample_id"])
    assert len(leaks & planted) >= 15 and len(leaks - planted) <= 2
    noisy = set(truth.filter(pl.col("is_label_noise"))["sample_id"])
    found = set(result.flagged("label")["sample_id"])
    assert len(found & noisy) / len(found) > 0.6  # even a 3-epoch model finds mostly real flips
