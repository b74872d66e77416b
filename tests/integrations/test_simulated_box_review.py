"""The simulated box reviewer: a detection demo's queue answered from its true objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.datasets import load_detection_demo, load_detection_ground_truth
from datacentric.integrations.review import AppliedReview, PullResult, simulate_box_review


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("boxreview") / "demo"
    load_detection_demo(root, n_scenes=40, size=48)  # 30 train images, 10 test
    return root


@pytest.fixture
def root(demo: Path, tmp_path: Path) -> Path:
    """A private copy of the demo (each test edits it)."""
    import shutil

    return Path(shutil.copytree(demo, tmp_path / "demo"))


def _objects(truth: pl.DataFrame) -> pl.DataFrame:
    return truth.filter(pl.col("problem") != "duplicate")


def _box_set(frame: pl.DataFrame, label: str = "label", prefix: str = "") -> set[tuple]:
    return {
        (r[0], r[1], *(round(float(v), 3) for v in r[2:]))
        for r in frame.select("sample_id", label, *(f"{prefix}{c}" for c in "xywh")).iter_rows()
    }


def _queue(root: Path) -> tuple[pl.DataFrame, list[str], list[str]]:
    """Every train image with a planted problem and two clean ones (queued), one more
    deferred, two test images queued: (queue, queued train ids, untouched ids)."""
    ds = Dataset.open(root)
    truth = load_detection_ground_truth(root).boxes
    train = ds.split("train").sample_ids
    bad = truth.filter(pl.col("problem") != "none")["sample_id"].unique().sort().to_list()
    bad = [s for s in bad if s in train]
    clean = [s for s in train if s not in bad]
    test = ds.split("test").sample_ids[:2]
    queued_train = bad + clean[:2]
    ids = queued_train[:3] + test + queued_train[3:] + [clean[2]]
    queue = pl.DataFrame(
        {
            "sample_id": ids,
            "rank": list(range(1, len(ids) + 1)),
            "status": ["queued"] * (len(ids) - 1) + ["deferred"],
            "issue_type": ["badly_located"] * len(ids),
        }
    )
    return queue, queued_train, test + clean[2:]


def test_accuracy_one_redraws_exactly_the_true_objects(root: Path) -> None:
    queue, answered, untouched = _queue(root)
    truth = load_detection_ground_truth(root).boxes
    before = Dataset.open(root).annotations
    assert before is not None
    r = simulate_box_review(root, queue, truth, accuracy=1.0, seed=0)
    assert type(r) is AppliedReview and isinstance(r, PullResult)
    assert (r.backend, r.target, r.source, r.version) == (
        "simulated",
        "simulated-reviewer",
        "simulated-reviewer",
        2,
    )
    head = Dataset.open(root)
    after = head.annotations
    assert after is not None and head.version == 2
    # the queued train images hold exactly their true objects (overlooked ones drawn,
    # planted duplicates removed, swapped classes and bad boxes set right)
    in_answered = pl.col("sample_id").is_in(answered)
    want = _box_set(_objects(truth).filter(in_answered), "true_label", "true_")
    assert _box_set(after.filter(in_answered)) == want
    # queued test images, the deferred one and every image not queued are unchanged
    rest = ~in_answered
    key = ["annotation_id", "sample_id", "label", "x", "y", "w", "h"]
    assert (
        after.filter(rest)
        .select(key)
        .sort("annotation_id")
        .equals(before.filter(rest).select(key).sort("annotation_id"))
    )
    assert set(untouched) & set(answered) == set()
    # one edit per planted problem: a move per badly located box, a relabel per swapped
    # class, an added box per overlooked object, a removal per planted duplicate
    planted = dict(truth.filter(in_answered).group_by("problem").len().rows())
    fields = r.box_edits.group_by("field").len().rows() if r.box_edits is not None else []
    added = r.box_edits.filter((pl.col("field") == "box") & pl.col("old").is_null()).height
    assert dict(fields) == {
        "bbox": planted["badly_located"],
        "label": planted["swapped"],
        "box": planted["overlooked"] + planted["duplicate"],
    }
    assert added == planted["overlooked"]
    assert r.applied == r.box_edits.height == sum(planted[k] for k in planted if k != "none")
    # lineage: one row per box edit, all from the simulated reviewer, in the new version
    ch = head.changes(2)
    assert ch.height == r.applied and set(ch["source"]) == {"simulated-reviewer"}
    assert ch["annotation_id"].null_count() == 0
    assert all("simulated reviewer (accuracy 1, seed 0)" in x for x in ch["reason"])
    meta = head.history().filter(pl.col("version") == 2)
    assert "simulated box review (simulated-reviewer, accuracy 1, seed 0)" in meta["message"][0]
    # images whose boxes were already right count as answered without an edit
    edited = set(r.box_edits["sample_id"])
    assert r.already_applied == len(set(answered) - edited) == 2


def test_answering_the_same_queue_twice_adds_nothing(root: Path) -> None:
    queue, answered, _ = _queue(root)
    truth = load_detection_ground_truth(root).boxes
    first = simulate_box_review(root, queue, truth, accuracy=0.5, seed=7)
    assert first.version == 2 and first.applied > 0
    again = simulate_box_review(root, queue, truth, accuracy=0.5, seed=7)
    assert (again.version, again.applied) == (None, 0)
    assert again.box_edits is not None and again.box_edits.height == 0
    assert again.already_applied == len(answered)
    assert Dataset.open(root).version == 2


def test_accuracy_zero_gives_every_object_a_wrong_class(root: Path) -> None:
    queue, answered, _ = _queue(root)
    truth = load_detection_ground_truth(root).boxes
    r = simulate_box_review(root, queue, truth, accuracy=0.0, seed=0)
    after = Dataset.open(root).annotations
    assert after is not None and r.version == 2
    objects = _objects(truth).filter(pl.col("sample_id").is_in(answered))
    got = after.filter(pl.col("sample_id").is_in(answered))
    # every true object is drawn (right box) with a class other than its own
    assert got.height == objects.height
    joined = objects.join(
        got,
        left_on=["sample_id", "true_x", "true_y", "true_w", "true_h"],
        right_on=["sample_id", "x", "y", "w", "h"],
        how="inner",
    )
    assert joined.height == objects.height
    assert (joined["label"] != joined["true_label"]).all()


def test_the_seeded_draw_is_the_documented_one(root: Path) -> None:
    """With n objects answered (queue order, then truth order), object i is wrong when
    ``default_rng(seed).random(n)[i] >= accuracy``."""
    queue, answered, _ = _queue(root)
    truth = load_detection_ground_truth(root).boxes
    r = simulate_box_review(root, queue, truth, accuracy=0.6, seed=11)
    assert r.version == 2
    order = [s for s in queue.filter(pl.col("status") == "queued")["sample_id"] if s in answered]
    objects = pl.concat([_objects(truth).filter(pl.col("sample_id") == s) for s in order])
    wrong = np.random.default_rng(11).random(objects.height) >= 0.6
    after = Dataset.open(root).annotations
    assert after is not None
    label = {
        (s, x, y, w, h): lab
        for s, lab, x, y, w, h in after.select("sample_id", "label", *"xywh").iter_rows()
    }
    got = [
        label[(s, x, y, w, h)] != t
        for s, t, x, y, w, h in objects.select(
            "sample_id", "true_label", "true_x", "true_y", "true_w", "true_h"
        ).iter_rows()
    ]
    assert got == wrong.tolist() and 0 < sum(got) < len(got)


def test_commit_false_leaves_the_edits_pending_and_other_splits(root: Path) -> None:
    queue, _, _ = _queue(root)
    truth = load_detection_ground_truth(root).boxes
    ds = Dataset.open(root)
    test_ids = set(ds.split("test").sample_ids) & set(queue["sample_id"])
    r = simulate_box_review(
        ds, queue, truth, accuracy=1.0, splits=None, commit=False, reviewer="sim-2"
    )
    assert r.version is None and Dataset.open(root).version == 1
    assert r.applied == ds.pending_changes.height > 0
    assert set(ds.pending_changes["source"]) == {"sim-2"}
    # splits=None answers the queued test images too (their boxes are already the truth)
    assert r.already_applied >= len(test_ids) == 2


def test_a_ground_truth_tuple_and_images_not_in_the_dataset(root: Path) -> None:
    truth = load_detection_ground_truth(root)
    ds = Dataset.open(root)
    sid = ds.split("train").sample_ids[0]
    # an image of the truth the dataset does not have (dropped from the manifest) is listed
    small = Dataset(
        ds.manifest.filter(pl.col("sample_id") != sid),
        ds.classes,
        ds.root,
        annotations=ds.annotations.filter(pl.col("sample_id") != sid),  # type: ignore[union-attr]
    )
    small.version = ds.version
    r = simulate_box_review(small, pl.DataFrame({"sample_id": [sid]}), truth, commit=False)
    assert r.not_in_dataset == [sid] and r.applied == 0


def test_the_cli_hook_answers_a_detection_queue_with_boxes(root: Path) -> None:
    """``datacentric loop --simulated-review`` on a detection demo: the box reviewer."""
    from datacentric.cli.loop import _simulated_reviewer

    queue, answered, _ = _queue(root)
    truth = load_detection_ground_truth(root).boxes
    hook = _simulated_reviewer(root, 1.0, 0)
    ds = Dataset.open(root)
    r = hook(ds, queue)
    assert r.backend == "simulated" and r.box_edits is not None and r.applied > 0
    after = Dataset.open(root).annotations
    in_answered = pl.col("sample_id").is_in(answered)
    assert _box_set(after.filter(in_answered)) == _box_set(
        _objects(truth).filter(in_answered), "true_label", "true_"
    )


def test_the_docs_example_prints_what_the_page_says(tmp_path: Path, monkeypatch) -> None:
    """docs/detection.md: the fix_boxes example, then the simulated box reviewer on its queue."""
    import contextlib
    import io
    import re

    doc = Path(__file__).resolve().parents[2] / "docs" / "detection.md"
    text = doc.read_text()
    fix = text[text.index("## Fixing boxes automatically") : text.index("## The data loop on")]
    sim = text[text.index("### Answering the review queue") : text.index("### Measured: how")]
    code = [re.search(r"```python\n(.*?)```", part, re.S) for part in (fix, sim)]
    assert code[0] is not None and code[1] is not None
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    scope: dict[str, object] = {}
    with contextlib.redirect_stdout(out):
        for c in code:
            exec(compile(c.group(1), str(doc), "exec"), scope)  # type: ignore[union-attr]
    assert "3 24 [('bbox', 4), ('box', 14), ('label', 6)]" in out.getvalue()
    r = simulate_box_review(
        scope["ds"],  # type: ignore[arg-type]
        scope["fixed"].review,  # type: ignore[attr-defined]
        scope["gt"],  # type: ignore[arg-type]
        accuracy=0.95,
        seed=0,
    )
    assert (r.applied, r.already_applied, r.version) == (0, 15, None)
