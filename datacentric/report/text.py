"""Text for reports: HTML escaping and value formatting, shared by the HTML building blocks,
the chart kit and the Markdown renderers."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from datacentric._format import format_bytes

__all__ = ["Formatter", "esc", "format_bytes", "format_tick", "format_value"]

#: A format string (``"{:.1%}"``) or a function of the value.
Formatter = str | Callable[[Any], str]


def esc(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute.

    Examples
    --------
    >>> esc('<script>alert("x")</script>'), esc(None)
    ('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;', '')
    """
    return "" if value is None else html.escape(str(value), quote=True)


def format_value(value: Any, fmt: Formatter | None = None) -> str:
    """Format one value for display (not escaped): ints with separators, floats to 3
    significant digits, ``None``/NaN as an empty string, unless ``fmt`` says otherwise.

    Examples
    --------
    >>> [format_value(v) for v in (1234567, 0.12345, None)], format_value(0.25, "{:.0%}")
    (['1,234,567', '0.123', ''], '25%')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if fmt is not None:
        return fmt(value) if callable(fmt) else fmt.format(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer, float, np.floating)):
        return f"{value:,}" if isinstance(value, (int, np.integer)) else f"{float(value):.3g}"
    return str(value)


def format_tick(value: float, fmt: Formatter) -> str:
    """An axis label: :func:`format_value` without a trailing ``.0`` (``50.0%`` → ``50%``).

    Examples
    --------
    >>> format_tick(0.5, "{:.1%}"), format_tick(-5.0, "{:+.1f} pp"), format_tick(0.25, "{:.2f}")
    ('50%', '-5 pp', '0.25')
    """
    return re.sub(r"\.0+(?=\D*$)", "", format_value(value, fmt))
