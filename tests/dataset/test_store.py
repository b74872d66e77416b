"""The versioned store: commits, HEAD, opening versions, history, lineage, immutability."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from datacentric.dataset import CHANGES_SCHEMA, Dataset, VersionStore
from datacentric.exceptions import (
    CommitConflictError,
    MissingImageError,
    NoStoreError,
    StoreError,
    VersionNotFoundError,
)

Maker = Callable[..., Path]


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root/.datacentric`` (except the lock) with its SHA-256."""
    store = root / ".datacentric"
    return {
        p.relative_to(store).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


@pytest.fixture
def three_versions(small_dir: Path) -> Path:
    """v1 initial; v2 relabels s1 cat->dog and s4 None->cat; v3 relabels s1 dog->cat, removes s2."""
    ds = Dataset.from_folder(small_dir)
    assert ds.commit("initial") == 1
    ds.relabel(["s1", "s4"], ["dog", "cat"], reason="label error", source="finder", iteration=1)
    assert ds.commit("fix labels") == 2
    ds.relabel(["s1"], "cat", reason="reviewed", source="annotator:ann1", iteration=2)
    ds.remove(["s2"], reason="duplicate", source="dups", iteration=2)
    assert ds.commit("review") == 3
    return small_dir


def test_commit_numbers_versions_and_moves_head(three_versions: Path) -> None:
    store_dir = three_versions / ".datacentric"
    assert (store_dir / "HEAD").read_text().strip() == "3"
    for v in (1, 2, 3):
        vdir = store_dir / "versions" / f"{v:04d}"
        assert sorted(p.name for p in vdir.iterdir()) == [
            "changes.parquet",
            "manifest.parquet",
            "meta.json",
        ]
    store = VersionStore(three_versions)
    assert store.exists()
    assert store.head() == 3
    meta = json.loads((store_dir / "versions" / "0002" / "meta.json").read_text())
    assert meta["version"] == 2
    assert meta["parent"] == 1
    assert meta["n_changes"] == 2
    assert meta["classes"] == ["cat", "dog"]
    assert (
        meta["manifest_sha256"]
        == hashlib.sha256(
            (store_dir / "versions" / "0002" / "manifest.parquet").read_bytes()
        ).hexdigest()
    )
    # no temporary or orphan directories left behind
    assert sorted(p.name for p in (store_dir / "versions").iterdir()) == ["0001", "0002", "0003"]


def test_commit_updates_dataset_version(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    assert ds.version is None
    assert ds.commit("initial") == 1
    assert ds.version == 1
    assert "version=1" in repr(ds)
    assert ds.commit("no edits is still a version") == 2
    assert ds.version == 2


@pytest.mark.parametrize(
    ("version", "number", "s1_label"),
    [
        (None, 3, "cat"),
        ("HEAD", 3, "cat"),
        (3, 3, "cat"),
        ("HEAD~1", 2, "dog"),
        (2, 2, "dog"),
        ("2", 2, "dog"),
        ("HEAD~2", 1, "cat"),
        (1, 1, "cat"),
        ("HEAD~0", 3, "cat"),
    ],
)
def test_open_versions(three_versions: Path, version: object, number: int, s1_label: str) -> None:
    ds = Dataset.open(three_versions, version=version)  # type: ignore[arg-type]
    assert ds.version == number
    assert ds.root == three_versions
    assert ds.classes == ["cat", "dog"]
    labels = dict(ds.manifest.select("sample_id", "label").rows())
    assert labels["s1"] == s1_label
    assert ds.metadata_columns == ["scanner"]
    assert ds.pending_changes.height == 0


def test_opened_versions_have_the_committed_content(three_versions: Path) -> None:
    v1 = Dataset.open(three_versions, version=1).manifest
    v2 = Dataset.open(three_versions, version=2).manifest
    v3 = Dataset.open(three_versions).manifest
    assert v1.equals(Dataset.from_folder(three_versions).manifest)
    assert v2["label"].to_list() == ["dog", "dog", "cat", "cat"]
    assert v3.select("sample_id", "label").rows() == [("s1", "cat"), ("s3", "cat"), ("s4", "cat")]


def test_history(three_versions: Path) -> None:
    h = Dataset.open(three_versions).history()
    assert h.columns == ["version", "parent", "created_at", "message", "n_samples", "n_changes"]
    assert h.select("version", "parent", "message", "n_samples", "n_changes").rows() == [
        (3, 2, "review", 3, 2),
        (2, 1, "fix labels", 4, 2),
        (1, None, "initial", 4, 0),
    ]
    assert h.schema["version"] == pl.Int64
    assert all(t.endswith("+00:00") for t in h["created_at"].to_list())
    # an old version's history is the same store's history (from HEAD)
    assert Dataset.open(three_versions, version=1).history().height == 3
    assert [i.version for i in VersionStore(three_versions).history()] == [3, 2, 1]


def test_changes(three_versions: Path) -> None:
    ds = Dataset.open(three_versions)
    head = ds.changes()
    assert head.schema == pl.Schema(CHANGES_SCHEMA)
    assert head.select(
        "sample_id", "field", "old", "new", "reason", "source", "iteration"
    ).rows() == [
        ("s1", "label", "dog", "cat", "reviewed", "annotator:ann1", 2),
        ("s2", "sample", "img/2.png", None, "duplicate", "dups", 2),
    ]
    assert ds.changes(2).select("sample_id", "old", "new").rows() == [
        ("s1", "cat", "dog"),
        ("s4", None, "cat"),
    ]
    assert ds.changes("HEAD~1").equals(ds.changes(2))
    first = ds.changes(1)
    assert first.height == 0
    assert first.schema == pl.Schema(CHANGES_SCHEMA)


def test_lineage_across_versions(three_versions: Path) -> None:
    ds = Dataset.open(three_versions)
    lin = ds.lineage("s1")
    assert lin.select("version", "field", "old", "new", "reason", "source", "iteration").rows() == [
        (2, "label", "cat", "dog", "label error", "finder", 1),
        (3, "label", "dog", "cat", "reviewed", "annotator:ann1", 2),
    ]
    assert ds.lineage("s2").select("version", "field", "old", "new").rows() == [
        (3, "sample", "img/2.png", None)
    ]
    assert ds.lineage("s4").select("version", "old", "new").rows() == [(2, None, "cat")]
    assert ds.lineage("s3").height == 0
    assert ds.lineage("not-a-sample").height == 0


def test_versions_are_immutable(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    ds.commit("initial")
    v1_files = {k: v for k, v in _tree(small_dir).items() if k.startswith("versions/0001/")}
    ds.relabel(["s1"], "dog", reason="r")
    ds.commit("second")
    ds.remove(["s3"], reason="r")
    ds.commit("third")
    after = {k: v for k, v in _tree(small_dir).items() if k.startswith("versions/0001/")}
    assert after == v1_files


def test_tampered_version_is_refused(three_versions: Path) -> None:
    manifest_file = three_versions / ".datacentric" / "versions" / "0001" / "manifest.parquet"
    m = pl.read_parquet(manifest_file)
    m.with_columns(pl.lit("dog").alias("label")).write_parquet(manifest_file)
    with pytest.raises(StoreError) as info:
        Dataset.open(three_versions, version=1)
    assert str(manifest_file) in str(info.value)
    assert "does not match the hash" in str(info.value)
    with pytest.raises(StoreError):
        Dataset.open(three_versions).diff(1, 3)
    # the other versions still open
    assert Dataset.open(three_versions).version == 3
    assert Dataset.open(three_versions, version=2).version == 2


def test_tampered_head_version_is_refused(three_versions: Path) -> None:
    manifest_file = three_versions / ".datacentric" / "versions" / "0003" / "manifest.parquet"
    manifest_file.write_bytes(manifest_file.read_bytes() + b"\0")
    with pytest.raises(StoreError, match="does not match the hash"):
        Dataset.open(three_versions)


def test_corrupt_head_file(three_versions: Path) -> None:
    (three_versions / ".datacentric" / "HEAD").write_text("three\n")
    with pytest.raises(StoreError, match="'three'"):
        Dataset.open(three_versions)


@pytest.mark.parametrize(
    "version", [0, 4, 99, -1, "4", "HEAD~3", "HEAD~10", "HEAD~x", "HEAD~", "abc", "v1", 1.5j]
)
def test_version_not_found(three_versions: Path, version: object) -> None:
    with pytest.raises(VersionNotFoundError) as info:
        Dataset.open(three_versions, version=version)  # type: ignore[arg-type]
    exc = info.value
    assert isinstance(exc, StoreError)
    assert isinstance(exc, KeyError)
    assert repr(version).strip("'") in str(exc) or str(version) in str(exc)
    assert not str(exc).startswith(("'", '"'))  # a readable message, not a KeyError repr


def test_version_not_found_in_changes_and_diff(three_versions: Path) -> None:
    ds = Dataset.open(three_versions)
    with pytest.raises(VersionNotFoundError, match="version 7 does not exist"):
        ds.changes(7)
    with pytest.raises(VersionNotFoundError):
        ds.diff(1, 7)
    with pytest.raises(VersionNotFoundError):
        ds.diff("HEAD~5")


def test_no_store(small_dir: Path) -> None:
    with pytest.raises(NoStoreError) as info:
        Dataset.open(small_dir)
    assert str(small_dir) in str(info.value)
    assert isinstance(info.value, StoreError)
    ds = Dataset.from_folder(small_dir)
    with pytest.raises(NoStoreError):
        ds.changes()
    with pytest.raises(NoStoreError):
        ds.diff(1)
    with pytest.raises(NoStoreError):
        VersionStore(small_dir).read()
    assert not VersionStore(small_dir).exists()
    assert VersionStore(small_dir).head() is None


def test_no_store_in_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(NoStoreError):
        Dataset.open(tmp_path / "missing")


def test_commit_conflict_second_writer_fails_and_writes_nothing(three_versions: Path) -> None:
    a = Dataset.open(three_versions)
    b = Dataset.open(three_versions)
    a.relabel(["s3"], "dog", reason="a")
    b.relabel(["s4"], "dog", reason="b")
    assert a.commit("from a") == 4
    before = _tree(three_versions)
    with pytest.raises(CommitConflictError) as info:
        b.commit("from b")
    msg = str(info.value)
    assert "version 4" in msg and "version 3" in msg
    assert isinstance(info.value, StoreError)
    assert _tree(three_versions) == before
    assert VersionStore(three_versions).head() == 4
    assert sorted(p.name for p in (three_versions / ".datacentric" / "versions").iterdir()) == [
        "0001",
        "0002",
        "0003",
        "0004",
    ]
    # the loser keeps its edits and its base version
    assert b.version == 3
    assert b.pending_changes.select("sample_id", "new").rows() == [("s4", "dog")]
    # re-open and re-apply: now it commits on top of a's change
    c = Dataset.open(three_versions)
    c.relabel(["s4"], "dog", reason="b")
    assert c.commit("from b, again") == 5
    labels = dict(Dataset.open(three_versions).manifest.select("sample_id", "label").rows())
    assert labels == {"s1": "cat", "s3": "dog", "s4": "dog"}


def test_commit_from_old_version_conflicts(three_versions: Path) -> None:
    old = Dataset.open(three_versions, version=1)
    old.relabel(["s1"], "dog", reason="r")
    with pytest.raises(CommitConflictError):
        old.commit("stale")
    assert VersionStore(three_versions).head() == 3


def test_commit_from_folder_when_store_exists_conflicts(three_versions: Path) -> None:
    fresh = Dataset.from_folder(three_versions)
    with pytest.raises(CommitConflictError, match="version None"):
        fresh.commit("re-import")
    assert VersionStore(three_versions).head() == 3


def test_open_checks_images(three_versions: Path) -> None:
    (three_versions / "img" / "3.png").unlink()
    with pytest.raises(MissingImageError, match=r"s3 -> img/3\.png"):
        Dataset.open(three_versions)
    assert len(Dataset.open(three_versions, check_images="none")) == 3
    # v3 removed s2, so deleting its image only breaks the versions that still have it
    (three_versions / "img" / "3.png").write_bytes((three_versions / "img" / "1.png").read_bytes())
    (three_versions / "img" / "2.png").unlink()
    assert Dataset.open(three_versions).version == 3
    with pytest.raises(MissingImageError, match="s2"):
        Dataset.open(three_versions, version=2)


def test_open_keeps_classes_order_and_dtypes(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(
        tmp_path,
        {
            "sample_id": ["a", "b"],
            "image": ["a.png", "b.png"],
            "label": ["z", "y"],
            "score": [0.5, 1.5],
            "count": [1, 2],
        },
        fmt="parquet",
        classes=["z", "y", "x"],
    )
    Dataset.from_folder(root).commit("initial")
    ds = Dataset.open(root)
    assert ds.classes == ["z", "y", "x"]
    assert ds.manifest.schema["score"] == pl.Float64
    assert ds.manifest.schema["count"] == pl.Int64
    assert ds.label_indices().tolist() == [0, 1]
