"""The ranked, bounded review queue on hand-built issues and slice metrics: exact order and cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.issues import ScanResult
from datacentric.loop import FixPolicy, fix
from datacentric.loop.review_queue import (
    default_review_budget,
    queue_summary,
    rank_review_queue,
    review_line,
)
from datacentric.slices import SliceMetrics
from datacentric.slices.metrics import METRICS_SCHEMA
from datacentric.testing import check_parameter_constraints

SITES = {"s0": "x", "s1": "y", "s2": "y", "s3": "x", "s4": "z", "s5": "x", "s6": "y"}


def _issues() -> pl.DataFrame:
    # sample, type, severity, label_quality -> p_wrong
    rows = [
        ("s0", "label", 0.7, 0.3),  # 1 - 0.3 = 0.7
        ("s1", "label", 0.6, 0.4),  # 0.6
        ("s2", "dark", 1.0, None),  # 0.3 x 1.0 = 0.3
        ("s2", "blurry", 0.5, None),  # 0.3 x 0.5 = 0.15 -> 1 - 0.7 x 0.85 = 0.405
        ("s3", "leakage", 0.9, None),  # 0.9 x 0.9 = 0.81
        ("s4", "outlier", 1.0, None),  # 0.3
        ("s5", "annotator_disagreement", 0.55, None),  # its own probability: 0.55
        ("s6", "label", 0.5, None),  # no label_quality: the severity, 0.5
    ]
    return pl.DataFrame(
        {
            "sample_id": [r[0] for r in rows],
            "issue_type": [r[1] for r in rows],
            "severity": [r[2] for r in rows],
            "label_quality": [r[3] for r in rows],
            "suggested_label": ["b" if r[1] == "label" else None for r in rows],
            "detail": [f"{r[1]} of {r[0]}" for r in rows],
            "site": [SITES[r[0]] for r in rows],
        }
    )


def _metrics() -> SliceMetrics:
    """Overall accuracy 0.9; site=y 0.6 (weight 1.3); site=z 0.8 but low support (ignored);
    site=x 0.95 (better than overall: weight 1)."""
    accs = [("overall", 0.9, False), ("site=y", 0.6, False), ("site=z", 0.8, True)]
    accs.append(("site=x", 0.95, False))
    table = pl.DataFrame(
        {
            "slice": [a[0] for a in accs],
            "n": [100, 40, 5, 55],
            "metric": ["accuracy"] * 4,
            "support": [None] * 4,
            "value": [a[1] for a in accs],
            "ci_low": [None] * 4,
            "ci_high": [None] * 4,
            "delta_vs_overall": [a[1] - 0.9 for a in accs],
            "p_value": [None] * 4,
            "low_support": [a[2] for a in accs],
        },
        schema=METRICS_SCHEMA,
    )
    slices = {f"site={v}": {"name": f"site={v}", "where": {"site": v}} for v in "xyz"}
    return SliceMetrics(table, {"slices": slices})


def test_rank_by_p_wrong_times_slice_weight_and_cut_at_budget() -> None:
    q = rank_review_queue(_issues(), slice_metrics=_metrics(), budget=3)
    # priorities: s3 .81, s1 .6x1.3=.78, s0 .7, s6 .5x1.3=.65, s5 .55, s2 .405x1.3=.5265, s4 .3
    assert q["sample_id"].to_list() == ["s3", "s1", "s0", "s6", "s5", "s2", "s4"]
    assert q["rank"].to_list() == [1, 2, 3, 4, 5, 6, 7]
    assert q["status"].to_list() == ["queued"] * 3 + ["deferred"] * 4
    assert q["priority"].to_list() == pytest.approx([0.81, 0.78, 0.7, 0.65, 0.55, 0.5265, 0.3])
    assert q["p_wrong"].to_list() == pytest.approx([0.81, 0.6, 0.7, 0.5, 0.55, 0.405, 0.3])
    assert q["slice_weight"].to_list() == pytest.approx([1, 1.3, 1, 1.3, 1, 1.3, 1])
    assert q["worst_slice"].to_list() == [None, "site=y", None, "site=y", None, "site=y", None]
    s2 = q.row(5, named=True)  # one row per sample, its issues merged, the likeliest first
    assert s2["issue_types"] == ["dark", "blurry"] and s2["issue_type"] == "dark"
    assert s2["severity"] == 1.0 and s2["detail"] == "dark of s2 blurry of s2"
    assert s2["site"] == "y" and "label_quality" not in q.columns
    assert q.row(1, named=True)["suggested_label"] == "b"
    summary = queue_summary(q, 3)
    assert summary == {
        "queued": 3,
        "candidates": 7,
        "deferred": 4,
        "budget": 3,
        "expected_errors": pytest.approx(3.865),
        "expected_errors_queued": pytest.approx(2.11),
        "coverage": pytest.approx(2.11 / 3.865),
    }
    assert review_line(summary) == (
        "queued 3 of 7 flagged samples for review (budget 3); the queue covers 54.6% of the "
        "expected errors (2.1 of 3.9), 4 deferred"
    )


def test_without_metrics_every_weight_is_one() -> None:
    q = rank_review_queue(_issues(), budget="all")
    assert q["sample_id"].to_list() == ["s3", "s0", "s1", "s5", "s6", "s2", "s4"]
    assert set(q["status"]) == {"queued"} and set(q["slice_weight"]) == {1.0}
    # the slice columns may come from a separate samples frame
    samples = pl.DataFrame({"sample_id": list(SITES), "site": list(SITES.values())})
    only = rank_review_queue(_issues().drop("site"), samples=samples, slice_metrics=_metrics())
    assert only["sample_id"].to_list()[:2] == ["s3", "s1"]  # s1 weighed by site=y
    # a slice on a column the samples lack weighs nothing
    assert set(
        rank_review_queue(_issues().drop("site"), slice_metrics=_metrics())["slice_weight"]
    ) == {1.0}


def test_a_slice_that_does_not_fit_the_samples_weighs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = _metrics()
    metrics.meta["slices"]["site=y"] = {"name": "site=y", "where": {"site": 3}}  # not text
    q = rank_review_queue(_issues(), slice_metrics=metrics, budget="all")
    assert set(q["slice_weight"]) == {1.0}
    assert "slice 'site=y' gives no weight" in caplog.text


def test_the_kept_copy_of_a_duplicate_needs_no_look() -> None:
    pair = pl.DataFrame(
        {
            "sample_id": ["orig", "copy", "solo"],
            "issue_type": ["near_duplicate", "near_duplicate", "dark"],
            "severity": [1.0, 1.0, 0.5],
            "keep": [True, False, None],
        }
    )
    q = rank_review_queue(pair, budget=1)
    assert q.select("sample_id", "p_wrong", "status").rows() == [
        ("copy", 0.5, "queued"),
        ("solo", 0.15, "deferred"),
        ("orig", 0.0, "deferred"),  # kept, not dropped
    ]


def test_budget_zero_default_and_ties() -> None:
    assert set(rank_review_queue(_issues(), budget=0)["status"]) == {"deferred"}
    # default: min(300, 5 % of the dataset), at least 1
    assert [default_review_budget(n) for n in (0, 19, 40, 1704, 6000, 10**6)] == [
        1, 1, 2, 85, 300, 300,
    ]  # fmt: skip
    q = rank_review_queue(_issues(), n_samples=60)  # 3
    assert q.filter(pl.col("status") == "queued")["sample_id"].to_list() == ["s3", "s0", "s1"]
    tie = pl.DataFrame({"sample_id": ["b", "a"], "issue_type": ["dark"] * 2, "severity": [1.0] * 2})
    assert rank_review_queue(tie, budget=1)["sample_id"].to_list() == ["a", "b"]
    # priors may be replaced per type
    q = rank_review_queue(_issues(), budget="all", priors={"outlier": 1.0})
    assert q["sample_id"].to_list()[:2] == ["s4", "s3"]
    every = rank_review_queue(_issues(), budget="all")
    assert review_line(queue_summary(every, "all")).startswith(
        "queued 7 of 7 flagged samples for review (no budget); the queue covers 100.0% "
    )
    empty = rank_review_queue(_issues().head(0))
    assert empty.height == 0 and queue_summary(empty)["coverage"] == 1.0
    assert review_line(queue_summary(empty)) == "nothing left to review"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"budget": -1},
            r"^rank_review_queue: parameter budget must be an integer >= 0, one of 'all' or None; "
            r"received -1 \(int\)",
        ),
        ({"budget": "some"}, r"parameter budget .*received 'some'"),
        ({"budget": 2.5}, r"parameter budget"),
        ({"n_samples": -3}, r"parameter n_samples"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        rank_review_queue(_issues(), **kwargs)  # type: ignore[arg-type]


def test_every_argument_is_checked() -> None:
    assert check_parameter_constraints(rank_review_queue, {"issues": _issues()}) >= 6


def test_missing_columns() -> None:
    with pytest.raises(SchemaError, match=r"need columns \['severity'\]"):
        rank_review_queue(_issues().drop("severity"))


def test_fix_queues_within_the_budget_and_defers_the_rest(tmp_path: Path) -> None:
    """fix(): the queue is the budget's best samples, the rest deferred, counts and summary."""
    n = 40
    ds = Dataset.from_arrays(
        np.random.default_rng(0).integers(0, 255, (n, 4, 4), np.uint8),
        ["a"] * 20 + ["b"] * 20,
        ["a", "b"],
        split=["test"] * n,  # never relabelled automatically: every flag goes to a person
        metadata={"site": ["x", "y"] * 20},
    )
    ds = ds.to_folder(tmp_path / "d")
    ds.commit("initial")
    flagged = [0, 1, 2, 3, 4, 5]
    issues = pl.DataFrame(
        {
            "sample_id": [str(i) for i in flagged],
            "issue_type": ["label"] * 6,
            "is_issue": [True] * 6,
            "severity": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
            "detail": ["wrong"] * 6,
            "suggested_label": ["b"] * 6,
            "label_quality": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            "predicted_prob": [0.5] * 6,
        }
    )
    scan = ScanResult(issues, ds.manifest.select("sample_id", "label", "split", "site"), ds.classes)
    metrics = _metrics()  # site=y (odd ids) lags by 0.3
    out = fix(ds, scan, FixPolicy(review_budget=3), slice_metrics=metrics, commit=False)
    # p: .9 .8 .7 .6 .5 .4; x1.3 on odd ids: 1 -> 1.04, 3 -> .78, 5 -> .52
    assert out.review["sample_id"].to_list() == ["1", "0", "3"]
    assert out.deferred["sample_id"].to_list() == ["2", "5", "4"]
    assert out.counts == {
        "relabeled": 0,
        "removed": 0,
        "queued_for_review": 3,
        "deferred_review": 3,
    }
    assert out.review_summary["budget"] == 3
    assert out.review_summary["coverage"] == pytest.approx((0.9 + 0.8 + 0.6) / 3.9)
    # the default budget: 5 % of 40 samples = 2
    default = fix(ds, scan, commit=False)
    assert default.review["sample_id"].to_list() == ["0", "1"]
    assert default.review_summary["budget"] == 2 and default.deferred.height == 4
    with pytest.raises(InvalidParameterError, match="review_budget"):
        FixPolicy(review_budget=-1)


def test_cli_review_budget_values() -> None:
    from datacentric.cli.loop import _review_budget

    assert [_review_budget(v) for v in (None, "all", " 7 ", "0", "+3")] == [None, "all", 7, 0, 3]
    with pytest.raises(InvalidParameterError, match=r"--review-budget .*received -2 \(int\)"):
        _review_budget("-2")
    with pytest.raises(InvalidParameterError, match=r"--review-budget .*received 'ALL' \(str\)"):
        _review_budget("ALL")
