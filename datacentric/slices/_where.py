"""Slice entries and conditions (``where``) to polars expressions; YAML with line numbers.

Private helpers of :mod:`datacentric.slices.spec`. A condition is a mapping; each key is a
combinator (``all``, ``any``, ``not``) or a column, and several keys mean *and*. A column maps
to a value (equality) or to a mapping of operators (several operators mean *and*).

Null semantics, so that a slice mask is never null: ``eq, in, gt, gte, lt, lte, between`` are
false on a null cell, ``ne`` and ``not_in`` are true on it (null is not equal to the value),
``is_null`` tests for it, and ``not`` negates the whole sub-condition.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from typing import Any

import polars as pl
import yaml

from datacentric._yaml import load_yaml, merged_pairs
from datacentric.exceptions import SchemaError, format_items

__all__ = [
    "COMBINATORS", "ENTRY_FORMS", "ENTRY_KEYS", "OPERATORS", "LocatedList", "LocatedMap", "at",
    "check_entry", "compile_where", "dtype_kind", "line_of", "parse_located_yaml", "plain",
    "suggest", "unknown_column",
]  # fmt: skip

ENTRY_KEYS = ("name", "where", "by", "min_n")
ENTRY_FORMS = "{name: dark, where: {scanner: scanner_c}} or {by: vendor}"
COMBINATORS = ("all", "any", "not")
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null", "between")

_COMPARE: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: c != v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
}
_ORDERING = ("gt", "gte", "lt", "lte", "between")
_TRUE_ON_NULL = ("ne", "not_in")
_LINE_SUFFIX = re.compile(r":\d+$")
_EXAMPLE = {"bool": "true", "number": "5", "string": "'text'", "temporal": "2024-01-31"}


class LocatedMap(dict[str, Any]):
    """A YAML mapping that remembers its line and the line of each key (1-based)."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}


