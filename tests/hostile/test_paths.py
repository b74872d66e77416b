"""Files outside the dataset root: refused at load and at every later read.

The checks resolve real paths, so a symbolic link (an image, the ``images/`` folder, the
manifest, a class folder) that leads outside the root is refused like ``../`` and absolute
paths, unless ``allow_symlinks_outside`` is set; links that stay inside are fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import datacentric as dc
from datacentric import Dataset
from datacentric.dataset.images import (
    check_paths_inside,
    read_image,
    read_image_bytes,
    resolve_image_path,
)
from datacentric.exceptions import PathEscapeError
from datacentric.issues.image_stats import compute_image_stats
from tests.conftest import make_dataset_dir, write_png

CHECKS = ["none", "exists", "decode"]


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    """``data/`` with three images (s1..s3) and a readable ``secret.png`` outside it."""
    root = make_dataset_dir(
        tmp_path / "data",
        {
            "sample_id": ["s1", "s2", "s3"],
            "image": ["images/1.png", "images/2.png", "images/3.png"],
            "label": ["a", "b", "a"],
        },
        classes=["a", "b"],
    )
    secret = write_png(tmp_path / "outside" / "secret.png", value=77)
    return root, secret


def _link(path: Path, target: Path | str) -> None:
    path.unlink()
    path.symlink_to(target)


@pytest.mark.parametrize("check", CHECKS)
def test_symlinked_file_outside_is_refused_at_load(tmp_path: Path, check: str) -> None:
    root, secret = _layout(tmp_path)
    _link(root / "images" / "2.png", secret)
    with pytest.raises(PathEscapeError) as info:
        Dataset.from_folder(root, check_images=check)  # type: ignore[arg-type]
    msg = str(info.value)
    assert "s2 -> images/2.png" in msg and str(secret) in msg
    assert "s1 ->" not in msg and "s3 ->" not in msg
    assert "DATACENTRIC_ALLOW_SYMLINKS_OUTSIDE" in msg and "\n" not in msg
    assert info.value.rows == ["s2"]


@pytest.mark.parametrize("check", CHECKS)
def test_relative_symlink_outside_is_refused(tmp_path: Path, check: str) -> None:
    root, _ = _layout(tmp_path)
    _link(root / "images" / "2.png", "../../outside/secret.png")
    with pytest.raises(PathEscapeError, match=r"s2 -> images/2\.png"):
        Dataset.from_folder(root, check_images=check)  # type: ignore[arg-type]


@pytest.mark.parametrize("check", CHECKS)
def test_symlinked_images_folder_outside_is_refused(tmp_path: Path, check: str) -> None:
    root, _ = _layout(tmp_path)
    moved = tmp_path / "elsewhere"
    (root / "images").rename(moved)
    (root / "images").symlink_to(moved, target_is_directory=True)
    with pytest.raises(PathEscapeError) as info:
        Dataset.from_folder(root, check_images=check)  # type: ignore[arg-type]
    assert info.value.rows == ["s1", "s2", "s3"]
    assert "s1 -> images/1.png" in str(info.value) and str(moved) in str(info.value)


def test_dangling_symlink_outside_is_refused_not_missing(tmp_path: Path) -> None:
    root, _ = _layout(tmp_path)
    _link(root / "images" / "2.png", tmp_path / "nowhere.png")
    with pytest.raises(PathEscapeError, match="s2"):
        Dataset.from_folder(root)


@pytest.mark.parametrize("check", CHECKS)
def test_symlinks_inside_the_root_are_fine(tmp_path: Path, check: str) -> None:
    root, _ = _layout(tmp_path)
    write_png(root / "shared" / "x.png", value=200)
    _link(root / "images" / "2.png", "../shared/x.png")
    (root / "alias").symlink_to(root / "images", target_is_directory=True)
    ds = Dataset.from_folder(root, check_images=check)  # type: ignore[arg-type]
    assert int(ds.load_images(["s2"])[0].max()) == 200
    assert read_image(root, "alias/1.png").shape == (4, 4)
    assert ds.unreadable_images().height == 0


def test_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    root, _ = _layout(tmp_path)
    link = tmp_path / "link-to-data"
    link.symlink_to(root, target_is_directory=True)
    ds = Dataset.from_folder(link, check_images="decode")
    assert ds.load_images().shape == (3, 4, 4, 1)


@pytest.mark.parametrize("bad", ["../outside/secret.png", "images/../../outside/secret.png"])
@pytest.mark.parametrize("check", CHECKS)
def test_dotdot_and_absolute_paths(tmp_path: Path, bad: str, check: str) -> None:
    root, secret = _layout(tmp_path)
    for path in (bad, str(secret)):
        make_dataset_dir(
            root,
            {
                "sample_id": ["s1", "s2", "s3"],
                "image": ["images/1.png", path, "images/3.png"],
                "label": ["a", "b", "a"],
            },
            images=False,
        )
        with pytest.raises(PathEscapeError) as info:
            Dataset.from_folder(root, check_images=check)  # type: ignore[arg-type]
        assert f"s2 -> {path}" in str(info.value)
        assert info.value.rows == ["s2"]


def test_opt_in_allows_links_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, secret = _layout(tmp_path)
    _link(root / "images" / "2.png", secret)
    with dc.config_context(allow_symlinks_outside=True):
        ds = Dataset.from_folder(root, check_images="decode")
        assert int(ds.load_images(["s2"])[0].max()) == 77
    with pytest.raises(PathEscapeError):  # the context ended
        ds.load_images(["s2"])
    monkeypatch.setenv("DATACENTRIC_ALLOW_SYMLINKS_OUTSIDE", "1")
    assert int(Dataset.from_folder(root).load_images(["s2"])[0].max()) == 77
    monkeypatch.setenv("DATACENTRIC_ALLOW_SYMLINKS_OUTSIDE", "0")
    with pytest.raises(PathEscapeError):
        Dataset.from_folder(root)


def test_swapped_for_a_symlink_after_load_is_refused_at_read(tmp_path: Path) -> None:
    root, secret = _layout(tmp_path)
    ds = Dataset.from_folder(root, check_images="decode")
    _link(root / "images" / "2.png", secret)
    with pytest.raises(PathEscapeError) as info:
        ds.load_images()
    assert "s2 -> images/2.png" in str(info.value) and info.value.rows == ["s2"]
    with pytest.raises(PathEscapeError, match="s2"):
        next(ds.iter_images(batch_size=8))
    with pytest.raises(PathEscapeError):
        read_image_bytes(root, "images/2.png")
    with pytest.raises(PathEscapeError):
        resolve_image_path(root, "images/2.png")
    with pytest.raises(PathEscapeError, match="s2"):
        check_paths_inside(root, ds.sample_ids, ds.manifest["image"].to_list())
    stats = compute_image_stats(ds)
    assert stats["readable"].to_list() == [True, False, True]
    assert stats["error"][1].startswith("outside the dataset:")
    bad = ds.unreadable_images()
    assert bad["sample_id"].to_list() == ["s2"]
    assert bad["reason"][0].startswith("outside the dataset")


def test_swapped_after_commit_is_refused_by_open(tmp_path: Path) -> None:
    root, secret = _layout(tmp_path)
    Dataset.from_folder(root).commit("v1")
    _link(root / "images" / "3.png", secret)
    for check in CHECKS:
        with pytest.raises(PathEscapeError, match=r"s3 -> images/3\.png"):
            Dataset.open(root, check_images=check)  # type: ignore[arg-type]


def test_images_folder_swapped_after_load(tmp_path: Path) -> None:
    root, _ = _layout(tmp_path)
    ds = Dataset.from_folder(root)
    moved = tmp_path / "elsewhere"
    (root / "images").rename(moved)
    (root / "images").symlink_to(moved, target_is_directory=True)
    with pytest.raises(PathEscapeError, match=r"s1 -> images/1\.png"):
        ds.load_images()


def test_manifest_and_classes_file_links_out(tmp_path: Path) -> None:
    root, _ = _layout(tmp_path)
    outside = tmp_path / "outside" / "manifest.csv"
    (root / "manifest.csv").rename(outside)
    (root / "manifest.csv").symlink_to(outside)
    with pytest.raises(PathEscapeError) as info:
        Dataset.from_folder(root)
    assert "manifest" in str(info.value) and str(outside) in str(info.value)
    (root / "manifest.csv").unlink()
    outside.rename(root / "manifest.csv")
    (tmp_path / "outside" / "classes.txt").write_text("a\nb\n")
    (root / "classes.txt").unlink()
    (root / "classes.txt").symlink_to(tmp_path / "outside" / "classes.txt")
    with pytest.raises(PathEscapeError, match="classes file"):
        Dataset.from_folder(root)


def test_image_folder_class_dir_links_out(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_png(root / "cat" / "1.png")
    write_png(tmp_path / "outside" / "dog" / "1.png")
    (tmp_path / "outside" / "dog" / "notes.txt").write_text("private")
    (root / "dog").symlink_to(tmp_path / "outside" / "dog", target_is_directory=True)
    with pytest.raises(PathEscapeError) as info:
        Dataset.from_folder(root)
    assert "notes.txt" not in str(info.value)  # no listing of the outside folder
    assert str(root / "dog") in str(info.value)


def test_labelstudio_data_uri_reads_nothing_outside(tmp_path: Path) -> None:
    from datacentric.integrations.labelstudio.push import _data_uri

    root, secret = _layout(tmp_path)
    encode = _data_uri(root)
    assert encode("images/1.png").startswith("data:image/png;base64,")
    _link(root / "images" / "2.png", secret)
    with pytest.raises(PathEscapeError, match=r"images/2\.png"):
        encode("images/2.png")


def test_fiftyone_records_point_nowhere_outside(tmp_path: Path) -> None:
    from datacentric.integrations.fiftyone.records import build_records

    root, secret = _layout(tmp_path)
    ds = Dataset.from_folder(root)
    assert build_records(ds).frame["filepath"][0].endswith("images/1.png")
    _link(root / "images" / "2.png", secret)
    with pytest.raises(PathEscapeError, match=r"s2 -> images/2\.png"):
        build_records(ds)


def test_guide_pictures_point_nowhere_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datacentric.integrations import guide as guide_mod
    from datacentric.issues import scan

    root, secret = _layout(tmp_path)
    ds = Dataset.from_folder(root)
    result = scan(ds, finders=["integrity"], cross_validate=False)
    # the guide's example pictures come from the model's confusions: make s2 one
    monkeypatch.setattr(guide_mod, "_confused_pairs", lambda *a, **k: [(("a", "b"), ["s2"])])
    assert guide_mod.draft_guide(ds, result).ambiguous[0].images[0].endswith("2.png")
    _link(root / "images" / "2.png", secret)
    with pytest.raises(PathEscapeError, match=r"s2 -> images/2\.png"):
        guide_mod.draft_guide(ds, result)


@pytest.mark.parametrize("check", CHECKS)
def test_nul_in_a_path_is_a_dataset_error_not_a_valueerror_from_the_os(
    tmp_path: Path, check: str
) -> None:
    from datacentric.exceptions import InvalidDatasetError

    root, _ = _layout(tmp_path)
    pl_frame = {
        "sample_id": ["s1", "s2"],
        "image": ["images/1.png", "images/2\x00.png"],
        "label": ["a", "b"],
    }
    make_dataset_dir(root, pl_frame, fmt="parquet", images=False)
    (root / "manifest.csv").unlink()
    with pytest.raises(InvalidDatasetError, match="NUL") as info:
        Dataset.from_folder(root, check_images=check)  # type: ignore[arg-type]
    assert info.value.rows == ["s2"]
    with pytest.raises(InvalidDatasetError, match="NUL"):
        read_image(root, "images/2\x00.png")
