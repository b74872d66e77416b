"""``write(obj, path)``: the one entry point that renders a result to a file.

The renderer is chosen by the type of ``obj`` (:func:`functools.singledispatch` over
:func:`renderers`) and then by the suffix of ``path``. Results stay plain data: their
``.report()`` methods are one-line delegates to :func:`write`, which import this package
inside the method (the import-linter contract in ``pyproject.toml`` allows exactly those).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from datacentric._io import atomic_write_text
from datacentric.exceptions import InvalidParameterError
from datacentric.export.detector import DetectorExportReport
from datacentric.export.result import CompressionReport
from datacentric.issues.result import ScanResult
from datacentric.loop.active_curve import ActiveLearningCurves
from datacentric.loop.log import ExperimentLog
from datacentric.report.active import render_active_html, render_active_markdown
from datacentric.report.export import render_export_html
from datacentric.report.loop import render_loop_html, render_loop_markdown
from datacentric.report.monitor import render_monitor_html, render_monitor_markdown
from datacentric.report.scan import render_scan_html, render_scan_markdown
from datacentric.report.slices import render_slices_html, render_slices_markdown
from datacentric.slices.gate import GateResult
from datacentric.slices.result import SliceMetrics

__all__ = ["Renderer", "renderers", "write"]

#: ``render(obj, **options) -> text``; its keyword parameters are the options it takes.
Renderer = Callable[..., str]

_ALIASES = {".htm": ".html"}


@functools.singledispatch
def renderers(obj: object) -> Mapping[str, Renderer]:
    """The renderers of ``obj``'s type, by file suffix (``".html"``, ``".md"``, ...).

    Register a new result type with ``renderers.register(MyResult, lambda obj: {...})``.

    Examples
    --------
    >>> sorted(renderers.dispatch(GateResult)(None))
    ['.json', '.md', '.xml']
    """
    cls = type(obj)
    if f"{cls.__module__}.{cls.__qualname__}" in _LAZY:
        _register(cls, _LAZY[f"{cls.__module__}.{cls.__qualname__}"]())
        return renderers(obj)
    known = sorted(
        [t.__name__ for t in renderers.registry if t is not object]
        + [name.rsplit(".", 1)[1] for name in _LAZY]
    )
    raise InvalidParameterError(
        f"datacentric.report.write cannot render a {cls.__name__}; it renders "
        f"{', '.join(dict.fromkeys(known))}. Pass one of those results."
    )


def _register(cls: type, table: Mapping[str, Renderer]) -> None:
    renderers.register(cls, lambda obj: table)


_register(ScanResult, {".html": render_scan_html, ".md": render_scan_markdown})
_register(
    SliceMetrics,
    {".html": render_slices_html, ".md": render_slices_markdown, ".json": SliceMetrics.to_json},
)
_register(ExperimentLog, {".html": render_loop_html, ".md": render_loop_markdown})
_register(
    ActiveLearningCurves,
    {
        ".html": render_active_html,
        ".md": render_active_markdown,
        ".json": lambda curves: json.dumps(curves.to_dict(), indent=2) + "\n",
    },
)
_register(
    CompressionReport,
    {
        ".html": render_export_html,
        ".md": CompressionReport.to_markdown,
        ".json": CompressionReport.to_json,
    },
)
_register(
    DetectorExportReport,
    {
        ".html": render_export_html,
        ".md": DetectorExportReport.to_markdown,
        ".json": DetectorExportReport.to_json,
    },
)
_register(
    GateResult,
    {".md": GateResult.to_markdown, ".xml": GateResult.to_junit, ".json": GateResult.to_json},
)

#: Types whose modules import something heavy (the monitor: duckdb), by qualified name:
#: registered when the first one is rendered, so that importing this package stays light.
_LAZY: dict[str, Callable[[], Mapping[str, Renderer]]] = {
    "datacentric.monitor.monitor.Monitor": lambda: {
        ".html": render_monitor_html,
        ".md": render_monitor_markdown,
        ".json": lambda mon: json.dumps(mon.to_dict(), indent=2, default=str) + "\n",
    },
}


def _options(render: Renderer) -> set[str]:
    """The keyword options a renderer takes (every parameter after the object)."""
    params = list(inspect.signature(render).parameters.values())[1:]
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def write(obj: Any, path: str | Path, **options: Any) -> Path:
    """Render ``obj`` to ``path`` atomically, in the format its suffix names.

    Parameters
    ----------
    obj : ScanResult, SliceMetrics, ExperimentLog, CompressionReport, DetectorExportReport,
        Monitor, GateResult or ActiveLearningCurves
        The result to render (see :func:`renderers` to add a type).
    path : str or Path
        The file to write; its suffix picks the format among those the type supports
        (``.html`` self-contained, ``.md``, ``.json``, ``.xml`` for a gate's JUnit).
    **options
        Passed to the renderer that takes them, e.g. ``dataset=`` (thumbnails) and ``top=``
        for a scan, ``baseline=`` and ``metric=`` for slice metrics, ``top=`` for a loop.
        A format that does not use an option ignores it.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidParameterError
        An unsupported type or suffix, or an option no format of the type takes.

    Examples
    --------
    >>> import tempfile
    >>> import polars as pl
    >>> from datacentric.slices.metrics import METRICS_SCHEMA
    >>> empty = SliceMetrics(pl.DataFrame(schema=METRICS_SCHEMA), {})
    >>> write(empty, Path(tempfile.mkdtemp()) / "metrics.json").name
    'metrics.json'
    >>> write(empty, "metrics.pdf")
    Traceback (most recent call last):
    InvalidParameterError: a SliceMetrics report is written as .html, .md or .json; ...
    """
    path = Path(path)
    table, kind = renderers(obj), type(obj).__name__
    suffix = path.suffix.lower()
    render = table.get(_ALIASES.get(suffix, suffix))
    if render is None:
        raise InvalidParameterError(
            f"a {kind} report is written as {_either(list(table))}; received {str(path)!r} "
            f"(suffix {path.suffix or 'none'!r}). Give the path one of those suffixes."
        )
    takes = {name for r in table.values() for name in _options(r)}
    unknown = sorted(set(options) - takes)
    if unknown:
        raise InvalidParameterError(
            f"write() of a {kind} takes the options {sorted(takes)}; received {unknown}. "
            "Drop or rename them."
        )
    text = render(obj, **{k: v for k, v in options.items() if k in _options(render)})
    return atomic_write_text(path, text)
