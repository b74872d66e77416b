"""Registry scoping and declaration checks; every built-in finder passes the contract."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import polars as pl
import pytest

from datacentric._validation import Interval
from datacentric.exceptions import InvalidParameterError
from datacentric.issues import REGISTRY, IssueFinder, issue_table
from datacentric.testing import check_issue_finder


class _Dummy(IssueFinder):
    name = "dummy_for_tests"
    requires = frozenset({"labels"})
    description = "Flags sample 0."
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"level": [Interval(Real, 0, 1)]}

    def __init__(self, level: float = 0.5) -> None:
        self.level = level

    def find(self, ctx):  # type: ignore[no-untyped-def]
        ids = ctx.dataset.sample_ids
        return issue_table(
            self.name,
            ids,
            [i == 0 for i in range(len(ids))],
            [self.level if i == 0 else 0.0 for i in range(len(ids))],
            ["first" if i == 0 else None for i in range(len(ids))],
        )


def test_scoped_registration_is_undone() -> None:
    with REGISTRY.scoped() as reg:
        reg.register(_Dummy)
        assert "dummy_for_tests" in reg
        check_issue_finder(reg.get("dummy_for_tests"))
    assert "dummy_for_tests" not in REGISTRY


def test_bad_declarations_are_refused() -> None:
    class NoName(_Dummy):
        name = ""

    class BadReq(_Dummy):
        name = "bad_req"
        requires = frozenset({"telepathy"})

    with REGISTRY.scoped() as reg:
        with pytest.raises(InvalidParameterError, match="must declare name"):
            reg.register(NoName)
        with pytest.raises(InvalidParameterError, match="telepathy"):
            reg.register(BadReq)
        with pytest.raises(InvalidParameterError, match="already registered"):
            reg.register(type("Other", (_Dummy,), {"name": "label"}))
    with pytest.raises(InvalidParameterError, match="available finders"):
        REGISTRY.get("nope")


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_builtin_finder_passes_the_contract(name: str) -> None:
    out = check_issue_finder(REGISTRY.get(name))
    assert isinstance(out, pl.DataFrame)


def test_check_issue_finder_catches_a_broken_finder() -> None:
    class Broken(_Dummy):
        name = "broken_for_tests"

        def find(self, ctx):  # type: ignore[no-untyped-def]
            return super().find(ctx).with_columns(pl.lit(2.0).alias("severity"))

    with pytest.raises(AssertionError, match=r"severity outside \[0, 1\]"):
        check_issue_finder(Broken)


def test_docs_list_every_finder_parameter_as_declared() -> None:
    """docs/scan.md's parameter table says what each declaration accepts, default included."""
    from pathlib import Path

    from datacentric._validation import describe, param_defaults

    doc = (Path(__file__).resolve().parents[2] / "docs" / "scan.md").read_text(encoding="utf-8")
    table = doc[doc.index("## Finder parameters") : doc.index("## Scale")]
    for name in REGISTRY.names():
        cls = REGISTRY.get(name)
        assert f"`{cls.__name__}`" in table, f"{cls.__name__} is not in the parameter table"
        defaults = param_defaults(cls)
        for param, declared in cls._parameter_constraints.items():
            row = f"| `{param}` | `{defaults[param]!r}` | {describe(declared)} |"
            assert row in table, f"docs/scan.md lacks the row {row}"
