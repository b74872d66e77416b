"""The box fix policy on the detection demo: known planted problems, known fixes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric.datasets import load_detection_demo, load_detection_ground_truth
from datacentric.exceptions import InvalidParameterError
from datacentric.issues import scan
from datacentric.issues.boxes import box_iou, xyxy
from datacentric.loop import BoxFixPolicy, fix_boxes
from datacentric.testing import (
    check_parameter_constraints,
    make_check_context,
    make_detection_check_context,
    noisy_predicted_boxes,
)

FINDERS = ["swapped_box", "badly_located_box", "overlooked_box", "duplicate_box"]


@pytest.fixture()
def demo(tmp_path):
    root = tmp_path / "det"
    ds = load_detection_demo(root)  # committed: version 1
    gt = load_detection_ground_truth(root).boxes
    truth = gt.filter(pl.col("problem") != "duplicate").select(
        "sample_id", pl.col("true_label").alias("label"),
        *(pl.col(f"true_{c}").alias(c) for c in "xywh"),
    )  # fmt: skip
    pred = noisy_predicted_boxes(truth, classes=ds.classes, seed=0)
    result = scan(ds, predicted_boxes=pred, finders=FINDERS, cross_validate=False)
    return ds, gt, truth, result


def _matched(boxes: pl.DataFrame, truth: pl.DataFrame) -> int:
    """True objects with a box of their class at IoU > 0.8 (each object counted once)."""
    n = 0
    for sid, t in truth.partition_by("sample_id", as_dict=True).items():
        b = boxes.filter(pl.col("sample_id") == sid[0])
        if not b.height:
            continue
        iou = box_iou(xyxy(t), xyxy(b))
        same = np.equal.outer(t["label"].to_numpy(), b["label"].to_numpy())
        n += int(((iou > 0.8) & same).any(axis=1).sum())
    return n


def test_confident_fixes_on_the_demo(demo) -> None:
    ds, gt, truth, result = demo
    train = set(ds.manifest.filter(pl.col("split") == "train")["sample_id"])
    before = ds.annotations.clone()
    fixed = fix_boxes(ds, result, iteration=1)
    counts = fixed.counts
    e = fixed.edits
    # every flag of this near-perfect detector is confident (scores 0.96-1.0), so the
    # planted problems in train are fixed: relabels to the true class, moves onto the object
    problem = dict(gt.select("annotation_id", "problem").rows())
    true_label = dict(gt.select("annotation_id", "true_label").rows())
    rel = e.filter(pl.col("action") == "relabel")
    assert rel.height == counts["relabel"] > 0
    assert all(problem[a] == "swapped" and true_label[a] == n for a, n in rel.select(
        "annotation_id", "new").rows())  # fmt: skip
    mv = e.filter(pl.col("action") == "move")
    assert mv.height > 0 and all(problem[a] == "badly_located" for a in mv["annotation_id"])
    assert set(e["sample_id"]) <= train  # the evaluation splits are never edited
    # duplicates: pairs overlapping >= 0.9 are removed, and those overlapping less where the
    # detector sees one object; each removed box is a planted copy or its source (one a pair)
    rm = e.filter(pl.col("action") == "remove")
    pairs = {frozenset(p) for p in gt.filter(pl.col("problem") == "duplicate").select(
        "annotation_id", "duplicate_of").rows()}  # fmt: skip
    assert all(any(a in p for p in pairs) for a in rm["annotation_id"])
    assert all(sum(a in p for a in rm["annotation_id"]) == 1 for p in pairs)
    iou = dict(result.flagged("duplicate_box").select("annotation_id", "iou").rows())
    evidence = rm.filter(pl.col("reason").str.contains("The detector sees one object here"))
    assert evidence.height == sum(iou[a] < 0.9 for a in rm["annotation_id"]) > 0
    # the boxes now match more true objects; nothing matched before is lost
    train_truth = truth.filter(pl.col("sample_id").is_in(list(train)))
    # measured (seed 0): 31 relabels, 29 moves, 36 adds, 25 removals (every planted pair: 7 at
    # IoU >= 0.9, 18 on the detector's evidence); 512 of the 617 true train objects had a right
    # box before, 604 after
    assert (counts["relabel"], counts["move"], counts["add"], counts["remove"]) == (31, 29, 36, 25)
    assert (_matched(before, train_truth), _matched(ds.annotations, train_truth)) == (512, 604)
    # one version, lineage per box naming the finder
    assert fixed.version == 2 and ds.version == 2
    ch = ds.changes(2)
    assert ch.height == e.height and ch["annotation_id"].null_count() == 0
    assert set(ch["source"]) == set(e["source"]) and set(ch["iteration"]) == {1}
    # what was not fixed is queued, one row per image, worst first
    assert fixed.review["sample_id"].is_unique().all()
    assert counts["queued_for_review"] == fixed.review.height


def test_thresholds_bound_what_is_automatic(demo) -> None:
    ds, _, _, result = demo
    n_train_boxes = ds.annotations.join(
        ds.manifest.filter(pl.col("split") == "train").select("sample_id"), on="sample_id"
    ).height
    capped = fix_boxes(ds, result, BoxFixPolicy(max_fix_fraction=0.02), commit=False)
    assert capped.edits.height == int(0.02 * n_train_boxes)
    nothing = fix_boxes(
        ds,
        result,
        BoxFixPolicy(min_detector_score=1.0, remove_duplicates_min_iou=None),
        commit=False,
    )
    assert nothing.edits.height == 0
    flagged_images = result.flagged(FINDERS)["sample_id"].n_unique()
    assert nothing.counts["queued_for_review"] + nothing.counts["deferred_review"] == flagged_images


def test_refusals() -> None:
    ds = make_check_context().dataset
    with pytest.raises(InvalidParameterError, match="box fixes need a detection dataset"):
        fix_boxes(ds, scan(ds, finders=["exact_duplicate"], cross_validate=False))
    assert check_parameter_constraints(BoxFixPolicy, {}) > 5


def test_a_duplicate_the_detector_sees_as_two_objects_is_queued() -> None:
    finders = ["duplicate_box"]

    def fixed_with(pred_of, policy=None):  # a fresh context: fix_boxes edits its dataset
        ctx = make_detection_check_context()  # d0 repeats b0 at IoU 0.88, below the 0.9 bar
        r = scan(ctx.dataset, predicted_boxes=pred_of(ctx), finders=finders,
                 cross_validate=False)  # fmt: skip
        return r.flagged("duplicate_box"), fix_boxes(ctx.dataset, r, policy, commit=False)

    flags, fixed = fixed_with(lambda ctx: ctx.predicted_boxes)
    assert fixed.edits["annotation_id"].to_list() == ["d0"] and fixed.review.height == 0

    def with_rival(score):
        def pred_of(ctx):
            d0 = ctx.dataset.annotations.filter(pl.col("annotation_id") == "d0")
            rival = d0.select(pl.lit("rival").alias("prediction_id"), "sample_id", "label",
                              "x", "y", "w", "h", pl.lit(score).alias("score"))  # fmt: skip
            return pl.concat([ctx.predicted_boxes, rival], how="diagonal_relaxed")

        return pred_of

    for rival, removed in ((0.2, False), (0.05, True)):  # bar 0.9: a rival above 0.1 blocks it
        flags, fixed = fixed_with(with_rival(rival))
        assert flags["rival_score"].to_list() == [rival]
        assert (fixed.edits.height == 1) is removed
        assert (fixed.review["sample_id"].to_list() == ["0"]) is not removed
    # without predicted boxes there is no evidence: only the IoU bar decides
    flags, fixed = fixed_with(lambda ctx: ctx.predicted_boxes.head(0))
    assert flags["suggested_score"].to_list() == [None] and fixed.edits.height == 0
    _, fixed = fixed_with(lambda ctx: ctx.predicted_boxes.head(0), BoxFixPolicy(
        remove_duplicates_min_iou=0.85))  # fmt: skip
    assert fixed.edits["annotation_id"].to_list() == ["d0"]
