"""The scan report of a detection scan: each box issue drawn as the image with the given
and the suggested box (inline SVG in image pixels), and its text form in Markdown.

The scan runs on :func:`make_detection_check_context` (40 x 40 images, known problems): box
``b2`` (class ``c1``) was moved to (11, 11, 8, 12) from the object the model finds at
(2, 2, 12, 12); ``b3`` is labelled ``c1`` but is a ``c2``; ``d0`` repeats ``b0``; ``b5``
reaches outside its image; image ``4`` lost its ``c1`` at (2, 2, 12, 12).
"""

from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import polars as pl
import pytest
from PIL import Image

from datacentric.dataset import Dataset
from datacentric.issues import scan
from datacentric.issues.result import ScanResult
from datacentric.report import render_scan_html, render_scan_markdown
from datacentric.testing import make_detection_check_context

BOX_FINDERS = [
    "box_geometry",
    "duplicate_box",
    "badly_located_box",
    "swapped_box",
    "overlooked_box",
]
SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def detection() -> tuple[ScanResult, Dataset]:
    ctx = make_detection_check_context()
    result = scan(ctx.dataset, predicted_boxes=ctx.predicted_boxes, finders=BOX_FINDERS)
    return result, ctx.dataset


def _cards(doc: str, issue_type: str) -> list[str]:
    """The gallery cards of one issue type's section."""
    section = doc.split(f'id="issue-{issue_type}"', 1)[1].split("</section>", 1)[0]
    return section.split('<div class="item')[1:]


def _svg(card: str) -> ET.Element:
    (svg,) = re.findall(r'<svg class="boxes".*?</svg>', card, re.S)
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def _boxes(svg: ET.Element) -> dict[str, tuple[tuple[float, ...], str | None, str | None]]:
    """role → (x, y, w, h of its rect, its label text, its id)."""
    out = {}
    for g in svg.iter(f"{SVG}g"):
        rects = g.findall(f"{SVG}rect")
        if not rects:
            continue
        # the white halo and the coloured stroke share the box's exact coordinates
        coords = {
            tuple(float(r.get(k, "nan")) for k in ("x", "y", "width", "height")) for r in rects
        }
        assert len(coords) == 1, coords
        texts = [t.text for t in g.findall(f"{SVG}text")]
        out[g.get("data-role", "")] = (coords.pop(), texts[0] if texts else None, g.get("data-id"))
    return out


