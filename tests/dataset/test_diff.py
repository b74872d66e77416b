"""Differences between manifests and between committed versions, with a property test."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacentric.dataset import Dataset, diff_manifests
from datacentric.dataset.diff import DIFF_SCHEMA

Row = tuple[str, str, str | None, str | None, str | None]


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: tuple("" if x is None else x for x in r))


# --------------------------------------------------------------------- diff_manifests
def test_diff_manifests_known_rows() -> None:
    a = pl.DataFrame({"sample_id": ["1", "2", "4"], "label": ["x", "y", "z"]})
    b = pl.DataFrame({"sample_id": ["2", "3", "4"], "label": ["x", "x", "z"]})
    out = diff_manifests(a, b)
    assert out.schema == pl.Schema(DIFF_SCHEMA)
    assert out.rows() == [
        ("3", "added", None, None, None),
        ("1", "removed", None, None, None),
        ("2", "modified", "label", "y", "x"),
    ]


def test_diff_manifests_identical_is_empty() -> None:
    a = pl.DataFrame({"sample_id": ["1", "2"], "label": ["x", None], "age": [1, 2]})
    out = diff_manifests(a, a.clone())
    assert out.height == 0
    assert out.schema == pl.Schema(DIFF_SCHEMA)


def test_diff_manifests_nulls_and_metadata() -> None:
    a = pl.DataFrame(
        {
            "sample_id": ["1", "2", "3"],
            "label": ["x", None, None],
            "score": [0.5, 1.0, None],
            "old_col": ["k", None, "m"],
        }
    )
    b = pl.DataFrame(
        {
            "sample_id": ["1", "2", "3"],
            "label": [None, "y", None],
            "score": [0.5, 2.0, 3.0],
            "new_col": [None, "n", None],
        }
    )
    assert _sorted(diff_manifests(a, b).rows()) == _sorted(
        [
            ("1", "modified", "label", "x", None),
            ("2", "modified", "label", None, "y"),
            ("2", "modified", "score", "1.0", "2.0"),
            ("3", "modified", "score", None, "3.0"),
            ("1", "modified", "old_col", "k", None),
            ("3", "modified", "old_col", "m", None),
            ("2", "modified", "new_col", None, "n"),
        ]
    )


def test_diff_manifests_disjoint() -> None:
    a = pl.DataFrame({"sample_id": ["1"], "label": ["x"]})
    b = pl.DataFrame({"sample_id": ["2"], "label": ["x"]})
    assert diff_manifests(a, b).select("sample_id", "change").rows() == [
        ("2", "added"),
        ("1", "removed"),
    ]


# --------------------------------------------------------------------- Dataset.diff
@pytest.fixture
def versions(small_dir: Path, png: Callable[..., Path]) -> Path:
    """v1 initial; v2: s1 cat->dog, s4 None->cat, s2 removed, s5 added; v3: s1 back to cat."""
    png(small_dir / "new" / "5.png")
    ds = Dataset.from_folder(small_dir)
    ds.commit("initial")
    ds.relabel(["s1", "s4"], ["dog", "cat"], reason="fix")
    ds.remove(["s2"], reason="dup")
    ds.add(
        {"sample_id": ["s5"], "image": ["new/5.png"], "label": ["dog"], "scanner": ["c"]},
        reason="new",
    )
    ds.commit("edits")
    ds.relabel(["s1"], "cat", reason="undo")
    ds.commit("undo s1")
    return small_dir


def test_diff_between_versions(versions: Path) -> None:
    ds = Dataset.open(versions)
    d12 = ds.diff(1, 2)
    assert d12.schema == pl.Schema(DIFF_SCHEMA)
    assert _sorted(d12.rows()) == _sorted(
        [
            ("s5", "added", None, None, None),
            ("s2", "removed", None, None, None),
            ("s1", "modified", "label", "cat", "dog"),
            ("s4", "modified", "label", None, "cat"),
        ]
    )
    assert d12["change"].to_list()[:2] == ["added", "removed"]


def test_diff_reverse_direction(versions: Path) -> None:
    ds = Dataset.open(versions)
    assert _sorted(ds.diff(2, 1).rows()) == _sorted(
        [
            ("s2", "added", None, None, None),
            ("s5", "removed", None, None, None),
            ("s1", "modified", "label", "dog", "cat"),
            ("s4", "modified", "label", "cat", None),
        ]
    )


def test_diff_defaults_to_head_and_nets_out_undone_changes(versions: Path) -> None:
    ds = Dataset.open(versions)
    d13 = ds.diff(1)
    assert d13.equals(ds.diff(1, 3))
    assert d13.equals(ds.diff("HEAD~2", "HEAD"))
    assert "s1" not in d13["sample_id"].to_list()  # relabelled and relabelled back
    assert _sorted(d13.rows()) == _sorted(
        [
            ("s5", "added", None, None, None),
            ("s2", "removed", None, None, None),
            ("s4", "modified", "label", None, "cat"),
        ]
    )
    assert ds.diff(2, 3).rows() == [("s1", "modified", "label", "dog", "cat")]
    assert ds.diff(3).height == 0
    assert ds.diff(2, 2).height == 0


# --------------------------------------------------------------------- property test
CLASSES = ["a", "b", "c"]
N_SAMPLES = 6
LABELS = st.sampled_from([*CLASSES, None])
# one relabel call: {sample index: new label}, and whether to commit right after it
OPS = st.lists(
    st.tuples(
        st.dictionaries(st.integers(0, N_SAMPLES - 1), LABELS, min_size=1, max_size=N_SAMPLES),
        st.booleans(),
    ),
    max_size=10,
)


@pytest.fixture(scope="module")
def png_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from PIL import Image

    path = tmp_path_factory.mktemp("png") / "one.png"
    Image.new("L", (2, 2)).save(path)
    return path.read_bytes()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=st.lists(LABELS, min_size=N_SAMPLES, max_size=N_SAMPLES), ops=OPS)
def test_relabel_sequences_match_a_dict(
    png_bytes: bytes, original: list[str | None], ops: list[tuple[dict[int, str | None], bool]]
) -> None:
    ids = [f"id{i}" for i in range(N_SAMPLES)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "img").mkdir()
        for sid in ids:
            (root / "img" / f"{sid}.png").write_bytes(png_bytes)
        pl.DataFrame(
            {
                "sample_id": ids,
                "image": [f"img/{sid}.png" for sid in ids],
                "label": pl.Series(original, dtype=pl.Utf8),
            }
        ).write_parquet(root / "manifest.parquet")
        (root / "classes.txt").write_text("\n".join(CLASSES))

        ds = Dataset.from_folder(root)
        assert ds.commit("v1") == 1
        expected = dict(zip(ids, original, strict=True))
        n_effective = 0
        for k, (edit, commit_after) in enumerate(ops):
            sids = [ids[i] for i in edit]
            labels = list(edit.values())
            n_effective += sum(expected[s] != lab for s, lab in zip(sids, labels, strict=True))
            ds.relabel(sids, labels, reason=f"op {k}", source="hypothesis", iteration=k)
            for s, lab in zip(sids, labels, strict=True):
                expected[s] = lab
            if commit_after:
                ds.commit(f"after op {k}")
        head = ds.commit("final")

        opened = Dataset.open(root)
        assert opened.version == head
        assert dict(opened.manifest.select("sample_id", "label").rows()) == expected
        assert opened.sample_ids == ids

        diff = opened.diff(1, "HEAD")
        want = {
            (s, "modified", "label", o, expected[s]) for s, o in zip(ids, original, strict=True)
        }
        want = {r for r in want if r[3] != r[4]}
        assert set(diff.rows()) == want
        assert diff.height == len(want)

        # every effective relabel is recorded once, and each sample's lineage chains up
        history = opened.history()
        assert history["n_changes"].sum() == n_effective
        for s, o in zip(ids, original, strict=True):
            lin = opened.lineage(s)
            assert lin.height == sum(
                opened.changes(v)["sample_id"].to_list().count(s)
                for v in history["version"].to_list()
            )
            steps = lin.select("old", "new").rows()
            chain = [o] + [new for _, new in steps]
            assert [old for old, _ in steps] == chain[:-1]
            assert chain[-1] == expected[s]
            assert all(old != new for old, new in steps)
