"""Hostile YAML (slice files, the monitor config): bombs, cycles, depth, size, tags.

Every YAML file goes through ``datacentric._yaml``; these tests feed each reader the same
hostile documents and assert the exact error class, that the message names the file (and
line), the setting that raises a limit, and for the alias bomb a child process peak RSS
under 1 GiB.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datacentric import config_context
from datacentric.exceptions import LimitExceededError, SchemaError
from datacentric.monitor.config import load_config
from datacentric.slices import load_slices
from tests.hostile._child import GIB, run_child
from tests.hostile._files import billion_laughs, deep_nesting, python_tag, self_alias

READERS: dict[str, Callable[[Path], Any]] = {
    "slices": load_slices,
    "monitor_config": load_config,
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("reader", sorted(READERS))
def test_billion_laughs_is_refused_in_bounded_memory(reader: str, tmp_path: Path) -> None:
    text = billion_laughs(slices=reader == "slices")
    assert len(text.encode()) < 1024
    path = _write(tmp_path, "bomb.yaml", text)
    call = {"slices": "load_slices", "monitor_config": "load_config"}[reader]
    child = run_child(
        f"""
        import json
        from datacentric.slices import load_slices
        from datacentric.monitor.config import load_config
        try:
            {call}({str(path)!r})
        except Exception as exc:
            print(json.dumps([type(exc).__name__, str(exc)]))
        """,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    name, message = json.loads(child.stdout.strip().splitlines()[-1])
    assert name == "LimitExceededError"
    assert str(path) in message and "yaml_max_nodes" in message and "1,000,000" in message
    assert 0 < child.peak_rss < GIB, child.peak_rss


@pytest.mark.parametrize("reader", sorted(READERS))
def test_bomb_in_process_names_file_and_line(reader: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "bomb.yaml", billion_laughs(slices=reader == "slices"))
    with pytest.raises(LimitExceededError) as exc:
        READERS[reader](path)
    msg = _one_line(exc)
    assert msg.startswith(f"{path}:")
    assert "DATACENTRIC_YAML_MAX_NODES" in msg


@pytest.mark.parametrize("reader", sorted(READERS))
def test_self_referencing_alias_is_a_schema_error(reader: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "cycle.yaml", self_alias(slices=reader == "slices"))
    with pytest.raises(SchemaError) as exc:
        READERS[reader](path)
    msg = _one_line(exc)
    assert f"{path}:" in msg and "cycle" in msg
    assert "*s" in msg if reader == "slices" else "*d" in msg


@pytest.mark.parametrize("reader", sorted(READERS))
def test_deep_nesting_is_refused(reader: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "deep.yaml", deep_nesting(5000))
    with pytest.raises(LimitExceededError) as exc:
        READERS[reader](path)
    msg = _one_line(exc)
    assert f"{path}:1" in msg and "100 levels" in msg


@pytest.mark.parametrize("reader", sorted(READERS))
def test_oversized_file_is_refused_unread(reader: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "big.yaml", "# padding\n" * 200)
    with config_context(yaml_max_bytes=1000), pytest.raises(LimitExceededError) as exc:
        READERS[reader](path)
    msg = _one_line(exc)
    assert msg.startswith(f"{path}: 2,000 bytes") and "yaml_max_bytes" in msg


def test_node_limit_is_a_setting(tmp_path: Path) -> None:
    text = "slices:\n" + "".join(f"  - by: c{i}\n" for i in range(30))
    path = _write(tmp_path, "many.yaml", text)
    with config_context(yaml_max_nodes=50), pytest.raises(LimitExceededError, match="50"):
        load_slices(path)
    with config_context(yaml_max_nodes=500):
        assert len(load_slices(path)) == 30


def test_yaml_text_limits_apply_to_strings_too() -> None:
    with config_context(yaml_max_bytes=10), pytest.raises(LimitExceededError, match="<string>"):
        load_slices("- by: vendor\n- by: scanner\n")
    with pytest.raises(SchemaError, match="cycle"):
        load_slices("- &e {name: a, where: {v: [*e]}}\n")


@pytest.mark.parametrize("reader", sorted(READERS))
def test_python_tags_are_refused_and_never_run(reader: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _write(tmp_path, "tag.yaml", python_tag(marker))
    with pytest.raises(SchemaError) as exc:
        READERS[reader](path)
    msg = _one_line(exc)
    assert f"{path}:2" in msg and "'!!python/object/apply:os.system'" in msg
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    [
        "slices:\n  - !!python/name:os.system {}\n",
        "slices:\n  - name: a\n    where: !custom {v: 1}\n",
        "slices: !!python/object:collections.OrderedDict {}\n",
    ],
)
def test_every_non_standard_tag_is_refused(text: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "tag.yaml", text)
    with pytest.raises(SchemaError, match="is not allowed"):
        load_slices(path)


def test_merge_keys_and_aliases_still_work_in_slices(tmp_path: Path) -> None:
    text = (
        "slices:\n"
        "  - &dark {name: dark, where: {brightness: {lt: 0.2}}}\n"
        "  - {<<: *dark, name: dark_again}\n"
        "  - name: dark_c\n"
        "    where: {<<: {brightness: {lt: 0.2}, scanner: a}, scanner: c}\n"
        "  - {name: ab, where: {vendor: {in: &v [a, b]}}}\n"
        "  - {name: ab_scanner, where: {scanner: {in: *v}}}\n"
    )
    specs = load_slices(_write(tmp_path, "merge.yaml", text))
    assert [s.name for s in specs] == ["dark", "dark_again", "dark_c", "ab", "ab_scanner"]
    assert specs[4].where == {"scanner": {"in": ["a", "b"]}}
    assert specs[1].where == {"brightness": {"lt": 0.2}}
    assert specs[2].where == {"brightness": {"lt": 0.2}, "scanner": "c"}  # own key wins


def test_duplicate_own_key_next_to_a_merge_is_still_an_error(tmp_path: Path) -> None:
    text = "slices:\n  - &d {name: a, where: {v: 1}}\n  - {<<: *d, name: b, name: c}\n"
    path = _write(tmp_path, "dup.yaml", text)
    with pytest.raises(SchemaError, match=r"dup\.yaml:3: key 'name' appears twice"):
        load_slices(path)


def test_merge_keys_work_in_the_monitor_config(tmp_path: Path) -> None:
    text = (
        "drift:\n"
        "  metrics:\n"
        "    brightness_mean: &m {wasserstein: 0.3, missing_rate: 0.2}\n"
        "    blurriness: {<<: *m, wasserstein: 0.5}\n"
    )
    cfg = load_config(_write(tmp_path, "alerts.yaml", text))
    assert cfg.threshold("brightness_mean", "wasserstein") == 0.3
    assert cfg.threshold("blurriness", "wasserstein") == 0.5
    assert cfg.threshold("blurriness", "missing_rate") == 0.2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("drift: [1, 2]\n", "drift of the monitor config must be a mapping"),
        ("drift: {alpha: high}\n", "drift.alpha must be a number, received 'high'"),
        ("critical_factor: [2]\n", "critical_factor must be a number, received"),
        ("missing_rate: 5%\n", "missing_rate must be a number or null, received '5%'"),
        ("window: [1d]\n", "window must be text, received a list"),
        ("min_rows: 2.5\n", "min_rows must be an integer"),
        ("- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_monitor_config_values_of_the_wrong_type(text: str, match: str, tmp_path: Path) -> None:
    path = _write(tmp_path, "alerts.yaml", text)
    with pytest.raises(SchemaError, match=match) as exc:
        load_config(path)
    assert _one_line(exc).startswith(str(path))


def test_invalid_yaml_message_is_one_line_with_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.yaml", "window: 1d\ndrift: {alpha: [0.1\n")
    with pytest.raises(SchemaError) as exc:
        load_config(path)
    msg = _one_line(exc)
    assert msg.startswith(f"{path}:") and "not valid YAML" in msg


@pytest.mark.parametrize("data", [b"\xff\xfe\x00bad", b"slices:\x00\n"])
def test_binary_and_control_characters(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(data)
    with pytest.raises(SchemaError) as exc:
        load_slices(path)
    assert str(path) in _one_line(exc)
