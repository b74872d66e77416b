"""The import-linter contract of pyproject.toml keeps the layers of DESIGN.md: it holds on
the package, breaks on a planted upward import, and the only imports it lets through are the
results' one-line ``.report()`` delegates, each a function-level import."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
CONTRACT = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the contract of ``root/pyproject.toml`` on the package under it."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package and its pyproject.toml, to plant violations in."""
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(
        ROOT / "datacentric", root / "datacentric", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(PYPROJECT, root / "pyproject.toml")
    return root


def test_contract_is_exhaustive_and_kept(copy: Path) -> None:
    (contract,) = CONTRACT["contracts"]
    assert contract["type"] == "layers" and contract["exhaustive"] is True
    out = _lint_imports(copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "planted", "message"),
    [
        (
            "slices/metrics.py",
            "import datacentric.report",
            "datacentric.slices is not allowed to import datacentric.report",
        ),
        (
            "issues/base.py",
            "from datacentric.cli import main",
            "datacentric.issues is not allowed to import datacentric.cli",
        ),
        (
            "dataset/__init__.py",
            "from datacentric.issues import scan",
            "datacentric.dataset is not allowed to import datacentric.issues",
        ),
        (
            "report/html.py",
            "import datacentric.integrations",
            "datacentric.report is not allowed to import datacentric.integrations",
        ),
    ],
)
def test_a_planted_violation_breaks_the_contract(
    copy: Path, module: str, planted: str, message: str
) -> None:
    path = copy / "datacentric" / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(f"{original}\n{planted}  # planted\n", encoding="utf-8")
        out = _lint_imports(copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "0 kept, 1 broken" in out.stdout and message in out.stdout


def test_a_new_top_level_package_must_be_placed(copy: Path) -> None:
    new = copy / "datacentric" / "newpkg.py"
    try:
        new.write_text('"""A module no layer declares."""\n', encoding="utf-8")
        out = _lint_imports(copy)
    finally:
        new.unlink()
    assert out.returncode == 1 and "datacentric.newpkg" in out.stdout


def _delegates(importer: str) -> list[tuple[ast.AST, ast.stmt]]:
    """The imports of ``datacentric.report`` in ``importer``, each with its enclosing def."""
    path = ROOT.joinpath(*importer.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for func in ast.walk(tree):
        for child in ast.iter_child_nodes(func):
            if isinstance(child, ast.ImportFrom | ast.Import):
                names = [child.module] if isinstance(child, ast.ImportFrom) else []
                names += [a.name for a in child.names] if isinstance(child, ast.Import) else []
                if any(n and n.startswith("datacentric.report") for n in names):
                    found.append((func, child))
    return found


@pytest.mark.parametrize("edge", CONTRACT["contracts"][0]["ignore_imports"])
def test_the_only_ignored_imports_are_one_line_report_delegates(edge: str) -> None:
    importer, imported = (s.strip() for s in edge.split("->"))
    assert imported == "datacentric.report"
    found = _delegates(importer)
    assert found, f"{importer} no longer imports datacentric.report: drop {edge!r}"
    for func, node in found:
        assert isinstance(func, ast.FunctionDef) and func.name == "report", (
            f"{importer} imports datacentric.report outside a .report() method (line {node.lineno})"
        )
        body = [s for s in func.body if not isinstance(s, ast.Expr)]  # minus the docstring
        assert len(body) == 2 and body[0] is node, ast.unparse(func)
        assert isinstance(node, ast.ImportFrom) and [a.name for a in node.names] == ["write"]
        ret = body[1]
        assert isinstance(ret, ast.Return) and isinstance(ret.value, ast.Call)
        assert ast.unparse(ret.value).startswith("write(self, path"), ast.unparse(ret)
