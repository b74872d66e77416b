"""Reports: self-contained HTML (inline SVG charts, PNG thumbnails), Markdown, JSON.

This package is the only renderer. :func:`write` renders any result to a file, chosen by the
result's type and the path's suffix; the results' ``.report()`` methods delegate to it.

The building blocks in :mod:`datacentric.report.html` and
:mod:`datacentric.report.markdown` are shared by every report; :mod:`.scan` renders a
:class:`~datacentric.issues.result.ScanResult`, :mod:`.export` a compressed export and
:mod:`.monitor` a production monitor store (the loop and slice reports live in
:mod:`.loop` and :mod:`.slices`).
"""

from datacentric.report._dispatch import renderers, write
from datacentric.report.export import render_export_html
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
from datacentric.report.monitor import (
    render_monitor_html,
    render_monitor_markdown,
    write_monitor_report,
)
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
    "render_export_html",
    "render_monitor_html",
    "render_monitor_markdown",
    "render_scan_html",
    "render_scan_markdown",
    "renderers",
    "section",
    "severity_badge",
    "table_html",
    "thumbnail_img",
    "write",
    "write_monitor_report",
]
