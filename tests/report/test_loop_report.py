"""The loop report: an experiment log written by hand (no training) rendered as HTML/Markdown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.loop.log import ExperimentLog
from datacentric.report.loop import (
    line_chart_svg,
    render_loop_html,
    render_loop_markdown,
    render_loop_report,
)
from datacentric.slices.metrics import evaluate_frame
from datacentric.slices.result import SliceMetrics

EVIL = "<b>s1</b>"
CLASSES = ["cat", "dog"]


@dataclass
class _Slice:
    name: str
    expr: pl.Expr
    columns: tuple[str, ...]


SLICES = [_Slice(f"site={s}", pl.col("site") == s, ("site",)) for s in ("a", "b")]


def _dataset(root: Path) -> None:
    """Six train + forty test images; version 1, then EVIL relabelled (version 2)."""
    n = 46
    rng = np.random.default_rng(0)
    ids = [EVIL, *[f"tr{i}" for i in range(1, 6)], *[f"te{i}" for i in range(40)]]
    ds = Dataset.from_arrays(
        rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8),
        [i % 2 for i in range(n)],
        CLASSES,
        metadata={"site": ["a" if i % 3 else "b" for i in range(n)]},
        sample_ids=ids,
        split=["train"] * 6 + ["test"] * 40,
    ).to_folder(root)
    assert ds.commit("import") == 1
    ds.relabel([EVIL], ["dog"], reason="label error", source="label", iteration=1)
    assert ds.commit("iteration 1: auto-fix") == 2


def _predictions(n_wrong: int) -> pl.DataFrame:
    """Forty test rows; the first ``n_wrong`` are predicted as the other class."""
    labels = [CLASSES[i % 2] for i in range(40)]
    preds = [CLASSES[1 - i % 2] if i < n_wrong else lab for i, lab in enumerate(labels)]
    return pl.DataFrame(
        {
            "sample_id": [f"te{i}" for i in range(40)],
            "label": labels,
            "pred": preds,
            "confidence": [0.9] * 40,
            "split": ["test"] * 40,
            "site": ["a" if i % 3 else "b" for i in range(40)],
        }
    )


def _metrics(preds: pl.DataFrame) -> SliceMetrics:
    table = evaluate_frame(preds, SLICES, confidence="confidence", classes=CLASSES, min_n=5)
    return SliceMetrics(table, {"classes": CLASSES, "min_n": 5, "split": "test"})


def _record(it: int, preds: pl.DataFrame, metrics: SliceMetrics, **extra: Any) -> dict[str, Any]:
    acc = metrics.table.filter(pl.col("metric") == "accuracy")
    overall = acc.row(0, named=True)
    worst = acc.filter(pl.col("slice") != "overall").sort("value").row(0, named=True)
    return {
        "iteration": it,
        "version_before": max(it, 1),
        "version": it + 1,
        "recipe": "tiny",
        "eval_split": "test",
        "n_train": 6,
        "n_eval": preds.height,
        "accuracy": overall["value"],
        "accuracy_ci": [overall["ci_low"], overall["ci_high"]],
        "worst_slice": worst["slice"],
        "worst_slice_accuracy": worst["value"],
        "counts": {},
        "issues_flagged": {},
        "timings_s": {"train": 1.0},
        "regressed_slices": [],
        **extra,
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    _dataset(tmp_path)
    log = ExperimentLog(tmp_path)
    p0, p1 = _predictions(10), _predictions(4)  # accuracy 75.0% → 90.0%
    m0, m1 = _metrics(p0), _metrics(p1)
    log.write(_record(0, p0, m0), {"predictions": p0}, m0)
    edits = pl.DataFrame(
        {
            "sample_id": [EVIL, "tr2"],
            "action": ["relabel", "remove"],
            "old": ["cat", "dog"],
            "new": ["dog", None],
            "reason": ["label error (self-confidence 0.010)", "exact duplicate"],
            "source": ["label", "exact_duplicate"],
            "score": [0.99, 1.0],
        }
    )
    review = pl.DataFrame(
        {
            "sample_id": ["tr3", "tr4", "tr5"],
            "issue_type": ["dark", "dark", "label"],
            "severity": [0.9, 0.5, 0.7],
            "suggested_label": [None, None, "cat"],
            "detail": ["Mean brightness 0.02 <dark>", "Dark", "Model says cat"],
            "label": ["dog", "cat", "dog"],
            "split": ["train"] * 3,
        }
    )
    scan = review.select("sample_id", "issue_type", "severity", "suggested_label", "detail")
    record = _record(
        1,
        p1,
        m1,
        counts={"relabeled": 1, "removed": 1, "queued_for_review": 3},
        issues_flagged={"dark": 2, "label": 2, "blurry": 0},
    )
    log.write(record, {"predictions": p1, "scan": scan, "edits": edits, "review": review}, m1)
    return tmp_path


def _assert_self_contained(doc: str) -> None:
    assert "<script" not in doc.lower()
    assert not re.search(r"https?://", doc)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?!#|data:)[^"'\s>]""", doc)


