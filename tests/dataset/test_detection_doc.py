"""docs/detection.md: its worked example runs and prints what the page says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "detection.md"


def test_the_worked_example_runs() -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), str(DOC), "exec"), {})
    text = out.getvalue()
    assert "Dataset(2 samples, 2 boxes, 2 classes" in text
    assert "detection ['car', 'person'] [3, 1]" in text
    assert "shape: (0, 5)" in text  # no box problems
    assert "shape: (3, 6)" in text  # three boxes back from YOLO
