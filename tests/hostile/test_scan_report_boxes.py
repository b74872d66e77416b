"""The box figures of a scan report: a ``dataset=`` that is not a Dataset is one clear
error (HTML and Markdown, directly and through ``write``), and box columns that are not a
box (from a hand-edited or hostile result file) are named, not drawn, without crashing."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError
from datacentric.issues.result import ScanResult
from datacentric.report import render_scan_html, render_scan_markdown


def _result(**suggested: list[object]) -> ScanResult:
    n = len(next(iter(suggested.values())))
    issues = pl.DataFrame(
        {
            "sample_id": ["0"] * n,
            "issue_type": ["overlooked_box"] * n,
            "is_issue": [True] * n,
            "severity": [0.9] * n,
            "suggested_label": ["c1"] * n,
            "detail": ["found"] * n,
            "annotation_id": [None] * n,
            "prediction_id": [str(i) for i in range(n)],
            **suggested,
        },
        schema_overrides={"annotation_id": pl.Utf8},
        strict=False,
    )
    samples = pl.DataFrame({"sample_id": ["0"], "label": [None], "split": ["train"]})
    return ScanResult(issues, samples, ["c1"])


@pytest.mark.parametrize("dataset", ["/data/root", np.zeros((2, 4, 4)), 3])
def test_dataset_that_is_not_a_dataset_is_refused(dataset: object, tmp_path) -> None:
    result = _result(suggested_x=[1.0], suggested_y=[1.0], suggested_w=[2.0], suggested_h=[2.0])
    for render in (render_scan_html, render_scan_markdown):
        with pytest.raises(InvalidParameterError) as err:
            render(result, dataset=dataset)
        message = str(err.value)
        assert "\n" not in message
        assert f"{render.__name__}: parameter dataset must be the scanned Dataset or None" in (
            message
        )
        assert "received" in message and "Dataset.open" in message
    with pytest.raises(InvalidParameterError, match="parameter dataset"):
        result.report(tmp_path / "r.md", dataset=dataset)
    assert not (tmp_path / "r.md").exists()


def test_suggested_boxes_that_are_not_boxes_are_named_not_drawn() -> None:
    bad = [
        (float("nan"), 1.0, 2.0, 2.0),
        (float("inf"), 1.0, 2.0, 2.0),
        (1e308, 1.0, 1e308, 2.0),  # x + w overflows
        (1.0, 1.0, -2.0, 2.0),  # negative width
        (1.0, 1.0, 0.0, 2.0),
    ]
    good = (1.0, 1.0, 2.0, 2.0)
    cols = zip(*[*bad, good], strict=True)
    result = _result(
        **dict(zip(["suggested_x", "suggested_y", "suggested_w", "suggested_h"], cols, strict=True))
    )
    doc = render_scan_html(result)
    assert doc.count('<svg class="boxes"') == 1  # the good one only
    assert 'x="1" y="1" width="2" height="2"' in doc
    assert doc.count("The suggested box is not drawn: its coordinates are not a box") == 5
    assert "(nan, 1.0, 2.0, 2.0)" in doc and "(1.0, 1.0, -2.0, 2.0)" in doc
    md = render_scan_markdown(result)
    assert r"no given box → suggested \[1, 1, 2, 2\] class c1" in md
    assert md.count("→ suggested box not a box (") == 5


def test_suggested_box_columns_of_the_wrong_type_draw_nothing() -> None:
    result = _result(
        annotation_id=['"><b>x</b>'],
        suggested_x=["1"],
        suggested_y=[True],
        suggested_w=[None],
        suggested_h=[2.0],
        box_score=["low"],
        iou=[[0.5]],
    )
    doc = render_scan_html(result)
    assert '<svg class="boxes"' not in doc
    assert "The suggested box is not drawn" in doc
    assert "<b>x</b>" not in doc and "&lt;b&gt;x&lt;/b&gt;" in doc
    assert "ObjectLab score low" in doc  # shown as it is
    md = render_scan_markdown(result)
    assert "→ suggested box not a box (1, True, None, 2.0)" in md
    assert "| 0.90 |  | found |" in md  # a score that is not a number: an empty cell
