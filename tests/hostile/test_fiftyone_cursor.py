"""Hostile FiftyOne pull cursors, without a database: whatever the cursor file holds (not
JSON, another format, wrong types, a crafted deep nesting, bytes that are not UTF-8, a
folder), the pull falls back to reading every sample with a one-line warning — the cursor
only saves work, lineage is what keeps edits from being applied twice."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest

from datacentric.integrations.fiftyone.cursor import PullCursor, cursor_path, load_cursor

IDENTITY = "ds@2026-01-01T00:00:00"

CASES = {
    "not json": b"{not json",
    "empty": b"",
    "not utf-8": b"\xff\xfe\x00garbage",
    "a list": b"[1, 2, 3]",
    "other format": b'{"format": 99, "name": "ds", "dataset_id": "x", "at": "2026-01-01"}',
    "bad date": b'{"format": 1, "name": "ds", "dataset_id": "ds@2026-01-01T00:00:00", '
    b'"at": "yesterday", "version": 1, "seen": {}}',
    "seen not a dict": b'{"format": 1, "name": "ds", "dataset_id": "ds@2026-01-01T00:00:00", '
    b'"at": "2026-01-01T00:00:00", "version": 1, "seen": [1]}',
    "missing field": b'{"format": 1, "name": "ds"}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("content", list(CASES.values()), ids=list(CASES))
def test_a_damaged_cursor_means_a_full_pull(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = cursor_path(tmp_path, "ds")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert load_cursor(tmp_path, "ds", IDENTITY, 1) is None
    assert "cursor cannot be read" in caplog.text and "\n" not in caplog.text.strip()


def test_a_folder_in_place_of_the_cursor_means_a_full_pull(tmp_path: Path) -> None:
    cursor_path(tmp_path, "ds").mkdir(parents=True)
    assert load_cursor(tmp_path, "ds", IDENTITY, 1) is None


def test_a_cursor_newer_than_the_dataset_or_of_another_dataset_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    PullCursor("ds", IDENTITY, datetime(2026, 1, 1), version=5).save(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert load_cursor(tmp_path, "ds", IDENTITY, 4) is None  # rolled back to version 4
    assert "newer than the store's version 4" in caplog.text
    assert load_cursor(tmp_path, "ds", "ds@2027-01-01T00:00:00", 5) is None  # pushed again
    assert load_cursor(tmp_path, "ds", IDENTITY, 5) is not None


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "", "..", "名前 with spaces"])
def test_dataset_names_stay_inside_the_store(tmp_path: Path, name: str) -> None:
    path = cursor_path(tmp_path, name)
    assert path.parent == tmp_path / ".datacentric" / "fiftyone"
    assert path.name.endswith(".pull.json") and "/" not in path.name
