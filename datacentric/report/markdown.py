"""Markdown building blocks: tables and safe inline text.

Every value goes through the one Markdown escaper, :func:`datacentric._markdown.md_escape`
(also used by the CI gate and the export summary, which cannot import ``report``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from datacentric._markdown import md_escape
from datacentric.report.html import Formatter, format_value

__all__ = ["markdown_header", "markdown_table", "md_escape", "md_text"]


def md_text(value: Any) -> str:
    """One table cell or inline phrase: ``value`` formatted like the HTML reports
    (:func:`~datacentric.report.html.format_value`), then escaped by
    :func:`~datacentric._markdown.md_escape`, so user data cannot break the table or inject
    markup.

    Examples
    --------
    >>> md_text("a|b\\n<script>")
    'a\\\\|b &lt;script&gt;'
    >>> md_text(1234)
    '1,234'
    """
    return md_escape(format_value(value))


def markdown_header(
    title: str, chips: Sequence[Any], cards: Mapping[str, Any], hints: Mapping[str, Any]
) -> list[str]:
    """The opening lines every Markdown report shares: the title, a bullet per header chip
    and a bullet per metric card (with its hint in brackets).

    Examples
    --------
    >>> markdown_header("R", ["v1"], {"acc": 0.5}, {"acc": "up"})
    ['# R', '', '- v1', '', '- **acc**: 0.5 (up)']
    """
    return [
        f"# {md_text(title)}",
        "",
        *[f"- {md_text(c)}" for c in chips],
        "",
        *[
            f"- **{md_text(k)}**: {md_text(format_value(v)) or '—'}"
            + (f" ({md_text(hints[k])})" if hints.get(k) else "")
            for k, v in cards.items()
        ],
    ]


def markdown_table(
    frame: pl.DataFrame,
    *,
    max_rows: int | None = 50,
    formats: Mapping[str, Formatter] | None = None,
) -> str:
    """A GitHub-flavoured Markdown table of a polars frame (numbers right-aligned).

    Parameters
    ----------
    frame : polars.DataFrame
    max_rows : int or None
        Show at most this many rows, then a line saying how many were left out.
    formats : mapping, optional
        Column → format string or function for its values.

    Examples
    --------
    >>> print(markdown_table(pl.DataFrame({"class": ["cat", "dog"], "n": [3, 1200]})))
    | class | n |
    | --- | ---: |
    | cat | 3 |
    | dog | 1,200 |
    """
    formats = formats or {}
    numeric = {c for c, t in frame.schema.items() if t.is_numeric()}
    head = "| " + " | ".join(md_text(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---:" if c in numeric else "---" for c in frame.columns) + " |"
    shown = frame if max_rows is None else frame.head(max_rows)
    lines = [head, rule]
    for row in shown.iter_rows():
        cells = [
            md_text(format_value(v, formats.get(c)))
            for c, v in zip(frame.columns, row, strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    more = frame.height - shown.height
    if more > 0:
        lines.append(f"\n… {more:,} more row{'s' if more != 1 else ''}")
    return "\n".join(lines)
