"""After ``datacentric loop DIR``, the review verbs default to the loop's latest scan, its
out-of-sample predictions and its review queue (a tiny real loop: 160 digits, 2 folds, a
2-epoch CNN on 8x8 images)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from datacentric import Dataset
from datacentric.cli import app
from datacentric.cli.review_inputs import loop_defaults
from datacentric.loop import ExperimentLog, run_loop
from datacentric.train import Predictions, SmallCNNRecipe

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("mongod_uri")


@pytest.fixture(scope="module")
def looped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    digits = load_digits()
    keep = np.flatnonzero(digits.target < 4)[:160]
    labels = [str(t) for t in digits.target[keep]]
    rng = np.random.default_rng(0)
    for i in rng.choice(len(keep), 12, replace=False):
        labels[i] = str((int(labels[i]) + 1) % 4)
    split = ["test" if i % 4 == 0 else "train" for i in range(len(keep))]
    root = tmp_path_factory.mktemp("fo-loop") / "d"
    ds = Dataset.from_arrays(
        (digits.images[keep] * 15).astype(np.uint8), labels, ["0", "1", "2", "3"], split=split
    )
    ds.to_folder(root).commit("noisy digits")
    run_loop(root, 1, recipe=SmallCNNRecipe(epochs=2, image_size=8), folds=2, seed=0)
    return root


def test_the_loop_keeps_its_scans_predictions(looped: Path) -> None:
    picked = ExperimentLog(looped).latest_review()
    assert picked is not None and picked.iteration == 1
    assert picked.version == Dataset.open(looped).version
    assert picked.queue is not None and picked.predictions is not None
    preds = Predictions.load(picked.predictions)
    assert sorted(preds.sample_ids) == sorted(Dataset.open(looped).sample_ids)
    assert np.allclose(preds.pred_probs.sum(axis=1), 1.0, atol=1e-4)


def test_review_fiftyone_without_scan_shows_the_loops_scan_predictions_and_queue(
    looped: Path,
) -> None:
    import fiftyone as fo

    picked = ExperimentLog(looped).latest_review()
    assert picked is not None and picked.queue is not None
    res = runner.invoke(app, ["review", "fiftyone", str(looped), "--name", "dc-test-loop",
                              "--no-brain"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"Using the loop iteration 1 (dataset version {picked.version})" in res.output
    assert "No predictions" not in res.output and "review-queue" in res.output
    fds = fo.load_dataset("dc-test-loop")
    n = len(Dataset.open(looped))
    assert len(fds) == n and fds.count("predictions") == n  # every sample: out-of-sample
    queue = pl.read_parquet(picked.queue).sort("priority", descending=True, maintain_order=True)
    view = fds.load_saved_view("review-queue")
    assert view.values("sample_id") == queue["sample_id"].to_list()
    flagged = fds.match_tags("issue:label").values("sample_id")
    scan_flags = pl.read_parquet(picked.scan).filter(
        pl.col("is_issue") & (pl.col("issue_type") == "label")
    )
    assert sorted(flagged) == sorted(scan_flags["sample_id"].to_list())

    # explicit flags still win: --scan pushes that scan, without the loop's queue view
    scan_copy = looped / "scans" / "other.parquet"
    scan_copy.parent.mkdir(exist_ok=True)
    from datacentric.issues import ScanResult

    ScanResult.load(picked.scan).save(scan_copy)
    res = runner.invoke(app, ["review", "fiftyone", str(looped), "--name", "dc-test-loop-2",
                              "--no-brain", "--scan", str(scan_copy)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Using the loop" not in res.output and "No predictions" in res.output
    assert "review-queue" not in fo.load_dataset("dc-test-loop-2").list_saved_views()


def test_review_push_without_scan_sends_the_loops_ranked_queue(
    looped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacentric.integrations import review

    picked = ExperimentLog(looped).latest_review()
    assert picked is not None and picked.queue is not None and picked.predictions is not None
    got: dict[str, Any] = {}

    def fake_push(ds: Any, items: Any, **kwargs: Any) -> Any:
        got.update(items=items, **kwargs)
        raise SystemExit(0)  # stop before any server is contacted

    monkeypatch.setattr(review, "push", fake_push)
    args = ["review", "push", str(looped), "--to", "labelstudio", "--project", "loop queue"]
    res = runner.invoke(app, [*args, "--url", "http://127.0.0.1:9"])
    assert res.exit_code == 0, res.output
    assert "Using the loop iteration 1" in res.output
    queue = pl.read_parquet(picked.queue)
    assert got["items"].equals(queue)  # the loop's bounded, ranked queue as it is
    assert sorted(got["predictions"].sample_ids) == sorted(
        Predictions.load(picked.predictions).sample_ids
    )


def test_a_scan_written_after_the_loop_wins(looped: Path, tmp_path: Path) -> None:
    picked = loop_defaults(looped)
    assert picked is not None
    assert loop_defaults(looped, Path("given.parquet")) is None  # --scan wins
    later = looped / "scan.parquet"
    later.write_bytes(picked.scan.read_bytes())
    try:
        os.utime(later, (time.time() + 5, time.time() + 5))
        assert loop_defaults(looped) is None
    finally:
        later.unlink()
    assert loop_defaults(tmp_path) is None  # no loop
