"""The one chart kit: ticks, axes, legends, lines with gaps and intervals, one palette."""

from __future__ import annotations

import re

import pytest

from datacentric.exceptions import InvalidParameterError
from datacentric.report import charts
from datacentric.report.charts import (
    PALETTE,
    bar_chart_svg,
    forest_plot_svg,
    legend_svg,
    line_chart_svg,
    nice_ticks,
)

EVIL = "<script>x</script>"


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.953, 0.998, [0.95, 0.96, 0.97, 0.98, 0.99, 1.0]),
        (-12.0, 7.0, [-15.0, -10.0, -5.0, 0.0, 5.0, 10.0]),
        (3.0, 3.0, [2.94, 2.96, 2.98, 3.0, 3.02, 3.04, 3.06]),  # one value: a small range
    ],
)
def test_nice_ticks_are_round_and_cover_the_range(lo, hi, expected):
    ticks = nice_ticks(lo, hi)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= lo and ticks[-1] >= hi


def test_every_chart_is_one_escaped_svg_without_scripts_or_links():
    svgs = [
        bar_chart_svg([EVIL], [1], title=EVIL),
        line_chart_svg([EVIL, "b"], {EVIL: [1.0, 2.0]}, title=EVIL, reference=1.5),
        forest_plot_svg([EVIL], [0.5], [0.4], [0.6], title=EVIL, reference=0.5),
        legend_svg([EVIL, "b"]),
    ]
    for svg in svgs:
        assert svg.startswith('<svg class="chart"') and svg.endswith("</svg>")
        assert svg.count("<svg") == 1 and EVIL not in svg and "&lt;script&gt;" in svg
        assert not re.search(r"https?://|<script|href=", svg)


def test_line_chart_y_axis_starts_at_zero_for_non_negative_values_and_respects_y_max():
    svg = line_chart_svg(["a", "b"], {"acc": [0.95, 0.99]}, value_format="{:.0%}", y_max=1.0)
    labels = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    assert labels[-1] == "100%" and "101%" not in svg  # capped at y_max
    drift = line_chart_svg(["a", "b"], {"s": [0.1, 3.0]}, reference=1.0, reference_label="alert")
    ticks = re.findall(r'text-anchor="end">([^<]+)</text>', drift)
    assert ticks[0] == "0" and "alert" in drift and "#dc2626" in drift  # red reference line


def test_line_chart_legend_wraps_and_repeated_colours_are_dashed():
    names = [f"metric_{i}" for i in range(12)]
    svg = line_chart_svg(["d1", "d2"], {n: [0.1 * i, 0.2 * i] for i, n in enumerate(names)},
                         dashed=False, width=520)  # fmt: skip
    for n in names:
        assert f">{n}</text>" in svg
    legend_rows = {
        m for m in re.findall(r'<line x1="[\d.]+" y1="([\d.]+)"[^>]*stroke-width="3"', svg)
    }
    assert len(legend_rows) >= 2  # 12 entries do not fit one row of 520 px
    assert svg.count('stroke-dasharray="6 4"') == 2 * (12 - len(PALETTE))  # legend + line
    hidden = line_chart_svg(["d1"], {"a": [1.0], "b": [2.0]}, legend=False)
    assert ">a</text>" not in hidden


def test_line_chart_value_labels_only_when_asked():
    big = line_chart_svg(["a", "b"], {"s": [0.5, 0.75]}, value_format="{:.0%}")
    small = line_chart_svg(
        ["a", "b"], {"s": [0.5, 0.75]}, value_format="{:.0%}", value_labels=False
    )
    assert ">75%</text>" in big and ">75%</text>" not in small
    assert "s, b: 75%" in small  # still in the tooltip


def test_one_palette_for_every_series_chart():
    line = line_chart_svg(["a"], {"x": [1.0], "y": [2.0]})
    assert PALETTE[0] in line and PALETTE[1] in line
    assert charts.grouped_bar_chart_svg(["a"], {"x": [1], "y": [2]}).count(PALETTE[1]) == 2


def test_length_checks_name_what_was_received():
    with pytest.raises(InvalidParameterError, match=r"received 2 labels and series lengths"):
        line_chart_svg(["a", "b"], {"s": [1.0]})
    with pytest.raises(InvalidParameterError, match=r"received 1 labels, 2 values"):
        forest_plot_svg(["a"], [1.0, 2.0], [0.0], [1.0])
