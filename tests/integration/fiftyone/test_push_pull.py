"""Push the demo scan to a real FiftyOne database, check it, review it, pull it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.integrations.fiftyone import PushResult, _raw, from_fiftyone, to_fiftyone
from tests.integration.fiftyone.conftest import Demo

pytestmark = pytest.mark.usefixtures("mongod_uri")
WRITE_PATHS = ("raw", "public")


def _fo() -> Any:
    import fiftyone as fo

    return fo


def _force(monkeypatch: pytest.MonkeyPatch, write_path: str) -> None:
    """Make the push take ``write_path``: the public API is what any FiftyOne version other
    than the pinned ones gets."""
    if write_path == "public":
        monkeypatch.setattr(_raw, "RAW_WRITE_VERSIONS", frozenset())
    else:
        assert _raw.raw_writes(_fo().__version__), "raw writes are pinned to another version"


def _dump(fds: Any) -> list[dict[str, Any]]:
    """Every sample as a plain dict, without what differs between two writes of the same
    content (ids, timestamps)."""
    skip = {"id", "created_at", "last_modified_at"}
    out = []
    for s in fds.sort_by("sample_id"):
        d = {
            k: (v.tolist() if isinstance(v, np.ndarray) else v)
            for k, v in s.to_dict().items()
            if k not in skip
        }
        for f in ("ground_truth", "predictions"):
            if d.get(f):
                d[f].pop("_id", None)  # a Detections container has no id; its labels do
                for det in d[f].get("detections", []):
                    det.pop("_id")
        out.append(d)
    return out


def test_push_writes_samples_labels_and_issue_fields(pushed: PushResult, demo: Demo) -> None:
    fds = pushed.load()
    assert pushed.write_path == "raw"  # FiftyOne 1.22.1 is pinned: raw bulk writes
    assert (pushed.backend, pushed.target, pushed.n_items) == ("fiftyone", fds.name, len(fds))
    assert pushed.added == len(demo.ds) == len(fds)
    assert pushed.updated == pushed.deleted == 0
    schema = fds.get_field_schema()
    for t in demo.scan.issue_types:
        assert f"issue_{t}" in schema
    for f in ("ground_truth", "predictions", "embedding", "scanner", "vendor", "split"):
        assert f in schema
    assert {"uniqueness", "mistakenness"} <= set(schema)
    assert pushed.brain == ["uniqueness", "mistakenness"]
    # One sample checked field by field against the inputs.
    sid = demo.ds.sample_ids[7]
    s = fds.match({"sample_id": sid}).first()
    row = demo.ds.manifest.filter(pl.col("sample_id") == sid).row(0, named=True)
    assert s.filepath == str((demo.root / row["image"]).resolve())
    assert Path(s.filepath).is_file()
    assert s.ground_truth.label == row["label"] and s.scanner == row["scanner"]
    probs = demo.predictions.pred_probs[demo.predictions.sample_ids.index(sid)]
    assert s.predictions.label == demo.ds.classes[int(probs.argmax())]
    assert s.predictions.confidence == pytest.approx(float(probs.max()))
    np.testing.assert_allclose(
        s.embedding, demo.predictions.embeddings[demo.predictions.sample_ids.index(sid)]
    )
    for t in demo.scan.issue_types:
        want = demo.scan.issues.filter((pl.col("sample_id") == sid) & (pl.col("issue_type") == t))[
            "severity"
        ].item()
        assert s[f"issue_{t}"] == pytest.approx(want)


def test_tags_match_the_scan_counts(pushed: PushResult, demo: Demo) -> None:
    counts = pushed.load().count_sample_tags()
    flagged = demo.scan.summary()["by_type"].filter(pl.col("n_flagged") > 0)
    assert counts == {f"issue:{t}": n for t, n in flagged.select("issue_type", "n_flagged").rows()}
    # The demo's planted problems are among them.
    assert counts["issue:label"] > 0 and counts["issue:dark"] > 0


def test_saved_views_sorted_by_severity(pushed: PushResult, demo: Demo) -> None:
    fds = pushed.load()
    views = fds.list_saved_views()
    assert views[0] == "worst-issues" and "most-mistaken" in views
    flagged_ids = set(demo.scan.flagged()["sample_id"].to_list())
    worst = fds.load_saved_view("worst-issues")
    assert len(worst) == len(flagged_ids)
    sev = worst.values("max_severity")
    assert sev == sorted(sev, reverse=True) and sev[0] == pytest.approx(
        demo.scan.flagged()["severity"].max()
    )
    label_view = fds.load_saved_view("issue-label")
    expected = demo.scan.flagged("label")
    assert len(label_view) == expected.height
    got = label_view.values("issue_label")
    assert got == sorted(got, reverse=True)
    assert (
        label_view.first().sample_id
        in expected.filter(pl.col("severity") == expected["severity"].max())["sample_id"].to_list()
    )
    # Label-issue samples carry the suggested label.
    assert all(s is not None for s in label_view.values("suggested_label"))


def test_worst_slice_views_hold_their_slice(pushed: PushResult, demo: Demo) -> None:
    names = [w.name for w in pushed.worst_slices]
    # The demo concentrates label noise in vendor_c: the cheap model is worst there.
    assert "vendor=vendor_c" in names
    accs = [w.accuracy for w in pushed.worst_slices]
    assert accs == sorted(accs)
    view = pushed.load().load_saved_view("slice-vendor-vendor-c")
    n = demo.ds.manifest.filter(pl.col("vendor") == "vendor_c").height
    assert len(view) == n and set(view.distinct("vendor")) == {"vendor_c"}


@pytest.mark.parametrize("write_path", WRITE_PATHS)
def test_update_is_incremental_and_keeps_reviewer_work(
    mongod_uri: str, demo: Demo, write_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _force(monkeypatch, write_path)
    name = f"dc-test-update-{write_path}"
    # No worst slices here: relabelling moves slice accuracies, which would (rightly) rewrite
    # the slice membership of many samples.
    kw: dict[str, Any] = {"name": name, "brain": False, "worst_slices": 0}
    first = to_fiftyone(demo.ds, demo.scan, demo.predictions, **kw)
    assert first.write_path == write_path and first.created == len(demo.ds)
    fds = _fo().load_dataset(name)
    before = dict(zip(fds.values("sample_id"), fds.values("id"), strict=True))
    reviewed = demo.ds.sample_ids[0]  # relabelled below, so its row is rewritten
    fds.match({"sample_id": reviewed}).tag_samples("not_an_issue")

    again = to_fiftyone(demo.ds, demo.scan, demo.predictions, **kw)
    assert (again.added, again.updated, again.deleted) == (0, 0, 0)
    assert again.unchanged == len(demo.ds)

    edited = demo.ds.sample_ids[1]  # a reviewer's label edit, not pulled yet
    sample = fds.match({"sample_id": edited}).first()
    sample.ground_truth.label = "9" if sample.ground_truth.label != "9" else "8"
    sample.save()
    reviewer_label = sample.ground_truth.label

    ds = Dataset.open(demo.root)  # a working copy: relabel 5, remove 2
    ids = ds.sample_ids
    changed = ids[0:5]
    old = ds.manifest.filter(pl.col("sample_id").is_in(changed))["label"].to_list()
    new = [demo.ds.classes[(demo.ds.classes.index(lab) + 1) % 10] for lab in old]
    ds.relabel(changed, new, reason="test")
    ds.remove(ids[10:12], reason="test")
    third = to_fiftyone(ds, demo.scan, demo.predictions, **kw)
    assert (third.added, third.updated, third.deleted) == (0, 5, 2)
    assert third.write_path == write_path
    assert len(fds) == len(demo.ds) - 2
    after = dict(zip(fds.values("sample_id"), fds.values("id"), strict=True))
    assert all(after[s] == before[s] for s in after)  # same FiftyOne samples: no rebuild
    got = dict(zip(fds.values("sample_id"), fds.values("ground_truth.label"), strict=True))
    assert [got[s] for s in changed if s != edited] == [
        n for s, n in zip(changed, new, strict=True) if s != edited
    ]
    pushed = dict(zip(fds.values("sample_id"), fds.values("dc_label"), strict=True))
    assert [pushed[s] for s in changed] == new
    assert got[edited] == reviewer_label  # kept until pulled

    # Brain was off so far: turning it on computes it even with nothing else to write.
    fourth = to_fiftyone(ds, demo.scan, demo.predictions, name=name, worst_slices=0)
    assert fourth.updated == 0 and fourth.brain == ["uniqueness", "mistakenness"]
    assert fds.count("mistakenness") == fds.exists("predictions").count("ground_truth")
    flagged = demo.scan.flagged().filter(pl.col("sample_id") == reviewed)["issue_type"]
    want = ["not_an_issue", *sorted(f"issue:{t}" for t in flagged.to_list())]
    assert fds.match({"sample_id": reviewed}).first().tags == want


def test_pull_commits_review_as_new_version_once(
    mongod_uri: str, demo: Demo, tmp_path: Path
) -> None:
    root = demo.copy(tmp_path / "digits")
    ds = Dataset.open(root)
    name = "dc-test-pull"
    to_fiftyone(ds, demo.scan, demo.predictions, name=name, brain=False)
    fds = _fo().load_dataset(name)
    label_issues = demo.scan.flagged("label")
    a, b, c = label_issues["sample_id"].to_list()[:3]
    suggested = label_issues["suggested_label"].to_list()[0]
    d = demo.ds.sample_ids[3]
    d_old = fds.match({"sample_id": d}).first().ground_truth.label
    d_new = demo.ds.classes[(demo.ds.classes.index(d_old) + 1) % 10]
    fds.match({"sample_id": a}).tag_samples(["relabel:" + suggested, "confirmed_issue"])
    fds.match({"sample_id": b}).tag_samples("not_an_issue")
    fds.match({"sample_id": c}).tag_samples("confirmed_issue")
    sample = fds.match({"sample_id": d}).first()
    sample.ground_truth.label = d_new
    sample.save()

    result = from_fiftyone(root, name, reviewer="alice")
    assert result.version == 2
    assert not result.incremental and result.n_read == len(demo.ds)
    assert sorted(result.relabels.select("sample_id", "new", "how").rows()) == sorted(
        [(a, suggested, "tag"), (d, d_new, "edit")]
    )
    assert sorted(result.verdicts.select("sample_id", "verdict").rows()) == sorted(
        [(a, "confirmed_issue"), (b, "not_an_issue"), (c, "confirmed_issue")]
    )
    head = Dataset.open(root)
    assert head.version == 2
    labels = dict(head.manifest.select("sample_id", "label").iter_rows())
    assert labels[a] == suggested and labels[d] == d_new
    changes = head.changes()
    assert set(changes["source"].to_list()) == {"fiftyone:alice"}
    assert sorted(changes.filter(pl.col("field") == "label")["sample_id"].to_list()) == sorted(
        [a, d]
    )
    review = changes.filter(pl.col("field") == "review")
    assert dict(review.select("sample_id", "new").iter_rows()) == {
        a: "confirmed_issue",
        b: "not_an_issue",
        c: "confirmed_issue",
    }
    assert "label" in review.filter(pl.col("sample_id") == b)["old"].item()
    lineage = head.lineage(a)
    assert lineage.filter(pl.col("field") == "label")["new"].to_list() == [suggested]

    # Pulling again reads nothing (no sample was written since) and applies nothing;
    # re-reading every sample applies nothing twice either.
    again = from_fiftyone(root, name, reviewer="alice")
    assert again.incremental and again.n_read == 0 and again.version is None
    full = from_fiftyone(root, name, reviewer="alice", full=True)
    assert full.version is None and full.already_applied == 5 and full.n_read == len(demo.ds)
    assert Dataset.open(root).version == 2

    # Contradictory tags are refused and nothing is committed.
    fds.match({"sample_id": c}).tag_samples("not_an_issue")
    with pytest.raises(InvalidParameterError, match="both 'confirmed_issue' and 'not_an_issue'"):
        from_fiftyone(root, name)
    assert Dataset.open(root).version == 2

    # A changed verdict is recorded; changing it back is recorded again.
    fds.match({"sample_id": c}).untag_samples("confirmed_issue")
    flipped = from_fiftyone(root, name, reviewer="alice")
    assert flipped.version == 3 and flipped.incremental and flipped.n_read == 1
    assert flipped.verdicts.select("sample_id", "verdict").rows() == [(c, "not_an_issue")]
    fds.match({"sample_id": c}).untag_samples("not_an_issue")
    fds.match({"sample_id": c}).tag_samples("confirmed_issue")
    back = from_fiftyone(root, name, reviewer="alice")
    assert back.version == 4
    assert back.verdicts.select("sample_id", "verdict").rows() == [(c, "confirmed_issue")]
    assert from_fiftyone(root, name, reviewer="alice").version is None


def test_raw_insert_matches_fiftyones_add_samples(mongod_uri: str, demo: Demo) -> None:
    """New samples are written as raw documents on the pinned FiftyOne version (its dataset
    importer does the same); they must read back exactly like samples added through the
    public ``add_samples``."""
    from datacentric.integrations.fiftyone import push
    from datacentric.integrations.fiftyone.records import build_records

    fo = _fo()
    records = build_records(demo.ds, demo.scan, demo.predictions)
    rows = list(range(0, len(demo.ds), 40))
    dumps, docs = [], []
    for raw in (True, False):
        name = f"dc-test-insert-{int(raw)}"
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
        fds = push._open_or_create(fo, name, overwrite=False)
        push._ensure_schema(fo, fds, records)
        push._add(fo, fds, records, rows, raw=raw)
        dumps.append(_dump(fds))
        # the stored documents themselves: FiftyOne's bookkeeping fields filled alike
        stored = list(fds._sample_collection.find({}).sort("sample_id"))
        assert {d["_media_type"] for d in stored} == {"image"}
        assert {d["_dataset_id"] for d in stored} == {fds._doc.id}
        assert all(0.999 <= d["_rand"] <= 1.0 for d in stored)
        docs.append([sorted(d) for d in stored])
    assert len(dumps[0]) == len(rows)
    assert dumps[0] == dumps[1]
    assert docs[0] == docs[1]  # the same fields, none missing or extra


def test_raw_update_matches_the_public_update(
    mongod_uri: str, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same push, reviewer work and re-push through both write paths leave identical
    samples (reviewer tags and unpulled label edits kept by both)."""
    ds = Dataset.open(demo.root)
    changed = ds.sample_ids[0:6]
    old = ds.manifest.filter(pl.col("sample_id").is_in(changed))["label"].to_list()
    new = [demo.ds.classes[(demo.ds.classes.index(x) + 1) % 10] for x in old]
    ds.relabel(changed, new, reason="test")
    dumps = []
    for write_path in WRITE_PATHS:
        with monkeypatch.context() as m:
            _force(m, write_path)
            name = f"dc-test-update-same-{write_path}"
            kw: dict[str, Any] = {"name": name, "brain": False, "worst_slices": 0}
            to_fiftyone(demo.ds, demo.scan, demo.predictions, **kw)
            fds = _fo().load_dataset(name)
            fds.match({"sample_id": changed[0]}).tag_samples("not_an_issue")
            sample = fds.match({"sample_id": changed[1]}).first()
            sample.ground_truth.label = "9" if sample.ground_truth.label != "9" else "8"
            sample.save()
            res = to_fiftyone(ds, demo.scan, demo.predictions, **kw)
            assert (res.write_path, res.updated, res.unchanged) == (
                write_path,
                6,
                len(ds) - 6,
            )
            dumps.append(_dump(fds))
    assert dumps[0] == dumps[1]
    got = {d["sample_id"]: d for d in dumps[0]}
    assert "not_an_issue" in got[changed[0]]["tags"]
    assert got[changed[1]]["ground_truth"]["label"] != got[changed[1]]["dc_label"]  # kept


