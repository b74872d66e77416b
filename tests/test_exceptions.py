"""Every public exception class lives in datacentric/exceptions.py; old homes re-export."""

from __future__ import annotations

import ast
from pathlib import Path

import datacentric
from datacentric import exceptions

PACKAGE = Path(datacentric.__file__).parent


def _error_classes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue
        bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
        if any(b.endswith(("Error", "Exception", "Warning")) for b in bases):
            out.append(node.name)
    return out


def test_no_public_exception_class_outside_exceptions_py() -> None:
    elsewhere = {
        str(p.relative_to(PACKAGE)): names
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.name != "exceptions.py" and (names := _error_classes(p))
    }
    assert elsewhere == {}
    assert set(_error_classes(PACKAGE / "exceptions.py")) <= set(exceptions.__all__)


def test_old_import_paths_still_work() -> None:
    from datacentric.integrations.fiftyone._env import FiftyOneError
    from datacentric.integrations.labelstudio.client import (
        LabelStudioError,
        ServerUnavailableError,
    )
    from datacentric.monitor import BatchConflictError, MonitorStoreError, batch, store

    assert FiftyOneError is exceptions.FiftyOneError
    assert LabelStudioError is exceptions.LabelStudioError
    assert ServerUnavailableError is exceptions.ServerUnavailableError
    assert BatchConflictError is batch.BatchConflictError is exceptions.BatchConflictError
    assert MonitorStoreError is store.MonitorStoreError is exceptions.MonitorStoreError
    assert issubclass(exceptions.BatchConflictError, exceptions.StoreError)
    assert issubclass(exceptions.ServerUnavailableError, exceptions.IntegrationError)
    assert exceptions.LabelStudioError("refused", 403).status_code == 403
