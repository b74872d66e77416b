"""One meaning per flag across the whole CLI (issue 14): walk every verb's options."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import typer

from datacentric.cli import app


def _commands(cmd: Any, path: str = "datacentric") -> list[tuple[str, Any]]:
    out = [(path, cmd)]
    if hasattr(cmd, "commands"):  # a group (Typer's own click classes are not click's)
        for name, sub in cmd.commands.items():
            out.extend(_commands(sub, f"{path} {name}"))
    return out


def _options() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    return [
        (path, p)
        for path, cmd in _commands(root)
        for p in cmd.params
        if getattr(p, "param_type_name", "") == "option"
    ]


def test_every_short_flag_has_one_long_name() -> None:
    meaning: dict[str, set[str]] = defaultdict(set)
    where: dict[str, list[str]] = defaultdict(list)
    for path, opt in _options():
        longs = tuple(sorted(o for o in opt.opts if o.startswith("--")))
        for short in (o for o in opt.opts if not o.startswith("--")):
            meaning[short].add("/".join(longs))
            where[short].append(path)
    clashes = {s: sorted(m) for s, m in meaning.items() if len(m) > 1}
    assert clashes == {}, {s: (clashes[s], where[s]) for s in clashes}
    assert meaning["-p"] == {"--predictions"}
    assert meaning["-o"] == {"--out"}
    assert meaning["-n"] == {"--limit"}


def test_json_is_always_a_path_and_version_only_the_program() -> None:
    for path, opt in _options():
        if "--json" in opt.opts:
            assert not opt.is_flag, f"{path}: --json must take a path"
        if "--version" in opt.opts:
            assert path == "datacentric", f"{path}: a dataset version is --rev"
