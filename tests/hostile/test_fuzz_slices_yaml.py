"""Property: whatever the slice YAML holds, the result is valid slices or a DatacentricError.

Random bytes, random YAML documents (anchors, aliases, merge keys, tags, flow and block
style) and random nested structures shaped like slice files go through ``load_slices`` and
then ``expand_slices`` on a small frame; every mask must then evaluate to a boolean Series
without nulls. Anything else (``KeyError``, ``TypeError``, ``RecursionError``, a polars
exception, a multi-line message) fails the property.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacentric.exceptions import DatacentricError
from datacentric.slices import expand_slices, load_slices

FRAME = pl.DataFrame(
    {
        "vendor": ["a", "b", None, "a"],
        "width": [10, 200, None, 50],
        "score": [0.1, 0.5, 0.9, None],
        "flag": [True, False, None, True],
        "day": [dt.date(2024, 1, d) for d in (1, 2, 3, 4)],
    }
)
COLUMNS = [*FRAME.columns, "missing"]
OPERATORS = ["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null", "between"]
KEYS = ["name", "where", "by", "min_n", "all", "any", "not", "slices", *COLUMNS, *OPERATORS]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _check(source: str | Path) -> None:
    """The property, for one input."""
    try:
        specs = load_slices(source, columns=None)
        slices = expand_slices(specs, FRAME)
        for s in slices:
            mask = s.mask(FRAME)
            assert mask.dtype == pl.Boolean and mask.null_count() == 0, (s.name, mask)
    except DatacentricError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, msg


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(KEYS),
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)),
)
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=25,
)
entry = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=6), scalars),
        "where": structures,
        "by": st.one_of(st.sampled_from(COLUMNS), st.lists(st.sampled_from(COLUMNS)), scalars),
        "min_n": st.one_of(st.integers(-3, 5), scalars),
    },
)
slice_files = st.one_of(
    st.lists(entry, max_size=4),
    st.fixed_dictionaries({"slices": st.lists(entry, max_size=4)}),
    structures,
)

TOKENS = [
    "slices:", "\n", "  ", "- ", "name: ", "where: ", "by: ", "min_n: ", "{", "}", "[", "]",
    ", ", ": ", "&a ", "&b ", "*a", "*b", "<<: ", "!!python/object:os.system ", "!!str ",
    "!tag ", "vendor", "width", "gt", "in", "between", "not", "any", "all", "'x'", '"y"', "1",
    "2.5", "null", "true", "2024-01-02", "? ", "|", ">", "#", "---", "...", "%YAML 1.1\n", "\t",
]  # fmt: skip


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    _check(path)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_random_yaml_token_soup(tokens: list[str]) -> None:
    _check("\n" + "".join(tokens))  # a newline: always read as YAML text, never as a path


@FUZZ
@given(slice_files)
def test_random_structures(doc: Any) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    _check("\n" + text)


@FUZZ
@given(st.lists(entry, min_size=1, max_size=3), st.integers(0, 2))
def test_structures_behind_anchors_and_merges(entries: list[dict[str, Any]], k: int) -> None:
    # the first entry is an anchor; the others merge it in and override some keys
    body = yaml.safe_dump(entries[0], default_flow_style=True, allow_unicode=True).strip()
    lines = [f"slices:\n  - &base {body}"]
    for e in entries[1:]:
        rest = yaml.safe_dump(e, default_flow_style=True, allow_unicode=True).strip()
        inner = rest[1:-1].strip() if rest.startswith("{") else ""
        lines.append(f"  - {{<<: *base{', ' + inner if inner else ''}}}")
    lines += ["  - *base"] * k
    _check("\n" + "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "text",
    [
        "- {name: a, where: {width: {between: [.inf, .nan]}}}",
        "- {name: a, where: {day: {gt: 2024-01-02}}}",
        "- {name: a, where: {width: {in: [1, a, null]}}}",
        "- {name: a, where: {flag: {eq: 1}}}",
        "- {name: a, where: {score: {gt: 99999999999999999999999999}}}",
        "- {name: a, where: {not: {not: {not: {vendor: a}}}}}",
        "- {by: [vendor, vendor]}",
        "- {by: []}",
        "- {name: '', where: {vendor: a}}",
        "- {name: a, where: {vendor: !!binary aGVsbG8=}}",
        "- {name: a, where: {vendor: {in: !!set {a, b}}}}",
    ],
)
def test_known_corner_cases(text: str) -> None:
    _check("\n" + text + "\n")
