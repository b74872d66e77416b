"""Boxes in a real FiftyOne database: Detections pushed with issue tags, box views, box
edits made through the FiftyOne API pulled back as one version with lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidAnnotationError
from datacentric.integrations.fiftyone import PushResult, _raw, from_fiftyone, to_fiftyone
from tests.integration.fiftyone.conftest import DetectionDemo

pytestmark = pytest.mark.usefixtures("mongod_uri")


def _fo() -> Any:
    import fiftyone as fo

    return fo


def _flagged(demo: DetectionDemo, issue_type: str, key: str) -> set[str]:
    rows = demo.scan.issues.filter(pl.col("is_issue") & (pl.col("issue_type") == issue_type))
    return set(rows[key].to_list())


def _label_ids(view: Any, field: str, attr: str) -> list[str]:
    return [a for per in view.values(f"{field}.detections.{attr}") for a in per or []]


def test_push_writes_detections_with_relative_boxes_and_issue_tags(
    det_pushed: PushResult, det_demo: DetectionDemo
) -> None:
    fds = det_pushed.load()
    ds = det_demo.ds
    assert det_pushed.write_path == "raw" and det_pushed.added == len(ds) == len(fds)
    assert fds.count("ground_truth.detections") == ds.annotations.height  # type: ignore[union-attr]
    assert fds.count("predictions.detections") == det_demo.predicted_boxes.height
    # every box: its annotation_id, class and pixel box back from the relative one (96 px)
    truth = {r[0]: r[1:] for r in ds.annotations.select(  # type: ignore[union-attr]
        "annotation_id", "sample_id", "label", "x", "y", "w", "h").rows()}  # fmt: skip
    sids, aids, labels, boxes = fds.values(
        [
            "sample_id",
            "ground_truth.detections.annotation_id",
            "ground_truth.detections.label",
            "ground_truth.detections.bounding_box",
        ]
    )
    seen = 0
    for sid, a, lab, bb in zip(sids, aids, labels, boxes, strict=True):
        for aid, label, box in zip(a, lab, bb, strict=True):
            want = truth[aid]
            assert (sid, label) == want[:2]
            np.testing.assert_allclose(np.array(box) * 96, want[2:], atol=1e-9)
            seen += 1
    assert seen == len(truth)
    # per-box issue tags = the scan's flagged box rows, on the box they name
    for t in ("swapped_box", "badly_located_box", "duplicate_box"):
        tagged = set(_label_ids(fds.filter_labels("ground_truth", _has_tag(t)), "ground_truth",
                                "annotation_id"))  # fmt: skip
        assert tagged == _flagged(det_demo, t, "annotation_id") and tagged
    over = set(_label_ids(fds.filter_labels("predictions", _has_tag("overlooked_box")),
                          "predictions", "prediction_id"))  # fmt: skip
    assert over == _flagged(det_demo, "overlooked_box", "prediction_id") and over
    # a swapped box carries its severity and the suggested class as attributes
    row = det_demo.scan.flagged("swapped_box").row(0, named=True)
    box = fds.filter_labels(
        "ground_truth", _fo().ViewField("annotation_id") == row["annotation_id"]
    )
    det = box.first().ground_truth.detections[0]
    assert det.issue_swapped_box == pytest.approx(row["severity"])
    assert det.suggested_label == row["suggested_label"] and "issue:swapped_box" in det.tags
    # predictions keep the detector's confidence
    pred = det_demo.predicted_boxes.row(0, named=True)
    got = fds.match({"sample_id": pred["sample_id"]}).first().predictions.detections[0]
    assert got.confidence == pytest.approx(pred["score"]) and got.label == pred["label"]


def _has_tag(issue_type: str) -> Any:
    return _fo().ViewField("tags").contains(f"issue:{issue_type}")


def test_box_views_hold_exactly_the_flagged_boxes(
    det_pushed: PushResult, det_demo: DetectionDemo
) -> None:
    fds = det_pushed.load()
    for t, field, key in [
        ("swapped_box", "ground_truth", "annotation_id"),
        ("badly_located_box", "ground_truth", "annotation_id"),
        ("overlooked_box", "predictions", "prediction_id"),
    ]:
        view = fds.load_saved_view("issue-" + t.replace("_", "-"))
        got = _label_ids(view, field, key)
        assert sorted(got) == sorted(_flagged(det_demo, t, key))
        sev = view.values(f"issue_{t}")
        assert sev == sorted(sev, reverse=True)
    # the overlooked view keeps the image's boxes for context
    assert fds.load_saved_view("issue-overlooked-box").count("ground_truth.detections") > 0
    # worst slices by mAP@0.5, each view holding its slice
    assert det_pushed.worst_slices and all(w.metric == "map50" for w in det_pushed.worst_slices)
    w = det_pushed.worst_slices[0]
    col, value = w.name.split("=")
    view = fds.load_saved_view("slice-" + w.name.replace("=", "-").replace("_", "-"))
    assert sorted(view.values("sample_id")) == sorted(
        det_demo.ds.manifest.filter(pl.col(col) == value)["sample_id"].to_list()
    )


def _edit(fds: Any, sid: str, fn: Any) -> None:
    s = fds.match({"sample_id": sid}).first()
    fn(s.ground_truth.detections)
    s.save()


def test_box_edits_pull_as_one_version_with_lineage(
    det_demo: DetectionDemo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fo = _fo()
    ds = Dataset.open(det_demo.copy(tmp_path / "scenes"))
    to_fiftyone(ds, det_demo.scan, name="dc-test-box-edits", brain=False, worst_slices=0)
    fds = fo.load_dataset("dc-test-box-edits")
    boxes = ds.annotations
    assert boxes is not None
    multi = boxes.group_by("sample_id").len().filter(pl.col("len") >= 3)["sample_id"].sort()
    a, b = multi[0], multi[1]
    ba = boxes.filter(pl.col("sample_id") == a).sort("annotation_id")
    moved, deleted, relabelled = ba["annotation_id"][:3].to_list()
    old_label = ba["label"][2]
    new_label = next(c for c in ds.classes if c != old_label)

    def edit_a(dets: list[Any]) -> None:
        by = {d.annotation_id: d for d in dets}
        x, y, w, h = by[moved].bounding_box
        by[moved].bounding_box = [x + 0.1, y + 0.05, w * 1.5, h]  # moved and resized
        dets.remove(by[deleted])
        by[relabelled].label = new_label
        by[relabelled].tags.append("reviewed:wrong")

    _edit(fds, a, edit_a)
    _edit(fds, b, lambda d: d.append(fo.Detection(label="3", bounding_box=[0.5, 0.25, 0.125,
                                                                           0.375])))  # fmt: skip
    result = from_fiftyone(ds, "dc-test-box-edits", reviewer="bob")
    assert result.version == 2 and result.applied == 5 and not result.skipped
    edits = result.box_edits
    assert edits is not None
    got = sorted(edits.select("annotation_id", "field").rows())
    new_id = str(int(boxes["annotation_id"].cast(pl.Int64).max()) + 1)  # type: ignore[arg-type]
    assert got == sorted([(moved, "bbox"), (deleted, "box"), (relabelled, "label"),
                          (relabelled, "review"), (new_id, "box")])  # fmt: skip
    head = Dataset.open(ds.root)  # type: ignore[arg-type]
    assert head.version == 2
    ch = head.changes(2)
    assert set(ch["source"].to_list()) == {"fiftyone:bob"}
    after = head.annotations
    assert after is not None
    old = ba.filter(pl.col("annotation_id") == moved).row(0, named=True)
    new = after.filter(pl.col("annotation_id") == moved).row(0, named=True)
    # relative -> pixels exact to 1e-6 px (the scenes are 96 x 96)
    want = [(old["x"] / 96 + 0.1) * 96, (old["y"] / 96 + 0.05) * 96, old["w"] / 96 * 1.5 * 96,
            old["h"]]  # fmt: skip
    assert [new[c] for c in "xywh"] == pytest.approx(want, abs=1e-6)
    assert deleted not in after["annotation_id"].to_list()
    assert after.filter(pl.col("annotation_id") == relabelled)["label"].item() == new_label
    added = after.filter(pl.col("annotation_id") == new_id).row(0, named=True)
    assert (added["sample_id"], added["label"]) == (b, "3")
    assert [added[c] for c in "xywh"] == pytest.approx([48.0, 24.0, 12.0, 36.0], abs=1e-6)
    removed = json.loads(ch.filter(pl.col("annotation_id") == deleted)["old"].item())
    assert removed["label"] == ba["label"][1]
    # every other box is untouched; a second pull commits nothing (the added box got its id)
    assert after.height == boxes.height
    # (incremental: only b is read again, written since when its added box got its id)
    again = from_fiftyone(head, "dc-test-box-edits", reviewer="bob")
    assert again.version is None and again.applied == 0 and again.incremental
    assert again.n_read == 1
    full = from_fiftyone(head, "dc-test-box-edits", reviewer="bob", full=True)
    assert full.version is None and full.applied == 0 and full.already_applied == 4
    assert fds.match({"sample_id": b}).first().ground_truth.detections[-1].annotation_id == new_id
    caplog.clear()
    # pushing the new version: the two images are rewritten (their boxes now equal the
    # dataset's, so they are no unpulled edits), the reviewer's label tag is carried over
    repushed = to_fiftyone(head, det_demo.scan, name="dc-test-box-edits", brain=False,
                           worst_slices=0)  # fmt: skip
    assert (repushed.updated, repushed.unchanged) == (2, len(ds) - 2)
    assert "not pulled yet" not in caplog.text
    dets = {d.annotation_id: d for d in fds.match({"sample_id": a}).first().ground_truth.detections}
    assert dets[relabelled].label == new_label and "reviewed:wrong" in dets[relabelled].tags
    assert deleted not in dets
    assert from_fiftyone(head, "dc-test-box-edits").applied == 0


def test_bad_boxes_are_refused_and_nothing_is_written(
    det_demo: DetectionDemo, tmp_path: Path
) -> None:
    fo = _fo()
    ds = Dataset.open(det_demo.copy(tmp_path / "scenes"))
    to_fiftyone(ds, det_demo.scan, name="dc-test-box-bad", brain=False, worst_slices=0)
    fds = fo.load_dataset("dc-test-box-bad")
    sid = ds.sample_ids[0]

    def nan_box(dets: list[Any]) -> None:
        dets[0].bounding_box = [float("nan"), 0.1, 0.2, 0.2]
        dets.append(fo.Detection(label="zebra", bounding_box=[0.1, 0.1, 0.2, 0.2]))
        dets.append(fo.Detection(label="3", bounding_box=[0.9, 0.1, 0.2, 0.2]))

    _edit(fds, sid, nan_box)
    with pytest.raises(InvalidAnnotationError) as err:
        from_fiftyone(ds, "dc-test-box-bad")
    msg = str(err.value)
    assert "\n" not in msg and "3 box(es) are invalid" in msg and "Nothing was applied" in msg
    assert "NaN" in msg and "'zebra'" in msg and "outside [0, 1]" in msg
    assert Dataset.open(ds.root).version == 1 and ds.pending_changes.height == 0  # type: ignore[arg-type]
    # a box on a sample no longer in the dataset is skipped, with its id reported
    fds.delete_samples(fds.match({"sample_id": sid}))
    s = fo.Sample(filepath=str(ds.root / ds.manifest["image"][1]), sample_id="ghost",  # type: ignore[operator]
                  ground_truth=fo.Detections(detections=[fo.Detection(label="3",
                  bounding_box=[0.1, 0.1, 0.2, 0.2])]))  # fmt: skip
    fds.add_sample(s)
    result = from_fiftyone(ds, "dc-test-box-bad")
    assert result.not_in_dataset == ["ghost"]
    # the sample deleted from FiftyOne is no edit (its boxes stay): nothing to commit
    assert result.version is None and result.box_edits is not None
    assert result.box_edits.height == 0 and ds.pending_changes.height == 0


def test_raw_detection_insert_matches_add_samples(
    det_demo: DetectionDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.fiftyone.test_push_pull import _dump

    some = det_demo.ds.sample_ids[:60]
    ds = det_demo.ds.filter(pl.col("sample_id").is_in(some))
    pred = det_demo.predicted_boxes.filter(pl.col("sample_id").is_in(some))
    common = dict(predicted_boxes=pred, brain=False, worst_slices=0)
    raw = to_fiftyone(ds, det_demo.scan, name="dc-test-box-raw", **common)
    monkeypatch.setattr(_raw, "RAW_WRITE_VERSIONS", frozenset())
    public = to_fiftyone(ds, det_demo.scan, name="dc-test-box-public", **common)
    assert (raw.write_path, public.write_path) == ("raw", "public")
    assert _dump(raw.load()) == _dump(public.load())


@pytest.mark.parametrize("write_path", ["raw", "public"])
def test_update_rewrites_changed_boxes_and_keeps_unpulled_box_edits(
    det_demo: DetectionDemo, monkeypatch: pytest.MonkeyPatch, write_path: str
) -> None:
    fo = _fo()
    if write_path == "public":
        monkeypatch.setattr(_raw, "RAW_WRITE_VERSIONS", frozenset())
    name = f"dc-test-box-update-{write_path}"
    ds = det_demo.ds
    first = to_fiftyone(ds, det_demo.scan, name=name, brain=False, worst_slices=0)
    assert first.write_path == write_path
    fds = fo.load_dataset(name)
    swapped = det_demo.scan.flagged("swapped_box")
    edited_sid, edited_aid = swapped.select("sample_id", "annotation_id").row(0)

    def move(dets: list[Any]) -> None:
        d = next(d for d in dets if d.annotation_id == edited_aid)
        d.bounding_box = [0.0, 0.0, 0.5, 0.5]

    _edit(fds, edited_sid, move)
    # a second scan unflags the swapped boxes of three images, the edited one among them
    three = list(dict.fromkeys(swapped["sample_id"].to_list()))[:3]
    assert three[0] == edited_sid
    from datacentric.issues import ScanResult

    unflag = (pl.col("issue_type") == "swapped_box") & pl.col("sample_id").is_in(three)
    issues = det_demo.scan.issues.with_columns(
        pl.when(unflag).then(False).otherwise(pl.col("is_issue")).alias("is_issue")
    )
    scan2 = ScanResult(issues, det_demo.scan.samples, det_demo.scan.classes, det_demo.scan.meta)
    again = to_fiftyone(ds, scan2, name=name, brain=False, worst_slices=0)
    assert (again.updated, again.unchanged, again.added, again.deleted) == (3, len(ds) - 3, 0, 0)
    # the edited sample keeps its (unpulled) boxes, tags included; the other two lose theirs
    left = fds.filter_labels("ground_truth", _has_tag("swapped_box"))
    still = set(left.values("sample_id"))
    assert edited_sid in still and not still & set(three[1:])
    assert still == set(swapped["sample_id"].to_list()) - set(three[1:])
    box = fds.match({"sample_id": edited_sid}).first().ground_truth.detections
    assert next(d for d in box if d.annotation_id == edited_aid).bounding_box == [0, 0, 0.5, 0.5]
    assert "issue:swapped_box" not in fds.match({"sample_id": three[1]}).first().tags
    fo.delete_dataset(name)
