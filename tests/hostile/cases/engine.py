"""Hostile engine options (``--engine``, ``--workers``, ``--address``) on every verb that takes
them: one ``Error:`` line naming the option, before any image is read or model trained."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.cases import CliCase, versioned_dataset

_VERBS = {
    "scan": ("scan", "{dataset}", "--out", "{out}/scan.parquet", "--folds", "2"),
    "loop": ("loop", "{dataset}", "--iterations", "1", "--folds", "2"),
}


def _build(tmp: Path) -> dict[str, str]:
    return {"dataset": str(versioned_dataset(tmp / "data"))}


def _case(name: str, extra: tuple[str, ...], match: str) -> CliCase:
    return CliCase(
        name=name,
        build=_build,
        argvs={verb: (*argv, *extra) for verb, argv in _VERBS.items()},
        match=match,
    )


CASES = [
    _case("workers-zero", ("--workers", "0"), "--workers must be an integer from 1 to 1024"),
    _case("workers-negative", ("--workers", "-1"), "received '-1'"),
    _case("workers-nan", ("--workers", "nan"), "received 'nan'"),
    _case("workers-fraction", ("--workers", "2.5"), "received '2.5'"),
    _case("workers-huge", ("--workers", "99999999"), "received '99999999'"),
    _case("engine-unknown", ("--engine", "spark"), "--engine must be one of 'local'"),
    _case(
        "address-without-ray",
        ("--address", "10.0.0.1:6379"),
        "--address must be given only with --engine ray",
    ),
    _case(
        "address-with-local",
        ("--engine", "local", "--address", "10.0.0.1:6379"),
        "received '10.0.0.1:6379'",
    ),
]
