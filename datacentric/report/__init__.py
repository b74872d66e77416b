"""Reports: self-contained HTML (inline SVG charts, PNG thumbnails), Markdown, JSON.

This package is the only renderer. :func:`write` renders any result to a file, chosen by the
result's type and the path's suffix; the results' ``.report()`` methods delegate to it.

Shared by every report: one chart kit (:mod:`.charts`: palette, ticks, axes, bars, lines
with intervals, forest plots, all inline SVG), the jinja2 page templates of
``report/templates`` (``base.html``, the macros of ``components.html``, one template per
report; autoescaped) filled in by :mod:`.html`, and the Markdown building blocks of
:mod:`.markdown`. :mod:`.scan` renders a :class:`~datacentric.issues.result.ScanResult`,
:mod:`.slices` a :class:`~datacentric.slices.result.SliceMetrics`, :mod:`.loop` an
:class:`~datacentric.loop.log.ExperimentLog`, :mod:`.export` a
:class:`~datacentric.export.result.CompressionReport` or a detector's
:class:`~datacentric.export.detector.DetectorExportReport` and :mod:`.monitor` a
:class:`~datacentric.monitor.Monitor` store.
"""

from datacentric.report._dispatch import renderers, write
from datacentric.report.charts import (
    bar_chart_svg,
    forest_plot_svg,
    grouped_bar_chart_svg,
    line_chart_svg,
)
from datacentric.report.export import render_export_html
from datacentric.report.html import (
    badge,
    esc,
    format_value,
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
    "forest_plot_svg",
    "format_value",
    "grouped_bar_chart_svg",
    "heat_table_html",
    "line_chart_svg",
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
