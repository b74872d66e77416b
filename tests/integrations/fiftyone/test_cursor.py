"""The FiftyOne pull cursor with known answers (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from datacentric.integrations.fiftyone.cursor import (
    MARGIN_S,
    PullCursor,
    load_cursor,
    next_cursor,
)

T0 = datetime(2026, 5, 1, 12, 0, 0)


def _s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_cursor_stays_a_margin_behind_the_read_and_remembers_recent_samples() -> None:
    c = next_cursor(None, "d", "x", _s(0), ["old", "recent", "newest"],
                    [_s(-60), _s(-1.5), _s(-0.2)], 7)  # fmt: skip
    assert c.at == _s(-MARGIN_S) and c.version == 7
    assert sorted(c.seen) == ["newest", "recent"]
    # the next pull: the two recent samples are skipped while their stamps are unchanged
    assert c.unseen(["recent", "newest", "other"], [_s(-1.5), _s(5), _s(-1)]) == [1, 2]


def test_the_cursor_never_runs_ahead_of_the_newest_stamp_nor_goes_back() -> None:
    # our clock an hour ahead of the writers': the cursor stays at their newest stamp
    c = next_cursor(None, "d", "x", _s(3600), ["a"], [_s(0)], 1)
    assert c.at == _s(0) and c.seen == {}
    # nothing written since: the cursor stays where it was
    same = next_cursor(c, "d", "x", _s(7200), [], [], 1)
    assert same.at == c.at
    # an old stamp read again (written late) does not move the cursor back
    later = next_cursor(c, "d", "x", _s(7200), ["b"], [_s(-10)], 1)
    assert later.at == c.at


def test_an_empty_dataset_starts_at_the_epoch() -> None:
    assert next_cursor(None, "d", "x", T0, [], [], None).at == datetime(1970, 1, 1)


def test_the_cursor_round_trips(tmp_path: Path) -> None:
    c = next_cursor(None, "d", "x", _s(0), ["a"], [_s(-0.5)], 3)
    c.save(tmp_path)
    back = load_cursor(tmp_path, "d", "x", 3)
    assert back == PullCursor("d", "x", c.at, c.seen, 3)
    assert back.unseen(["a"], [_s(-0.5)]) == []
