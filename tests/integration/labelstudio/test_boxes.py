"""Boxes against a real Label Studio server: push detection demo images with their boxes and
a detector's, annotate through the API (move, delete, add, relabel; two annotators on one
image), pull, and check the new version, its lineage and the agreement."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from PIL import Image

from datacentric.dataset import Dataset
from datacentric.datasets import load_detection_demo, load_detection_ground_truth
from datacentric.exceptions import InvalidParameterError
from datacentric.integrations import review
from datacentric.integrations.labelstudio import (
    BoxPullResult,
    LabelStudioClient,
    box_region,
    pull_annotations,
    push_review,
)
from datacentric.issues import scan
from datacentric.testing import noisy_predicted_boxes
from tests.integration.labelstudio._annotator_view import capture_box_task
from tests.integration.labelstudio._server import ADMIN_EMAIL, ADMIN_PASSWORD, LabelStudioServer

FINDERS = ["badly_located_box", "swapped_box", "overlooked_box", "duplicate_box"]


@pytest.fixture
def det_dir(ls_root: Path, request: pytest.FixtureRequest) -> Path:
    """A fresh detection demo (80 scenes) under the server's document root (one per test)."""
    root = ls_root / "docroot" / f"det-{request.node.name[:40]}"
    load_detection_demo(root, n_scenes=80, overwrite=True)
    return root


def _scan(root: Path) -> tuple[Dataset, Any, pl.DataFrame]:
    ds = Dataset.open(root)
    truth = load_detection_ground_truth(root).boxes.filter(pl.col("problem") != "duplicate")
    pred = noisy_predicted_boxes(
        truth.select("sample_id", pl.col("true_label").alias("label"),
                     *(pl.col(f"true_{c}").alias(c) for c in "xywh")),
        classes=ds.classes,
    )  # fmt: skip
    return ds, scan(ds, predicted_boxes=pred, finders=FINDERS), pred


def _box_regions(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in task["predictions"][0]["result"] if r["from_name"] == "box"]