def test_push_without_predictions_then_a_narrower_scan(mongod_uri: str, demo: Demo) -> None:
    name = "dc-test-plain"
    bare = to_fiftyone(demo.ds, name=name)  # samples and labels only
    fds = bare.load()
    assert bare.views == ["worst-issues"] and bare.brain == [] and bare.worst_slices == []
    assert len(fds) == len(demo.ds) and fds.count("predictions") == 0
    assert fds.count_sample_tags() == {}

    dark_only = demo.scan.issues.filter(pl.col("issue_type") == "dark")
    narrow = type(demo.scan)(dark_only, demo.scan.samples, demo.scan.classes, meta=demo.scan.meta)
    res = to_fiftyone(demo.ds, narrow, name=name)
    n_dark = dark_only.filter(pl.col("is_issue")).height
    # Every sample gains a dark score, so every row changes.
    assert res.updated == len(demo.ds) and res.views == ["worst-issues", "issue-dark"]
    assert fds.count_sample_tags() == {"issue:dark": n_dark}
    assert [f for f in fds.get_field_schema() if f.startswith("issue_")] == ["issue_dark"]

    wide = to_fiftyone(demo.ds, demo.scan, name=name)  # back to every type: no stale fields
    assert len(wide.views) == 1 + len(wide.load().count_sample_tags())


