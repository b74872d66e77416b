"""Every CLI verb on every hostile fixture: exit 1 with one line on stderr, or handled (exit 0).

The fixtures live in ``tests/hostile/cases/``; see its docstring. Runs in-process (Typer's
``CliRunner``) so the matrix stays fast; the exit status and stderr are those a shell sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from tests.hostile.cases import CliCase, all_cases

runner = CliRunner()

_PARAMS = [
    pytest.param(case, label, id=f"{case.name}-{label}")
    for case in all_cases()
    for label in case.argvs
]


@pytest.mark.parametrize(("case", "label"), _PARAMS)
def test_cli_verb_on_hostile_fixture(case: CliCase, label: str, tmp_path: Path) -> None:
    values = dict(case.build(tmp_path / "fixture"))
    out = tmp_path / "out"
    out.mkdir()
    values["out"] = str(out)
    argv = [part.format(**values) for part in case.argvs[label]]
    result = runner.invoke(app, argv, catch_exceptions=True)
    shown = f"argv={argv}\nexit={result.exit_code}\nstdout={result.stdout}\nstderr={result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, shown
    if case.outcome(label) == "ok":
        assert result.exit_code == 0, shown
        return
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{shown}\nexception={result.exception!r}"
    )
    assert result.exit_code == 1, shown
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, shown
    assert lines[0].startswith("Error: "), shown
    if case.match:
        assert case.match.format(**values) in lines[0], shown
