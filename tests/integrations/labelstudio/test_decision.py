"""The decide step of a Label Studio pull: majority vote, ties, disagreement, already applied.

Pure: annotations in, decisions out — no server, no dataset.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from datacentric.integrations.labelstudio import decide
from datacentric.integrations.labelstudio.pull import ANNOTATION_SCHEMA

CLASSES = ["cat", "dog", "fox"]


def _ann(*rows: tuple[str, int, str, str]) -> pl.DataFrame:
    """(sample_id, annotation_id, annotator, label) rows; task id = the sample's position."""
    tasks: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    for sid, aid, who, label in rows:
        out.append(
            {
                "task_id": tasks.setdefault(sid, 100 + len(tasks)),
                "annotation_id": aid,
                "sample_id": sid,
                "annotator": f"{who}@x",
                "annotator_id": ord(who),
                "label": label,
                "updated_at": f"t{aid}",
            }
        )
    return pl.DataFrame(out, schema=ANNOTATION_SCHEMA)


def _rows(d: Any, *cols: str) -> dict[str, tuple[Any, ...]]:
    return {r[0]: r[1:] for r in d.table.select("sample_id", *cols).rows()}


def test_majority_relabels_and_names_who_chose_it() -> None:
    ann = _ann(("s1", 1, "a", "dog"), ("s1", 2, "b", "dog"), ("s1", 3, "c", "cat"))
    d = decide(ann, {"s1": "cat"}, CLASSES)
    row = d.table.row(0, named=True)
    assert row == {
        "sample_id": "s1",
        "task_id": 100,
        "old": "cat",
        "decided": "dog",
        "votes": 2,
        "n_annotations": 3,
        "annotators": "a@x,b@x",  # only those who chose the decided label
        "annotator_ids": "97,98",
        "annotation_ids": "1,2,3",
        "status": "relabeled",
    }
    assert d.relabeled["sample_id"].to_list() == ["s1"]
    assert d.applied == {"1": "t1", "2": "t2", "3": "t3"} and d.already_applied == 0


def test_single_annotator_confirms_or_relabels() -> None:
    ann = _ann(("s1", 1, "a", "cat"), ("s2", 2, "a", "fox"))
    d = decide(ann, {"s1": "cat", "s2": "cat"}, CLASSES)
    assert _rows(d, "decided", "votes", "status") == {
        "s1": ("cat", 1, "confirmed"),
        "s2": ("fox", 1, "relabeled"),
    }


def test_ties_keep_the_label_and_credit_everyone() -> None:
    two_way = _ann(("s1", 1, "a", "dog"), ("s1", 2, "b", "fox"))
    d = decide(two_way, {"s1": "cat"}, CLASSES)
    assert _rows(d, "decided", "votes", "annotators", "annotator_ids", "status") == {
        "s1": (None, 0, "a@x,b@x", "", "tie")
    }
    assert d.relabeled.height == 0
    # 2-2 is a tie too, even when one side is the current label
    four = _ann(
        ("s1", 1, "a", "cat"), ("s1", 2, "b", "cat"), ("s1", 3, "c", "dog"), ("s1", 4, "d", "dog")
    )
    assert _rows(decide(four, {"s1": "cat"}, CLASSES), "status") == {"s1": ("tie",)}


def test_disagreement_resolved_by_a_third_opinion() -> None:
    tied = _ann(("s1", 1, "a", "dog"), ("s1", 2, "b", "cat"))
    first = decide(tied, {"s1": "cat"}, CLASSES)
    assert _rows(first, "status") == {"s1": ("tie",)}
    third = pl.concat([tied, _ann(("s1", 3, "c", "dog"))])
    again = decide(third, {"s1": "cat"}, CLASSES, first.applied)
    assert _rows(again, "decided", "votes", "n_annotations", "status") == {
        "s1": ("dog", 2, 3, "relabeled")
    }
    assert again.already_applied == 0


def test_already_applied_is_skipped_unless_an_annotation_changed() -> None:
    ann = _ann(("s1", 1, "a", "dog"), ("s2", 2, "a", "fox"), ("s3", 3, "a", "cat"))
    labels = {"s1": "cat", "s2": "cat", "s3": "cat"}
    first = decide(ann, labels, CLASSES)
    assert first.table.height == 3 and first.already_applied == 0
    again = decide(ann, labels, CLASSES, first.applied)
    assert again.table.height == 0 and again.already_applied == 3 and again.applied == {}
    # annotation 2 edited on the server after the pull (new updated_at): s2 is decided again
    edited = ann.with_columns(
        pl.when(pl.col("annotation_id") == 2)
        .then(pl.lit("t2-edited"))
        .otherwise(pl.col("updated_at"))
        .alias("updated_at")
    )
    third = decide(edited, labels, CLASSES, first.applied)
    assert third.table["sample_id"].to_list() == ["s2"] and third.already_applied == 2
    assert third.applied == {"2": "t2-edited"}


def test_unknown_label_changes_nothing() -> None:
    ann = _ann(("s1", 1, "a", "wolf"), ("s1", 2, "b", "wolf"))
    d = decide(ann, {"s1": "cat"}, CLASSES)
    assert _rows(d, "decided", "status") == {"s1": ("wolf", "unknown_label")}
    assert d.relabeled.height == 0


def test_no_annotations_no_decisions() -> None:
    d = decide(pl.DataFrame(schema=ANNOTATION_SCHEMA), {"s1": "cat"}, CLASSES)
    assert d.table.height == 0 and d.already_applied == 0 and d.applied == {}
    assert d.table.schema["status"] == pl.Utf8