def test_box_round_trip(ls_server: LabelStudioServer, det_dir: Path) -> None:
    ds, result, pred = _scan(det_dir)
    client = LabelStudioClient(ls_server.url, ls_server.token)
    kw: dict[str, Any] = {
        "project": "Boxes round trip",
        "client": client,
        "predicted_boxes": pred,
        "document_root": ls_server.document_root,
        "limit": 12,
    }
    pushed = push_review(ds, result, **kw)
    assert (pushed.n_items, pushed.created, pushed.unchanged) == (12, 12, 0)
    assert client.sdk.projects.get(pushed.project_id).model_version == "datacentric"

    # each task: its image's current boxes (editable) and the detector's (read-only)
    boxes = ds.annotations
    assert boxes is not None
    tasks = {t["data"]["sample_id"]: t for t in client.iter_tasks(pushed.project_id, fields="all")}
    assert set(tasks) == set(pushed.task_ids)
    for sid, t in tasks.items():
        mine = boxes.filter(pl.col("sample_id") == sid)
        regions = _box_regions(t)
        ids = [t["data"]["regions"][r["id"]] for r in regions]
        assert ids == mine["annotation_id"].to_list()
        for r, (label, *box) in zip(regions, mine.select("label", *"xywh").rows(), strict=True):
            assert r == {**box_region(r["id"], label, box, (96, 96)), "meta": r["meta"]}
        det = [r for r in t["predictions"][0]["result"] if r["from_name"] == "detector"]
        assert len(det) == pred.filter(pl.col("sample_id") == sid).height
        assert all(r["readonly"] and 0 <= r["score"] <= 1 for r in det)
    flagged = result.flagged().filter(pl.col("annotation_id").is_not_null())
    sid, aid = flagged.filter(pl.col("sample_id").is_in(list(tasks))).select(
        "sample_id", "annotation_id").row(0)  # fmt: skip
    assert f"box {aid}: " in tasks[sid]["data"]["detail"]

    # one annotator on image A: move b0 2 px right, delete b1, relabel b2, draw a box
    rich = [s for s, t in tasks.items() if len(_box_regions(t)) >= 3]
    a_sid, b_sid = rich[0], rich[1]
    a_regions = copy.deepcopy(_box_regions(tasks[a_sid]))
    a_ids = [tasks[a_sid]["data"]["regions"][r["id"]] for r in a_regions]
    old = {a: boxes.filter(pl.col("annotation_id") == a).row(0, named=True) for a in a_ids}
    a_regions[0]["value"]["x"] += 2.0 / 96 * 100
    new_label = next(c for c in ds.classes if c != old[a_ids[2]]["label"])
    a_regions[2]["value"]["rectanglelabels"] = [new_label]
    drawn = box_region("drawn", "7", (5.25, 4.5, 10.0, 12.75), (96, 96))
    admin = client.whoami()["id"]
    a_result = [a_regions[0], a_regions[2], *a_regions[3:], drawn]
    client.sdk.annotations.create(id=tasks[a_sid]["id"], result=a_result, completed_by=admin)

    # two annotators on image B: both delete b1; the second also moves b0 2 px right and
    # gives it another class (the one disagreement)
    b_regions = copy.deepcopy(_box_regions(tasks[b_sid]))
    b_ids = [tasks[b_sid]["data"]["regions"][r["id"]] for r in b_regions]
    b0 = boxes.filter(pl.col("annotation_id") == b_ids[0]).row(0, named=True)
    first = [b_regions[0], *b_regions[2:]]
    second = copy.deepcopy(first)
    second[0]["value"]["x"] += 2.0 / 96 * 100
    second[0]["value"]["rectanglelabels"] = [next(c for c in ds.classes if c != b0["label"])]
    other = client.sdk.users.create(email="box-second@datacentric.invalid", username="box2")
    client.sdk.annotations.create(id=tasks[b_sid]["id"], result=first, completed_by=admin)
    client.sdk.annotations.create(id=tasks[b_sid]["id"], result=second, completed_by=other.id)

    before = Dataset.open(det_dir)
    pulled = review.pull(det_dir, backend="labelstudio", target="Boxes round trip", client=client)
    assert isinstance(pulled, BoxPullResult)
    assert pulled.version == before.version + 1 and pulled.skipped.height == 0
    edits = pulled.edits.select("sample_id", "edit", "annotation_id", "label").rows()
    assert sorted(edits, key=str) == sorted(
        [
            (a_sid, "move", a_ids[0], old[a_ids[0]]["label"]),
            (a_sid, "remove", a_ids[1], old[a_ids[1]]["label"]),
            (a_sid, "relabel", a_ids[2], new_label),
            (a_sid, "add", None, "7"),
            (b_sid, "remove", b_ids[1], boxes.filter(pl.col("annotation_id") == b_ids[1])[
                "label"].item()),
        ],
        key=str,
    )  # fmt: skip

    after = Dataset.open(det_dir)
    new = after.annotations
    assert new is not None
    moved = new.filter(pl.col("annotation_id") == a_ids[0]).row(0, named=True)
    assert moved["x"] == pytest.approx(old[a_ids[0]]["x"] + 2.0, abs=1e-6)
    assert (moved["y"], moved["w"], moved["h"]) == tuple(old[a_ids[0]][c] for c in "ywh")
    assert new.filter(pl.col("annotation_id").is_in([a_ids[1], b_ids[1]])).height == 0
    assert new.filter(pl.col("annotation_id") == a_ids[2])["label"].item() == new_label
    added = new.filter(~pl.col("annotation_id").is_in(boxes["annotation_id"].implode()))
    assert added.select("sample_id", "label", "x", "y", "w", "h").rows() == [
        (a_sid, "7", 5.25, 4.5, 10.0, 12.75)
    ]
    assert new.height == boxes.height - 2 + 1
    # lineage: one row per edit, naming the annotators, the task and the annotation ids
    changes = after.changes()
    assert sorted(zip(changes["annotation_id"], changes["field"], strict=True)) == sorted(
        [(a_ids[0], "bbox"), (a_ids[1], "box"), (a_ids[2], "label"),
         (added["annotation_id"].item(), "box"), (b_ids[1], "box")]
    )  # fmt: skip
    by_aid = {r["annotation_id"]: r for r in changes.iter_rows(named=True)}
    assert by_aid[a_ids[2]]["old"] == old[a_ids[2]]["label"]
    assert f"task {tasks[a_sid]['id']}" in by_aid[a_ids[0]]["reason"]
    assert by_aid[a_ids[0]]["source"] == f"labelstudio:{ADMIN_EMAIL}"
    assert by_aid[b_ids[1]]["source"] == f"labelstudio:{ADMIN_EMAIL},box-second@datacentric.invalid"
    assert "2 of 2 annotation(s) deleted the box" in by_aid[b_ids[1]]["reason"]

    # agreement on image B (by hand): the boxes both kept are matched; b0 differs by a 2 px
    # shift (IoU (w-2)/(w+2)) and its class; the others are identical
    n_kept = len(b_regions) - 1
    w = b0["w"]
    ag = pulled.agreement
    assert (ag["n_images"], ag["n_matched"], ag["n_unmatched"]) == (1, n_kept, 0)
    assert ag["mean_iou"] == pytest.approx(((n_kept - 1) + (w - 2) / (w + 2)) / n_kept)
    assert ag["class_agreement"] == pytest.approx((n_kept - 1) / n_kept)

    assert (pulled.incremental, pulled.tasks_read) == (False, 2)

    # pulling again reads nothing (nothing was updated), and a full re-read applies nothing
    # twice; pushing again creates nothing
    again = pull_annotations(det_dir, project="Boxes round trip", client=client)
    assert isinstance(again, BoxPullResult) and again.incremental
    assert (again.version, again.applied, again.tasks_read) == (None, 0, 0)
    full = pull_annotations(det_dir, project="Boxes round trip", client=client, full=True)
    assert isinstance(full, BoxPullResult) and not full.incremental
    assert (full.version, full.applied, full.already_applied, full.tasks_read) == (None, 0, 2, 2)
    repushed = push_review(Dataset.open(det_dir), result, **kw)
    assert (repushed.created, repushed.unchanged) == (0, 12)
    assert repushed.task_ids == pushed.task_ids
    # the project pre-labels with 'datacentric' boxes: another model_version would show none
    with pytest.raises(InvalidParameterError, match=r"model_version='v2' would not be shown"):
        push_review(Dataset.open(det_dir), result, **kw, model_version="v2")


