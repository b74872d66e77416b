"""Hostile input to what-to-label-next (``select_unlabeled``, ``review push --select``):
one-line errors, or a sane answer for degenerate data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from datacentric import Dataset
from datacentric.cli import app
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError
from datacentric.loop.select import STRATEGIES, select_unlabeled
from datacentric.train import Predictions

CLASSES = ["a", "b"]


def _ds(n: int, n_labeled: int = 1) -> Dataset:
    labels: list[str | None] = ["a"] * n_labeled + [None] * (n - n_labeled)
    return Dataset.from_arrays(np.zeros((n, 2, 2), np.uint8), labels, CLASSES)


def _p(ds: Dataset, emb: np.ndarray | None = None) -> Predictions:
    n = len(ds)
    probs = np.column_stack([np.linspace(0.5, 0.99, n), 1 - np.linspace(0.5, 0.99, n)])
    return Predictions(
        ds.sample_ids, probs, np.zeros((n, 3)) if emb is None else emb, classes=CLASSES
    )


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": True}, "parameter budget must be an integer >= 1; received True"),
        ({"budget": 2.0}, "parameter budget must be an integer >= 1"),
        ({"budget": -3}, "parameter budget must be an integer >= 1; received -3"),
        ({"budget": "5"}, "parameter budget must be an integer >= 1"),
        ({"strategy": ""}, "parameter strategy must be one of"),
        ({"strategy": "MARGIN"}, "parameter strategy must be one of"),
        ({"strategy": None}, "parameter strategy must be one of"),
        ({"seed": -1}, "parameter seed must be an integer"),
        ({"measure": "gini"}, "parameter measure must be one of"),
    ],
)
def test_bad_parameters_are_refused_in_one_line(kwargs: dict[str, object], match: str) -> None:
    ds = _ds(5)
    with pytest.raises(InvalidParameterError, match=match) as exc:
        select_unlabeled(ds, _p(ds), **kwargs)  # type: ignore[arg-type]
    assert _one_line(exc).startswith("select_unlabeled: parameter")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_huge_budget_takes_every_unlabeled_row(strategy: str) -> None:
    ds = _ds(6)
    out = select_unlabeled(ds, _p(ds, np.eye(6, 3)), strategy=strategy, budget=2**62)  # type: ignore[arg-type]
    assert sorted(out["sample_id"]) == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("strategy", ["diversity", "hybrid"])
def test_identical_embeddings_still_fill_the_budget(strategy: str) -> None:
    ds = _ds(30)
    out = select_unlabeled(ds, _p(ds, np.ones((30, 4))), strategy=strategy, budget=5)  # type: ignore[arg-type]
    assert out.height == 5 and out["sample_id"].n_unique() == 5
    assert out["score"].is_finite().all() and out["score"].is_between(0, 1).all()


@pytest.mark.parametrize("strategy", ["diversity", "hybrid"])
def test_enormous_embeddings_do_not_overflow(strategy: str) -> None:
    ds = _ds(12)
    emb = np.linspace(-3e38, 3e38, 36).reshape(12, 3)  # near the float32 limit
    out = select_unlabeled(ds, _p(ds, emb), strategy=strategy, budget=3)  # type: ignore[arg-type]
    assert out.height == 3 and out["score"].is_finite().all()


def test_one_class_and_one_unlabeled_row() -> None:
    ds = Dataset.from_arrays(np.zeros((2, 2, 2), np.uint8), ["a", None], ["a"])
    p = Predictions(ds.sample_ids, np.ones((2, 1)), np.zeros((2, 2)), classes=["a"])
    for strategy in STRATEGIES:
        out = select_unlabeled(ds, p, strategy=strategy, budget=1)  # type: ignore[arg-type]
        assert out["sample_id"].to_list() == ["1"] and out["score"].is_between(0, 1).all()


def test_detection_dataset_and_fully_labeled_are_refused() -> None:
    det = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [None, None], ["a"])
    det = Dataset(det.manifest, ["a"], arrays=np.zeros((2, 4, 4), np.uint8), task="detection")
    with pytest.raises(InvalidDatasetError, match="task is 'detection'") as exc:
        select_unlabeled(det, None, budget=1)
    _one_line(exc)
    ds = Dataset.from_arrays(np.zeros((2, 2, 2), np.uint8), ["a", "b"], CLASSES)
    with pytest.raises(InvalidDatasetError, match="no unlabeled row") as exc:
        select_unlabeled(ds, _p(ds), budget=1)
    _one_line(exc)


def test_cli_predictions_that_miss_unlabeled_rows(tmp_path: Path) -> None:
    ds = _ds(5).to_folder(tmp_path / "d")
    ds.commit("initial")
    p = _p(ds).take(["0", "1"])
    p.save(tmp_path / "d" / "predictions.npz")
    out = CliRunner().invoke(
        app,
        ["review", "push", str(tmp_path / "d"), "--project", "abc", "--select", "margin"],
        env={"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x" * 40},
    )
    assert out.exit_code != 0
    text = " ".join(out.output.split())
    assert "3 unlabeled sample(s) have no prediction" in text and "Traceback" not in text


@pytest.mark.parametrize("budget", ["-5", "0", "1e3", "ten"])
def test_cli_bad_budget(tmp_path: Path, budget: str) -> None:
    out = CliRunner().invoke(
        app, ["review", "push", str(tmp_path), "--select", "margin", "--budget", budget]
    )
    assert out.exit_code != 0 and "Traceback" not in out.output
    assert "--budget" in out.output
