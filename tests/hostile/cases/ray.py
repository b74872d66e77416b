"""Hostile ``--address`` values with ``--engine ray`` on every verb that takes them: one
``Error:`` line naming the address, in bounded time, before Ray is initialised (no cluster
is started or joined, no port opened)."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.cases import CliCase, versioned_dataset

_VERBS = {
    "scan": ("scan", "{dataset}", "--out", "{out}/scan.parquet", "--folds", "2"),
    "loop": ("loop", "{dataset}", "--iterations", "1", "--folds", "2"),
}


def _build(tmp: Path) -> dict[str, str]:
    return {"dataset": str(versioned_dataset(tmp / "data"))}


def _case(name: str, address: str, match: str) -> CliCase:
    extra = ("--engine", "ray", "--address", address)
    return CliCase(
        name=name,
        build=_build,
        argvs={verb: (*argv, *extra) for verb, argv in _VERBS.items()},
        match=match,
    )


CASES = [
    _case(
        "ray-address-refused",
        "127.0.0.1:1",
        "engine='ray': cannot reach the Ray cluster at '127.0.0.1:1' (Connection refused)",
    ),
    _case(
        "ray-address-garbage",
        "not an address",
        "engine='ray': address 'not an address' is not a Ray cluster address",
    ),
    _case(
        "ray-address-port-out-of-range",
        "10.0.0.1:70000",
        "address '10.0.0.1:70000' is not a Ray cluster address",
    ),
]