def test_box_annotator_view(ls_server: LabelStudioServer, det_dir: Path, tmp_path: Path) -> None:
    ds, result, pred = _scan(det_dir)
    client = LabelStudioClient(ls_server.url, ls_server.token)
    pushed = push_review(ds, result, project="Boxes view", client=client, predicted_boxes=pred,
                         document_root=ls_server.document_root, limit=3)  # fmt: skip
    boxes = ds.annotations
    assert boxes is not None
    sid, tid = next(
        (s, t) for s, t in sorted(pushed.task_ids.items(), key=lambda kv: kv[1])
        if boxes.filter(pl.col("sample_id") == s).height
    )  # fmt: skip
    out = tmp_path / "boxes.png"
    seen = capture_box_task(
        ls_server.url, ADMIN_EMAIL, ADMIN_PASSWORD, pushed.project_id, tid, out, submit=True
    )
    text = seen["text"]
    assert f"Sample {sid}" in text and "Regions" in text
    # the editable labels are shown once per class (the detector's control is hidden)
    assert [c for c in ds.classes if f"\n{c}\n" in text] == ds.classes
    n_pred = pred.filter(pl.col("sample_id") == sid).height
    scores = [f"{s:.2f}" for s in pred.filter(pl.col("sample_id") == sid)["score"]]
    assert n_pred and all(s in text for s in scores)  # the detector's regions, with scores
    assert [96, 96] in seen["images"]
    with Image.open(out) as img:
        gray = np.asarray(img.convert("L").resize((64, 64)))
        assert len(np.unique(gray)) > 20

    # the current boxes are editable: Label Studio copied them into the annotator's draft,
    # and submitting it untouched gives them back with the same ids and coordinates
    assert seen["submitted"]
    task = client.sdk.tasks.get(tid)
    (ann,) = [a if isinstance(a, dict) else a.dict() for a in task.annotations]
    (pred0,) = [p if isinstance(p, dict) else p.dict() for p in task.predictions]
    pushed_regions = [r for r in pred0["result"] if r["from_name"] == "box"]
    got = [r for r in ann["result"] if r["from_name"] == "box"]
    assert [(r["id"], r["value"]) for r in got] == [(r["id"], r["value"]) for r in pushed_regions]
    pulled = pull_annotations(det_dir, project="Boxes view", client=client)
    assert isinstance(pulled, BoxPullResult) and pulled.n_annotations == 1
    assert pulled.edits.height == 0 and pulled.version is None
