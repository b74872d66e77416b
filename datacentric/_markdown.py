"""The one Markdown escaper: every piece of user data in datacentric's Markdown goes through it.

Reports (:mod:`datacentric.report`), the CI gate summary (:mod:`datacentric.slices.gate`) and
the export summary (:mod:`datacentric.export.result`) all write Markdown that CI systems and
code hosts render, so a label, slice name or path must not be able to inject HTML, break a
table, open a code span, or start a heading or list. It lives at the bottom layer so that the
domain packages can use it without importing :mod:`datacentric.report`.
"""

from __future__ import annotations

import html
import re

__all__ = ["md_escape"]

# Inline characters with a Markdown meaning: table cell separator, code span, emphasis,
# strikethrough, links and images.
_INLINE = {"|": "\\|", "`": "\\`", "*": "\\*", "~": "\\~", "[": "\\[", "]": "\\]"}
_INLINE_RE = re.compile(r"[|`*~\[\]]")
# ``_`` emphasises only at a word boundary (``snake_case`` is plain text in CommonMark).
_UNDERSCORE_RE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# What would start a block at the beginning of a line: heading, list item, setext or
# thematic break (``#``, ``-``, ``+``, ``=`` then a space, the end, or the same character),
# and ordered-list markers (``1.``, ``2)``).
_LEADING_RE = re.compile(r"^([#+=-])(?=\s|$|\1)")
_ORDERED_RE = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")


def md_escape(text: object) -> str:
    """``text`` as one table cell or inline phrase of Markdown, shown literally.

    HTML special characters become entities (renderers pass raw HTML through), backslashes,
    pipes, backticks, ``*``, ``~``, ``[``, ``]`` and word-boundary ``_`` are backslash-escaped,
    line breaks fold into spaces, and a leading ``#``, ``-``, ``+``, ``=`` or ``1.`` that
    would start a heading, list or rule is escaped. ``None`` is the empty string.

    Examples
    --------
    >>> md_escape("<script>|x")
    '&lt;script&gt;\\\\|x'
    >>> md_escape("a|b\\n`c` [d](e) *f* # g")
    'a\\\\|b \\\\`c\\\\` \\\\[d\\\\](e) \\\\*f\\\\* # g'
    >>> md_escape("# heading"), md_escape("- item"), md_escape("1. item"), md_escape("-0.05")
    ('\\\\# heading', '\\\\- item', '1\\\\. item', '-0.05')
    >>> md_escape("sample_id"), md_escape("_x_")
    ('sample_id', '\\\\_x\\\\_')
    """
    if text is None:
        return ""
    out = html.escape(str(text), quote=False).replace("\\", "\\\\")
    out = _INLINE_RE.sub(lambda m: _INLINE[m.group(0)], out)
    out = _UNDERSCORE_RE.sub(r"\\_", out)
    out = " ".join(out.split())
    out = _LEADING_RE.sub(r"\\\1", out)
    return _ORDERED_RE.sub(r"\1\\\2", out)
