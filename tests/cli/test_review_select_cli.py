"""``datacentric review push DIR --select STRATEGY --budget N``: the chosen unlabeled samples
reach the backend, best first, with the predictions for their pre-annotations (a backend kept
in memory here; tests/integration/labelstudio/test_select.py drives the real server)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from datacentric.integrations.review import REGISTRY, PushResult, register_backend
from datacentric.train import Predictions

runner = CliRunner()


class Capture:
    """Keeps what it was asked to push."""

    name = "capture"
    push_options: Mapping[str, str] = MappingProxyType({})
    pull_options: Mapping[str, str] = MappingProxyType({})

    def __init__(self) -> None:
        self.items: pl.DataFrame | None = None
        self.predictions: Any = None

    def push(self, ds: Any, items: Any = None, *, target: Any = None, predictions: Any = None,
             **options: Any) -> PushResult:  # fmt: skip
        self.items, self.predictions = items, predictions
        n = 0 if items is None else items.height
        return PushResult(backend=self.name, target=target, url=None, n_items=n, created=n,
                          updated=0, unchanged=0, seconds=0.0)  # fmt: skip

    def pull(self, ds: Any, **options: Any) -> Any:  # pragma: no cover - not used
        raise NotImplementedError


@pytest.fixture
def capture() -> Iterator[Capture]:
    with REGISTRY.scoped():
        backend = Capture()
        register_backend(backend)
        yield backend


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """6 samples, 2 labeled; predictions.npz planted: row 4 the least sure, then row 2."""
    labels: list[str | None] = ["a", "b", None, None, None, None]
    ds = Dataset.from_arrays(np.zeros((6, 4, 4), np.uint8), labels, ["a", "b"])
    ds = ds.to_folder(tmp_path / "d")
    ds.commit("initial")
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.6, 0.4], [0.9, 0.1], [0.45, 0.55], [0.99, 0.01]])
    emb = np.arange(12, dtype=float).reshape(6, 2)
    Predictions(ds.sample_ids, probs, emb, classes=["a", "b"]).save(
        tmp_path / "d" / "predictions.npz"
    )
    return tmp_path / "d"


def _push(*args: str) -> Any:
    return runner.invoke(app, ["review", "push", *args, "--to", "capture", "--project", "sel"])


def test_select_sends_the_chosen_unlabeled_samples(capture: Capture, data_dir: Path) -> None:
    out = _push(str(data_dir), "--select", "uncertainty", "--budget", "2")
    assert out.exit_code == 0, out.output
    assert "Chose 2 of 4 unlabeled sample(s) by uncertainty" in out.output
    assert capture.items is not None
    assert capture.items["sample_id"].to_list() == ["4", "2"]
    assert capture.items["issue_type"].unique().to_list() == ["unlabeled"]
    assert capture.items["priority"].to_list() == [2.0, 1.0]
    assert "the model guesses b at 55%" in capture.items["detail"][0]
    assert capture.predictions is not None and len(capture.predictions) == 6


def test_budget_over_the_pool_takes_all_and_says_so(capture: Capture, data_dir: Path) -> None:
    out = _push(str(data_dir), "--select", "diversity", "--budget", "50")
    assert out.exit_code == 0, out.output
    assert "Chose 4 of 4 unlabeled sample(s) by diversity (the budget is more than that" in (
        out.output.replace("\n", " ")
    )
    assert capture.items is not None and sorted(capture.items["sample_id"]) == ["2", "3", "4", "5"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget", "3"], "--budget 3 needs --select STRATEGY"),
        (["--select", "coreset"], "--select must be one of uncertainty, margin, entropy"),
        (["--select", "margin", "--budget", "0"], "--budget must be an integer >= 1; received 0"),
        (["--select", "margin", "--limit", "3"], "--select chooses unlabeled samples, so it does"),
    ],
)
def test_select_flags_are_checked(
    capture: Capture, data_dir: Path, args: list[str], message: str
) -> None:
    out = _push(str(data_dir), *args)
    assert out.exit_code != 0
    assert message in " ".join(out.output.split())
    assert capture.items is None  # nothing pushed
