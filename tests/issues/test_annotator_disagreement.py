"""Known answers for the annotator-disagreement finder (majority vote and CROWDLAB paths)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.issues.annotator_disagreement import AnnotatorDisagreementFinder
from datacentric.issues.base import ISSUE_SCHEMA
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import REGISTRY

CLASSES = ["a", "b", "c"]
N = 30
TRUTH = [i % 3 for i in range(N)]
BAD = [i for i in range(N) if i % 5 in (0, 2, 4)]  # ann3 is wrong on 18 of 30 samples


def _annotations() -> pl.DataFrame:
    """ann1, ann2 give the truth (ann2 wrong on sample 1); ann3 is wrong on ``BAD``."""
    rows = []
    for i, t in enumerate(TRUTH):
        rows.append((str(i), "ann1", CLASSES[t]))
        rows.append((str(i), "ann2", CLASSES[(t + 1) % 3 if i == 1 else t]))
        rows.append((str(i), "ann3", CLASSES[(t + 1) % 3 if i in BAD else t]))
    return pl.DataFrame(rows, schema=["sample_id", "annotator", "label"], orient="row")


def _dataset(labels: list[str | None] | None = None) -> Dataset:
    labels = labels if labels is not None else [CLASSES[t] for t in TRUTH]
    return Dataset.from_arrays(np.zeros((len(labels), 2, 2), np.uint8), labels, classes=CLASSES)


def _pred_probs(strength: float = 0.8) -> np.ndarray:
    p = np.full((N, 3), (1 - strength) / 2)
    p[np.arange(N), TRUTH] = strength
    return p


def test_registered_and_schema() -> None:
    assert REGISTRY.get("annotator_disagreement") is AnnotatorDisagreementFinder
    assert AnnotatorDisagreementFinder().get_params() == {"min_agreement": 1.0}
    t = AnnotatorDisagreementFinder().find(ScanContext(_dataset(), annotations=_annotations()))
    for col, dtype in ISSUE_SCHEMA.items():
        assert t.schema[col] == dtype
    assert t.schema["n_annotations"] == pl.Int64
    assert t.schema["agreement"] == pl.Float64
    assert t.schema["consensus_label"] == pl.Utf8
    assert t.schema["annotator_labels"] == pl.Utf8
    assert t["sample_id"].to_list() == [str(i) for i in range(N)]


def test_majority_vote_flags_the_disagreements() -> None:
    ctx = ScanContext(_dataset(), annotations=_annotations())
    t = AnnotatorDisagreementFinder().find(ctx)
    assert t["consensus_label"].to_list() == [CLASSES[x] for x in TRUTH]
    flagged = sorted(int(s) for s in t.filter(pl.col("is_issue"))["sample_id"])
    assert flagged == sorted({*BAD, 1})
    row = t.row(1, named=True)
    assert row["agreement"] == pytest.approx(2 / 3)
    assert row["severity"] == pytest.approx(1 / 3)
    assert row["annotator_labels"] == "ann1:b, ann2:c, ann3:b"
    assert row["suggested_label"] is None  # consensus equals the dataset label
    assert row["consensus_quality"] is None
    assert "2 of 3 chose the consensus 'b'" in row["detail"]
    ok = t.row(3, named=True)
    assert (ok["is_issue"], ok["severity"], ok["agreement"]) == (False, 0.0, 1.0)
    assert ok["detail"] == "All 3 annotators chose 'a'."


def test_statistics_rank_the_bad_annotator_last() -> None:
    stats = AnnotatorDisagreementFinder().statistics(
        ScanContext(_dataset(), annotations=_annotations())
    )
    by_name = {a["annotator"]: a["agreement_with_consensus"] for a in stats["annotators"]}
    assert min(by_name, key=by_name.__getitem__) == "ann3"
    assert by_name["ann1"] == 1.0
    assert by_name["ann3"] == pytest.approx(1 - len(BAD) / N)
    assert stats["n_samples"] == N and stats["n_annotators"] == 3


def test_suggests_consensus_when_dataset_label_differs() -> None:
    labels: list[str | None] = [CLASSES[t] for t in TRUTH]
    labels[3], labels[6] = "b", None  # sample 3 (truth a) mislabelled, sample 6 unlabelled
    t = AnnotatorDisagreementFinder().find(
        ScanContext(_dataset(labels), annotations=_annotations())
    )
    assert t.row(3, named=True)["suggested_label"] == "a"
    assert "The dataset label is 'b'; relabel to 'a'." in t.row(3, named=True)["detail"]
    assert t.row(6, named=True)["suggested_label"] == "a"
    assert t.filter(pl.col("suggested_label").is_not_null()).height == 2


def test_ties_single_annotations_and_min_agreement() -> None:
    ds = _dataset(["a", "a", "b"])
    ann = pl.DataFrame(
        {
            "sample_id": ["0", "0", "1", "2", "2", "2"],
            "annotator": ["x", "y", "x", "x", "y", "z"],
            "label": ["a", "b", "b", "b", "b", "a"],
        }
    )
    t = AnnotatorDisagreementFinder().find(ScanContext(ds, annotations=ann))
    tie, single, most = t.rows(named=True)
    assert tie["is_issue"] and tie["consensus_label"] is None and tie["suggested_label"] is None
    assert tie["agreement"] == 0.5 and "no consensus" in tie["detail"]
    assert not single["is_issue"] and single["n_annotations"] == 1
    assert single["suggested_label"] is None  # one annotation is not a consensus
    assert most["is_issue"] and most["agreement"] == pytest.approx(2 / 3)
    lenient = AnnotatorDisagreementFinder(min_agreement=0.6).find(ScanContext(ds, annotations=ann))
    assert lenient["is_issue"].to_list() == [True, False, False]
    with pytest.raises(InvalidParameterError, match="min_agreement"):
        AnnotatorDisagreementFinder(min_agreement=1.5).find(ScanContext(ds, annotations=ann))


def test_crowdlab_path_with_pred_probs() -> None:
    ctx = ScanContext(_dataset(), pred_probs=_pred_probs(), annotations=_annotations())
    t = AnnotatorDisagreementFinder().find(ctx)
    assert t["consensus_label"].to_list() == [CLASSES[x] for x in TRUTH]
    q = t["consensus_quality"].to_numpy()
    assert np.all((q > 0) & (q <= 1))
    assert t["severity"].to_numpy() == pytest.approx(1 - q)
    flagged = sorted(int(s) for s in t.filter(pl.col("is_issue"))["sample_id"])
    assert flagged == sorted({*BAD, 1})
    # unanimous samples have a higher consensus quality than disputed ones
    disputed = t.filter(pl.col("is_issue"))["consensus_quality"].mean()
    unanimous = t.filter(~pl.col("is_issue"))["consensus_quality"].mean()
    assert unanimous > disputed  # type: ignore[operator]


def test_crowdlab_breaks_a_tie_with_the_model() -> None:
    ann = _annotations().filter(~((pl.col("sample_id") == "4") & (pl.col("annotator") == "ann2")))
    # sample 4 (truth b): ann1 says b, ann3 says c → a tie for majority vote
    plain = AnnotatorDisagreementFinder().find(ScanContext(_dataset(), annotations=ann))
    assert plain.row(4, named=True)["consensus_label"] is None
    ctx = ScanContext(_dataset(), pred_probs=_pred_probs(), annotations=ann)
    row = AnnotatorDisagreementFinder().find(ctx).row(4, named=True)
    assert row["consensus_label"] == "b"
    assert row["agreement"] == 0.5 and row["is_issue"]


def test_needs_annotations() -> None:
    with pytest.raises(SchemaError, match="needs annotations"):
        AnnotatorDisagreementFinder().find(ScanContext(_dataset()))
