"""Label Studio for boxes without a server: config, percent ↔ pixel regions, consensus."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric.integrations.labelstudio import (
    box_label_config,
    box_region,
    decide_boxes,
    read_regions,
    region_pixels,
)
from datacentric.integrations.labelstudio.box_decision import BoxAnnotation
from datacentric.integrations.labelstudio.boxes import Region
from datacentric.integrations.labelstudio.config import instructions_html

CUR = pl.DataFrame(
    {
        "annotation_id": ["a1", "a2", "a3"],
        "sample_id": ["s", "s", "s"],
        "label": ["cat", "dog", "cat"],
        "x": [0.0, 50.0, 20.0],
        "y": [0.0, 50.0, 60.0],
        "w": [10.0, 20.0, 10.0],
        "h": [10.0, 20.0, 10.0],
    }
)
CLASSES = ["cat", "dog"]


def _ann(k: int, who: str, *regions: Region) -> BoxAnnotation:
    return BoxAnnotation(1, 100 + k, "s", who, "t0", tuple(regions))


def _r(aid: str | None, label: str, x: float, y: float, w: float, h: float) -> Region:
    return Region(f"r-{aid}", aid, label, x, y, w, h)


def test_config_has_both_controls_and_the_classes() -> None:
    xml = box_label_config(["a&b", "c"])
    assert '<RectangleLabels name="box" toName="image"' in xml
    assert '<RectangleLabels name="detector" toName="image"' in xml
    assert xml.count('<Label value="a&amp;b"') == 2 and "$detail" in xml and "$sample_id" in xml
    assert "Check every box" in instructions_html(None, ["a", "b"], "detection")


def test_percent_round_trip_is_exact_to_1e6_px() -> None:
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(2000):
        wide, high = (int(v) for v in rng.integers(1, 5000, 2))
        box = (rng.uniform(0, wide), rng.uniform(0, high), rng.uniform(0.01, wide),
               rng.uniform(0.01, high))  # fmt: skip
        r = box_region("b0", "cat", box, (wide, high))
        assert 0 <= r["value"]["x"] <= 100 and r["original_width"] == wide
        back = region_pixels(r)
        worst = max(worst, *(abs(a - b) for a, b in zip(back, box, strict=True)))
    assert worst < 1e-6
    # boxes given to 1e-9 px come back exactly (what a dataset's boxes usually are)
    for box in [(4.0, 6.0, 20.0, 10.0), (0.1, 0.7, 33.3, 1e-3), (65.31, 11.7, 23.97, 30.75)]:
        assert region_pixels(box_region("b", "c", box, (97, 61))) == box


def test_read_regions_maps_ids_and_ignores_the_detector() -> None:
    size = (64, 48)
    result = [
        box_region("b0", "cat", (4.0, 6.0, 20.0, 10.0), size),
        box_region("new", "dog", (1.0, 1.0, 5.0, 5.0), size),
        box_region("p0", "dog", (9.0, 9.0, 9.0, 9.0), size, from_name="detector", score=0.9),
    ]
    got = read_regions(result, CLASSES, size, {"b0": "17"}, {})
    assert [(r.region_id, r.annotation_id, r.label, r.box) for r in got] == [
        ("b0", "17", "cat", (4.0, 6.0, 20.0, 10.0)),
        ("new", None, "dog", (1.0, 1.0, 5.0, 5.0)),
    ]
    # a dataset box overhanging its image, pushed and submitted untouched, is accepted
    over = box_region("b0", "cat", (-2.0, 6.0, 20.0, 10.0), size)
    assert read_regions([over], CLASSES, size, {"b0": "17"}, {"17": (-2.0, 6.0, 20.0, 10.0)})


def test_one_annotator_moves_deletes_adds_relabels() -> None:
    ann = _ann(
        0,
        "x@a",
        _r("a1", "cat", 2.0, 0.0, 10.0, 10.0),  # moved 2 px right
        _r("a2", "cat", 50.0, 50.0, 20.0, 20.0),  # relabelled dog -> cat
        _r(None, "dog", 80.0, 10.0, 10.0, 10.0),  # drawn
    )  # a3 deleted
    d = decide_boxes([ann], CUR, CLASSES)
    assert d.edits.select("edit", "annotation_id", "old_label", "label", "x").rows() == [
        ("move", "a1", "cat", "cat", 2.0),
        ("relabel", "a2", "dog", "cat", 50.0),
        ("remove", "a3", "cat", "cat", 20.0),
        ("add", None, None, "dog", 80.0),
    ]
    assert set(d.edits["annotators"]) == {"x@a"} and set(d.edits["ls_annotation_ids"]) == {"100"}
    assert d.agreement["n_images"] == 0 and d.agreement["mean_iou"] is None
    # applied once: the same annotation again is skipped
    again = decide_boxes([ann], CUR, CLASSES, d.applied)
    assert again.edits.height == 0 and again.already_applied == 1


def test_regions_without_known_ids_match_by_iou() -> None:
    # Label Studio lost the ids: IoU >= 0.5 still finds a1 (moved 1 px) and a2; a3 is gone
    ann = _ann(0, "x", Region("q1", None, "cat", 1.0, 0.0, 10.0, 10.0),
               Region("q2", None, "dog", 50.0, 50.0, 20.0, 20.0))  # fmt: skip
    d = decide_boxes([ann], CUR, CLASSES)
    assert d.edits.select("edit", "annotation_id").rows() == [("move", "a1"), ("remove", "a3")]


def test_two_annotators_consensus_and_agreement_by_hand() -> None:
    x = _ann(
        0,
        "x",
        _r("a1", "cat", 0.0, 0.0, 10.0, 10.0),
        _r("a2", "dog", 52.0, 50.0, 20.0, 20.0),  # moved
        _r(None, "cat", 80.0, 10.0, 10.0, 10.0),  # drawn
    )  # a3 deleted
    y = _ann(
        1,
        "y",
        _r("a1", "dog", 0.0, 0.0, 10.0, 10.0),  # relabelled
        _r("a2", "dog", 50.0, 50.0, 20.0, 20.0),
        _r("a3", "cat", 20.0, 60.0, 10.0, 10.0),
        _r(None, "cat", 81.0, 10.0, 10.0, 10.0),  # drawn, IoU 90/110 with x's
    )
    d = decide_boxes([x, y], CUR, CLASSES)
    # a1's class, a2's move: one of two -> nothing; a3: one keeps, one drops -> tie, kept;
    # the drawn box: both -> added at the median, (80.5, 10, 10, 10)
    assert d.edits.select("edit", "label", "x", "votes", "n_annotations").rows() == [
        ("add", "cat", 80.5, 2, 2)
    ]
    assert d.ties.select("annotation_id", "kept", "n_annotations").rows() == [("a3", 1, 2)]
    ag = d.agreement
    # matched objects: a1 (IoU 1, classes differ), a2 (IoU 360/440), the drawn box
    # (IoU 90/110, same class); a3 only y has
    assert (ag["n_images"], ag["n_matched"], ag["n_unmatched"]) == (1, 3, 1)
    assert ag["mean_iou"] == pytest.approx((1 + 360 / 440 + 90 / 110) / 3)
    assert ag["class_agreement"] == pytest.approx(2 / 3)
    assert ag["pairs"][0]["annotator_a"] == "x" and ag["pairs"][0]["n_matched"] == 3

    # a third annotator sides with x on everything: the majority now edits
    z = _ann(
        2,
        "z",
        _r("a1", "dog", 0.0, 0.0, 10.0, 10.0),
        _r("a2", "dog", 52.0, 50.0, 20.0, 20.0),
    )
    d3 = decide_boxes([x, y, z], CUR, CLASSES)
    assert d3.edits.select("edit", "annotation_id", "label", "x", "votes").rows() == [
        ("relabel", "a1", "dog", 0.0, 2),
        ("move", "a2", "dog", 52.0, 2),
        ("remove", "a3", "cat", 20.0, 2),
        ("add", None, "cat", 80.5, 2),
    ]
    assert d3.edits.filter(pl.col("edit") == "move")["annotators"].item() == "x,z"
    assert d3.agreement["pairs"][0]["annotator_a"] == "x" and len(d3.agreement["pairs"]) == 3
