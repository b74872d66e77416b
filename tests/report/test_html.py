"""HTML and Markdown building blocks: output shape, escaping, self-containment."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import polars as pl
import pytest
from PIL import Image

from datacentric.exceptions import InvalidParameterError
from datacentric.report import (
    badge,
    bar_chart_svg,
    grouped_bar_chart_svg,
    heat_table_html,
    markdown_table,
    metric_cards,
    page,
    section,
    severity_badge,
    table_html,
    thumbnail_img,
)

EVIL = "<script>alert(1)</script>"


def _decode_data_uri(img: str) -> Image.Image:
    data = re.search(r'src="data:image/png;base64,([^"]+)"', img)
    assert data is not None
    return Image.open(io.BytesIO(base64.b64decode(data.group(1))))


def test_page_is_self_contained_and_escapes_title():
    doc = page(EVIL, [section("S", "<p>body</p>")], subtitle=EVIL, chips=[EVIL], nav={"a": EVIL})
    assert doc.startswith("<!DOCTYPE html>")
    assert "<style>" in doc and "<script" not in doc
    assert "http://" not in doc and "https://" not in doc
    assert doc.count("&lt;script&gt;") == 5  # title tag, h1, subtitle, chip, nav link


def test_bar_chart_svg_bars_values_and_highlight():
    svg = bar_chart_svg(["a", EVIL, "c"], [10, 5, 0], title="T", highlight={"c"})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 3
    assert ">10<" in svg and ">5<" in svg
    assert "#f97316" in svg  # the highlighted bar
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_bar_chart_svg_percent_format_and_length_check():
    assert ">50.0%<" in bar_chart_svg(["x"], [0.5], value_format="{:.1%}")
    assert "<rect" not in bar_chart_svg([], [])
    with pytest.raises(InvalidParameterError):
        bar_chart_svg(["a", "b"], [1])


def test_grouped_bar_chart_svg():
    svg = grouped_bar_chart_svg(["a", "b"], {"before": [1, 2], "after": [2, 0]}, title="T")
    assert svg.count("<rect") == 6 and "before" in svg
    with pytest.raises(InvalidParameterError):
        grouped_bar_chart_svg(["a"], {"x": [1, 2]})


def test_table_html_escapes_formats_and_truncates():
    t = pl.DataFrame({"id": [EVIL, "b", "c"], "n": [1200, 3, None], "r": [0.5, 0.1, 0.2]})
    out = table_html(t, max_rows=2, formats={"r": "{:.0%}"}, cell_classes={"r": ["hot", None]})
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "1,200" in out and "50%" in out and "20%" not in out
    assert "1 more row" in out
    assert 'class="num hot"' in out
    assert out.count("<tr>") == 3  # header + 2 rows


def test_heat_table_highlights_cells_well_above_average():
    t = pl.DataFrame({"v": ["a", "b", "c", "d"], "x": [0.1, 0.1, 0.1, 0.6], "y": [0.2] * 4})
    out = heat_table_html(t, ["x", "y"])
    assert out.count("hot") == 1 and "60.0%" in out


def test_metric_cards_and_badges():
    out = metric_cards({"Samples": 1000, EVIL: None}, hints={"Samples": "all"})
    assert "1,000" in out and "—" in out and "&lt;script&gt;" in out
    assert 'class="badge high"' in severity_badge(0.9)
    assert 'class="badge medium"' in severity_badge(0.5)
    assert 'class="badge low"' in severity_badge(0.1)
    assert "n/a" in severity_badge(float("nan"))
    with pytest.raises(InvalidParameterError):
        badge("x", "purple")


@pytest.mark.parametrize(
    ("arr", "size", "expected"),
    [
        (np.zeros((8, 4), np.uint8), 32, (16, 32)),
        (np.zeros((4, 4, 1), np.uint8), 16, (16, 16)),
        (np.zeros((1, 10, 20, 3), np.uint8), 96, (96, 48)),
        (np.ones((200, 100, 4), np.float32) * 0.5, 50, (25, 50)),
    ],
)
def test_thumbnail_img_sizes(arr, size, expected):
    img = thumbnail_img(arr, size=size)
    assert img.startswith('<img src="data:image/png;base64,')
    assert _decode_data_uri(img).size == expected


def test_thumbnail_upscales_tiny_images_with_nearest_neighbour():
    arr = np.array([[0, 255], [255, 0]], np.uint8)
    im = np.asarray(_decode_data_uri(thumbnail_img(arr, size=8)))
    assert set(np.unique(im).tolist()) == {0, 255}  # no blended grey
    assert im[0, 0] == 0 and im[0, 7] == 255


def test_thumbnail_rejects_bad_shapes_and_escapes_alt():
    with pytest.raises(InvalidParameterError):
        thumbnail_img(np.zeros((4, 4, 2), np.uint8))
    assert "&lt;script&gt;" in thumbnail_img(np.zeros((2, 2), np.uint8), alt=EVIL, title=EVIL)


def test_markdown_table_header_alignment_and_escaping():
    t = pl.DataFrame({"id": ["a|b", EVIL, "line\nbreak"], "n": [1, 2, 3]})
    out = markdown_table(t, max_rows=2)
    lines = out.splitlines()
    assert lines[0] == "| id | n |" and lines[1] == "| --- | ---: |"
    assert "a\\|b" in out and "<script>" not in out and "&lt;script&gt;" in out
    assert "1 more row" in out
    assert all(line.count("|") - line.count("\\|") == 3 for line in lines[:4])
