"""Reports: self-contained HTML (inline SVG charts, PNG thumbnails) and Markdown.

The building blocks in :mod:`datacentric.report.html` and
:mod:`datacentric.report.markdown` are shared by every report; :mod:`.scan` renders a
:class:`~datacentric.issues.result.ScanResult`.
"""

from datacentric.report.html import (
    badge,
    bar_chart_svg,
    esc,
    format_value,
    grouped_bar_chart_svg,
    heat_table_html,
    metric_cards,
    page,
    section,
    severity_badge,
    table_html,
    thumbnail_img,
)
from datacentric.report.markdown import markdown_table, md_text
from datacentric.report.scan import describe_issue_type, render_scan_html, render_scan_markdown

__all__ = [
    "badge",
    "bar_chart_svg",
    "describe_issue_type",
    "esc",
    "format_value",
    "grouped_bar_chart_svg",
    "heat_table_html",
    "markdown_table",
    "md_text",
    "metric_cards",
    "page",
    "render_scan_html",
    "render_scan_markdown",
    "section",
    "severity_badge",
    "table_html",
    "thumbnail_img",
]
