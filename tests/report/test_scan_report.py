"""Rendering a ScanResult as HTML and Markdown, and ScanResult.report()."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.result import ScanResult
from datacentric.report import render_scan_html, render_scan_markdown

EVIL = "<script>alert(1)</script>"
IDS = ["s0", "s1", "s2", "s3", "s4", "s5", EVIL, "s7"]
TYPES = ["label", "near_duplicate", "imbalance", "blurry"]  # blurry: nothing flagged


def _issues() -> pl.DataFrame:
    rows = []
    for t in TYPES:
        for i, sid in enumerate(IDS):
            flagged = (t == "label" and i in (1, 6)) or (t == "near_duplicate" and i in (2, 3))
            flagged = flagged or (t == "imbalance" and i == 7)
            rows.append(
                {
                    "sample_id": sid,
                    "issue_type": t,
                    "is_issue": flagged,
                    "severity": 0.9 - 0.1 * i if flagged else 0.0,
                    "suggested_label": "dog" if flagged and t == "label" else None,
                    "detail": (EVIL if sid == EVIL else f"{t} problem with {sid}")
                    if flagged
                    else None,
                    "duplicate_of": "s3" if flagged and t == "near_duplicate" and i == 2 else None,
                }
            )
    return pl.DataFrame(rows)


@pytest.fixture
def result() -> ScanResult:
    samples = pl.DataFrame(
        {
            "sample_id": IDS,
            "label": ["cat", "cat", "cat", "cat", "dog", "dog", "cat", "bird"],
            "split": ["train"] * 6 + ["val"] * 2,
            "scanner": ["a", "b", "a", "a", "b", "b", "b", "a"],
        }
    )
    return ScanResult(
        issues=_issues(),
        samples=samples,
        classes=["cat", "dog", "bird"],
        skipped={"outlier": "needs embeddings; pass embeddings= or allow cross-validation"},
        statistics={
            "imbalance": {
                "counted_split": "train",
                "class_counts": {"cat": 5, "dog": 2, "bird": 1},
                "imbalance_ratio": 5.0,
                "rare_classes": ["bird"],
                "empty_classes": [],
            },
            "annotator_disagreement": {
                "fleiss_kappa": 0.41,
                "per_annotator": [{"annotator": EVIL, "n_labeled": 8, "kappa": 0.5}],
            },
        },
        timings={"label": 0.12, "near_duplicate": 0.03},
        params={"label": {"threshold": 0.5}},
        meta={
            "root": "/data/pets",
            "version": 3,
            "n_samples": 8,
            "predictions": "given",
            "created_at": "2024-01-01T00:00:00+00:00",
        },
    )


@pytest.fixture
def dataset() -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (len(IDS), 6, 6, 3), dtype=np.uint8)
    return Dataset.from_arrays(images, ["cat"] * len(IDS), ["cat", "dog", "bird"], sample_ids=IDS)


def _assert_self_contained(doc: str) -> None:
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', doc, re.I)
    assert "<script" not in doc.lower()
    assert "<link" not in doc.lower() and "@import" not in doc and "url(" not in doc


def test_html_report_is_self_contained_with_charts(result):
    doc = render_scan_html(result)
    _assert_self_contained(doc)
    assert "<svg" in doc
    assert "data:image/png" not in doc  # no dataset, no thumbnails
    for t in TYPES:
        assert f'id="issue-{t}"' in doc
    assert "/data/pets" in doc and "version 3" in doc and "predictions: given" in doc
    assert "2024-01-01" in doc


def test_html_report_thumbnails_when_dataset_given(result, dataset):
    doc = render_scan_html(result, dataset=dataset, top=12)
    _assert_self_contained(doc)
    assert doc.count("data:image/png;base64,") == 5  # five flagged rows, all shown
    assert '<svg class="boxes"' not in doc and 'class="box-figure"' not in doc


def test_html_report_respects_top(result, dataset):
    doc = render_scan_html(result, dataset=dataset, top=1)
    assert doc.count("data:image/png;base64,") == 3  # one per issue type
    assert "and 1 more flagged" in doc


def test_html_report_escapes_user_data(result, dataset):
    doc = render_scan_html(result, dataset=dataset)
    assert "alert(1)" in doc  # shown ...
    assert "<script>alert(1)" not in doc  # ... but never as markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc


def test_html_report_sections_content(result):
    doc = render_scan_html(result)
    assert "outlier" in doc and "needs embeddings" in doc  # skipped finder with reason
    assert "Rare classes, highlighted: bird" in doc
    assert "#f97316" in doc  # a highlighted class bar
    assert "Issue rates by slice" in doc and "scanner" in doc
    assert 'cat</span> <span class="arrow">→</span> <span class="suggested">dog' in doc
    assert "duplicate_of: s3" in doc
    assert 'class="badge high"' in doc
    assert "Samples with any issue" in doc and "Label errors" in doc
    assert "threshold" in doc  # run details: parameters


def test_html_report_lists_clean_checks_and_other_statistics(result):
    doc = render_scan_html(result)
    clean = doc.split("Checks that found nothing", 1)[1]
    assert "blurry" in clean and "Blurry image" in clean
    assert '<section class="card" id="issue-blurry"' not in doc  # no empty gallery
    assert '<li id="issue-blurry">' in doc
    assert "Statistics: Annotator disagreement" in doc and "fleiss kappa" in doc
    assert "0.41" in doc and "per annotator" in doc
    md = render_scan_markdown(result)
    assert "## Checks that found nothing" in md and "**blurry**" in md


def test_html_report_without_imbalance_statistics_uses_samples(result):
    result.statistics = {}
    doc = render_scan_html(result)
    assert "Samples per class (all samples)" in doc


def test_html_report_of_empty_scan():
    empty = ScanResult(
        issues=pl.DataFrame(
            schema={
                "sample_id": pl.Utf8,
                "issue_type": pl.Utf8,
                "is_issue": pl.Boolean,
                "severity": pl.Float64,
                "suggested_label": pl.Utf8,
                "detail": pl.Utf8,
            }
        ),
        samples=pl.DataFrame({"sample_id": ["a"], "label": ["x"], "split": ["train"]}),
        classes=["x"],
    )
    doc = render_scan_html(empty)
    assert "No finder produced results" in doc and "every selected finder ran" in doc
    assert "# Data scan report" in render_scan_markdown(empty)


def test_markdown_report(result):
    md = render_scan_markdown(result)
    assert md.startswith("# Data scan report")
    assert "| issue_type | n_flagged | n_examined | rate | mean_severity |" in md
    assert "| sample_id | label | suggested_label | severity | detail |" in md
    for t in TYPES:
        assert t in md
    assert "## Skipped finders" in md and "needs embeddings" in md
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "data:image" not in md


def test_scan_result_report_writes_files(result, dataset, tmp_path):
    html_path = result.report(tmp_path / "r.html", dataset=dataset)
    md_path = result.report(tmp_path / "sub" / "r.md")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "data:image/png" in html_path.read_text(encoding="utf-8")
    assert md_path.read_text(encoding="utf-8").startswith("# Data scan report")
    with pytest.raises(InvalidParameterError, match=r"\.html or \.md"):
        result.report(tmp_path / "r.pdf")
