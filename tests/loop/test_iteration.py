"""The loop on a small real dataset: baseline, a fix iteration, the log, determinism, CLI."""

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
from datacentric.train import SmallCNNRecipe

RECIPE = SmallCNNRecipe(epochs=8, image_size=16)


def _noisy_digits(root: Path, seed: int = 0) -> tuple[list[str], list[str]]:
    """400 digits (classes 0-3), 10 % of the train labels flipped; returns (flipped ids, truth)."""
    digits = load_digits()
    keep = np.flatnonzero(digits.target < 4)[:400]
    images = (digits.images[keep] * 15).astype(np.uint8)
    truth = [str(t) for t in digits.target[keep]]
    rng = np.random.default_rng(seed)
    split = ["test" if i % 4 == 0 else "train" for i in range(len(keep))]
    labels = list(truth)
    train_rows = [i for i, s in enumerate(split) if s == "train"]
    flipped = rng.choice(train_rows, 30, replace=False)
    for i in flipped:
        labels[i] = str((int(truth[i]) + 1) % 4)
    site = ["a" if i % 3 else "b" for i in range(len(keep))]
    ds = Dataset.from_arrays(
        images, labels, ["0", "1", "2", "3"], split=split, metadata={"site": site}
    )
    ds.to_folder(root).commit("noisy digits")
    return [str(i) for i in flipped], truth


@pytest.fixture(scope="module")
def looped(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("loop") / "d"
    flipped, truth = _noisy_digits(root)
    results = run_loop(root, 1, recipe=RECIPE, folds=3, seed=0)
    return root, flipped, truth, results


def test_baseline_then_one_fix_iteration(looped) -> None:
    root, flipped, truth, results = looped
    assert [r.iteration for r in results] == [0, 1]
    base, it1 = results
    assert base.fix is None and base.version == 1
    assert it1.version == 2 and it1.record["version_before"] == 1
    relabels = it1.fix.edits.filter(pl.col("action") == "relabel")
    assert relabels.height >= 10
    # auto-relabels are mostly the planted flips, set back to the truth
    right = sum(truth[int(s)] == new for s, new in relabels.select("sample_id", "new").rows())
    assert right / relabels.height >= 0.8
    assert len(set(relabels["sample_id"]) & set(flipped)) / relabels.height >= 0.8
    assert set(relabels["sample_id"]) <= set(Dataset.open(root).split("train").sample_ids)
    assert it1.comparison is not None and "overall" in it1.comparison["slice"].to_list()


def test_log_records_everything(looped) -> None:
    root, *_ = looped
    log = ExperimentLog(root)
    recs = log.records()
    assert [r["iteration"] for r in recs] == [0, 1]
    assert recs[1]["counts"]["relabeled"] >= 10 and recs[1]["timings_s"]["scan"] > 0
    assert recs[1]["recipe_params"]["epochs"] == 8 and recs[1]["seed"] == 0
    assert log.metrics(1).metric("accuracy").height >= 3  # overall + site=a + site=b
    assert (
        log.frame(1, "edits").height
        == recs[1]["counts"]["relabeled"] + recs[1]["counts"]["removed"]
    )
    assert set(log.frame(0, "predictions").columns) >= {"sample_id", "label", "pred", "site"}
    # the iteration's scan is a full ScanResult (guide and review push read it back)
    from datacentric.issues import ScanResult

    scan = ScanResult.load(log.iteration_dir(1) / "scan.parquet")
    assert scan.issues.equals(log.frame(1, "scan")) and scan.samples.height > 0
    assert log.next_iteration() == 2
    # the review queue: the default budget (5 % of 400 samples), ranked, the rest deferred
    queue, deferred, summary = (
        log.frame(1, "review"),
        log.frame(1, "review_deferred"),
        recs[1]["review_queue"],
    )
    assert summary["budget"] == 20 and queue.height == summary["queued"] == min(
        20, summary["candidates"]
    )
    assert deferred.height == summary["deferred"] == summary["candidates"] - queue.height
    assert recs[1]["counts"]["queued_for_review"] == queue.height
    ranked = pl.concat([queue, deferred])
    assert ranked["rank"].to_list() == list(range(1, ranked.height + 1))
    assert ranked["priority"].is_sorted(descending=True) and ranked["sample_id"].is_unique().all()
    assert set(queue["status"]) == {"queued"} and set(deferred["status"]) <= {"deferred"}
    assert 0 < summary["coverage"] <= 1


def test_same_seed_same_metrics(looped, tmp_path: Path) -> None:
    root, *_ = looped
    again = tmp_path / "again"
    _noisy_digits(again)
    first = run_iteration(again, recipe=RECIPE, seed=0)
    assert first.metrics.table.equals(ExperimentLog(root).metrics(0).table)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="iterations"):
        run_loop(tmp_path, -1)
    with pytest.raises(InvalidParameterError, match=r"^run_loop: parameter iterations .* 2\.0"):
        run_loop(tmp_path, 2.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"^run_iteration: parameter folds must be"):
        run_iteration(tmp_path, folds=1)  # refused before the dataset is opened
    ds = Dataset.from_arrays(np.zeros((4, 4, 4), np.uint8), [0, 1, 0, 1], ["a", "b"])
    ds.to_folder(tmp_path / "x").commit("only train")
    with pytest.raises(InvalidParameterError, match="no 'test' split"):
        run_iteration(tmp_path / "x", recipe=RECIPE)