def test_html_shows_every_part_of_the_loop(root: Path) -> None:
    doc = render_loop_html(root)
    _assert_self_contained(doc)
    assert doc.startswith("<!DOCTYPE html>") and doc.count("<svg") >= 4
    for text in (
        "75.0%",
        "90.0%",
        "+15.0 pp",
        "baseline",
        "iteration 1",
        "versions 1 → 2",
        "Learning curve of the data iterations",
        "Accuracy by slice, before and after",
        "Issues found by type",
        "What was fixed",
        "Confusion matrices",
        "Review queue",
        "site=a",
        "site=b",
        "label error (self-confidence 0.010)",
        "Model says cat",
    ):
        assert text in doc, text
    assert "&lt;b&gt;s1&lt;/b&gt;" in doc and EVIL not in doc
    assert "&lt;dark&gt;" in doc and "<dark>" not in doc
    assert "Nothing flagged by: blurry" in doc


def test_html_confusion_matrices_and_thumbnails(root: Path) -> None:
    doc = render_loop_html(root)
    section = doc[doc.index('id="confusion"') : doc.index('id="review"')]
    assert "Baseline (version 1)" in section and "Iteration 1 (version 2)" in section
    assert section.count('class="num diag"') == 4  # two 2 × 2 matrices
    assert 'class="num hot"' in section  # 5 of 20 cats predicted dog at baseline
    assert doc.count('src="data:image/png;base64,') == 1  # the relabelled sample, at version 1


def test_html_skips_thumbnails_without_a_dataset(root: Path, tmp_path_factory: Any) -> None:
    bare = tmp_path_factory.mktemp("bare")
    src, dst = ExperimentLog(root), ExperimentLog(bare)
    for rec in src.records():
        it = int(rec["iteration"])
        names = ["predictions", "scan", "edits", "review"] if it else ["predictions"]
        dst.write(rec, {n: src.frame(it, n) for n in names}, src.metrics(it))
    doc = render_loop_html(bare)
    assert "data:image/png" not in doc and "&lt;b&gt;s1&lt;/b&gt;" in doc


def test_markdown_has_the_tables(root: Path) -> None:
    md = render_loop_markdown(root)
    assert md.startswith("# Data loop report")
    assert "| --- |" in md or "| ---: |" in md
    for text in ("## Confusion matrices", "## Review queue", "75.0%", "90.0%", "| dark | 2 |"):
        assert text in md, text
    assert EVIL not in md and "&lt;b&gt;s1&lt;/b&gt;" in md


def test_report_writes_by_suffix_and_rejects_others(root: Path, tmp_path: Path) -> None:
    out = render_loop_report(root, tmp_path / "out" / "loop.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert render_loop_report(root, tmp_path / "loop.md").read_text().startswith("# Data loop")
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(InvalidParameterError, match=r"\.html or \.md"):
        render_loop_report(root, tmp_path / "loop.txt")


def test_baseline_only_and_empty_log(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="no loop iterations"):
        render_loop_html(tmp_path)
    p0 = _predictions(10)
    m0 = _metrics(p0)
    ExperimentLog(tmp_path).write(_record(0, p0, m0), {"predictions": p0}, m0)
    doc = render_loop_html(tmp_path)
    assert "75.0%" in doc and "No automatic edit was made." in doc
    assert "Accuracy by slice" not in doc and "only the baseline is recorded" in doc
    assert "## What was fixed" in render_loop_markdown(tmp_path)


def test_line_chart_svg_checks_lengths_and_escapes() -> None:
    svg = line_chart_svg(
        ["<a>", "b"],
        {"acc <x>": [0.5, None], "w": [0.4, 0.45]},
        intervals={"acc <x>": ([0.4, None], [0.6, None])},
        value_format="{:.0%}",
    )
    assert svg.count("<circle") == 3 and "&lt;a&gt;" in svg and "<x>" not in svg
    assert "50%" in svg and "[40%, 60%]" in svg
    with pytest.raises(InvalidParameterError, match="one value per label"):
        line_chart_svg(["a", "b"], {"s": [1.0]})


def test_a_ranked_queue_says_what_the_budget_covers(tmp_path: Path) -> None:
    """The loop's ranked queue (one row per sample, a budget): the report says what it covers."""
    from datacentric.loop.review_queue import queue_summary, rank_review_queue

    _dataset(tmp_path)
    log = ExperimentLog(tmp_path)
    p0, p1 = _predictions(10), _predictions(4)
    m0, m1 = _metrics(p0), _metrics(p1)
    log.write(_record(0, p0, m0), {"predictions": p0}, m0)
    issues = pl.DataFrame(
        {
            "sample_id": ["tr3", "tr3", "tr4", "tr5"],
            "issue_type": ["dark", "label", "dark", "outlier"],
            "severity": [1.0, 0.8, 0.5, 0.5],
            "label_quality": [None, 0.2, None, None],
        }
    )
    ranked = rank_review_queue(
        issues, budget=2
    )  # p_wrong: tr3 .86, tr4 .15, tr5 .15 (a tie: by id)
    summary = queue_summary(ranked, 2)
    record = _record(1, p1, m1, counts={"queued_for_review": 2}, review_queue=summary)
    frames = {
        "predictions": p1,
        "review": ranked.filter(pl.col("status") == "queued"),
        "review_deferred": ranked.filter(pl.col("status") == "deferred"),
    }
    log.write(record, frames, m1)
    md = render_loop_markdown(tmp_path)
    covers = "queued 2 of 3 flagged samples for review (budget 2); the queue covers 87.1% of the"
    assert covers in md and "1 deferred" in md
    assert "p_wrong × slice_weight" in md and "label, dark" in md
    assert md.index("tr3") < md.index("tr4") and "tr5" not in md
    assert covers in render_loop_html(tmp_path)