def test_incremental_pull_reads_only_new_work_and_resumes_after_an_outage(
    mongod_uri: str, demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacentric.integrations.fiftyone import cursor as fo_cursor

    root = demo.copy(tmp_path / "digits")
    name = "dc-test-incremental"
    to_fiftyone(Dataset.open(root), demo.scan, demo.predictions, name=name, brain=False)
    fds = _fo().load_dataset(name)
    first = from_fiftyone(root, name)
    assert first.version is None and not first.incremental and first.n_read == len(demo.ds)
    ids = demo.ds.sample_ids
    a, b, c = ids[10], ids[20], ids[30]

    # The commit fails (disk full, killed): nothing committed, the cursor stays, and the
    # next pull reads the two samples again and applies them once.
    fds.match({"sample_id": a}).tag_samples("confirmed_issue")
    fds.match({"sample_id": b}).tag_samples("not_an_issue")
    cursor_file = fo_cursor.cursor_path(root, name)
    before = cursor_file.read_bytes()

    def broken_commit(*args: Any, **kwargs: Any) -> int:
        raise OSError("No space left on device")

    with monkeypatch.context() as m:
        m.setattr(Dataset, "commit", broken_commit)
        with pytest.raises(OSError, match="No space"):
            from_fiftyone(root, name)
    assert cursor_file.read_bytes() == before and Dataset.open(root).version == 1
    resumed = from_fiftyone(root, name)
    assert resumed.version == 2 and resumed.incremental and resumed.n_read == 2
    assert sorted(resumed.verdicts["sample_id"].to_list()) == sorted([a, b])

    # Killed after the commit but before the cursor was written: the samples are read
    # again, nothing is applied twice.
    fds.match({"sample_id": c}).tag_samples("confirmed_issue")
    with monkeypatch.context() as m:
        m.setattr(fo_cursor.PullCursor, "save", broken_commit)
        with pytest.raises(OSError):
            from_fiftyone(root, name)
    assert Dataset.open(root).version == 3
    again = from_fiftyone(root, name)
    assert again.version is None and again.applied == 0 and again.already_applied >= 1
    assert again.n_read >= 1
    assert from_fiftyone(root, name).n_read == 0

    # FiftyOne unreachable while reading: the cursor stays as it was.
    state = cursor_file.read_bytes()
    fds.match({"sample_id": a}).untag_samples("confirmed_issue")

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("mongod is not reachable")

    from fiftyone.core.collections import SampleCollection

    with monkeypatch.context() as m:
        m.setattr(SampleCollection, "values", down)
        with pytest.raises(ConnectionError):
            from_fiftyone(root, name)
    assert cursor_file.read_bytes() == state
    assert from_fiftyone(root, name).n_read == 1  # untagging wrote a: read, nothing to apply

    # commit=False leaves the changes pending and does not move the cursor.
    fds.match({"sample_id": a}).tag_samples("not_an_issue")
    pending = from_fiftyone(root, name, commit=False)
    assert pending.applied == 1 and cursor_file.read_bytes() != b"" and pending.version is None
    assert from_fiftyone(root, name).version == 4

    # A FiftyOne dataset deleted and pushed again under the same name: a full pull.
    _fo().delete_dataset(name)
    to_fiftyone(Dataset.open(root), demo.scan, demo.predictions, name=name, brain=False)
    fresh = from_fiftyone(root, name)
    assert not fresh.incremental and fresh.n_read == len(demo.ds) and fresh.applied == 0


def test_a_write_landing_late_is_read_by_the_next_pull(
    mongod_uri: str, demo: Demo, tmp_path: Path
) -> None:
    """A tag stamped before the pull started but written after it read (a bulk tag still
    in flight, a writer's clock a little behind) is not lost."""
    from datetime import datetime, timedelta

    root = demo.copy(tmp_path / "digits")
    name = "dc-test-late-write"
    to_fiftyone(Dataset.open(root), demo.scan, demo.predictions, name=name, brain=False)
    fds = _fo().load_dataset(name)
    started = datetime.utcnow()
    assert from_fiftyone(root, name).n_read == len(demo.ds)
    sid = demo.ds.sample_ids[5]
    late = started - timedelta(seconds=0.5)  # stamped before that pull started reading
    fds._sample_collection.update_one(
        {"sample_id": sid},
        {"$push": {"tags": "confirmed_issue"}, "$set": {"last_modified_at": late}},
    )
    result = from_fiftyone(root, name)
    assert result.version == 2 and result.verdicts["sample_id"].to_list() == [sid]
