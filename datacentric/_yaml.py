"""The one YAML reader of datacentric: safe tags only, bounded size, aliases, nesting.

Every YAML file or text datacentric reads (slice definitions, the monitor config) goes
through :func:`load_yaml` / :func:`load_yaml_file`:

- files larger than ``yaml_max_bytes`` are refused before they are read;
- the document may expand to at most ``yaml_max_nodes`` nodes *once aliases are followed*
  (``*name`` repeats the node ``&name``; a few hundred bytes of nested aliases can otherwise
  stand for billions of nodes, the "billion laughs" bomb), counted while it is composed, so
  a bomb is refused after reading a few bytes, not after filling memory;
- an alias inside the node it refers to (a cycle) is refused, and so is nesting deeper than
  :data:`MAX_DEPTH` levels (which would otherwise end in ``RecursionError``);
- only the standard tags are accepted (mappings, lists, strings, numbers, booleans, null,
  timestamps, binary, sets): ``!!python/...`` and other application tags are refused before
  anything is constructed.

Legitimate anchors, aliases and merge keys (``<<: *base``) keep working. Errors are one-line
:class:`~datacentric.exceptions.SchemaError` (malformed) or
:class:`~datacentric.exceptions.LimitExceededError` (a limit) naming ``file:line``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from datacentric.config import get_config
from datacentric.exceptions import FileAccessError, LimitExceededError, SchemaError

__all__ = ["MAX_DEPTH", "load_yaml", "load_yaml_file", "merged_pairs", "read_yaml_text"]

#: Deepest nesting of lists/mappings accepted (nobody writes 100 levels by hand).
MAX_DEPTH = 100

_TAG = "tag:yaml.org,2002:"
_SAFE_TAGS = frozenset(
    [tag for tag in yaml.SafeLoader.yaml_constructors if tag is not None]
    + [_TAG + "merge", _TAG + "value"]
)
_LINE_SUFFIX = re.compile(r":\d+$")


def _at(source: str, line: int | None) -> str:
    return source if line is None else f"{_LINE_SUFFIX.sub('', source)}:{line}"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _raise_hint(setting: str, example: int) -> str:
    return (
        f"If the file is trusted, raise the limit: DATACENTRIC_{setting.upper()}={example} "
        f"or datacentric.set_config({setting}={example})."
    )


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composer counts expanded nodes, nesting and refuses cycles/tags."""

    def __init__(self, text: str, source: str, what: str, max_nodes: int) -> None:
        super().__init__(text)
        self.dc_source, self.dc_what, self.dc_max_nodes = source, what, max_nodes
        self.dc_total = 0  # nodes of the document once aliases are expanded, so far
        self.dc_depth = 0
        self.dc_sizes: dict[str, int] = {}  # anchor -> expanded size of its node
        self.dc_open: set[str] = set()  # anchors whose node is being composed

    def _count(self, n: int, mark: yaml.Mark | None) -> None:
        self.dc_total += n
        if self.dc_total > self.dc_max_nodes:
            limit = self.dc_max_nodes
            raise LimitExceededError(
                f"{_at(self.dc_source, None if mark is None else mark.line + 1)}: "
                f"{self.dc_what} would expand to more than {limit:,} YAML nodes once aliases "
                f"(*name) are followed; the limit is {limit:,} (setting yaml_max_nodes). "
                "Nested aliases can make a few bytes stand for gigabytes; write the entries "
                f"out, or use fewer aliases. {_raise_hint('yaml_max_nodes', limit * 10)}"
            )

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        mark = event.start_mark
        loc = _at(self.dc_source, mark.line + 1)
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if anchor in self.dc_open:
                raise SchemaError(
                    f"{loc}: the alias *{anchor} in {self.dc_what} is inside the node "
                    f"&{anchor} it refers to (a cycle, which would never end). Refer only to "
                    "nodes defined before and outside the alias."
                )
            node = super().compose_node(parent, index)  # undefined alias → ComposerError
            self._count(self.dc_sizes.get(anchor, 1), mark)
            return node
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in _SAFE_TAGS:
            raise SchemaError(
                f"{loc}: the tag {_short_tag(tag)!r} in {self.dc_what} is not allowed: only plain "
                "YAML (mappings, lists, strings, numbers, booleans, null, dates) is read, "
                "never Python objects. Remove the tag."
            )
        self.dc_depth += 1
        if self.dc_depth > MAX_DEPTH:
            raise LimitExceededError(
                f"{loc}: the lists and mappings in {self.dc_what} nest more than "
                f"{MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}. Flatten the structure."
            )
        anchor = event.anchor
        start = self.dc_total
        self._count(1, mark)
        if anchor is not None:
            self.dc_open.add(anchor)
        node = super().compose_node(parent, index)
        if isinstance(node, yaml.MappingNode):
            own = sum(1 for key, _ in node.value if key.tag != _TAG + "merge")
            self.flatten_mapping(node)  # merge keys, bottom-up: no recursion later
            node.dc_merged = len(node.value) - own  # type: ignore[attr-defined]
        if anchor is not None:
            self.dc_open.discard(anchor)
            self.dc_sizes[anchor] = self.dc_total - start
        self.dc_depth -= 1
        return node


