"""Hostile arguments of ``load_detection_demo``: one-line refusals before anything is written."""

from __future__ import annotations

import errno
import math
import re
from pathlib import Path

import pytest

from datacentric.datasets import load_detection_demo
from datacentric.exceptions import FileAccessError, InvalidParameterError


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("n_scenes", 7, r"an integer in \[8, 99999\]"),
        ("n_scenes", 100_000, r"an integer in \[8, 99999\]"),
        ("n_scenes", 12.0, r"an integer in \[8, 99999\]"),
        ("n_scenes", True, r"an integer in \[8, 99999\]"),
        ("size", 47, r"an integer in \[48, 512\]"),
        ("size", math.nan, r"an integer in \[48, 512\]"),
        ("size", "96", r"an integer in \[48, 512\]"),
        ("seed", -1, r"an integer >= 0"),
        ("seed", None, r"an integer >= 0"),
        ("overwrite", "yes", r"a bool \(True or False\); received 'yes'"),
    ],
)
def test_bad_arguments_are_refused_before_any_write(
    tmp_path: Path, name: str, value: object, expected: str
) -> None:
    root = tmp_path / "demo"
    with pytest.raises(InvalidParameterError) as info:
        load_detection_demo(root, **{name: value})  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"load_detection_demo: parameter {name} must be"), message
    assert re.search(expected, message), message
    assert not root.exists()


def test_root_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("not a folder")
    with pytest.raises(InvalidParameterError, match="exists and is not a directory"):
        load_detection_demo(a_file)
    assert a_file.read_text() == "not a folder"


def test_disk_full_writing_scenes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    def full(self, fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(FileAccessError, match="No space left on device") as info:
        load_detection_demo(tmp_path / "demo", n_scenes=8, size=48)
    assert str(tmp_path / "demo" / "images") in str(info.value)
    assert not (tmp_path / "demo" / "manifest.parquet").exists()
