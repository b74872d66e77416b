"""The loop with several training seeds: mean and intervals, per-seed predictions, verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from datacentric import Dataset
from datacentric.cli import app
from datacentric.exceptions import InvalidParameterError
from datacentric.loop import ExperimentLog, run_iteration, run_loop
from datacentric.slices.seeds import TEST_BOTH, TEST_SAMPLES
from datacentric.train import SmallCNNRecipe

TINY = SmallCNNRecipe(epochs=1, image_size=8, width=4)


def _digits(root: Path) -> None:
    """200 digits (classes 0-3), a quarter of them test, 20 train labels flipped."""
    digits = load_digits()
    keep = np.flatnonzero(digits.target < 4)[:200]
    images = (digits.images[keep] * 15).astype(np.uint8)
    labels = [str(t) for t in digits.target[keep]]
    split = ["test" if i % 4 == 0 else "train" for i in range(len(keep))]
    for i in range(1, 80, 4):  # train rows
        labels[i] = str((int(labels[i]) + 1) % 4)
    site = ["a" if i % 3 else "b" for i in range(len(keep))]
    Dataset.from_arrays(
        images, labels, ["0", "1", "2", "3"], split=split, metadata={"site": site}
    ).to_folder(root).commit("digits")


@pytest.fixture(scope="module")
def looped(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("seeds") / "d"
    _digits(root)
    results = run_loop(root, 1, recipe=TINY, folds=2, seed=5, seeds=3, stop_when_unchanged=False)
    return root, results


def test_every_iteration_trains_and_keeps_every_seed(looped) -> None:
    root, results = looped
    log = ExperimentLog(root)
    recs = log.records()
    assert [r["seeds"] for r in recs] == [[5, 6, 7], [5, 6, 7]]
    for res, rec in zip(results, recs, strict=True):
        runs = log.seed_predictions(rec["iteration"])
        assert runs.columns[0] == "seed" and runs.height == 3 * 50
        assert sorted(runs["seed"].unique().to_list()) == [5, 6, 7]
        # the recorded accuracy is the mean of the seeds', inside its interval
        by_seed = rec["accuracy_by_seed"]
        assert rec["accuracy"] == pytest.approx(np.mean(by_seed))
        lo, hi = rec["accuracy_ci"]
        assert lo <= rec["accuracy"] <= hi and res.accuracy == rec["accuracy"]
        # predictions.parquet (the saved model's) is the first seed's
        first = runs.filter(pl.col("seed") == 5).drop("seed")
        assert log.frame(rec["iteration"], "predictions").equals(first)
        summary = log.frame(rec["iteration"], "seed_summary")
        assert summary["slice"].to_list()[0] == "overall" and set(summary["slice"]) >= {
            "site=a",
            "site=b",
        }
        assert (summary["seeds"] == 3).all()


def test_the_fix_iteration_has_a_verdict_per_slice(looped) -> None:
    root, (base, it1) = looped
    assert base.comparison is None and it1.comparison is not None
    v = ExperimentLog(root).frame(1, "verdict")
    assert v.equals(it1.comparison)
    assert v["slice"].to_list()[0] == "overall" and v["test"].item(0) == TEST_BOTH
    assert set(v["verdict"]) <= {"improved", "regressed", "no significant change"}
    rec = it1.record
    assert rec["regressed_slices"] == v.filter(pl.col("verdict") == "regressed")["slice"].to_list()
    assert rec["improved_slices"] == v.filter(pl.col("verdict") == "improved")["slice"].to_list()
    # the baseline → latest verdict of the log is the same comparison here
    again = ExperimentLog(root).verdict()
    assert again.select("slice", "diff", "verdict").equals(v.select("slice", "diff", "verdict"))
    overall = v.row(0, named=True)
    assert overall["diff"] == pytest.approx(it1.accuracy - base.accuracy)


def test_a_log_from_before_seeds_reads_as_one_seed(looped, tmp_path: Path) -> None:
    import shutil

    root, _ = looped
    copy = tmp_path / "old"
    shutil.copytree(root, copy)
    log = ExperimentLog(copy)
    (log.iteration_dir(0) / "seed_predictions.parquet").unlink()
    runs = log.seed_predictions(0)
    assert runs["seed"].unique().to_list() == [5] and runs.height == 50
    v = log.verdict()
    assert (v["seeds_before"].item(0), v["seeds_after"].item(0)) == (1, 3)
    assert v["test"].item(0) == TEST_SAMPLES
    # a previous iteration with no predictions at all: the next one has no verdict
    for name in ("predictions", "seed_predictions"):
        (log.iteration_dir(1) / f"{name}.parquet").unlink()
    nxt = run_iteration(copy, recipe=TINY, folds=2, seed=5, seeds=1)
    assert nxt.iteration == 2 and nxt.comparison is None
    assert nxt.record["verdict_test"] is None and nxt.record["regressed_slices"] == []
    assert nxt.record["seeds"] == [5] and nxt.record["accuracy_by_seed"] == [nxt.accuracy]


def test_cli_prints_the_verdict_table(looped) -> None:
    root, _ = looped
    res = CliRunner().invoke(app, ["loop", str(root), "-i", "0"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "baseline (3 seeds)" in res.output and "latest (3 seeds)" in res.output
    v = ExperimentLog(root).verdict()
    row = v.row(0, named=True)
    assert f"{row['diff']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]" in res.output
    assert row["verdict"] in res.output


def test_seeds_must_be_a_positive_count(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"^run_iteration: parameter seeds must be"):
        run_iteration(tmp_path, seeds=0)
    with pytest.raises(InvalidParameterError, match="parameter seeds"):
        run_iteration(tmp_path, seeds=101)
    res = CliRunner().invoke(app, ["loop", str(tmp_path), "--seeds", "0"])
    assert res.exit_code == 1 and "--seeds" in res.output


def test_the_report_shows_the_verdict_over_seeds(looped, tmp_path: Path) -> None:
    from datacentric.report.loop import render_loop_html, render_loop_markdown

    root, _ = looped
    v = ExperimentLog(root).verdict().row(0, named=True)
    md = render_loop_markdown(root)
    assert "## Verdict by slice over training seeds" in md
    assert "Mean accuracy over 3 training seed(s) of the baseline and 3 of iteration 1" in md
    assert f"{100 * v['diff']:+.1f} pp" in md and v["verdict"] in md
    assert "mean of 3 seeds" in md
    html = render_loop_html(root)
    assert 'id="verdict"' in html and "Change in mean accuracy over seeds" in html