def merged_pairs(node: yaml.MappingNode) -> int:
    """How many of ``node.value``'s first pairs came from merge keys (``<<: *base``).

    Explicit keys may override them; a key repeated among the node's own pairs is an error
    for readers that check repeats.
    """
    return int(getattr(node, "dc_merged", 0))


def read_yaml_text(path: str | Path, *, what: str) -> str:
    """The UTF-8 text of a YAML file, refused (unread) when over ``yaml_max_bytes``.

    Raises
    ------
    LimitExceededError
        The file is larger than ``yaml_max_bytes``.
    SchemaError
        The file is not UTF-8 text.
    FileAccessError
        The file cannot be read (permissions, a directory, ...).
    """
    path = Path(path)
    limit = int(get_config()["yaml_max_bytes"])
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise FileAccessError(
            f"{path}: cannot read {what} ({exc.strerror or exc}). Check the path and its "
            "permissions."
        ) from None
    if len(data) > limit:
        size = path.stat().st_size if path.is_file() else len(data)
        raise LimitExceededError(
            f"{path}: {size:,} bytes of {what}, more than the limit of {limit:,} "
            f"(setting yaml_max_bytes). {_raise_hint('yaml_max_bytes', max(size, limit) * 2)}"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"{path}: {what} is not UTF-8 text (byte {exc.start}: {exc.reason}). Save the "
            "file as UTF-8 YAML."
        ) from None


def load_yaml(
    text: str,
    source: str,
    *,
    what: str,
    convert: Callable[[yaml.Node, yaml.SafeLoader], Any] | None = None,
) -> Any:
    """Parse one YAML document within the limits; ``None`` for an empty document.

    Parameters
    ----------
    text : str
        The YAML text.
    source : str
        The file name (or ``"<string>"``) used in messages, which read ``source:line: ...``.
    what : str
        What the text holds, for messages, e.g. ``"the slice definitions"``.
    convert : callable, optional
        ``convert(root_node, loader)`` builds the result from the composed (checked) node
        graph, e.g. keeping line numbers; by default the safe constructor builds plain
        Python objects (dict, list, str, int, float, bool, None, date).

    Raises
    ------
    SchemaError
        Malformed YAML, an alias cycle, an unsafe tag.
    LimitExceededError
        More than ``yaml_max_bytes`` bytes, more than ``yaml_max_nodes`` nodes once aliases
        are followed, or nesting deeper than :data:`MAX_DEPTH`.

    Examples
    --------
    >>> load_yaml("base: &b {x: 1}\\nother: {<<: *b, y: 2}\\n", "<string>", what="a config")
    {'base': {'x': 1}, 'other': {'x': 1, 'y': 2}}
    >>> load_yaml("a: &a [*a]", "<string>", what="a config")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: <string>:1: the alias *a in a config is inside ...
    """
    config = get_config()
    limit = int(config["yaml_max_bytes"])
    size = len(text) if len(text) * 4 <= limit else len(text.encode("utf-8", "replace"))
    if size > limit:
        raise LimitExceededError(
            f"{source}: {size:,} bytes of {what}, more than the limit of {limit:,} (setting "
            f"yaml_max_bytes). {_raise_hint('yaml_max_bytes', size * 2)}"
        )
    try:
        loader = _BoundedLoader(text, source, what, int(config["yaml_max_nodes"]))
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        raise SchemaError(
            f"{source}: not valid YAML in {what}: {_one_line(exc)}. Remove the control "
            "characters (the file must be printable text)."
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return convert(node, loader) if convert is not None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark, ctx = exc.problem_mark or exc.context_mark, exc.context_mark
        started = f" (from line {ctx.line + 1})" if ctx is not None and ctx is not mark else ""
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if exc.context and exc.problem:
            problem = f"{exc.context}{started}: {exc.problem}"
        raise SchemaError(
            f"{_at(source, None if mark is None else mark.line + 1)}: not valid YAML in "
            f"{what}: {_one_line(problem)}. Fix the syntax at that line (indentation, a "
            "missing ':' or an unclosed bracket or quote are the usual causes)."
        ) from None
    except yaml.YAMLError as exc:
        raise SchemaError(f"{source}: not valid YAML in {what}: {_one_line(exc)}.") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps well below the stack limit
        raise LimitExceededError(
            f"{source}: the lists and mappings in {what} nest too deeply to read. Flatten "
            "the structure."
        ) from None
    finally:
        loader.dispose()


def load_yaml_file(
    path: str | Path,
    *,
    what: str,
    convert: Callable[[yaml.Node, yaml.SafeLoader], Any] | None = None,
) -> Any:
    """:func:`read_yaml_text` then :func:`load_yaml`, naming the file in every message."""
    return load_yaml(read_yaml_text(path, what=what), str(path), what=what, convert=convert)
