"""The simulated reviewer: known queue + ground truth → known answers, applied with lineage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from datacentric import Dataset
from datacentric.integrations.review import AppliedReview, PullResult, simulate_review
from datacentric.integrations.review.apply import REVIEW_FIELD

CLASSES = ["a", "b", "c", "d"]


def _dataset(root: Path, labels: list[str], split: list[str]) -> Dataset:
    ds = Dataset.from_arrays(np.zeros((len(labels), 4, 4), np.uint8), labels, CLASSES, split=split)
    ds = ds.to_folder(root)
    ds.commit("initial")
    return ds


def _truth(labels: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"sample_id": [str(i) for i in range(len(labels))], "true_label": labels})


def test_accuracy_one_answers_exactly_the_truth(tmp_path: Path) -> None:
    truth = ["a", "b", "c", "d", "a", "b", "c", "d"]
    given = ["b", "b", "a", "d", "c", "c", "c", "a"]  # wrong: 0, 2, 4, 5, 7
    split = ["train"] * 6 + ["test"] * 2
    ds = _dataset(tmp_path / "d", given, split)
    queue = pl.DataFrame(
        {
            "sample_id": ["0", "1", "2", "4", "5", "7"],
            "rank": [1, 2, 3, 4, 5, 6],
            "status": ["queued", "queued", "queued", "queued", "deferred", "queued"],
            "issue_types": [
                ["label"],
                ["dark"],
                ["label", "dark"],
                ["label"],
                ["label"],
                ["label"],
            ],
        }
    )
    r = simulate_review(ds, queue, _truth(truth), accuracy=1.0, seed=0)
    assert type(r) is AppliedReview and isinstance(r, PullResult)
    # 0, 2, 4 relabeled to the truth; 1 answered with its (right) label; 5 deferred and 7 in
    # the test split untouched
    assert r.relabels.rows() == [
        ("0", "b", "a", "answer"),
        ("2", "a", "c", "answer"),
        ("4", "c", "a", "answer"),
    ]
    assert (r.backend, r.target, r.applied, r.version) == ("simulated", "simulated-reviewer", 3, 2)
    head = Dataset.open(tmp_path / "d")
    assert head.version == 2
    assert dict(head.manifest.select("sample_id", "label").rows()) == {
        "0": "a", "1": "b", "2": "c", "3": "d", "4": "a", "5": "c", "6": "c", "7": "a"
    }  # fmt: skip
    row = head.lineage("2").filter(pl.col("field") == "label").row(-1, named=True)
    assert row["source"] == "simulated-reviewer" and (row["old"], row["new"]) == ("a", "c")
    assert "accuracy 1, seed 0" in row["reason"] and "flagged: label,dark" in row["reason"]
    message = head.history().filter(pl.col("version") == 2)["message"].item()
    assert message == (
        "simulated review (simulated-reviewer, accuracy 1, seed 0): 4 queued samples "
        "answered, 3 relabels"
    )
    # a second answer of the same queue applies nothing twice
    again = simulate_review(head, queue, _truth(truth), accuracy=1.0, seed=0)
    assert (again.version, again.applied, again.already_applied) == (None, 0, 4)
    assert again.verdicts.height == 0 and REVIEW_FIELD == "review"


def test_accuracy_p_gives_the_documented_number_of_wrong_answers(tmp_path: Path) -> None:
    n, accuracy, seed = 60, 0.8, 3
    truth = [CLASSES[i % 4] for i in range(n)]
    ds = _dataset(tmp_path / "d", truth, ["train"] * n)  # every label right: a relabel is wrong
    queue = pl.DataFrame({"sample_id": [str(i) for i in range(n)]})
    r = simulate_review(ds, queue, _truth(truth), accuracy=accuracy, seed=seed, commit=False)
    documented = int((np.random.default_rng(seed).random(n) >= accuracy).sum())
    assert documented == 10  # for this seed; (1 - accuracy) * n = 12 expected
    assert r.relabels.height == documented and r.version is None
    wrong = r.relabels.join(_truth(truth), on="sample_id")
    assert (wrong["new"] != wrong["true_label"]).all()
    assert set(wrong["new"]) <= set(CLASSES)
    assert ds.pending_changes.height == documented  # commit=False: left pending
    # the same seed gives the same answers; accuracy 0 answers every sample wrong
    ds2 = _dataset(tmp_path / "e", truth, ["train"] * n)
    same = simulate_review(ds2, queue, _truth(truth), accuracy=accuracy, seed=seed, commit=False)
    assert same.relabels.equals(r.relabels)
    ds3 = _dataset(tmp_path / "f", truth, ["train"] * n)
    assert simulate_review(ds3, queue, _truth(truth), accuracy=0.0).relabels.height == n


def test_splits_none_answers_every_split_and_unknown_rows_are_listed(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "d", ["a", "a"], ["train", "test"])
    truth = pl.DataFrame({"sample_id": ["0", "1", "9"], "true_label": ["b", "b", "b"]})
    queue = pl.DataFrame({"sample_id": ["1", "9"]})
    r = simulate_review(ds, queue, truth, accuracy=1.0, splits=None, reviewer="sim-2")
    assert r.relabels["sample_id"].to_list() == ["1"] and r.not_in_dataset == ["9"]
    assert r.source == "sim-2"


def test_the_cli_hook_answers_from_the_demo_ground_truth(tmp_path: Path) -> None:
    """``datacentric loop --simulated-review``'s hook: the demo's planted errors set right."""
    from datacentric.cli.loop import _simulated_reviewer
    from datacentric.datasets import load_demo, load_ground_truth

    root = tmp_path / "demo"
    load_demo(root)
    truth = load_ground_truth(root)
    noisy = truth.filter(pl.col("is_label_noise")).head(5)
    hook = _simulated_reviewer(root, 1.0, 0)
    ds = Dataset.open(root)
    r = hook(ds, noisy.select("sample_id"))
    assert r.backend == "simulated" and r.relabels.height == 5
    want = dict(noisy.select("sample_id", "true_label").rows())
    assert dict(r.relabels.select("sample_id", "new").rows()) == want
    assert set(ds.changes(r.version)["source"]) == {"simulated-reviewer"}
