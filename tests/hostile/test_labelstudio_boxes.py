"""Hostile Label Studio box annotations and push/pull inputs: every bad annotation is
skipped whole with a one-line reason (nothing of it applied), every bad parameter is a
one-line error before the server is contacted."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidAnnotationError, InvalidParameterError
from datacentric.integrations.labelstudio import box_region, pull_annotations, push_review
from datacentric.integrations.labelstudio.box_pull import pull_boxes
from datacentric.testing import make_detection_check_context

NOWHERE = {"url": "http://127.0.0.1:9", "token": "t"}


@pytest.fixture
def det(tmp_path: Path) -> Dataset:
    """The 12-image 40x40 detection check dataset, in a folder (so sizes come from files)."""
    ctx = make_detection_check_context()
    boxes = ctx.dataset.annotations
    assert boxes is not None
    folder = ctx.dataset.to_folder(tmp_path / "det")
    ds = Dataset(folder.manifest, folder.classes, folder.root, annotations=boxes)
    ds.commit("boxes")
    return Dataset.open(tmp_path / "det")


def _task(tid: int, sid: str, *results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": tid,
        "data": {"sample_id": sid, "regions": {"b0": "b0", "b1": "b1"}},
        "annotations": [
            {"id": tid * 10 + k, "completed_by": 1, "result": r, "updated_at": "t"}
            for k, r in enumerate(results)
        ],
    }


def _pull(ds: Dataset, tasks: list[dict[str, Any]]) -> tuple[Any, Any]:
    return pull_boxes(
        ds,
        tasks,
        {1: "ann@x"},
        url="http://h",
        project_id=1,
        project="p",
        applied={},
        commit=True,
        message=None,
        iou_threshold=0.5,
        max_regions=1000,
        t0=time.perf_counter(),
    )


GOOD_B0 = (2.0, 2.0, 12.0, 12.0)  # b0 of image "0", as it is
MOVED_B0 = (4.0, 2.0, 12.0, 12.0)


def _region(rid: str, label: str, box: tuple[float, ...], **value: Any) -> dict[str, Any]:
    r = box_region(rid, label, box, (40, 40))
    r["value"].update(value)
    return r


BAD = [
    ("NaN", [_region("b0", "c0", GOOD_B0, x=math.nan)], "not a finite number"),
    ("infinite", [_region("b0", "c0", GOOD_B0, width=math.inf)], "not a finite number"),
    ("text", [_region("b0", "c0", GOOD_B0, y="10")], "not a number"),
    ("negative", [_region("b0", "c0", GOOD_B0, x=-5.0)], "reaches outside the image"),
    ("over 100 %", [_region("b0", "c0", GOOD_B0, width=120.0)], "reaches outside the image"),
    ("zero size", [_region("b0", "c0", GOOD_B0, height=0.0)], "zero or negative size"),
    ("rotated", [_region("b0", "c0", GOOD_B0, rotation=30)], "rotated by 30"),
    ("unknown class", [_region("b0", "lion", GOOD_B0)], "class 'lion', which the dataset"),
    ("two classes", [_region("b0", "c0", GOOD_B0, rectanglelabels=["c0", "c1"])], "exactly one"),
    ("other size", [{**_region("b0", "c0", GOOD_B0), "original_width": 400}], "400x40 image"),
    ("not a list", {"x": 1}, "not a list of regions"),
    ("not an object", ["region"], "not an object"),
]


@pytest.mark.parametrize(("name", "result", "reason"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_annotation_is_skipped_whole(
    det: Dataset, name: str, result: Any, reason: str
) -> None:
    # the bad annotation also moves b0 validly: none of it may be applied
    if isinstance(result, list):
        result = [*result, _region("b1", "c1", (20.0, 20.0, 14.0, 14.0))]
    before = det.version
    res, _ = _pull(det, [_task(1, "0", result)])
    assert res.version is None and res.applied == 0 and Dataset.open(det.root).version == before
    assert res.skipped.height == 1
    why = res.skipped["reason"].item()
    assert reason in why and "\n" not in why and len(why) <= 300


def test_good_and_bad_annotations_in_one_pull(
    det: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [_region("b0", "c0", MOVED_B0), _region("b1", "c1", (1.0, 1.0, 1.0, 1.0), x=-1.0)]
    tasks = [
        _task(
            1,
            "0",
            [
                _region("b0", "c0", MOVED_B0),
                _region("b1", "c1", (22, 20, 14, 14)),
                _region("dup", "c0", (2.5, 2.0, 12.0, 11.5)),
            ],
        ),  # d0, matched by IoU
        _task(2, "1", bad),
        _task(3, "no-such-image", [_region("b0", "c0", GOOD_B0)]),
    ]
    res, _ = _pull(det, tasks)
    assert res.version == det.version
    assert res.edits.select("edit", "annotation_id").rows() == [("move", "b0")]
    assert sorted(res.skipped["task_id"].to_list()) == [2, 3]
    assert "'no-such-image' is not in the dataset" in res.skipped.sort("task_id")["reason"][1]
    from datacentric.cli.review_verbs import show_pull

    show_pull(res)  # the CLI's report: counts, each skipped annotation on one line
    out = capsys.readouterr().out
    assert "new edits: 1 move, 0 relabel, 0 remove, 0 add" in out
    assert "skipped annotation 20 (task 2): region 'b1' reaches outside" in out
    assert f"New version: {res.version}" in out


def test_a_huge_number_of_regions_is_skipped_quickly(det: Dataset) -> None:
    many = [_region(f"n{k}", "c0", (1.0, 1.0, 2.0, 2.0)) for k in range(5_000)]
    t0 = time.perf_counter()
    res, _ = _pull(det, [_task(1, "0", many)])
    assert time.perf_counter() - t0 < 5.0
    assert "5000 regions, more than max_regions=1000" in res.skipped["reason"].item()
    assert res.version is None
    junk = [{"from_name": "detector"}] * 1_000_000
    res, _ = _pull(det, [_task(1, "0", junk)])
    assert "1000000 items, more than 10 x max_regions=1000" in res.skipped["reason"].item()


def test_push_and_pull_inputs_are_checked_before_the_server(det: Dataset, tmp_path: Path) -> None:
    items = pl.DataFrame({"sample_id": ["0"]})
    nan = pl.DataFrame({"sample_id": ["0"], "label": ["c0"], "x": [math.nan], "y": [1.0],
                        "w": [2.0], "h": [2.0], "score": [0.5]})  # fmt: skip
    with pytest.raises(InvalidAnnotationError, match="x, y, w, h"):
        push_review(det, items, project="abc", predicted_boxes=nan, **NOWHERE)
    with pytest.raises(InvalidParameterError, match=r"predictions= .* does not apply"):
        push_review(det, items, project="abc", predictions="p.npz", **NOWHERE)
    cls = Dataset.from_arrays(
        __import__("numpy").zeros((2, 4, 4)), ["a", "b"], classes=["a", "b"]
    ).to_folder(tmp_path / "cls")
    with pytest.raises(InvalidParameterError, match="predicted_boxes= is for detection"):
        push_review(cls, items, project="abc", predicted_boxes=nan, **NOWHERE)
    for kw, match in [
        ({"iou_threshold": 0.0}, "iou_threshold"),
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"max_regions": 0}, "max_regions"),
    ]:
        with pytest.raises(InvalidParameterError, match=match) as info:
            pull_annotations(det, project="abc", **NOWHERE, **kw)
        assert "\n" not in str(info.value)