def test_cli_loop_prints_the_table(looped) -> None:
    root, *_ = looped
    res = CliRunner().invoke(app, ["loop", str(root), "-i", "0"])
    assert res.exit_code == 0, res.output
    assert "Data iterations" in res.output
    acc = ExperimentLog(root).records()[-1]["accuracy"]
    assert f"{acc:.3f}" in res.output
    assert "Review queue: queued " in res.output and "of the expected errors" in res.output


def test_each_iteration_saves_its_model(looped) -> None:
    from datacentric.train import load_recipe

    root, *_ = looped
    log = ExperimentLog(root)
    assert [r["model"] for r in log.records()] == ["iter_000/model.pt", "iter_001/model.pt"]
    assert log.model_path() == log.iteration_dir(1) / "model.pt"
    assert log.model_path(0) == log.iteration_dir(0) / "model.pt"
    # the saved model reproduces the predictions logged for its iteration
    model = load_recipe(log.model_path())
    ds = Dataset.open(root)
    preds = model.predict(ds.split("test"))
    logged = dict(log.frame(1, "predictions").select("sample_id", "pred").rows())
    got = {
        s: model.classes_[int(i)]
        for s, i in zip(preds.sample_ids, preds.pred_probs.argmax(1), strict=True)
    }
    assert got == logged


def test_cli_export_uses_the_loops_latest_model(looped, tmp_path: Path) -> None:
    root, *_ = looped
    out = tmp_path / "export"
    args = ["export", str(root), "--out", str(out), "--targets", "onnx-fp32", "--min-n", "5"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "iter_001" in res.output and "model.pt" in res.output
    html = (out / "export.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "onnx-fp32" in html and "http" not in html


def test_the_review_queue_answered_before_retraining(tmp_path: Path) -> None:
    """``review=`` answers the queue after the automatic fixes; the recipe trains on that."""
    from datacentric.integrations.review import simulate_review

    root = tmp_path / "d"
    flipped, truth = _noisy_digits(root)
    gt = pl.DataFrame({"sample_id": [str(i) for i in range(len(truth))], "true_label": truth})
    seen: list[pl.DataFrame] = []

    def review(ds: Dataset, queue: pl.DataFrame):
        seen.append(queue)
        return simulate_review(ds, queue, gt, accuracy=1.0)

    _, it1 = run_loop(root, 1, recipe=RECIPE, folds=2, seeds=1, seed=0, review=review)
    queue = seen[0]
    assert queue.equals(it1.fix.review) and queue.height > 0
    answered = it1.record["review_answered"]
    changes = Dataset.open(root).changes(it1.version)
    assert answered == {
        "backend": "simulated",
        "target": "simulated-reviewer",
        "version": it1.fix.version + 1,
        "applied": changes.height,
        "n_queued": queue.height,
    }
    assert it1.version == it1.record["version"] == it1.fix.version + 1  # trained on the review
    assert changes.height > 0 and set(changes["source"]) == {"simulated-reviewer"}
    # with accuracy 1 every queued train label error is now its true label
    head = dict(Dataset.open(root).manifest.select("sample_id", "label").rows())
    train = set(Dataset.open(root).split("train").sample_ids)
    queued_flips = set(queue["sample_id"]) & set(flipped) & train
    assert queued_flips and all(head[s] == truth[int(s)] for s in queued_flips)
    assert "review" in it1.record["timings_s"]
    # the report says who answered the queue, and that it was simulated
    text = ExperimentLog(root).report(tmp_path / "r.md").read_text()
    assert (
        f"answered before retraining by simulated 'simulated-reviewer' (iteration 1: "
        f"{changes.height} of {queue.height} applied): a SIMULATED reviewer"
    ) in text
