"""``datacentric review push|pull`` errors that need no server (the round trip is in
tests/integration/labelstudio/test_cli.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset

runner = CliRunner()
SECRET = "cli-secret-token-0123456789abcdef012345"


def _dataset(tmp_path: Path) -> str:
    ds = Dataset.from_arrays(np.zeros((2, 4, 4)), ["a", "b"], classes=["a", "b"]).to_folder(
        tmp_path / "ds"
    )
    ds.commit("initial")
    return str(ds.root)


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_unknown_backend_lists_the_registered_ones(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["review", "push", _dataset(tmp_path), "--to", "paper", "--project", "abc"]
    )
    out = " ".join(res.output.split())
    assert res.exit_code == 1
    assert "no review backend named 'paper'; the registered backends are ['labelstudio', " in out


def test_flags_of_another_backend_are_refused(tmp_path: Path) -> None:
    d = _dataset(tmp_path)
    res = runner.invoke(app, ["review", "push", d, "--to", "fiftyone", "--guide", "g.md"])
    out = " ".join(res.output.split())
    assert res.exit_code == 1
    assert "--guide do(es) not apply to `review push` with the fiftyone backend" in out
    assert "'--slices'" in out  # it names the flags the backend does take
    res = runner.invoke(app, ["review", "pull", d, "--project", "abc", "--reviewer", "bob"])
    out = " ".join(res.output.split())
    assert res.exit_code == 1 and "--reviewer do(es) not apply" in out and "labelstudio" in out
    res = runner.invoke(app, ["review", "pull", d, "--project", "abc", "--option", "page_sise=10"])
    out = " ".join(res.output.split())
    assert res.exit_code == 1 and "takes no option 'page_sise'" in out and "'page_size'" in out


def test_labelstudio_needs_a_project(tmp_path: Path) -> None:
    res = runner.invoke(app, ["review", "pull", _dataset(tmp_path), "--url", _closed_url()])
    out = " ".join(res.output.split())
    assert res.exit_code == 1 and "--project NAME" in out
    assert "LabelStudioBackend: parameter target must be a Label Studio project title" in out
    assert "received None (NoneType)" in out


def test_missing_token_names_the_variable(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["review", "pull", _dataset(tmp_path), "--project", "abc", "--url", _closed_url()],
        env={"LABEL_STUDIO_API_KEY": ""},
    )
    assert res.exit_code == 1 and "$LABEL_STUDIO_API_KEY" in res.output


def test_unreachable_server_never_prints_the_token(tmp_path: Path) -> None:
    url = _closed_url()
    res = runner.invoke(
        app,
        ["review", "pull", _dataset(tmp_path), "--from", "labelstudio", "--project", "abc"],
        env={"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": SECRET},
    )
    assert res.exit_code == 1
    assert f"Label Studio at {url}" in res.output and "cannot connect" in res.output
    assert SECRET not in res.output
    res = runner.invoke(
        app,
        [
            "review",
            "push",
            _dataset(tmp_path / "b"),
            "--project",
            "abc",
            "--token",
            SECRET,
            "--url",
            url,
        ],
    )
    assert res.exit_code == 1 and SECRET not in res.output and "review queue" in res.output
