"""CLI cases for ``datacentric demo-data DIR --task``: a task that is not one of the two.

Refused with one ``Error:`` line naming ``--task`` and the value received, before anything
is written (the output folder stays absent).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.hostile.cases import CliCase

__all__ = ["CASES"]


def _nothing(tmp: Path) -> Mapping[str, str]:
    return {"demo": str(tmp / "demo")}


CASES: list[CliCase] = [
    CliCase(
        name=f"demo_data_task_{label}",
        build=_nothing,
        argvs={"demo-data": ("demo-data", "{demo}", "--task", value)},
        match=f"--task must be one of 'classification', 'detection'; received {value!r}",
    )
    for label, value in (
        ("segmentation", "segmentation"),
        ("capitalised", "Detection"),
        ("empty", ""),
        ("markup", "[red]detection[/red]"),
    )
]
