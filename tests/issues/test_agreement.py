"""Known answers for the inter-annotator agreement statistics."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import cohen_kappa_score

from datacentric.exceptions import SchemaError
from datacentric.issues.agreement import (
    agreement_report,
    cohens_kappa,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    majority_vote,
    rating_matrix,
)

NAN = float("nan")

# Fleiss (1971) as tabulated on Wikipedia's "Fleiss' kappa": 10 items, 14 raters, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


@pytest.mark.parametrize("seed", range(5))
def test_cohens_kappa_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, 200)
    b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 4, 200))
    assert cohens_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_cohens_kappa_strings_perfect_and_degenerate() -> None:
    assert cohens_kappa(["cat", "dog", "cat"], ["cat", "dog", "cat"]) == 1.0
    assert np.isnan(cohens_kappa(["a", "a"], ["a", "a"]))  # p_e = 1: undefined
    assert np.isnan(cohens_kappa([], []))
    with pytest.raises(SchemaError, match="equal length"):
        cohens_kappa([1, 2], [1])


def test_fleiss_wikipedia_example() -> None:
    assert fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.2099, abs=5e-4)
    assert round(fleiss_kappa(FLEISS_TABLE), 3) == 0.210


def test_fleiss_perfect_and_variable_counts() -> None:
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    # variable rater counts, all agreeing: still 1; single-rating items are skipped
    assert fleiss_kappa([[2, 0, 0], [0, 4, 0], [0, 0, 3], [1, 0, 0]]) == pytest.approx(1.0)
    # constant n: equals the unweighted formula
    assert fleiss_kappa([[1, 1], [2, 0]]) == pytest.approx((0.5 - (9 + 1) / 16) / (1 - 10 / 16))
    assert np.isnan(fleiss_kappa([[1, 0]]))


def test_krippendorff_hand_computed_small_case() -> None:
    # 2 raters × 3 items: (a,a), (a,b), (b,b). Pairable values n = 6, n_a = n_b = 3,
    # off-diagonal coincidences = 2, expected = 2·3·3 = 18 → alpha = 1 - 5·2/18 = 4/9.
    ratings = [[0, 0, 1], [0, 1, 1]]
    assert krippendorff_alpha_nominal(ratings) == pytest.approx(4 / 9)


def test_krippendorff_missing_values_and_textbook_example() -> None:
    # Krippendorff (2011) example C, nominal alpha = 0.743; -1 and NaN both mean missing.
    r: list[list[float]] = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, -1],
    ]
    assert krippendorff_alpha_nominal(r) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_perfect_and_fleiss_agrees_when_complete() -> None:
    assert krippendorff_alpha_nominal([[0, 1, 2, 1], [0, 1, 2, 1], [0, 1, 2, 1]]) == 1.0
    # complete data: alpha = kappa-like with a small-sample correction; both < 1 and close
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    ratings = np.where(rng.random((4, 300)) < 0.7, truth, rng.integers(0, 3, (4, 300)))
    counts = np.stack([np.bincount(ratings[:, i], minlength=3) for i in range(300)])
    alpha, kappa = krippendorff_alpha_nominal(ratings), fleiss_kappa(counts)
    assert alpha == pytest.approx(kappa, abs=0.01)
    assert np.isnan(krippendorff_alpha_nominal([[0, NAN], [NAN, 1]]))  # nothing pairable


def test_majority_vote_and_rating_matrix() -> None:
    assert majority_vote(["a", "b", "b"]) == "b"
    assert majority_vote(["a", "b"]) is None
    assert majority_vote([]) is None
    ann = pl.DataFrame(
        {
            "sample_id": ["s1", "s1", "s1", "s2"],
            "annotator": ["x", "x", "y", "y"],
            "label": ["a", "b", None, "a"],
        }
    )
    m, raters, items = rating_matrix(ann, ["a", "b"])
    assert m.tolist() == [[1, -1], [-1, 0]]  # x relabelled s1 (last wins); y's null dropped
    assert (raters, items) == (["x", "y"], ["s1", "s2"])
    with pytest.raises(SchemaError, match="not among the classes"):
        rating_matrix(ann, ["a"])


def _annotations(truth: list[int], bad: str = "ann3") -> pl.DataFrame:
    """ann1 and ann2 always give the truth; ``bad`` always gives the next class."""
    rows = []
    for i, t in enumerate(truth):
        for name in ("ann1", "ann2", "ann3"):
            lab = (t + 1) % 3 if name == bad else t
            rows.append((f"s{i}", name, "abc"[lab]))
    return pl.DataFrame(rows, schema=["sample_id", "annotator", "label"], orient="row")


def test_report_perfect_agreement() -> None:
    ann = pl.DataFrame(
        {
            "sample_id": ["0", "0", "1", "1", "2", "2"],
            "annotator": ["x", "y"] * 3,
            "label": ["a", "a", "b", "b", "a", "a"],
        }
    )
    rep = agreement_report(ann, ["a", "b", "c"])
    assert rep["fleiss_kappa"] == 1.0
    assert rep["krippendorff_alpha"] == 1.0
    assert rep["pairwise"] == [
        {"annotator_a": "x", "annotator_b": "y", "n_shared": 3, "cohens_kappa": 1.0}
    ]
    assert [a["agreement_with_consensus"] for a in rep["annotators"]] == [1.0, 1.0]
    per_class = {c["class"]: c for c in rep["per_class"]}
    assert per_class["a"]["specific_agreement"] == 1.0
    assert per_class["a"]["alpha"] == 1.0
    assert per_class["c"]["n_annotations"] == 0
    assert per_class["c"]["alpha"] is None and per_class["c"]["specific_agreement"] is None


def test_report_one_bad_annotator() -> None:
    truth = [0, 1, 2, 0, 1, 2, 0, 0, 1, 2]
    rep = agreement_report(_annotations(truth), ["a", "b", "c"])
    assert (rep["n_samples"], rep["n_samples_multi"], rep["n_annotators"]) == (10, 10, 3)
    assert rep["n_annotations"] == 30
    by_name = {a["annotator"]: a for a in rep["annotators"]}
    assert by_name["ann1"]["agreement_with_consensus"] == 1.0
    assert by_name["ann3"]["agreement_with_consensus"] == 0.0
    assert by_name["ann3"]["kappa_with_consensus"] < 0
    pairs = {(p["annotator_a"], p["annotator_b"]): p for p in rep["pairwise"]}
    assert pairs[("ann1", "ann2")]["cohens_kappa"] == 1.0
    assert pairs[("ann1", "ann3")]["n_shared"] == 10
    assert pairs[("ann1", "ann3")]["cohens_kappa"] < 0
    # every sample has 1 agreeing pair of 3 (P_i = 1/3), about chance for 3 even classes
    assert rep["fleiss_kappa"] == pytest.approx(0.0, abs=0.01)
    assert rep["krippendorff_alpha"] == pytest.approx(rep["fleiss_kappa"], abs=0.05)


def test_report_variable_annotators_and_ties() -> None:
    ann = pl.DataFrame(
        {
            "sample_id": ["0", "0", "1", "2", "2", "2"],
            "annotator": ["x", "y", "x", "x", "y", "z"],
            "label": ["a", "b", "a", "a", "a", "a"],
        }
    )
    rep = agreement_report(ann, ["a", "b"])
    assert rep["n_samples"] == 3 and rep["n_samples_multi"] == 2
    by_name = {a["annotator"]: a for a in rep["annotators"]}
    # sample 0 is a tie (no consensus): only sample 2 is compared
    assert by_name["x"]["n_with_consensus"] == 1
    assert by_name["z"]["n_labeled"] == 1
    pairs = {(p["annotator_a"], p["annotator_b"]): p["n_shared"] for p in rep["pairwise"]}
    assert pairs == {("x", "y"): 2, ("x", "z"): 1, ("y", "z"): 1}
