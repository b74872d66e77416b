"""Declared parameter constraints: what each kind accepts, the one message form, and the
checks that prove a declaration is complete and enforced."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path, PurePath
from typing import Any, ClassVar

import numpy as np
import pytest

from datacentric._validation import (
    Interval,
    NonEmptyString,
    Options,
    SequenceOf,
    describe,
    invalid_parameter,
    invalid_values,
    make_constraint,
    validate_call,
    validate_params,
)
from datacentric.exceptions import DatacentricError, InvalidParameterError, ParameterLimitError
from datacentric.issues import IssueFinder, issue_table
from datacentric.testing import check_issue_finder, check_parameter_constraints

INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    ("constraint", "text", "accepted", "refused"),
    [
        (
            Interval(Real, 0, 1),
            "a number in [0, 1]",
            [0, 1, 0.5, np.float32(0.5)],
            [-0.001, 1.001, NAN, True, "0.5", None],
        ),
        (Interval(Real, 0, 1, closed="right"), "a number in (0, 1]", [1, 1e-9], [0, -1]),
        (Interval(Real, 0, 1, closed="left"), "a number in [0, 1)", [0], [1]),
        (Interval(Real, 0, 1, closed="neither"), "a number in (0, 1)", [0.5], [0, 1]),
        (Interval(Real, 0, None, closed="neither"), "a number > 0", [1e300], [0, INF, -INF]),
        (Interval(Real, 1, None, closed="left"), "a number >= 1", [1, 2.5], [0.999, INF]),
        (Interval(float, None, 0, closed="right"), "a number <= 0", [0, -5], [0.1, -INF]),
        (Interval(Real, None, None), "a number", [-INF, INF, 0], [NAN, False]),
        (
            Interval(Integral, 1, None, closed="left"),
            "an integer >= 1",
            [1, np.int64(7), 10**12],
            [0, 2.0, 1.5, True, "3"],
        ),
        (Interval(int, 0, 8), "an integer in [0, 8]", [0, 8], [-1, 9, 4.0]),
        (Options(str, ("auto", "exact")), "one of 'auto', 'exact'", ["auto"], ["fast", 1]),
        (Options(int, (1, 2)), "one of 1, 2", [1], [True, 3, "1"]),
        (
            SequenceOf(str),
            "a list or tuple of strings",
            [("a",), ["a", "b"], ()],
            ["a", ("a", 1), None],
        ),
        (make_constraint(None), "None", [None], [0, ""]),
        (
            make_constraint("boolean"),
            "a bool (True or False)",
            [True, np.bool_(False)],
            [0, 1, "True", None],
        ),
        (make_constraint(bool), "a bool (True or False)", [False], [0]),
        (make_constraint(int), "an integer", [3, np.int32(3)], [True, 3.0]),
        (make_constraint(float), "a number", [3, 3.5], [False, "3"]),
        (make_constraint(str), "a string", ["x"], [b"x", 1]),
        (make_constraint(dict), "a dict", [{}], [[]]),
        (
            make_constraint("array-like"),
            "an array-like (list, tuple or numpy array)",
            [[1], (1,), np.zeros(2)],
            ["abc", 3, None],
        ),
        (make_constraint("callable"), "a callable", [len, lambda: 0], [None, 1]),
        (make_constraint(IssueFinder), "an instance of IssueFinder", [], [object(), None]),
        (make_constraint(PurePath), "a pathlib path", [Path("x")], ["x", None]),
        (
            SequenceOf(IssueFinder),
            "a list or tuple of IssueFinder objects",
            [(), []],
            [[object()], None],
        ),
        (NonEmptyString(), "a non-empty string", ["x", " "], ["", None, 1]),
        (
            NonEmptyString(strip=True),
            "a string with text other than whitespace",
            [" x "],
            ["", "  \n", None],
        ),
    ],
)
def test_each_constraint_kind(
    constraint: Any, text: str, accepted: list[object], refused: list[object]
) -> None:
    assert str(constraint) == text
    for value in accepted:
        assert constraint.is_satisfied_by(value), value
    for value in refused:
        assert not constraint.is_satisfied_by(value), value


def test_bad_declarations_fail_at_once() -> None:
    with pytest.raises(TypeError, match="Interval type"):
        Interval(str, 0, 1)
    with pytest.raises(TypeError, match="closed"):
        Interval(Real, 0, 1, closed="open")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="above the right"):
        Interval(Real, 2, 1)
    with pytest.raises(TypeError, match="at least one option"):
        Options(str, ())
    with pytest.raises(TypeError, match="unknown parameter constraint 'bool'"):
        make_constraint("bool")
    with pytest.raises(TypeError, match=r"declares constraints for unknown \['alfa'\]"):

        @validate_call({"alfa": [float]})
        def f(alpha: float = 0.1) -> float:
            return alpha


def test_describe_joins_alternatives() -> None:
    assert describe([Interval(Integral, 1, None, closed="left")]) == "an integer >= 1"
    assert describe([str, None]) == "a string or None"
    assert describe([Options(str, ("auto",)), "boolean", None]) == (
        "one of 'auto', a bool (True or False) or None"
    )


def test_the_one_message_form() -> None:
    err = invalid_parameter("OutlierFinder", "k", 0, "an integer >= 1", default=10)
    assert isinstance(err, InvalidParameterError)
    assert isinstance(err, DatacentricError) and isinstance(err, ValueError)
    assert str(err) == (
        "OutlierFinder: parameter k must be an integer >= 1; received 0 (int). "
        "Pass e.g. k=10 (the default)."
    )
    assert (err.owner, err.parameter) == ("OutlierFinder", "k")
    no_default = invalid_parameter("f", "x", "y" * 200, "a number", fix="Use x=1.")
    assert str(no_default).endswith("... (str). Use x=1.")  # long values are cut
    assert len(str(no_default)) < 140
    plain = invalid_parameter("f", "x", None, "a number")
    assert str(plain) == "f: parameter x must be a number; received None (NoneType). " + (
        "Change x to a valid value."
    )


@dataclass(frozen=True)
class _Policy:
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "share": [Interval(Real, 0, 1)],
        "names": [SequenceOf(str), None],
    }
    share: float = 0.5
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        validate_params(self)


def test_validate_params_on_a_dataclass() -> None:
    assert _Policy(1, ("a",)).share == 1
    with pytest.raises(InvalidParameterError) as info:
        _Policy(names="a")  # type: ignore[arg-type]
    assert str(info.value) == (
        "_Policy: parameter names must be a list or tuple of strings or None; received 'a' "
        "(str). Pass e.g. names=None (the default)."
    )
    assert check_parameter_constraints(_Policy) == 7  # share: 4 bad values, names: 3


def test_validate_call_checks_before_the_body_and_keeps_the_signature() -> None:
    calls: list[float] = []

    @validate_call({"alpha": [Interval(Real, 0, 1, closed="neither")], "k": [int]})
    def fit(data: object, alpha: float = 0.05, *, k: int = 3) -> float:
        calls.append(alpha)
        return alpha

    assert fit(None, 0.1, k=2) == 0.1
    with pytest.raises(InvalidParameterError, match=r"^fit: parameter alpha must be a number"):
        fit(None, alpha=1)
    with pytest.raises(InvalidParameterError, match=r"parameter k must be an integer; received"):
        fit(None, k=True)
    assert calls == [0.1]
    assert list(inspect.signature(fit).parameters) == ["data", "alpha", "k"]
    with pytest.raises(TypeError):  # a wrong call is Python's error, as without the decorator
        fit()  # type: ignore[call-arg]
    assert check_parameter_constraints(fit) == 7  # alpha: 6 bad values, k: 1


def test_methods_are_named_with_their_class() -> None:
    class Store:
        @validate_call({"n": [Interval(Integral, 1, None, closed="left")]})
        def read(self, n: int = 1) -> int:
            return n

        @classmethod
        @validate_call({"path": [str]})
        def open(cls, path: str) -> str:
            return path

    assert Store().read(2) == 2 and Store.open("p") == "p"
    with pytest.raises(InvalidParameterError, match=r"^Store\.read: parameter n must be an "):
        Store().read(0)
    with pytest.raises(InvalidParameterError) as exc:
        Store.open(3)  # type: ignore[arg-type]
    assert (exc.value.owner, exc.value.parameter) == ("Store.open", "path")
    assert check_parameter_constraints(Store.open) == 1


def test_a_configurable_limit_says_how_to_raise_it() -> None:
    class Capped(Interval):
        def limit_fix(self, name: str, value: object) -> str | None:
            return f"Raise the cap to {value}." if isinstance(value, int) and value > 8 else None

    @validate_call({"width": [Capped(Integral, 1, 8)]})
    def build(width: int = 4) -> int:
        return width

    with pytest.raises(ParameterLimitError, match=r"^build: parameter width .*Raise the cap to 9"):
        build(9)
    with pytest.raises(InvalidParameterError) as low:
        build(0)
    assert not isinstance(low.value, ParameterLimitError)


def test_invalid_values_break_every_alternative() -> None:
    bad = invalid_values([Interval(Real, 0, 1, closed="right"), None])
    assert 0 in bad and 1.001 in bad and None not in bad
    assert any(isinstance(v, float) and v != v for v in bad)  # NaN
    assert "not-auto-or-exact" in invalid_values([Options(str, ("auto", "exact"))])
    assert invalid_values(["callable"])[0] is not None  # an unrelated object


class _Base(IssueFinder):
    name = "validation_base_for_tests"
    requires = frozenset({"labels"})
    description = "Flags nothing."
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "level": [Interval(Real, 0, 1)],
    }

    def __init__(self, level: float = 0.5) -> None:
        self.level = level

    def find(self, ctx):
        ids = ctx.dataset.sample_ids
        n = len(ids)
        return issue_table(self.name, ids, [False] * n, [0.0] * n, [None] * n)


class _Child(_Base):
    name = "validation_child_for_tests"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_Base._parameter_constraints,
        "mode": [Options(str, ("a", "b"))],
    }

    def __init__(self, level: float = 0.5, mode: str = "a") -> None:
        super().__init__(level)  # validation waits until mode is set too
        self.mode = mode


def test_finder_parameters_are_checked_when_init_returns() -> None:
    assert _Child(0.2, "b").get_params() == {"level": 0.2, "mode": "b"}
    with pytest.raises(InvalidParameterError, match=r"^_Child: parameter mode must be one of"):
        _Child(mode="c")
    with pytest.raises(InvalidParameterError, match=r"^_Child: parameter level "):
        _Child(level=2)
    f = _Child()
    f.level = -1  # changed after construction: caught before a scan runs it
    with pytest.raises(InvalidParameterError, match="level"):
        f.validate_params()
    check_issue_finder(_Child)


def test_check_issue_finder_wants_every_parameter_declared_and_enforced() -> None:
    class Undeclared(_Base):
        name = "validation_undeclared_for_tests"

        def __init__(self, level: float = 0.5, extra: int = 1) -> None:
            self.level = level
            self.extra = extra

    class Unknown(_Base):
        name = "validation_unknown_for_tests"
        _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
            "level": [Interval(Real, 0, 1)],
            "lvl": [int],
        }

    class Unenforced(_Base):
        name = "validation_unenforced_for_tests"

        def validate_params(self) -> None:  # declared, never checked
            pass

    with pytest.raises(AssertionError, match=r"parameters \['extra'\] have no entry"):
        check_issue_finder(Undeclared)
    with pytest.raises(AssertionError, match=r"names unknown parameters \['lvl'\]"):
        check_issue_finder(Unknown)
    with pytest.raises(AssertionError, match=r"Unenforced: level=.* was accepted"):
        check_issue_finder(Unenforced)
