"""``datacentric init`` (the first version from the CLI) and ``datacentric --version``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from datacentric import Dataset, __version__
from datacentric.cli import app
from tests.conftest import make_dataset_dir

runner = CliRunner()


def _folder(root: Path) -> Path:
    return make_dataset_dir(
        root,
        {
            "sample_id": ["s1", "s2", "s3"],
            "image": ["i/1.png", "i/2.png", "i/3.png"],
            "label": ["dog", "cat", None],
        },
    )


def test_init_commits_version_one_with_given_class_order(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d")
    result = runner.invoke(app, ["init", str(root), "--classes", "dog,cat", "-m", "first"])
    assert result.exit_code == 0, result.output
    assert "version 1, 3 samples, 2 classes" in result.stdout
    ds = Dataset.open(root)
    assert ds.version == 1
    assert ds.classes == ["dog", "cat"]
    assert ds.history()["message"].to_list() == ["first"]


def test_init_twice_is_a_one_line_error_and_changes_nothing(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d")
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    again = runner.invoke(app, ["init", str(root)])
    assert again.exit_code == 1
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "already a versioned dataset" in lines[0]
    assert Dataset.open(root).version == 1


def test_init_unknown_label_names_the_row(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d")
    result = runner.invoke(app, ["init", str(root), "--classes", "dog"])
    assert result.exit_code == 1
    assert "cat" in result.stderr and "Traceback" not in result.output


def test_version_flag_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"datacentric {__version__}"
