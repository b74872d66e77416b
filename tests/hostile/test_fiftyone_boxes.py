"""Hostile boxes for the FiftyOne integration, without a database: boxes read back from
FiftyOne (NaN, outside [0, 1], unknown class, a box of another image) are refused in one
line or skipped with a reason before anything is applied, and the push's new input
(``predicted_boxes``) is checked before FiftyOne is contacted."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidAnnotationError, InvalidParameterError
from datacentric.integrations.fiftyone.box_pull import FoBox, plan_box_edits
from datacentric.integrations.fiftyone.records import build_records

BOXES = pl.DataFrame(
    {"annotation_id": ["1", "2"], "sample_id": ["a", "b"], "label": ["cat", "dog"],
     "x": [10.0, 50.0], "y": [10.0, 10.0], "w": [20.0, 20.0], "h": [20.0, 20.0]}
)  # fmt: skip
SIZES = {"a": (100, 100), "b": (100, 50)}


def _plan(*boxes: FoBox) -> object:
    return plan_box_edits(boxes, BOXES, BOXES, SIZES, ["cat", "dog"], set())


@pytest.mark.parametrize(
    ("bbox", "label", "why"),
    [
        ([float("nan"), 0.1, 0.2, 0.2], "cat", "NaN or infinite"),
        ([0.1, float("inf"), 0.2, 0.2], "cat", "NaN or infinite"),
        ([0.9, 0.1, 0.2, 0.2], "cat", "outside [0, 1]"),
        ([-0.1, 0.1, 0.2, 0.2], "cat", "outside [0, 1]"),
        ([0.1, 0.1, 0.0, 0.2], "cat", "zero or negative size"),
        ([0.1, 0.1, 0.2], "cat", "not 4 numbers"),
        (None, "cat", "not 4 numbers"),
        ([0.1, 0.1, 0.2, 0.2], "zebra", "label 'zebra' is not one of the classes"),
        ([0.1, 0.1, 0.2, 0.2], None, "label None is not one of the classes"),
    ],
)
def test_a_bad_box_from_fiftyone_is_one_line_and_nothing_is_planned(
    bbox: object, label: object, why: str
) -> None:
    good = FoBox("a", "L1", "1", "cat", [0.3, 0.1, 0.2, 0.2], [])  # a real move, refused too
    with pytest.raises(InvalidAnnotationError) as err:
        _plan(good, FoBox("b", "L2", "2", label, bbox, []))
    msg = str(err.value)
    assert "\n" not in msg and why in msg and "b/2" in msg and "Nothing was applied" in msg


def test_relabel_tag_naming_an_unknown_class_is_refused() -> None:
    with pytest.raises(InvalidAnnotationError, match=r"a/1: relabel:zebra names an unknown"):
        _plan(FoBox("a", "L1", "1", "cat", [0.1, 0.1, 0.2, 0.2], ["relabel:zebra"]))


def test_box_of_another_image_or_unknown_id_is_skipped_with_reason() -> None:
    plan = _plan(
        FoBox("a", "L1", "1", "cat", [0.1, 0.1, 0.2, 0.2], []),
        FoBox("a", "L2", "2", "cat", [0.1, 0.1, 0.2, 0.2], []),  # box 2 is image b's
        FoBox("b", "L3", "99", "dog", [0.5, 0.5, 0.2, 0.2], []),
        FoBox("b", "L4", "2", "dog", [0.5, 0.2, 0.2, 0.4], []),  # unchanged: 50 px high
    )
    assert plan.skipped == [  # type: ignore[attr-defined]
        "a/2: annotation_id not a box of this image in the dataset; box left alone",
        "b/99: annotation_id not a box of this image in the dataset; box left alone",
    ]
    assert plan.n_edits == 0  # type: ignore[attr-defined]


def test_relative_to_pixels_is_exact_to_a_millionth_of_a_pixel() -> None:
    # a 640 x 427 image: x / W * W is not always x in floating point, but within 1e-6 px
    rng = np.random.default_rng(0)
    xs = rng.uniform(0, 300, 200)
    boxes = pl.DataFrame(
        {"annotation_id": [str(i) for i in range(200)], "sample_id": ["a"] * 200,
         "label": ["cat"] * 200, "x": xs, "y": xs / 2, "w": xs / 3 + 1, "h": xs / 4 + 1}
    )  # fmt: skip
    fo = [
        FoBox(
            "a",
            f"L{i}",
            str(i),
            "cat",
            [x / 640, x / 2 / 427, (x / 3 + 1) / 640, (x / 4 + 1) / 427],
            [],
        )
        for i, x in enumerate(xs)
    ]
    plan = plan_box_edits(fo, boxes, boxes, {"a": (640, 427)}, ["cat"], set())
    assert plan.n_edits == 0  # unmoved boxes stay unmoved
    moved = [FoBox("a", "L0", "0", "cat", [0.5, 0.25, 0.125, 0.375], [])]
    plan = plan_box_edits(moved, boxes[:1], boxes[:1], {"a": (640, 427)}, ["cat"], set())
    assert plan.moves == [("0", (320.0, 106.75, 80.0, 160.125))]


def _detection_folder() -> Dataset:
    from datacentric.datasets import load_detection_demo

    return load_detection_demo(Path(tempfile.mkdtemp()) / "d", n_scenes=8)


def test_push_inputs_are_checked_before_fiftyone_is_contacted() -> None:
    ds = _detection_folder()
    bad = pl.DataFrame({"sample_id": [ds.sample_ids[0]], "label": [ds.classes[0]],
                        "x": [float("nan")], "y": [1.0], "w": [2.0], "h": [2.0],
                        "score": [0.5]})  # fmt: skip
    with pytest.raises(InvalidAnnotationError, match="predicted_boxes: 1 annotation"):
        build_records(ds, None, predicted_boxes=bad)
    with pytest.raises(InvalidAnnotationError, match=r"predicted_boxes.*not a class"):
        build_records(ds, None, predicted_boxes=bad.with_columns(x=pl.lit(1.0), label=pl.lit("z")))
    from datacentric.train import Predictions

    preds = Predictions(ds.sample_ids, np.full((len(ds), 10), 0.1), np.zeros((len(ds), 0)),
                        classes=ds.classes)  # fmt: skip
    with pytest.raises(InvalidParameterError, match="Pass its predicted boxes as predicted_"):
        build_records(ds, None, preds)
    digits = Dataset.from_arrays(np.zeros((2, 4, 4)), [0, 1], ["a", "b"]).to_folder(
        tempfile.mkdtemp()
    )
    with pytest.raises(InvalidParameterError, match="predicted_boxes= are for detection"):
        build_records(digits, None, predicted_boxes=bad)