def test_badly_located_card_draws_given_and_suggested_box(detection):
    result, ds = detection
    doc = render_scan_html(result, dataset=ds)
    (card,) = _cards(doc, "badly_located_box")
    svg = _svg(card)
    boxes = _boxes(svg)
    assert boxes["given"] == ((11.0, 11.0, 8.0, 12.0), "c1", "b2")
    assert boxes["suggested"] == ((2.0, 2.0, 12.0, 12.0), None, None)  # same class: no label
    # image pixels via the viewBox (4 px margin at scale 6), the image shown 6x
    assert svg.get("viewBox") == f"{-4 / 6:.4g} {-4 / 6:.4g} {40 + 8 / 6:.4g} {40 + 8 / 6:.4g}"
    assert (svg.get("width"), svg.get("height")) == ("248", "248")
    (image,) = svg.iter(f"{SVG}image")
    assert (image.get("width"), image.get("height")) == ("40", "40")
    assert image.get("href", "").startswith("data:image/png;base64,")
    png = base64.b64decode(image.get("href", "").split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (40, 40)  # as it is: the browser upscales it
    assert image.get("style") == "image-rendering:pixelated"  # nearest-neighbour
    assert "given box" in card and "suggested box" in card  # the legend
    assert "box b2 · ObjectLab score 0.067" in card  # caption: the box and the score
    assert "looks badly located" in card  # the finder's detail


def test_each_box_finder_draws_its_boxes(detection):
    result, ds = detection
    doc = render_scan_html(result, dataset=ds)
    swapped = _boxes(_svg(_cards(doc, "swapped_box")[0]))
    assert swapped["given"] == ((22.0, 20.0, 14.0, 14.0), "c1", "b3")
    # the predicted box that sees another class, with that class
    assert swapped["suggested"] == ((22.0, 20.0, 14.0, 14.0), "c2", None)

    dup = _boxes(_svg(_cards(doc, "duplicate_box")[0]))
    assert dup["given"] == ((2.5, 2.0, 12.0, 11.5), "c0", "d0")
    assert dup["pair"] == ((2.0, 2.0, 12.0, 12.0), "b0 c0", "b0")  # both boxes of the pair

    overlooked_card = _cards(doc, "overlooked_box")[0]
    overlooked = _boxes(_svg(overlooked_card))
    assert list(overlooked) == ["suggested"]  # only the suggested box
    assert overlooked["suggested"][:2] == ((2.0, 2.0, 12.0, 12.0), "c1")
    assert "predicted box" in overlooked_card and "no box" in overlooked_card

    geometry = _svg(_cards(doc, "box_geometry")[0])
    assert _boxes(geometry)["given"][0] == (30.0, 20.0, 14.0, 14.0)
    border = [r for r in geometry.iter(f"{SVG}rect") if r.get("data-role") == "border"]
    assert [(r.get("x"), r.get("y"), r.get("width"), r.get("height")) for r in border] == [
        ("0", "0", "40", "40")
    ]
    x0, _, width, _ = (float(v) for v in geometry.get("viewBox", "").split())
    assert x0 + width > 44  # the canvas grows to show the part outside the image


def test_each_image_is_decoded_once(detection, monkeypatch):
    result, ds = detection
    decoded: list[str] = []
    read = ds._image  # what every decoding path of the dataset goes through

    def counting(path, mode, sample_id=None, resolver=None):
        decoded.append(sample_id)
        return read(path, mode, sample_id, resolver)

    monkeypatch.setattr(ds, "_image", counting)
    doc = render_scan_html(result, dataset=ds)
    # image "1" has a swapped and a badly located box: two figures, one decode
    assert doc.count('aria-label="image 1:') == 2
    assert sorted(decoded) == ["0", "1", "2", "4"]


def test_large_images_are_kept_small_and_drawn_in_their_own_pixels():
    from datacentric.report.boxes import BoxFigures

    classes = ["c0"]
    images = np.zeros((1, 300, 1200, 3), np.uint8)
    base = Dataset.from_arrays(images, [None], classes)
    boxes = pl.DataFrame(
        {"annotation_id": ["a"], "sample_id": ["0"], "label": ["c0"]}
        | {"x": [1000.5], "y": [100.0], "w": [150.0], "h": [80.0]}
    )
    ds = Dataset(base.manifest, classes, arrays=images, annotations=boxes)
    figures = BoxFigures(ds)
    row = {"sample_id": "0", "issue_type": "badly_located_box", "annotation_id": "a"}
    svg = _svg(figures.figure(row))
    assert figures.image("0").shape == (60, 240, 3)  # cached at the figure's size
    assert figures.image_size("0") == (1200, 300)
    assert _boxes(svg)["given"][0] == (1000.5, 100.0, 150.0, 80.0)
    (image,) = svg.iter(f"{SVG}image")
    assert (image.get("width"), image.get("height")) == ("1200", "300")  # the image's pixels
    assert (svg.get("width"), svg.get("height")) == ("248", "68")  # 1200 px shown as 240
    png = base64.b64decode(image.get("href", "").split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (240, 60)  # encoded at the size shown


def test_top_bounds_the_cards(detection):
    result, ds = detection
    more = pl.concat([result.issues] * 3)  # three flagged rows per type
    doc = render_scan_html(ScanResult(more, result.samples, result.classes), dataset=ds, top=2)
    assert doc.count('<svg class="boxes"') == 2 * 5
    assert doc.count("… and 1 more flagged") == 5


def test_without_dataset_draws_the_rows_columns_and_says_so(detection):
    result, _ = detection
    doc = render_scan_html(result)
    badloc = _cards(doc, "badly_located_box")[0]
    assert list(_boxes(_svg(badloc))) == ["suggested"]  # no given box, no image
    assert "data:image/png" not in doc
    assert "Drawn from the issue row alone: pass dataset=" in badloc
    assert "the given box b2" in badloc
    geometry = _cards(doc, "box_geometry")[0]
    assert "<svg" not in geometry and "Drawn from the issue row alone" in geometry


def test_a_box_missing_from_the_dataset_is_named(detection):
    result, ds = detection
    issues = result.issues.with_columns(
        pl.when(pl.col("annotation_id") == "b2")
        .then(pl.lit("b999"))
        .otherwise(pl.col("annotation_id"))
        .alias("annotation_id")
    )
    doc = render_scan_html(ScanResult(issues, result.samples, result.classes), dataset=ds)
    card = _cards(doc, "badly_located_box")[0]
    assert "Box b999 is not among the boxes of the dataset passed" in card
    assert list(_boxes(_svg(card))) == ["suggested"]


def test_markdown_lists_given_and_suggested_boxes(detection, tmp_path):
    result, ds = detection
    md = render_scan_markdown(result, dataset=ds)
    assert "| sample_id | box | boxes | severity | score | detail |" in md
    assert r"| b2 | given \[11, 11, 8, 12\] class c1 → suggested \[2, 2, 12, 12\] |" in md
    swapped = r"| b3 | given \[22, 20, 14, 14\] class c1 → suggested \[22, 20, 14, 14\] class c2 |"
    assert swapped in md
    assert (
        r"| d0 | given \[2.5, 2, 12, 11.5\] class c0 repeats box b0 \[2, 2, 12, 12\] class c0 |"
        in md
    )
    assert r"| predicted 8 | no given box → suggested \[2, 2, 12, 12\] class c1 |" in md
    bare = render_scan_markdown(result)
    assert r"| b2 | given box b2 → suggested \[2, 2, 12, 12\] |" in bare
    assert "Given boxes are named by id only: pass dataset=" in bare
    written = result.report(tmp_path / "scan.md", dataset=ds).read_text(encoding="utf-8")
    assert written == md  # write() passes dataset= to the Markdown renderer too


def test_hostile_labels_and_ids_are_escaped():
    classes = [EVIL, "c1"]
    ds = Dataset.from_arrays(np.zeros((1, 20, 20, 3), np.uint8), [None], classes)
    boxes = pl.DataFrame(
        {
            "annotation_id": ['"><svg onload=alert(2)>'],
            "sample_id": ["0"],
            "label": [EVIL],
            "x": [1.2345678901],
            "y": [2.0],
            "w": [5.0],
            "h": [6.0],
        }
    )
    ds = Dataset(ds.manifest, classes, arrays=np.zeros((1, 20, 20, 3), np.uint8), annotations=boxes)
    issues = pl.DataFrame(
        {
            "sample_id": ["0"],
            "issue_type": ["badly_located_box"],
            "is_issue": [True],
            "severity": [0.9],
            "suggested_label": ["c1"],
            "detail": [EVIL],
            "annotation_id": ['"><svg onload=alert(2)>'],
            "suggested_x": [3.0],
            "suggested_y": [4.0],
            "suggested_w": [5.0],
            "suggested_h": [6.0],
        }
    )
    samples = pl.DataFrame({"sample_id": ["0"], "label": [None], "split": ["train"]})
    result = ScanResult(issues, samples, classes)
    doc = render_scan_html(result, dataset=ds)
    assert "<script" not in doc and "<svg onload" not in doc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</text>" in doc  # the label, as text
    assert 'data-id="&quot;&gt;&lt;svg onload=alert(2)&gt;"' in doc  # the id, in an attribute
    card = _cards(doc, "badly_located_box")[0]
    boxes = _boxes(_svg(card))  # still well-formed
    # coordinates exactly (shortest repr), not rounded
    assert boxes["given"] == ((1.2345678901, 2.0, 5.0, 6.0), EVIL, '"><svg onload=alert(2)>')
    assert boxes["suggested"] == ((3.0, 4.0, 5.0, 6.0), "c1", None)
    md = render_scan_markdown(result, dataset=ds)
    assert "<script" not in md and "&lt;script&gt;" in md


def test_class_chart_counts_boxes_on_a_detection_dataset(detection):
    """Without the imbalance finder the chart counted sample labels: all null on detection."""
    result, ds = detection
    doc = render_scan_html(result, dataset=ds)
    assert "Boxes per class (all boxes)" in doc
    md = render_scan_markdown(result, dataset=ds)
    counts = ds.annotations["label"].value_counts().sort("label").rows()
    for label, n in counts:  # c0 9, c1 7, c2 8 in the check context
        assert f"| {label} | {n} |" in md
