"""``datacentric review push DIR --select ... --budget N`` against the real server: the chosen
unlabeled samples become tasks, best first, pre-annotated with the model's guess; an
annotation pulled back labels the sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from datacentric.datasets import load_ground_truth
from datacentric.integrations.labelstudio import LabelStudioClient, ProjectState, choice_result
from datacentric.train.recipe import Predictions
from tests.integration.labelstudio._server import LabelStudioServer

PROJECT = "Select digits"


def _plant(root: Path) -> tuple[list[str], dict[str, str]]:
    """Unlabel 12 samples and save predictions: confident (0.9 on the true digit) except
    three planted rows, unsure at 0.4 / 0.5 / 0.6 on their true digit."""
    ds = Dataset.open(root)
    truth = dict(load_ground_truth(root).select("sample_id", "true_label").rows())
    hidden = ds.split("train").sample_ids[:12]
    ds.relabel(hidden, None, reason="not labeled yet", source="test")
    ds.commit("12 samples without a label")
    k = len(ds.classes)
    confidence = dict.fromkeys(ds.sample_ids, 0.9)
    unsure = {hidden[7]: 0.4, hidden[2]: 0.5, hidden[10]: 0.6}
    confidence |= unsure
    probs = np.zeros((len(ds), k))
    for i, sid in enumerate(ds.sample_ids):
        c = confidence[sid]
        probs[i] = (1 - c) / (k - 1)
        probs[i, ds.classes.index(truth[sid])] = c
    emb = np.zeros((len(ds), 2))
    Predictions(ds.sample_ids, probs, emb, classes=ds.classes).save(root / "predictions.npz")
    return [hidden[7], hidden[2], hidden[10]], truth


def test_select_pushes_the_chosen_unlabeled_samples(
    ls_server: LabelStudioServer, demo_dir: Path
) -> None:
    planted, truth = _plant(demo_dir)
    env = {
        "LABEL_STUDIO_URL": ls_server.url,
        "LABEL_STUDIO_API_KEY": ls_server.token,
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(ls_server.document_root),
    }
    args = ["review", "push", str(demo_dir), "--project", PROJECT]
    args += ["--select", "uncertainty", "--budget", "3"]
    runner = CliRunner()
    out = runner.invoke(app, args, env=env)
    assert out.exit_code == 0, out.output
    assert "Chose 3 of 12 unlabeled sample(s) by uncertainty" in out.output
    assert "Pushed 3 new task(s)" in out.output and ls_server.token not in out.output

    client = LabelStudioClient(ls_server.url, ls_server.token)
    state = ProjectState.load(demo_dir, ls_server.url, PROJECT)
    tasks = sorted(client.iter_tasks(state.project_id, fields="all"), key=lambda t: t["id"])
    assert [t["data"]["sample_id"] for t in tasks] == planted  # the least sure first
    for t, conf in zip(tasks, (0.4, 0.5, 0.6), strict=True):
        sid = t["data"]["sample_id"]
        assert t["data"]["label"] is None and t["data"]["issue_type"] == "unlabeled"
        assert "chosen by uncertainty" in t["data"]["detail"]
        pred = t["predictions"][0]
        assert pred["result"][0]["value"]["choices"] == [truth[sid]]
        assert pred["score"] == pytest.approx(conf)

    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 0, again.output
    assert "Pushed 0 new task(s)" in again.output and "3 already there" in again.output

    sid, tid = planted[0], state.tasks[planted[0]]
    client.sdk.annotations.create(
        id=tid, result=choice_result(truth[sid]), completed_by=client.whoami()["id"]
    )
    pulled = runner.invoke(app, ["review", "pull", str(demo_dir), "--project", PROJECT], env=env)
    assert pulled.exit_code == 0, pulled.output
    after = Dataset.open(demo_dir).manifest
    assert after.filter(pl.col("sample_id") == sid)["label"].item() == truth[sid]
    assert after["label"].null_count() == 11
