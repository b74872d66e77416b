"""``datacentric review push|pull`` against the real server; the token never reaches the output."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from datacentric.datasets import load_ground_truth
from datacentric.integrations.labelstudio import LabelStudioClient, ProjectState, choice_result
from datacentric.issues import scan
from tests.integration.labelstudio._server import LabelStudioServer
from tests.integration.labelstudio.conftest import simulated_predictions

REPO = Path(__file__).resolve().parents[3]


def test_cli_push_pull(ls_server: LabelStudioServer, demo_dir: Path, tmp_path: Path) -> None:
    ds = Dataset.open(demo_dir)
    result = scan(
        ds, predictions=simulated_predictions(demo_dir), finders=["label"], cross_validate=False
    )
    scan_path = result.save(tmp_path / "scan.parquet")
    env = {
        "LABEL_STUDIO_URL": ls_server.url,
        "LABEL_STUDIO_API_KEY": ls_server.token,
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(ls_server.document_root),
    }
    runner = CliRunner()
    args = [
        "review",
        "push",
        str(demo_dir),
        "--to",
        "labelstudio",
        "--project",
        "CLI digits",
        "--scan",
        str(scan_path),
        "--limit",
        "30",
        "--guide",
        str(REPO / "annotation_guides" / "digits.md"),
    ]
    out = runner.invoke(app, args, env=env)
    assert out.exit_code == 0, out.output
    assert "Pushed 30 new task(s)" in out.output and ls_server.token not in out.output
    again = runner.invoke(app, args, env=env)
    assert "Pushed 0 new task(s)" in again.output and "30 already there" in again.output

    client = LabelStudioClient(ls_server.url, ls_server.token)
    truth = dict(load_ground_truth(demo_dir).select("sample_id", "true_label").rows())
    tasks = ProjectState.load(demo_dir, ls_server.url, "CLI digits").tasks
    sid, tid = next(iter(tasks.items()))
    client.sdk.annotations.create(
        id=tid, result=choice_result(truth[sid]), completed_by=client.whoami()["id"]
    )
    pulled = runner.invoke(
        app,
        ["review", "pull", str(demo_dir), "--from", "labelstudio", "--project", "CLI digits"],
        env=env,
    )
    assert pulled.exit_code == 0, pulled.output
    assert "1 annotation(s) by 1 annotator(s)" in pulled.output
    assert "Read 1 task(s) with annotations (full read)" in pulled.output
    base = ["review", "pull", str(demo_dir), "--from", "labelstudio", "--project", "CLI digits"]
    noop = runner.invoke(app, base, env=env)
    assert noop.exit_code == 0, noop.output
    assert "Read 0 task(s) updated since the last pull" in noop.output
    full = runner.invoke(app, [*base, "--full"], env=env)
    assert full.exit_code == 0, full.output
    assert "Read 1 task(s) with annotations (full read)" in full.output
    assert "Nothing to commit" in full.output
    after = Dataset.open(demo_dir)
    assert after.manifest.filter(pl.col("sample_id") == sid)["label"].item() == truth[sid]

    bad = runner.invoke(
        app,
        [
            "review",
            "pull",
            str(demo_dir),
            "--project",
            "CLI digits",
            "--token",
            "not-the-token-123",
        ],
        env=env,
    )
    assert bad.exit_code == 1
    assert "HTTP 401" in bad.output and "not-the-token-123" not in bad.output
