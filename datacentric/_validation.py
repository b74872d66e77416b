"""Declared parameter constraints, checked in one place, with one message form.

A class declares what each of its parameters accepts, once, next to its ``__init__``
(the idea of scikit-learn's ``_parameter_constraints``)::

    _parameter_constraints = {
        "k": [Interval(Integral, 1, None, closed="left")],
        "method": [Options(str, ("auto", "exact"))],
        "split": [str, None],
    }

A parameter is valid when it satisfies **one** of its constraints. A constraint is an
:class:`Interval`, an :class:`Options`, a :class:`SequenceOf`, a plain type (``str``,
``dict``, a class; ``int`` and ``float`` never accept a bool), ``None`` (the value may be
``None``), or one of the strings ``"boolean"``, ``"array-like"``, ``"callable"``.
:func:`validate_params` checks an object's parameters against its class's declaration;
:func:`validate_call` does the same for a function's arguments. Every violation raises
:class:`~datacentric.exceptions.InvalidParameterError` with one message form: which
parameter of what was wrong, what was received, what is valid, and how to fix it::

    OutlierFinder: parameter k must be an integer >= 1; received 0 (int). Pass e.g. k=10
    (the default).

:func:`invalid_values` generates values that break a declaration, so a test can prove
that every declared parameter is really checked
(:func:`datacentric.testing.check_parameter_constraints`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real
from pathlib import PurePath
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np

from datacentric.exceptions import InvalidParameterError, ParameterLimitError

__all__ = [
    "Constraint",
    "Interval",
    "NonEmptyString",
    "Options",
    "SequenceOf",
    "describe",
    "invalid_parameter",
    "invalid_values",
    "make_constraint",
    "owner_name",
    "param_defaults",
    "validate_call",
    "validate_params",
]

P = ParamSpec("P")
R = TypeVar("R")

_NO_DEFAULT: Any = inspect.Parameter.empty
_MAX_REPR = 80


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def _fmt_num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


class Constraint:
    """What a parameter value must satisfy; subclasses define the test and its wording."""

    def is_satisfied_by(self, value: object) -> bool:
        """True when ``value`` meets the constraint."""
        raise NotImplementedError

    def __str__(self) -> str:
        """The valid values, as a phrase that follows "must be"."""
        raise NotImplementedError

    def invalid_values(self) -> list[object]:
        """Values that break this constraint and are of a plausible kind (for tests)."""
        return []

    def limit_fix(self, name: str, value: object) -> str | None:
        """How to raise the limit ``value`` is above, when it breaks only a configurable
        safety limit (a :mod:`datacentric.config` setting); ``None`` otherwise.

        A constraint that reads a setting at check time overrides this; the error is then a
        :class:`~datacentric.exceptions.ParameterLimitError` whose fix is this advice.
        """
        return None


class _InstanceOf(Constraint):
    """``isinstance(value, type)``; a bool is not an int or float here."""

    def __init__(self, type_: type) -> None:
        self.type = type_

    def is_satisfied_by(self, value: object) -> bool:
        if _is_bool(value) and self.type not in (bool, object):
            return False
        if self.type is int:
            return isinstance(value, Integral)
        if self.type is float:
            return isinstance(value, Real)
        return isinstance(value, self.type)

    def __str__(self) -> str:
        if getattr(self.type, "_is_protocol", False):  # a runtime_checkable Protocol
            methods = [n for n, v in vars(self.type).items() if n[:1] != "_" and callable(v)]
            listed = ", ".join(methods)
            return f"an object that follows the {self.type.__name__} protocol ({listed})"
        names = {
            int: "integer",
            float: "number",
            str: "string",
            dict: "dict",
            list: "list",
            PurePath: "pathlib path",
        }
        name = names.get(self.type, self.type.__name__)
        return _article(name) if self.type in names else f"an instance of {name}"


class _NoneConstraint(Constraint):
    def is_satisfied_by(self, value: object) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


class _Booleans(Constraint):
    def is_satisfied_by(self, value: object) -> bool:
        return _is_bool(value)

    def __str__(self) -> str:
        return "a bool (True or False)"

    def invalid_values(self) -> list[object]:
        return ["yes", 1]


class _ArrayLikes(Constraint):
    def is_satisfied_by(self, value: object) -> bool:
        if isinstance(value, (str, bytes)):
            return False
        return isinstance(value, np.ndarray) or (
            hasattr(value, "__len__") and hasattr(value, "__getitem__")
        )

    def __str__(self) -> str:
        return "an array-like (list, tuple or numpy array)"


class _Callables(Constraint):
    def is_satisfied_by(self, value: object) -> bool:
        return callable(value)

    def __str__(self) -> str:
        return "a callable"


class Interval(Constraint):
    """Numbers of a type between two bounds.

    Parameters
    ----------
    type : Integral, Real, int or float
        ``Integral`` (or ``int``) accepts integers only, ``Real`` (or ``float``) any
        number; neither accepts a bool or NaN.
    left, right : float or None
        The bounds; ``None`` is unbounded on that side.
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the interval.

    Examples
    --------
    >>> c = Interval(Real, 0, 1, closed="right")
    >>> str(c), c.is_satisfied_by(1), c.is_satisfied_by(0), c.is_satisfied_by(True)
    ('a number in (0, 1]', True, False, False)
    >>> str(Interval(Integral, 1, None, closed="left"))
    'an integer >= 1'
    """

    def __init__(
        self,
        type: type,
        left: float | None,
        right: float | None,
        *,
        closed: Literal["both", "left", "right", "neither"] = "both",
    ) -> None:
        if type in (int, Integral):
            self.type: Any = Integral
        elif type in (float, Real):
            self.type = Real
        else:
            raise TypeError(f"Interval type must be Integral or Real, received {type!r}.")
        if closed not in ("both", "left", "right", "neither"):
            raise TypeError(f"Interval closed must be both/left/right/neither, not {closed!r}.")
        if left is not None and right is not None and left > right:
            raise TypeError(f"Interval left bound {left} is above the right bound {right}.")
        self.left, self.right, self.closed = left, right, closed

    def _in_bounds(self, x: float) -> bool:
        if self.left is not None:
            low_ok = x >= self.left if self.closed in ("both", "left") else x > self.left
            if not low_ok:
                return False
        elif math.isinf(x) and x < 0 and self.closed in ("right", "neither"):
            return False
        if self.right is not None:
            return x <= self.right if self.closed in ("both", "right") else x < self.right
        return not (math.isinf(x) and x > 0 and self.closed in ("left", "neither"))

    def is_satisfied_by(self, value: object) -> bool:
        if _is_bool(value) or not isinstance(value, self.type):
            return False
        x = float(value)
        return not math.isnan(x) and self._in_bounds(x)

    def __str__(self) -> str:
        kind = "an integer" if self.type is Integral else "a number"
        lo_in = self.closed in ("both", "left")
        hi_in = self.closed in ("both", "right")
        if self.left is None and self.right is None:
            return kind
        if self.right is None:
            return f"{kind} {'>=' if lo_in else '>'} {_fmt_num(self.left)}"  # type: ignore[arg-type]
        if self.left is None:
            return f"{kind} {'<=' if hi_in else '<'} {_fmt_num(self.right)}"
        return (
            f"{kind} in {'[' if lo_in else '('}{_fmt_num(self.left)}, "
            f"{_fmt_num(self.right)}{']' if hi_in else ')'}"
        )

    def invalid_values(self) -> list[object]:
        out: list[object] = []
        step = 1 if self.type is Integral else 1e-3
        if self.left is not None:
            out.append(self.left - step)
            if self.closed in ("right", "neither"):
                out.append(self.left)
        if self.right is not None:
            out.append(self.right + step)
            if self.closed in ("left", "neither"):
                out.append(self.right)
        if self.type is Integral:
            inside = self.left if self.left is not None else self.right
            out.append(float(inside if inside is not None else 0) + 0.5)
        else:
            out.append(float("nan"))
        return out


class Options(Constraint):
    """One of a fixed set of values of one type.

    Examples
    --------
    >>> c = Options(str, ("auto", "exact"))
    >>> str(c), c.is_satisfied_by("auto"), c.is_satisfied_by("fast")
    ("one of 'auto', 'exact'", True, False)
    """

    def __init__(self, type: type, options: Iterable[object]) -> None:
        self.type = type
        self.options = tuple(options)
        if not self.options:
            raise TypeError("Options needs at least one option.")

    def is_satisfied_by(self, value: object) -> bool:
        if _is_bool(value) and self.type is not bool:
            return False
        return isinstance(value, self.type) and value in self.options

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(o) for o in self.options)

    def invalid_values(self) -> list[object]:
        if self.type is str:
            return ["not-" + "-or-".join(str(o) for o in self.options)]
        return []


class SequenceOf(Constraint):
    """A list or tuple (never a bare string) whose items are all of one type.

    Examples
    --------
    >>> c = SequenceOf(str)
    >>> str(c), c.is_satisfied_by(("train",)), c.is_satisfied_by("train")
    ('a list or tuple of strings', True, False)
    """

    def __init__(self, type: type) -> None:
        self.item = _InstanceOf(type)

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, (list, tuple)) and all(self.item.is_satisfied_by(v) for v in value)

    def __str__(self) -> str:
        item = str(self.item)
        if item.startswith("an instance of "):  # a class: "a list or tuple of SliceSpec objects"
            return f"a list or tuple of {self.item.type.__name__} objects"
        return f"a list or tuple of {item.removeprefix('an ').removeprefix('a ')}s"

    def invalid_values(self) -> list[object]:
        return ["bare-string", [object()]]


class NonEmptyString(Constraint):
    """A string with at least one character (with ``strip``: other than whitespace).

    Examples
    --------
    >>> c = NonEmptyString(strip=True)
    >>> str(c), c.is_satisfied_by("v1"), c.is_satisfied_by("  ")
    ('a string with text other than whitespace', True, False)
    """

    def __init__(self, *, strip: bool = False) -> None:
        self.strip = strip

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, str) and bool(value.strip() if self.strip else value)

    def __str__(self) -> str:
        return "a string with text other than whitespace" if self.strip else "a non-empty string"

    def invalid_values(self) -> list[object]:
        return ["", "   "] if self.strip else [""]


def make_constraint(constraint: object) -> Constraint:
    """Turn a declared constraint (a type, ``None``, a keyword or a Constraint) into one.

    Examples
    --------
    >>> str(make_constraint(None)), str(make_constraint(str)), str(make_constraint("boolean"))
    ('None', 'a string', 'a bool (True or False)')
    """
    if isinstance(constraint, Constraint):
        return constraint
    if constraint is None:
        return _NoneConstraint()
    if isinstance(constraint, type):
        return _Booleans() if constraint is bool else _InstanceOf(constraint)
    if constraint == "boolean":
        return _Booleans()
    if constraint == "array-like":
        return _ArrayLikes()
    if constraint == "callable":
        return _Callables()
    raise TypeError(f"unknown parameter constraint {constraint!r}.")


def describe(constraints: Sequence[object]) -> str:
    """The valid values of a parameter, joined with "or".

    Examples
    --------
    >>> describe([Interval(Real, 0, 1), None])
    'a number in [0, 1] or None'
    """
    parts = [str(make_constraint(c)) for c in constraints]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _received(value: object) -> str:
    """``repr(value)`` on one line (an array's or a frame's repr spans several), shortened,
    and the type; a table is shown by its shape.

    Examples
    --------
    >>> import numpy as np
    >>> _received(np.zeros((2, 2)))
    'array([[0., 0.], [0., 0.]]) (ndarray)'
    """
    text = repr(value)
    if "\n" in text:  # the message stays one line
        shape = getattr(value, "shape", None)
        table = type(value).__name__ in ("DataFrame", "Series")
        text = f"<shape {tuple(shape)}>" if table and shape is not None else " ".join(text.split())
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return f"{text} ({type(value).__name__})"


def invalid_parameter(
    owner: str,
    name: str,
    value: object,
    expected: str,
    *,
    default: object = _NO_DEFAULT,
    fix: str | None = None,
    error: type[InvalidParameterError] = InvalidParameterError,
) -> InvalidParameterError:
    """The error for a bad parameter, in the one message form (returned, not raised).

    For the checks that depend on the data (e.g. at most as many clusters as samples);
    declared constraints produce the same message through :func:`validate_params`.
    ``error`` is the class returned (a subclass of ``InvalidParameterError``).

    Examples
    --------
    >>> print(invalid_parameter("OutlierFinder", "k", 0, "an integer >= 1", default=10))
    OutlierFinder: parameter k must be an integer >= 1; received 0 (int). Pass e.g. k=10
    (the default).
    """
    if fix is None:
        fix = (
            f"Pass e.g. {name}={default!r} (the default)."
            if default is not _NO_DEFAULT
            else f"Change {name} to a valid value."
        )
    return error(
        f"{owner}: parameter {name} must be {expected}; received {_received(value)}. {fix}",
        parameter=name,
        owner=owner,
    )


def check_params(
    owner: str,
    params: Mapping[str, object],
    constraints: Mapping[str, Sequence[object]],
    defaults: Mapping[str, object] | None = None,
    *,
    fix: str | None = None,
) -> None:
    """Raise :class:`InvalidParameterError` for the first parameter no constraint accepts.

    Parameters without a declaration are not checked. ``fix`` replaces the default advice
    (pass the parameter's default). A value above a configurable limit (a constraint whose
    :meth:`Constraint.limit_fix` gives advice) raises
    :class:`~datacentric.exceptions.ParameterLimitError` with that advice instead.
    """
    defaults = defaults or {}
    for name, value in params.items():
        declared = constraints.get(name)
        if declared is None:
            continue
        made = [make_constraint(c) for c in declared]
        if any(c.is_satisfied_by(value) for c in made):
            continue
        for c in made:
            advice = c.limit_fix(name, value)
            if advice is not None:
                raise invalid_parameter(
                    owner, name, value, describe(declared), fix=advice, error=ParameterLimitError
                )
        raise invalid_parameter(
            owner,
            name,
            value,
            describe(declared),
            default=defaults.get(name, _NO_DEFAULT),
            fix=fix,
        )


def param_defaults(cls: type) -> dict[str, object]:
    """The default of every parameter of a class (``__init__`` or dataclass fields)."""
    if dataclasses.is_dataclass(cls):
        out: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.name != "self" and p.default is not p.empty
    }


def param_names(cls: type) -> list[str]:
    """The parameters of a class: its dataclass fields or its ``__init__`` keywords."""
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return [
        p.name
        for p in sig.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def validate_params(obj: object) -> None:
    """Check an object's parameters against ``type(obj)._parameter_constraints``.

    The parameters are read from the attributes of the same names (scikit-learn style:
    ``__init__`` stores each one unchanged, or the object is a dataclass).

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Window:
    ...     _parameter_constraints = {"size": [Interval(Integral, 1, None, closed="left")]}
    ...     size: int = 10
    ...     def __post_init__(self):
    ...         validate_params(self)
    >>> Window(0)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: Window: parameter size must be an ...
    """
    cls = type(obj)
    constraints: Mapping[str, Sequence[object]] = getattr(cls, "_parameter_constraints", {})
    params = {name: getattr(obj, name) for name in constraints if hasattr(obj, name)}
    check_params(cls.__name__, params, constraints, param_defaults(cls))


def owner_name(func: Callable[..., Any]) -> str:
    """The name messages give a function: its qualified name (``Dataset.open`` for a method),
    without the ``<locals>`` of a function defined inside another.

    Examples
    --------
    >>> from datacentric._validation import owner_name
    >>> owner_name(owner_name), owner_name(Interval.is_satisfied_by)
    ('owner_name', 'Interval.is_satisfied_by')
    """
    return str(getattr(func, "__qualname__", func.__name__)).rsplit("<locals>.", 1)[-1]


def validate_call(
    constraints: Mapping[str, Sequence[object]],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function so its declared arguments are checked before it runs.

    The declaration is kept on the wrapper as ``_parameter_constraints``; messages name the
    function by :func:`owner_name` (``Dataset.open`` for a method: put ``@classmethod``
    above this decorator).

    Examples
    --------
    >>> @validate_call({"alpha": [Interval(Real, 0, 1, closed="neither")]})
    ... def test(x, alpha=0.05):
    ...     return alpha
    >>> test(None, alpha=2)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: test: parameter alpha must be a ...
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        sig = inspect.signature(func)
        unknown = sorted(set(constraints) - set(sig.parameters))
        if unknown:
            raise TypeError(f"{func.__qualname__} declares constraints for unknown {unknown}.")
        for declared in constraints.values():
            for c in declared:
                make_constraint(c)
        defaults = {n: p.default for n, p in sig.parameters.items() if p.default is not p.empty}
        owner = owner_name(func)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError:
                return func(*args, **kwargs)  # let Python report the bad call
            check_params(owner, bound.arguments, constraints, defaults)
            return func(*args, **kwargs)

        wrapper._parameter_constraints = dict(constraints)  # type: ignore[attr-defined]
        return wrapper

    return decorate


_WRONG_TYPE = object()


def invalid_values(declared: Sequence[object]) -> list[object]:
    """Values that satisfy none of a parameter's constraints (for tests).

    Always includes a value of an unrelated type; adds the out-of-range, wrong-option
    and wrong-kind values each constraint knows of.

    Examples
    --------
    >>> invalid_values([Interval(Integral, 1, 8)])[1:]
    [0, 9, 1.5]
    """
    cs = [make_constraint(c) for c in declared]
    candidates: list[object] = [_WRONG_TYPE]
    for c in cs:
        candidates.extend(c.invalid_values())
    return [v for v in candidates if not any(c.is_satisfied_by(v) for c in cs)]