class LocatedList(list[Any]):
    """A YAML sequence that remembers its line and the line of each item (1-based)."""

    def __init__(self, line: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


def at(source: str, line: int | None) -> str:
    """``"file:line"`` for ``line`` in the file of ``source`` (``source`` when line is None).

    Examples
    --------
    >>> at("slices/demo.yaml:3", 7), at("<string>", 2), at("<where>", None)
    ('slices/demo.yaml:7', '<string>:2', '<where>')
    """
    return source if line is None else f"{_LINE_SUFFIX.sub('', source)}:{line}"


def line_of(container: Any, key: Any = None) -> int | None:
    """The line of ``container[key]`` (or of the container when ``key`` is None), if known."""
    if key is None:
        return getattr(container, "line", None)
    if isinstance(container, LocatedMap):
        return container.key_lines.get(key, container.line)
    if isinstance(container, LocatedList) and isinstance(key, int):
        return container.item_lines[key] if key < len(container.item_lines) else container.line
    return None


def suggest(name: str, options: Sequence[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``options``, or ``""``.

    Examples
    --------
    >>> suggest("vendr", ["vendor", "scanner"]), suggest("zzz", ["vendor"])
    (" (did you mean 'vendor'?)", '')
    """
    match = {o.lower(): o for o in options}.get(name.lower())
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    match = match or (close[0] if close else None)
    return f" (did you mean {match!r}?)" if match is not None else ""


def unknown_column(loc: str, context: str, column: str, available: Sequence[str]) -> SchemaError:
    """The unknown-column error: where, the column, a suggestion and the available columns."""
    return SchemaError(
        f"{loc}: {context} uses unknown column {column!r}{suggest(column, available)}. "
        f"Available columns: {format_items(list(available), limit=30)}. Fix the column name "
        "in the slice definition, or add the column to the manifest."
    )


def plain(obj: Any) -> Any:
    """A copy of ``obj`` with located containers (and tuples) turned into dict and list."""
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def parse_located_yaml(text: str, source: str) -> Any:
    """Parse one YAML document into :class:`LocatedMap`/:class:`LocatedList` and scalars.

    Mapping keys stay text (``on: x`` is the key ``"on"``); a repeated key is an error. The
    limits of :mod:`datacentric._yaml` apply (size, aliases expanded, nesting, safe tags only).

    Examples
    --------
    >>> doc = parse_located_yaml("slices:\\n  - by: vendor\\n", "<string>")
    >>> doc, doc.key_lines, doc["slices"].item_lines
    ({'slices': [{'by': 'vendor'}]}, {'slices': 1}, [2])
    """
    return load_yaml(
        text, source, what="the slice definitions", convert=lambda n, ld: _convert(n, ld, source)
    )


def _convert(node: yaml.Node, loader: yaml.SafeLoader, source: str) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = LocatedMap(line)
        merged = merged_pairs(node)  # pairs from ``<<: *base``; the node's own keys override
        from_merge: set[str] = set()
        for i, (key_node, value_node) in enumerate(node.value):
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise SchemaError(
                    f"{at(source, key_line)}: a mapping key is a {key_node.id}, not text. "
                    "Keys are column names, operators or entry keys (name, where, by, min_n)."
                )
            key = key_node.value
            if key in out and key not in from_merge:
                raise SchemaError(
                    f"{at(source, key_line)}: key {key!r} appears twice in one mapping (first "
                    f"at line {out.key_lines[key]}). Keep one; to put several conditions on a "
                    "column use several operators, e.g. {width: {gt: 1, lte: 5}}."
                )
            out[key] = _convert(value_node, loader, source)
            out.key_lines[key] = key_line
            (from_merge.add if i < merged else from_merge.discard)(key)
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LocatedList(line)
        for item in node.value:
            seq.append(_convert(item, loader, source))
            seq.item_lines.append(item.start_mark.line + 1)
        return seq
    return loader.construct_object(node, deep=True)


def _value_kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "temporal" if isinstance(value, dt.date) else None


def dtype_kind(dtype: pl.DataType) -> str | None:
    """The value kind a column of ``dtype`` compares with, ``"null"``, or None (unsupported).

    Examples
    --------
    >>> dtype_kind(pl.Int32()), dtype_kind(pl.Categorical()), dtype_kind(pl.List(pl.Int8()))
    ('number', 'string', None)
    """
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_numeric():
        return "number"
    if dtype == pl.String or isinstance(dtype, (pl.Enum, pl.Categorical)):
        return "string"
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "temporal"
    return "null" if dtype == pl.Null else None


class _Compiler:
    """One walk over a condition: builds the expression, records columns, checks them."""

    def __init__(
        self,
        source: str,
        context: str,
        known: Sequence[str] | None,
        schema: Mapping[str, pl.DataType] | None,
    ) -> None:
        self.source, self.context, self.schema = source, context, schema
        self.known = list(schema) if schema is not None else known
        self.columns: list[str] = []

    def at(self, line: int | None) -> str:
        return f"{at(self.source, line)}: {self.context}"

    def condition(self, node: Any, line: int | None) -> pl.Expr:
        line = line_of(node) or line
        if not isinstance(node, Mapping) or not node:
            raise SchemaError(
                f"{self.at(line)}: a condition must be a non-empty mapping, received "
                f"{plain(node)!r}. Write e.g. {{vendor: vendor_a}}, {{width: {{gt: 100}}}} or "
                "{any: [{...}, {...}]}."
            )
        terms = [self.term(k, v, line_of(node, k) or line) for k, v in node.items()]
        return reduce(lambda a, b: a & b, terms)

    def term(self, key: Any, value: Any, line: int | None) -> pl.Expr:
        if key in ("all", "any"):
            if not isinstance(value, (list, tuple)) or not value:
                raise SchemaError(
                    f"{self.at(line)}: {key!r} needs a non-empty list of conditions, received "
                    f"{plain(value)!r}. Write e.g. {key}: [{{vendor: a}}, {{scanner: b}}]."
                )
            parts = [self.condition(v, line_of(value, i) or line) for i, v in enumerate(value)]
            if key == "all":
                return reduce(lambda a, b: a & b, parts)
            return reduce(lambda a, b: a | b, parts)
        if key == "not":
            return ~self.condition(value, line)
        if not isinstance(key, str) or not key or key in OPERATORS:
            raise SchemaError(
                f"{self.at(line)}: expected a column name or one of {format_items(COMBINATORS)}, "
                f"received {key!r}. Operators go under a column, e.g. {{width: {{gte: 5}}}}."
            )
        self.use_column(key, line)
        if isinstance(value, Mapping) and value:
            ops = [self.op(key, op, v, line_of(value, op) or line) for op, v in value.items()]
            return reduce(lambda a, b: a & b, ops)
        if value is None or isinstance(value, (list, tuple, Mapping)):
            fix = "is_null: true" if value is None else "in: [a, b]"
            raise SchemaError(
                f"{self.at(line)}: column {key!r} needs a value or a non-empty mapping of "
                f"operators, received {plain(value)!r}. Write e.g. {{{key}: {{{fix}}}}} "
                f"(operators: {format_items(OPERATORS)})."
            )
        return self.op(key, "eq", value, line)

    def use_column(self, column: str, line: int | None) -> None:
        if self.known is not None and column not in self.known:
            raise unknown_column(at(self.source, line), self.context, column, self.known)
        if column not in self.columns:
            self.columns.append(column)

    def op(self, column: str, op: Any, value: Any, line: int | None) -> pl.Expr:
        loc = f"{self.at(line)}: {op!r} on column {column!r}"
        if op not in OPERATORS:
            raise SchemaError(
                f"{self.at(line)}: unknown operator {op!r}{suggest(str(op), OPERATORS)} on "
                f"column {column!r}. Valid operators: {format_items(OPERATORS)}."
            )
        dtype = None if self.schema is None else self.schema[column]
        cast = dtype is not None and isinstance(dtype, (pl.Categorical, pl.Enum))
        c = pl.col(column).cast(pl.String) if cast else pl.col(column)
        if op == "is_null":
            if not isinstance(value, bool):
                raise SchemaError(f"{loc} takes true or false, received {plain(value)!r}.")
            self.check_dtype(column, op, None, line)
            return c.is_null() if value else c.is_not_null()
        if op not in ("in", "not_in", "between"):
            self.check_value(loc, column, op, value, line)
            return _COMPARE[op](c, pl.lit(value)).fill_null(op in _TRUE_ON_NULL)
        is_list = isinstance(value, (list, tuple)) and len(value) > 0
        if not is_list or (op == "between" and len(value) != 2):
            want = "[low, high] (inclusive)" if op == "between" else "a non-empty list"
            raise SchemaError(
                f"{loc} takes {want}, received {plain(value)!r}. Write e.g. "
                f"{{{column}: {{{op}: [1, 5]}}}}."
            )
        for v in value:
            self.check_value(loc, column, op, v, line)
        if op != "between":
            # equality (not is_in) lets polars compare e.g. an int column with 2.5, as eq does
            mask = pl.any_horizontal([c == pl.lit(v) for v in value])
            return (~mask if op == "not_in" else mask).fill_null(op in _TRUE_ON_NULL)
        lo, hi = value
        try:
            reverse = lo > hi
        except TypeError:
            reverse = True
        if reverse:
            raise SchemaError(
                f"{loc} needs [low, high] of one type with low <= high, received "
                f"[{lo!r}, {hi!r}]. Write e.g. between: [1, 5]."
            )
        return c.is_between(pl.lit(lo), pl.lit(hi), closed="both").fill_null(False)

    def check_value(self, loc: str, column: str, op: str, value: Any, line: int | None) -> None:
        kind = _value_kind(value)
        if kind is None or (op in _ORDERING and kind == "bool"):
            valid = "text, a number or a date" if op in _ORDERING else "one text, number, date"
            hint = {type(None): " For empty cells use is_null: true.", bool: " Use eq or ne."}
            extra = " For several values use in: [...]." if isinstance(value, (list, tuple)) else ""
            raise SchemaError(
                f"{loc} takes {valid}{'' if op in _ORDERING else ' or true/false'}, received "
                f"{plain(value)!r}.{hint.get(type(value), extra)}"
            )
        self.check_dtype(column, op, value, line)

    def check_dtype(self, column: str, op: str, value: Any, line: int | None) -> None:
        if self.schema is None:
            return
        dtype = self.schema[column]
        kind, got = dtype_kind(dtype), _value_kind(value)
        if kind is None and op != "is_null":
            raise SchemaError(
                f"{self.at(line)}: column {column!r} has dtype {dtype}, which a slice cannot "
                "compare (only is_null works on it). Slice on text, numeric, boolean or date "
                "columns, or derive one from it in the manifest."
            )
        if kind in (None, "null") or got is None or got == kind:
            return
        unquote = " (write the number unquoted)" if kind == "number" else ""
        raise SchemaError(
            f"{self.at(line)}: {op!r} compares column {column!r} of dtype {dtype} with "
            f"{value!r} ({type(value).__name__}); a {dtype} column needs {kind} values, e.g. "
            f"{_EXAMPLE[kind]}. Fix the value in the slice definition{unquote}, or cast the "
            "column in the manifest."
        )


def compile_where(
    where: Any,
    *,
    source: str,
    context: str = "slice",
    known_columns: Sequence[str] | None = None,
    schema: Mapping[str, pl.DataType] | None = None,
) -> tuple[pl.Expr, tuple[str, ...]]:
    """Compile a condition to a boolean expression and the columns it uses (first use order).

    With ``known_columns`` unknown columns raise; with ``schema`` (column to dtype) the values
    are also checked against the dtypes, and Categorical/Enum columns are compared as text.

    Examples
    --------
    >>> expr, cols = compile_where({"not": {"v": {"in": ["a", "b"]}}}, source="<where>")
    >>> cols, pl.DataFrame({"v": ["a", "c", None]}).select(expr).to_series().to_list()
    (('v',), [False, True, True])
    """
    compiler = _Compiler(source, context, known_columns, schema)
    expr = compiler.condition(where, line_of(where))
    return expr, tuple(compiler.columns)


def check_entry(
    entry: Any, source: str, known: Sequence[str] | None
) -> tuple[str, dict[str, Any] | None, tuple[str, ...] | None, int | None]:
    """Validate one entry; return (name, where, by, min_n). Errors start with file:line."""
    loc = at(source, line_of(entry))
    if not isinstance(entry, Mapping):
        raise SchemaError(
            f"{loc}: a slice entry must be a mapping, received {plain(entry)!r}. Write e.g. "
            f"{ENTRY_FORMS}."
        )
    for key in entry:
        if key not in ENTRY_KEYS:
            raise SchemaError(
                f"{at(source, line_of(entry, key))}: unknown key {key!r}"
                f"{suggest(str(key), ENTRY_KEYS)} in a slice entry. Valid keys: "
                f"{format_items(ENTRY_KEYS)}."
            )
    if ("where" in entry) == ("by" in entry):
        raise SchemaError(
            f"{loc}: a slice entry needs exactly one of 'where' (a condition) or 'by' (columns "
            f"to split on), received keys {list(entry)}. Write e.g. {ENTRY_FORMS}."
        )
    name, min_n = entry.get("name"), entry.get("min_n")
    if "where" in entry:
        if not isinstance(name, str) or not name.strip():
            raise SchemaError(
                f"{at(source, line_of(entry, 'name'))}: a 'where' slice needs a name of "
                f"non-empty text, received {name!r}. Add or quote it, e.g. name: dark_scanner."
            )
        if "min_n" in entry:
            raise SchemaError(
                f"{at(source, line_of(entry, 'min_n'))}: 'min_n' applies only to 'by' "
                f"entries, received it on slice {name!r}. Remove it."
            )
        where, context = entry["where"], f"slice {name!r}"
        src = at(source, line_of(entry, "where"))
        compile_where(where, source=src, context=context, known_columns=known)
        return name, where if isinstance(where, LocatedMap) else plain(where), None, None
    by, by_loc = entry["by"], at(source, line_of(entry, "by"))
    cols = [by] if isinstance(by, str) else by
    texts = isinstance(cols, (list, tuple)) and all(isinstance(c, str) and c for c in cols)
    if not texts or not cols or len(set(cols)) < len(cols):
        raise SchemaError(
            f"{by_loc}: 'by' takes a column name or a list of distinct column names, received "
            f"{plain(by)!r}. Write e.g. by: vendor or by: [vendor, scanner]."
        )
    for i, col in enumerate(cols):
        if known is not None and col not in known:
            raise unknown_column(at(by_loc, line_of(by, i)), f"by {list(cols)}", col, known)
    if "name" in entry:
        raise SchemaError(
            f"{at(source, line_of(entry, 'name'))}: a 'by' entry takes no name, received "
            f"{name!r}: its slices are named after their values (e.g. {cols[0]!r}=...). Remove "
            "the name, or write a 'where' slice."
        )
    if min_n is not None and (isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1):
        raise SchemaError(
            f"{at(source, line_of(entry, 'min_n'))}: 'min_n' must be a positive integer, "
            f"received {min_n!r}. Write e.g. min_n: 30, or leave it out to keep every value."
        )
    return " & ".join(f"{c}=*" for c in cols), None, tuple(cols), min_n
