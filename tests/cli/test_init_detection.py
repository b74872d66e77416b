"""``datacentric init DIR --coco ann.json`` and ``init DIR --yolo``: detection datasets."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from datacentric import Dataset
from datacentric.cli import app
from tests.dataset._detection import coco_doc, write_coco, write_yolo

runner = CliRunner()


def test_init_coco_commits_a_detection_version(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    result = runner.invoke(
        app, ["init", str(tmp_path), "--coco", str(ann), "--images-dir", "images", "--split", "val"]
    )
    assert result.exit_code == 0, result.output
    assert "version 1, 4 samples, 4 boxes, 2 classes" in result.stdout
    ds = Dataset.open(tmp_path)
    assert ds.task == "detection" and set(ds.manifest["split"]) == {"val"}
    ds.to_coco(tmp_path / "out.json", images_dir="images")
    assert json.loads((tmp_path / "out.json").read_text()) == coco_doc()


def test_init_yolo_commits_a_detection_version(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "y")
    result = runner.invoke(app, ["init", str(root), "--yolo"])
    assert result.exit_code == 0, result.output
    assert "version 1, 3 samples, 2 boxes, 2 classes" in result.stdout
    assert Dataset.open(root).classes == ["car", "person"]


def test_init_yolo_with_classes_overrides_data_yaml(tmp_path: Path) -> None:
    root = write_yolo(tmp_path / "y")
    result = runner.invoke(app, ["init", str(root), "--yolo", "--classes", "auto,human"])
    assert result.exit_code == 0, result.output
    ds = Dataset.open(root)
    assert ds.annotations is not None
    assert ds.annotations["label"].to_list() == ["human", "auto"]


def _one_error_line(argv: list[str]) -> str:
    result = runner.invoke(app, argv)
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_init_option_combinations_are_one_line_errors(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    assert "pass one of them" in _one_error_line(
        ["init", str(tmp_path), "--coco", str(ann), "--yolo"]
    )
    assert "only apply with --coco" in _one_error_line(["init", str(tmp_path), "--split", "val"])
    assert "--split" in _one_error_line(
        ["init", str(tmp_path), "--coco", str(ann), "--split", "dev"]
    )
    assert "leave out --classes" in _one_error_line(
        ["init", str(tmp_path), "--coco", str(ann), "--classes", "a"]
    )
    assert not (tmp_path / ".datacentric" / "HEAD").exists()
