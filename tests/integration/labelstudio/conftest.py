"""Fixtures that run a real Label Studio server (see ``_server.py``) and a demo dataset
inside its local-files document root, scanned with a simulated model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.integration.labelstudio._server import LabelStudioServer, init_template


@pytest.fixture(scope="session")
def ls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session temp dir: ``docroot/`` (served local files) and ``template/`` (initialised)."""
    root = tmp_path_factory.mktemp("labelstudio")
    (root / "docroot").mkdir()
    init_template(root / "template", root / "docroot")
    return root


_SERVERS: list[LabelStudioServer] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the end of every running server's log to a failed test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _SERVERS:
        for server in _SERVERS:
            report.sections.append((f"Label Studio log ({server.url})", server.logs()))


@pytest.fixture(scope="session")
def ls_server(ls_root: Path) -> Iterator[LabelStudioServer]:
    """One server for the session (stopped at the end; its log shown when a test fails)."""
    server = LabelStudioServer(ls_root / "template", ls_root / "server-main", ls_root / "docroot")
    server.start()
    _SERVERS.append(server)
    try:
        yield server
    finally:
        _SERVERS.remove(server)
        server.stop()


@pytest.fixture
def fresh_server(ls_root: Path, request: pytest.FixtureRequest) -> Iterator[LabelStudioServer]:
    """A server of its own for one test (e.g. one that is killed and restarted)."""
    server = LabelStudioServer(
        ls_root / "template", ls_root / f"server-{request.node.name[:40]}", ls_root / "docroot"
    )
    server.start()
    _SERVERS.append(server)
    try:
        yield server
    finally:
        _SERVERS.remove(server)
        server.stop()


def simulated_predictions(root: Path) -> object:
    """A stand-in for a trained model: 0.8 on the true digit, the rest spread evenly."""
    from datacentric.dataset import Dataset
    from datacentric.datasets import load_ground_truth
    from datacentric.train.recipe import Predictions

    ds = Dataset.open(root)
    truth = dict(load_ground_truth(root).select("sample_id", "true_label").rows())
    k = len(ds.classes)
    probs = np.full((len(ds), k), 0.2 / (k - 1))
    for i, sid in enumerate(ds.sample_ids):
        probs[i, ds.classes.index(truth[sid])] = 0.8
    return Predictions(ds.sample_ids, probs, np.zeros((len(ds), 4)), classes=ds.classes)


@pytest.fixture
def demo_dir(ls_root: Path, request: pytest.FixtureRequest) -> Path:
    """A fresh demo dataset under the server's document root (one per test)."""
    from datacentric.datasets import load_demo

    root = ls_root / "docroot" / f"demo-{request.node.name[:40]}"
    load_demo(root, overwrite=True)
    return root
