"""Slice definitions in YAML to polars expressions.

A slice is a named subset of the manifest rows. A YAML file lists entries of two kinds: a
``where`` slice (a ``name`` and a condition on manifest columns) and a ``by`` entry (one slice
per distinct value, or combination of values, of some columns). :func:`load_slices` parses
and validates the file eagerly, with ``file:line`` in every error; :meth:`SliceSpec.expand`
turns an entry into :class:`Slice` objects (boolean polars expressions) against a manifest.
The format reference is ``docs/slices-yaml.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from datacentric._io import atomic_write_text
from datacentric._yaml import read_yaml_text
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices._where import (
    ENTRY_FORMS,
    ENTRY_KEYS,
    at,
    check_entry,
    compile_where,
    dtype_kind,
    line_of,
    parse_located_yaml,
    plain,
    suggest,
    unknown_column,
)

__all__ = [
    "ENTRY_KEYS", "NULL_NAME", "Slice", "SliceSpec", "expand_slices", "load_slices",
    "parse_where", "save_slices", "slices_to_yaml",
]  # fmt: skip

logger = logging.getLogger(__name__)

NULL_NAME = "<null>"
"""How a null value is written in the name of an expanded ``by`` slice."""

_COUNT = "__datacentric_slice_n__"


@dataclass(frozen=True)
class Slice:
    """A named subset of rows: a boolean polars expression over manifest columns.

    Attributes
    ----------
    name : str
        Unique name, e.g. ``"dark_scanner"`` or ``"vendor=vendor_a & scanner=scanner_b"``.
    expr : polars.Expr
        The predicate; never null (see ``docs/slices-yaml.md`` for null semantics).
    columns : tuple of str
        The manifest columns it uses, in order of first use.
    definition : dict
        A YAML-able entry that reproduces exactly this slice.
    source : str
        Where it was defined, ``"file:line"`` (not part of equality).

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"vendor": ["a", "b", "a"]})
    >>> [s] = SliceSpec("only_a", where={"vendor": "a"}).expand(frame)
    >>> s
    Slice(name='only_a', columns=('vendor',), source='<spec>')
    >>> s.mask(frame).to_list(), s.definition
    ([True, False, True], {'name': 'only_a', 'where': {'vendor': 'a'}})
    """

    name: str
    expr: pl.Expr = field(compare=False, repr=False)
    columns: tuple[str, ...]
    definition: dict[str, Any] = field(hash=False, repr=False)
    source: str = field(compare=False)

    def mask(self, frame: pl.DataFrame) -> pl.Series:
        """The boolean row mask of this slice on ``frame`` (a Series named after the slice)."""
        return frame.select(self.expr.alias(self.name)).to_series()


@dataclass(frozen=True)
class SliceSpec:
    """One unexpanded entry of a slice file: a ``where`` slice or a ``by`` entry.

    Attributes
    ----------
    name : str
        The slice name of a ``where`` slice; ``"vendor=*"`` for a ``by`` entry (set for you).
    where : dict or None
        The condition of a ``where`` slice.
    by : tuple of str or None
        The columns of a ``by`` entry.
    min_n : int or None
        ``by`` only: drop value combinations with fewer rows when expanding (logged).
    source : str
        Where it was defined, ``"file:line"`` (not part of equality).

    Examples
    --------
    >>> import polars as pl
    >>> spec = SliceSpec(by=("vendor",), min_n=2)
    >>> spec.name, spec.definition
    ('vendor=*', {'by': 'vendor', 'min_n': 2})
    >>> [s.name for s in spec.expand(pl.DataFrame({"vendor": ["a", "b", "a"]}))]
    ['vendor=a']
    """

    name: str = ""
    where: dict[str, Any] | None = field(default=None, hash=False)
    by: tuple[str, ...] | None = None
    min_n: int | None = None
    source: str = field(default="<spec>", compare=False)

    def __post_init__(self) -> None:
        entry: dict[str, Any] = {"where": self.where, "by": self.by, "min_n": self.min_n}
        if self.by is None or self.where is not None:
            entry["name"] = self.name if self.name != "" else None
        name, where, by, _ = check_entry(
            {k: v for k, v in entry.items() if v is not None}, self.source, None
        )
        if self.by is not None and self.name not in ("", name):
            raise SchemaError(
                f"{self.source}: a 'by' entry is named after its columns ({name!r}), received "
                f"name={self.name!r}. Leave the name out for 'by' entries."
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "where", where)
        object.__setattr__(self, "by", by)

    @classmethod
    def from_dict(
        cls,
        entry: Mapping[str, Any],
        *,
        source: str = "<dict>",
        columns: Sequence[str] | None = None,
    ) -> SliceSpec:
        """Build a spec from one entry mapping, as written in YAML.

        Examples
        --------
        >>> SliceSpec.from_dict({"by": ["vendor", "scanner"], "min_n": 30}).name
        'vendor=* & scanner=*'
        """
        name, where, by, min_n = check_entry(entry, source, columns)
        return cls(name, where, by, min_n, source)

    @property
    def definition(self) -> dict[str, Any]:
        """The entry as a plain YAML-able mapping."""
        if self.where is not None:
            return {"name": self.name, "where": plain(self.where)}
        by = self.by or ()
        out: dict[str, Any] = {"by": by[0] if len(by) == 1 else list(by)}
        return out if self.min_n is None else {**out, "min_n": self.min_n}

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the entry uses, in order of first use."""
        if self.where is None:
            return self.by or ()
        return compile_where(self.where, source=self.source)[1]

    def expand(self, frame: pl.DataFrame) -> list[Slice]:
        """Turn the entry into slices, checking its columns and values against ``frame``.

        A ``where`` slice gives one slice. A ``by`` entry gives one slice per distinct
        combination of its columns in ``frame`` (sorted, null last), named
        ``"col=value & col2=value2"``; a null value gets its own slice ``"col=<null>"``.
        Combinations with fewer than ``min_n`` rows are dropped, and the count is logged.

        Raises
        ------
        SchemaError
            An unknown column, a value whose type does not fit the column's dtype, or a
            ``by`` column of a dtype that cannot be sliced (lists, structs, ...).
        """
        schema = dict(frame.schema)
        if self.where is not None:
            context = f"slice {self.name!r}"
            expr, cols = compile_where(
                self.where, source=self.source, context=context, schema=schema
            )
            return [Slice(self.name, expr, cols, self.definition, self.source)]
        by, context = list(self.by or ()), f"by {list(self.by or ())}"
        for col in by:
            if col not in schema:
                raise unknown_column(self.source, context, col, frame.columns)
            if dtype_kind(schema[col]) is None:
                raise SchemaError(
                    f"{self.source}: {context}: column {col!r} has dtype {schema[col]}, which "
                    "cannot be sliced by value. Use text, numeric, boolean or date columns, or "
                    "derive one from it in the manifest."
                )
        keys = [
            pl.col(c).cast(pl.String) if dtype_kind(schema[c]) == "string" else pl.col(c)
            for c in by
        ]
        counts = frame.select(keys).group_by(by).agg(pl.len().alias(_COUNT))
        counts = counts.sort(by, nulls_last=True)
        if self.min_n is not None:
            kept = counts.filter(pl.col(_COUNT) >= self.min_n)
            if kept.height < counts.height:
                n_drop, n_all = counts.height - kept.height, counts.height
                msg = "%s: %s dropped %d of %d value combinations with fewer than min_n=%d rows"
                logger.info(msg, self.source, context, n_drop, n_all, self.min_n)
            counts = kept
        out = []
        for row in counts.drop(_COUNT).iter_rows():
            pairs = list(zip(by, row, strict=True))
            where = {c: {"is_null": True} if v is None else v for c, v in pairs}
            name = " & ".join(f"{c}={_format_value(v)}" for c, v in pairs)
            context = f"slice {name!r}"
            expr, cols = compile_where(where, source=self.source, context=context, schema=schema)
            out.append(Slice(name, expr, cols, {"name": name, "where": where}, self.source))
        return out


