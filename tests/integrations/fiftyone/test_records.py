"""What the FiftyOne push would write and how review tags are read — no database needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.integrations.fiftyone._env import configure_env
from datacentric.integrations.fiftyone.pull import review_decisions
from datacentric.integrations.fiftyone.records import build_records
from datacentric.issues import scan
from datacentric.train import Predictions

CLASSES = ["cat", "dog"]


@pytest.fixture
def ds(tmp_path: Path) -> Dataset:
    imgs = np.random.default_rng(0).integers(0, 255, (8, 8, 8), dtype=np.uint8)
    imgs[5] = imgs[2]  # an exact duplicate pair
    return Dataset.from_arrays(
        imgs,
        [0, 1, 0, 1, 0, 1, 0, 1],
        CLASSES,
        metadata={"site": list("xxxxyyyy"), "metadata": list("abababab")},
    ).to_folder(tmp_path / "d")


def _preds(ds: Dataset, pred: list[int], conf: float = 0.8) -> Predictions:
    probs = np.full((len(pred), 2), 1 - conf)
    probs[np.arange(len(pred)), pred] = conf
    emb = np.arange(len(pred) * 3, dtype=np.float32).reshape(-1, 3)
    return Predictions(ds.sample_ids[: len(pred)], probs, emb, classes=CLASSES)


def test_rows_join_manifest_scan_and_predictions(ds: Dataset) -> None:
    result = scan(ds, finders=["exact_duplicate"], cross_validate=False)
    preds = _preds(ds, [0, 1, 0, 1, 1, 0, 1, 0])  # wrong on all of site y
    rec = build_records(ds, result, preds, min_slice_n=1)
    f = rec.frame
    assert f["filepath"].to_list() == [
        str(Path(ds.root).resolve() / p)
        for p in ds.manifest["image"].to_list()  # type: ignore[arg-type]
    ]
    assert rec.columns == {"split": "split", "site": "site", "metadata": "meta_metadata"}
    assert f["meta_metadata"].to_list() == list("abababab")
    assert f["pred_label"].to_list() == ["cat", "dog", "cat", "dog", "dog", "cat", "dog", "cat"]
    assert f["confidence"].to_list() == pytest.approx([0.8] * 8)
    np.testing.assert_array_equal(rec.embeddings, preds.embeddings)  # type: ignore[arg-type]
    flagged = f.filter(pl.col("n_issues") > 0)
    assert flagged["sample_id"].to_list() == ["2", "5"]
    assert flagged["issue_tags"].to_list() == [["issue:exact_duplicate"]] * 2
    assert flagged["details"].str.starts_with("exact_duplicate: ").all()
    # Worst slices: site=y is all wrong; the "metadata" and split slices are not worse
    # than overall (0.5), so only site=y qualifies.
    assert [(w.name, w.n, w.accuracy) for w in rec.worst_slices] == [("site=y", 4, 0.0)]
    assert f["worst_slices"].to_list() == [[]] * 4 + [["site=y"]] * 4


def test_missing_predictions_give_nulls_and_hash_tracks_content(ds: Dataset) -> None:
    rec = build_records(ds, None, _preds(ds, [0, 1, 0]))
    assert rec.frame["pred_label"].to_list()[:4] == ["cat", "dog", "cat", None]
    assert np.isnan(rec.embeddings[3]).all()  # type: ignore[index]
    again = build_records(ds, None, _preds(ds, [0, 1, 0]))
    assert again.frame["dc_hash"].to_list() == rec.frame["dc_hash"].to_list()
    ds.relabel(["1"], "cat", reason="test")
    moved = build_records(ds, None, _preds(ds, [0, 1, 0]))
    diff = [
        s
        for s, a, b in zip(ds.sample_ids, rec.frame["dc_hash"], moved.frame["dc_hash"], strict=True)
        if a != b
    ]
    assert diff == ["1"]


def test_inputs_that_cannot_be_pushed(ds: Dataset) -> None:
    mem = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 1], CLASSES)
    with pytest.raises(InvalidParameterError, match=r"ds\.to_folder"):
        build_records(mem)
    wrong = Predictions(["nope"], np.array([[0.5, 0.5]]), np.zeros((1, 2)), classes=CLASSES)
    with pytest.raises(SchemaError, match="none of the dataset's sample ids"):
        build_records(ds, None, wrong)
    three = Predictions(ds.sample_ids, np.full((8, 3), 1 / 3), np.zeros((8, 2)))
    with pytest.raises(SchemaError, match="3 class columns"):
        build_records(ds, None, three)


def test_review_decisions_refuse_contradictions() -> None:
    ids = ["a", "b", "c"]
    same = ["cat"] * 3
    with pytest.raises(InvalidParameterError, match="both 'confirmed_issue' and 'not_an_issue'"):
        review_decisions(ids, [["confirmed_issue", "not_an_issue"], [], []], same, same, CLASSES)
    with pytest.raises(InvalidParameterError, match="several relabel: tags on 'b'"):
        review_decisions(ids, [[], ["relabel:cat", "relabel:dog"], []], same, same, CLASSES)
    with pytest.raises(InvalidParameterError, match=r"unknown classes \('c: relabel:cow'\)"):
        review_decisions(ids, [[], [], ["relabel:cow"]], same, same, CLASSES)


def test_review_decisions_tag_wins_over_edit() -> None:
    rows = review_decisions(["a"], [["relabel:dog"]], ["cat"], ["dog"], CLASSES).rows()
    assert rows == [("a", None, "dog", "tag", "")]
    # An edit back to the pushed label is no edit; no tags means no decision.
    assert review_decisions(["a"], [[]], ["dog"], ["dog"], CLASSES).height == 0


def test_env_defaults_never_override_the_user() -> None:
    env = {"FIFTYONE_DO_NOT_TRACK": "false", "FIFTYONE_DATABASE_VALIDATION": "true"}
    assert configure_env(env) == {"FIFTYONE_SHOW_PROGRESS_BARS": "false"}
    assert env["FIFTYONE_DO_NOT_TRACK"] == "false"
    fresh: dict[str, str] = {}
    configure_env(fresh)
    assert fresh["FIFTYONE_DO_NOT_TRACK"] == "true"
