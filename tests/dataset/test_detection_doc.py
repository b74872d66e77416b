"""docs/detection.md: its worked example runs and prints what the page says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "detection.md"


def test_the_worked_example_runs() -> None:
    text = DOC.read_text()
    section = text[text.index("## A worked example") :]  # not the demo block above it
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), str(DOC), "exec"), {})
    text = out.getvalue()
    assert "Dataset(2 samples, 2 boxes, 2 classes" in text
    assert "detection ['car', 'person'] [3, 1]" in text
    assert "shape: (0, 5)" in text  # no box problems
    assert "shape: (3, 6)" in text  # three boxes back from YOLO


def test_the_box_issues_example_runs() -> None:
    """The "Finding box issues" example prints the counts its comment and table give."""
    text = DOC.read_text()
    section = text[text.index("## Finding box issues") : text.index("## Box edits")]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), str(DOC), "exec"), {})
    assert (
        "flagged box_geometry=0, duplicate_box=25, badly_located_box=29, swapped_box=31, "
        "overlooked_box=36" in out.getvalue()
    )
