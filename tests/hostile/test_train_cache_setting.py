"""The ``train_cache_bytes`` setting from the environment: bad values fail in one line."""

from __future__ import annotations

import pytest

from datacentric import config_context, get_config
from datacentric.exceptions import InvalidParameterError


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("lots", "'lots'"), ("-1", "-1"), ("1.5", "'1.5'"), ("true", "'true'"), ("", "''")],
)
def test_a_bad_environment_value_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, raw: str, shown: str
) -> None:
    monkeypatch.setenv("DATACENTRIC_TRAIN_CACHE_BYTES", raw)
    with pytest.raises(InvalidParameterError) as info:
        get_config()
    msg = str(info.value)
    assert "\n" not in msg
    assert "'train_cache_bytes'" in msg and shown in msg
    assert "DATACENTRIC_TRAIN_CACHE_BYTES" in msg


def test_zero_turns_the_cache_off_and_a_negative_value_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATACENTRIC_TRAIN_CACHE_BYTES", "0")
    assert get_config()["train_cache_bytes"] == 0
    monkeypatch.delenv("DATACENTRIC_TRAIN_CACHE_BYTES")
    with (
        pytest.raises(InvalidParameterError, match=r"an integer >= 0, received -5"),
        config_context(train_cache_bytes=-5),
    ):
        pass
