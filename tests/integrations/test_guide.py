"""Annotation guides: Markdown round trip, parse errors, drafting from a scan or predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.integrations.guide import (
    AmbiguousCase,
    AnnotationGuide,
    ClassDefinition,
    draft_guide,
)
from datacentric.issues.result import ScanResult
from datacentric.train.recipe import Predictions

REPO = Path(__file__).resolve().parents[2]


def test_repo_digits_guide_parses_and_round_trips() -> None:
    g = AnnotationGuide.load(REPO / "annotation_guides" / "digits.md")
    assert g.class_names == [str(d) for d in range(10)]
    assert len(g.rules) >= 4
    titles = [c.title for c in g.ambiguous]
    assert {"1 vs 7", "4 vs 9", "3 vs 8", "5 vs 6", "0 vs 6"} <= set(titles)
    one_seven = g.ambiguous[titles.index("1 vs 7")]
    assert one_seven.sample_ids and len(one_seven.images) == len(one_seven.sample_ids)
    for img in one_seven.images:
        assert (REPO / "annotation_guides" / img).is_file()
    assert AnnotationGuide.from_markdown(g.to_markdown()) == g


def test_save_load_and_html(tmp_path: Path) -> None:
    g = AnnotationGuide(
        "Pets <test>",
        "Label the pet.",
        [ClassDefinition("cat", "whiskers & claws"), ClassDefinition("dog")],
        ["Rule one."],
        [AmbiguousCase("cat vs dog", "Look at the ears.", ["s1", "s2"], ["img/s1.png"])],
    )
    path = g.save(tmp_path / "pets.md")
    assert AnnotationGuide.load(path) == g
    html = g.to_html()
    assert "Pets &lt;test&gt;" in html and "whiskers &amp; claws" in html
    assert "<img" not in html  # no image base: Label Studio cannot read local files
    assert '<img src="http://x/img/s1.png"' in g.to_html(image_base="http://x/")


def test_parse_errors_say_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"'## Task' and '## Classes'.*missing: \['classes'\]"):
        AnnotationGuide.from_markdown("# T\n\n## Task\n\nx\n")
    with pytest.raises(SchemaError, match="lists no class"):
        AnnotationGuide.from_markdown("# T\n\n## Task\n\nx\n\n## Classes\n\nnone\n")
    with pytest.raises(InvalidParameterError, match="datacentric guide DIR"):
        AnnotationGuide.load(tmp_path / "missing.md")


def _ds() -> Dataset:
    return Dataset.from_arrays(
        np.zeros((6, 4, 4)), ["1", "7", "1", "4", "9", "1"], classes=["1", "4", "7", "9"]
    )


def test_draft_from_predictions_orders_pairs_by_count() -> None:
    ds = _ds()
    # predicted: 7, 1, 7, 9, 9, 1 -> (1,7) confused 3 times, (4,9) once
    idx = [2, 0, 2, 3, 3, 0]
    probs = np.full((6, 4), 0.05)
    probs[np.arange(6), idx] = 0.85
    preds = Predictions(ds.sample_ids, probs, np.zeros((6, 2)), classes=ds.classes)
    g = draft_guide(ds, predictions=preds, title="Digits")
    assert [(c.title, sorted(c.sample_ids)) for c in g.ambiguous] == [
        ("1 vs 7", ["0", "1", "2"]),
        ("4 vs 9", ["3"]),
    ]
    assert g.class_names == ds.classes and all("TODO" in c.definition for c in g.classes)
    assert draft_guide(ds, predictions=preds, top=1).ambiguous[0].title == "1 vs 7"


def test_draft_from_scan_label_and_inconsistency_issues() -> None:
    ds = _ds()
    issues = pl.DataFrame(
        {
            "sample_id": ["0", "2", "3", "4"],
            "issue_type": ["label", "label", "label_inconsistency", "label_inconsistency"],
            "is_issue": [True, True, True, True],
            "severity": [0.9, 0.8, 0.5, 0.5],
            "suggested_label": ["7", "7", None, None],
            "detail": ["", "", "", ""],
            "predicted_label": ["7", "7", None, None],
            "conflict_with": [None, None, "4", "3"],
            "conflict_label": [None, None, "9", "4"],
        }
    )
    samples = ds.manifest.select("sample_id", "label", "split")
    result = ScanResult(issues, samples, ds.classes)
    g = draft_guide(ds, result)
    titles = [c.title for c in g.ambiguous]
    assert titles[0] == "1 vs 7" and g.ambiguous[0].sample_ids == ["0", "2"]
    dups = [c for c in g.ambiguous if c.title.startswith("near-duplicates")]
    assert len(dups) == 1  # the pair (3, 4) is one case, not two
    assert dups[0].title == "near-duplicates 3 (4) and 4 (9)"
    with pytest.raises(
        InvalidParameterError,
        match=r"^draft_guide: parameter top must be an integer >= 0; received -1 \(int\)",
    ):
        draft_guide(ds, result, top=-1)


def test_draft_from_duplicate_clusters_with_two_labels() -> None:
    ds = _ds()
    issues = pl.DataFrame(
        {
            "sample_id": ["0", "1", "2", "3"],
            "issue_type": ["near_duplicate"] * 4,
            "is_issue": [True] * 4,
            "severity": [1.0, 1.0, 0.9, 0.9],
            "suggested_label": [None] * 4,
            "detail": [""] * 4,
            "cluster_id": [1, 1, 2, 2],  # cluster 1 holds '1' and '7'; cluster 2 holds '1', '4'
        }
    )
    result = ScanResult(issues, ds.manifest.select("sample_id", "label", "split"), ds.classes)
    cases = draft_guide(ds, result).ambiguous
    assert [(c.title, c.sample_ids) for c in cases] == [
        ("near-duplicates 0 (1) and 1 (7)", ["0", "1"]),
        ("near-duplicates 2 (1) and 3 (4)", ["2", "3"]),
    ]