def _format_value(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return NULL_NAME if value is None else str(value).lower()
    return str(value.isoformat()) if hasattr(value, "isoformat") else str(value)


def _read(path_or_text: str | Path) -> tuple[str, str]:
    """The YAML text and the name used in messages (the path, or ``"<string>"``)."""
    if isinstance(path_or_text, str) and not _looks_like_path(path_or_text):
        return path_or_text, "<string>"
    if not isinstance(path_or_text, (str, Path)):
        raise InvalidParameterError(
            f"load_slices takes a file path or YAML text, received {type(path_or_text).__name__}."
            " Pass e.g. 'slices/demo.yaml' or the YAML text itself."
        )
    path = Path(path_or_text)
    if not path.is_file():
        raise InvalidParameterError(
            f"slice file {str(path)!r} does not exist (resolved to {path.resolve()}). Pass the "
            "path of an existing YAML file, or the YAML text itself."
        )
    return read_yaml_text(path, what="the slice definitions"), str(path)


def _looks_like_path(text: str) -> bool:
    if "\n" in text or text.strip().lower().endswith((".yaml", ".yml")):
        return "\n" not in text
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def load_slices(
    path_or_text: str | Path, *, columns: Sequence[str] | None = None
) -> list[SliceSpec]:
    """Parse and validate slice definitions from a YAML file or a YAML string.

    Parameters
    ----------
    path_or_text : str or pathlib.Path
        A path (a ``Path``, or a one-line string that ends in ``.yaml``/``.yml`` or names an
        existing file), or the YAML text itself. The text holds ``slices:`` with a list of
        entries, or just the list.
    columns : sequence of str, optional
        The manifest columns; when given, every column an entry uses must be among them.

    Returns
    -------
    list of SliceSpec
        The entries in file order, unexpanded (see :func:`expand_slices`).

    Raises
    ------
    SchemaError
        Malformed YAML, an unknown column or operator, a value of the wrong type, a duplicate
        name, a ``where`` slice without a name, ...: the message starts with ``file:line``.
    InvalidParameterError
        The path does not exist.

    Examples
    --------
    >>> [s.name for s in load_slices("[{name: big, where: {width: {gte: 100}}}, {by: vendor}]")]
    ['big', 'vendor=*']
    >>> load_slices("- {name: x, where: {vendr: a}}", columns=["vendor", "width"])
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: <string>:1: slice 'x' uses unknown column 'vendr'
    (did you mean 'vendor'?). Available columns: 'vendor', 'width'. ...
    """
    text, file = _read(path_or_text)
    doc = parse_located_yaml(text, file)
    entries, line = doc, line_of(doc)
    if isinstance(doc, Mapping):
        for key in doc:
            if key != "slices":
                raise SchemaError(
                    f"{at(file, line_of(doc, key))}: unknown top-level key {key!r}"
                    f"{suggest(str(key), ['slices'])}. The file holds one key, 'slices', with "
                    "the list of entries (a top-level list works too)."
                )
        entries, line = doc.get("slices"), line_of(doc, "slices")
    if not isinstance(entries, list):
        raise SchemaError(
            f"{at(file, line)}: expected a list of slice entries under 'slices:' (or a "
            f"top-level list), received {'nothing' if entries is None else repr(plain(entries))}."
            f" Write e.g. slices: [{ENTRY_FORMS}]."
        )
    known = None if columns is None else list(columns)
    specs: list[SliceSpec] = []
    first: dict[str, str] = {}
    for i, entry in enumerate(entries):
        source = at(file, line_of(entries, i))
        spec = SliceSpec.from_dict(entry, source=source, columns=known)
        if spec.name in first:
            raise SchemaError(
                f"{at(source, line_of(entry, 'name'))}: slice name {spec.name!r} is defined "
                f"twice (first at {first[spec.name]}). Names must be unique: rename or remove "
                "one."
            )
        first[spec.name] = source
        specs.append(spec)
    return specs


def expand_slices(specs: Sequence[SliceSpec], frame: pl.DataFrame) -> list[Slice]:
    """Expand every entry against ``frame`` (see :meth:`SliceSpec.expand`), in order.

    Raises
    ------
    SchemaError
        A column missing from ``frame``, a value that does not fit a column's dtype, or two
        slices with the same name (e.g. a ``where`` slice named like an expanded ``by`` one).

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"vendor": ["a", "b", None], "width": [10, 200, 50]})
    >>> specs = load_slices('''
    ... slices:
    ...   - name: wide
    ...     where: {width: {gt: 100}}
    ...   - by: vendor
    ... ''')
    >>> [(s.name, s.mask(frame).to_list()) for s in expand_slices(specs, frame)]
    [('wide', [False, True, False]), ('vendor=a', [True, False, False]),
     ('vendor=b', [False, True, False]), ('vendor=<null>', [False, False, True])]
    """
    out: list[Slice] = []
    first: dict[str, str] = {}
    for spec in specs:
        if not isinstance(spec, SliceSpec):
            raise InvalidParameterError(
                f"expand_slices takes SliceSpec objects, received {type(spec).__name__}. Get "
                "them from load_slices(...)."
            )
        for item in spec.expand(frame):
            if item.name in first:
                raise SchemaError(
                    f"{item.source}: slice name {item.name!r} is produced twice (also by the "
                    f"entry at {first[item.name]}). Names must be unique: rename the 'where' "
                    "slice or drop one of the entries."
                )
            first[item.name] = item.source
            out.append(item)
    return out


def parse_where(
    where: Mapping[str, Any], *, source: str = "<where>", columns: Sequence[str] | None = None
) -> tuple[pl.Expr, tuple[str, ...]]:
    """Compile one condition to a boolean expression and the columns it uses.

    Examples
    --------
    >>> import polars as pl
    >>> expr, cols = parse_where({"any": [{"vendor": "a"}, {"width": {"between": [1, 5]}}]})
    >>> frame = pl.DataFrame({"vendor": ["a", "b", "b"], "width": [9, 3, 7]})
    >>> cols, frame.select(expr).to_series().to_list()
    (('vendor', 'width'), [True, True, False])
    """
    return compile_where(where, source=source, context="where", known_columns=columns)


def slices_to_yaml(slices: Sequence[Slice | SliceSpec | Mapping[str, Any]]) -> str:
    """The YAML text (a ``slices:`` list) that :func:`load_slices` reads back to the same slices.

    Examples
    --------
    >>> print(slices_to_yaml([SliceSpec("dark", where={"scanner": "c"}), {"by": "vendor"}]))
    slices:
    - name: dark
      where:
        scanner: c
    - by: vendor
    """
    defs: list[dict[str, Any]] = []
    for i, item in enumerate(slices):
        if isinstance(item, Slice):
            defs.append(plain(item.definition))
        elif isinstance(item, (SliceSpec, Mapping)):
            spec = item if isinstance(item, SliceSpec) else SliceSpec.from_dict(item)
            defs.append(spec.definition)
        else:
            raise InvalidParameterError(
                f"slices_to_yaml takes Slice, SliceSpec or mapping items, received "
                f"{type(item).__name__} at position {i}. Pass what load_slices or "
                "expand_slices returned."
            )
    text = yaml.safe_dump({"slices": defs}, sort_keys=False, allow_unicode=True)
    load_slices(text)  # the same checks as reading it back (unique names, ...)
    return text


def save_slices(slices: Sequence[Slice | SliceSpec | Mapping[str, Any]], path: str | Path) -> Path:
    """Write :func:`slices_to_yaml` to ``path`` atomically (temp file + rename); return the path.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = save_slices([{"by": "vendor"}], pathlib.Path(tempfile.mkdtemp()) / "s.yaml")
    >>> [s.name for s in load_slices(path)]
    ['vendor=*']
    """
    return atomic_write_text(path, slices_to_yaml(slices))
