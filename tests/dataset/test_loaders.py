"""Loading datasets: manifests, ImageFolder layouts, in-memory arrays, and every bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import (
    DatacentricError,
    DuplicateSampleIdError,
    EmptyDatasetError,
    InvalidDatasetError,
    InvalidParameterError,
    MissingImageError,
    PathEscapeError,
    SchemaError,
    UnknownLabelError,
    UnreadableImageError,
)

Maker = Callable[..., Path]

BASE = {
    "sample_id": ["s1", "s2", "s3"],
    "image": ["img/1.png", "img/2.png", "img/3.png"],
    "label": ["cat", "dog", "cat"],
}


def _cols(**over: list) -> dict[str, list]:
    out = {k: list(v) for k, v in BASE.items()}
    out.update(over)
    return out


def _check_value_error(exc: BaseException) -> None:
    assert isinstance(exc, DatacentricError)
    assert isinstance(exc, ValueError)


# --------------------------------------------------------------------- manifest files
def test_manifest_csv_loads_rows_splits_metadata(small_dir: Path) -> None:
    ds = Dataset.from_folder(small_dir)
    m = ds.manifest
    assert m.columns == ["sample_id", "image", "label", "split", "scanner"]
    assert m["sample_id"].to_list() == ["s1", "s2", "s3", "s4"]
    assert m["label"].to_list() == ["cat", "dog", "cat", None]
    assert m["split"].to_list() == ["train", "train", "val", "test"]
    assert ds.metadata_columns == ["scanner"]
    assert ds.classes == ["cat", "dog"]
    assert ds.label_indices().tolist() == [0, 1, 0, -1]
    assert ds.root == small_dir
    assert ds.version is None
    assert len(ds) == 4
    assert ds.pending_changes.height == 0
    assert ds.summary()["per_split"] == {"test": 1, "train": 2, "val": 1}


def test_manifest_csv_keeps_ids_as_text_and_defaults_split(
    tmp_path: Path, dataset_dir: Maker
) -> None:
    root = dataset_dir(
        tmp_path,
        {"sample_id": ["001", "010"], "image": ["a.png", "b.png"], "label": ["x", "y"]},
    )
    ds = Dataset.from_folder(root)
    assert ds.sample_ids == ["001", "010"]
    assert ds.manifest["split"].to_list() == ["train", "train"]
    assert ds.classes == ["x", "y"]  # inferred, sorted


def test_manifest_parquet_keeps_metadata_dtypes(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(
        tmp_path,
        {
            "sample_id": [1, 2, 3],
            "image": ["a.png", "b.png", "c.png"],
            "label": ["b", "a", "b"],
            "split": ["train", "val", "train"],
            "age": [30, 41, 52],
            "brightness": [0.5, 0.25, 1.0],
        },
        fmt="parquet",
    )
    ds = Dataset.from_folder(root)
    assert ds.sample_ids == ["1", "2", "3"]
    assert ds.manifest.schema["sample_id"] == pl.Utf8
    assert ds.manifest.schema["age"] == pl.Int64
    assert ds.manifest.schema["brightness"] == pl.Float64
    assert ds.manifest["brightness"].to_list() == [0.5, 0.25, 1.0]
    assert ds.classes == ["a", "b"]


def test_parquet_manifest_is_preferred_over_csv(tmp_path: Path, dataset_dir: Maker) -> None:
    dataset_dir(tmp_path, _cols(), fmt="csv")
    dataset_dir(tmp_path, _cols(label=["dog", "dog", "dog"]), fmt="parquet")
    ds = Dataset.from_folder(tmp_path)
    assert ds.manifest["label"].to_list() == ["dog", "dog", "dog"]


def test_classes_txt_order_is_respected(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols(), classes=["dog", "cat", "bird"])
    ds = Dataset.from_folder(root)
    assert ds.classes == ["dog", "cat", "bird"]
    assert ds.label_indices().tolist() == [1, 0, 1]


def test_classes_argument_overrides_classes_txt(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols(), classes=["dog", "cat"])
    ds = Dataset.from_folder(root, classes=["cat", "dog", "fox"])
    assert ds.classes == ["cat", "dog", "fox"]
    assert ds.label_indices().tolist() == [0, 1, 0]


def test_unlabeled_rows_need_classes(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(
        tmp_path, _cols(label=pl.Series([None, None, None], dtype=pl.Utf8).to_list())
    )
    with pytest.raises(SchemaError, match=r"no classes given"):
        Dataset.from_folder(root)
    ds = Dataset.from_folder(root, classes=["cat"])
    assert ds.manifest["label"].null_count() == 3


# --------------------------------------------------------------------- ImageFolder layouts
def test_image_folder_layout(tmp_path: Path, png: Maker) -> None:
    png(tmp_path / "dog" / "1.png")
    png(tmp_path / "cat" / "2.png")
    png(tmp_path / "cat" / "1.png")
    png(tmp_path / "cat" / "nested" / "3.jpg", mode="RGB")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"junk")  # hidden files are skipped
    ds = Dataset.from_folder(tmp_path)
    assert ds.sample_ids == ["cat/1.png", "cat/2.png", "cat/nested/3.jpg", "dog/1.png"]
    assert ds.manifest["image"].to_list() == ds.sample_ids
    assert ds.manifest["label"].to_list() == ["cat", "cat", "cat", "dog"]
    assert ds.manifest["split"].unique().to_list() == ["train"]
    assert ds.classes == ["cat", "dog"]


def test_image_folder_with_classes_txt_order(tmp_path: Path, png: Maker) -> None:
    png(tmp_path / "cat" / "1.png")
    png(tmp_path / "dog" / "1.png")
    (tmp_path / "classes.txt").write_text("dog\ncat\n\nbird\n")
    ds = Dataset.from_folder(tmp_path)
    assert ds.classes == ["dog", "cat", "bird"]
    assert ds.label_indices().tolist() == [1, 0]


def test_image_folder_class_not_in_classes_txt(tmp_path: Path, png: Maker) -> None:
    png(tmp_path / "cat" / "1.png")
    png(tmp_path / "fox" / "1.png")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    with pytest.raises(UnknownLabelError) as info:
        Dataset.from_folder(tmp_path)
    assert "'fox'" in str(info.value)
    assert "fox/1.png" in str(info.value)
    assert info.value.rows == ["fox/1.png"]


def test_split_layout(tmp_path: Path, png: Maker) -> None:
    png(tmp_path / "train" / "cat" / "a.png")
    png(tmp_path / "train" / "dog" / "b.png")
    png(tmp_path / "val" / "cat" / "c.png")
    png(tmp_path / "test" / "dog" / "d.png")
    ds = Dataset.from_folder(tmp_path)
    rows = ds.manifest.select("sample_id", "label", "split").sort("sample_id").rows()
    assert rows == [
        ("test/dog/d.png", "dog", "test"),
        ("train/cat/a.png", "cat", "train"),
        ("train/dog/b.png", "dog", "train"),
        ("val/cat/c.png", "cat", "val"),
    ]
    assert ds.classes == ["cat", "dog"]
    assert len(ds.split("train")) == 2
    assert ds.load_images().shape == (4, 4, 4, 1)


def test_split_layout_classes_txt(tmp_path: Path, png: Maker) -> None:
    png(tmp_path / "train" / "cat" / "a.png")
    png(tmp_path / "val" / "dog" / "c.png")
    (tmp_path / "classes.txt").write_text("dog\ncat\n")
    ds = Dataset.from_folder(tmp_path)
    assert ds.classes == ["dog", "cat"]


def test_split_layout_skips_hidden_folders(tmp_path: Path, png: Maker) -> None:
    # Hidden folders are skipped in the plain layout; the split layout must do the same,
    # or a Jupyter checkpoint folder becomes a class.
    png(tmp_path / "train" / "cat" / "a.png")
    png(tmp_path / "train" / ".ipynb_checkpoints" / "a.png")
    png(tmp_path / "val" / "cat" / "b.png")
    ds = Dataset.from_folder(tmp_path)
    assert ds.sample_ids == ["train/cat/a.png", "val/cat/b.png"]
    assert ds.classes == ["cat"]


def test_image_folder_skips_hidden_folders_and_the_store(tmp_path: Path, png: Maker) -> None:
    png(tmp_path / "cat" / "1.png")
    png(tmp_path / ".cache" / "1.png")
    ds = Dataset.from_folder(tmp_path)
    assert ds.commit("initial") == 1  # creates tmp_path/.datacentric
    again = Dataset.from_folder(tmp_path)
    assert again.sample_ids == ["cat/1.png"]
    assert again.classes == ["cat"]


# --------------------------------------------------------------------- check_images modes
def test_check_images_modes(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols())
    (root / "img" / "2.png").write_bytes(b"not a png")
    # exists: the file is there, content not checked
    assert len(Dataset.from_folder(root)) == 3
    assert len(Dataset.from_folder(root, check_images="exists")) == 3
    with pytest.raises(UnreadableImageError):
        Dataset.from_folder(root, check_images="decode")
    (root / "img" / "3.png").unlink()
    assert len(Dataset.from_folder(root, check_images="none")) == 3
    with pytest.raises(MissingImageError):
        Dataset.from_folder(root)


def test_check_images_bad_mode(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols())
    with pytest.raises(InvalidParameterError) as info:
        Dataset.from_folder(root, check_images="full")  # type: ignore[arg-type]
    msg = str(info.value)
    assert "'full'" in msg
    assert all(opt in msg for opt in ("none", "exists", "decode"))
    _check_value_error(info.value)


def test_decode_mode_accepts_good_images(
    tmp_path: Path, dataset_dir: Maker, noise_png: bytes
) -> None:
    root = dataset_dir(tmp_path, _cols())
    (root / "img" / "1.png").write_bytes(noise_png)
    ds = Dataset.from_folder(root, check_images="decode")
    assert len(ds) == 3


# --------------------------------------------------------------------- bad inputs
def test_duplicate_sample_id(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols(sample_id=["s1", "s2", "s1"]))
    with pytest.raises(DuplicateSampleIdError) as info:
        Dataset.from_folder(root)
    msg = str(info.value)
    assert "'s1'" in msg
    assert "rows 0, 2" in msg
    assert "manifest.csv" in msg
    assert info.value.rows == ["s1"]
    _check_value_error(info.value)


def test_null_sample_id(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols(sample_id=["s1", None, "s3"]))
    with pytest.raises(SchemaError, match=r"'sample_id' is empty in 1 row\(s\) \(rows 1\)"):
        Dataset.from_folder(root)


def test_unknown_label(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols(label=["cat", "bird", "dog"]), classes=["cat", "dog"])
    with pytest.raises(UnknownLabelError) as info:
        Dataset.from_folder(root)
    msg = str(info.value)
    assert "'bird'" in msg
    assert "'s2'" in msg
    assert "'s1'" not in msg and "'s3'" not in msg
    assert info.value.rows == ["s2"]
    _check_value_error(info.value)


def test_missing_image(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols())
    (root / "img" / "2.png").unlink()
    with pytest.raises(MissingImageError) as info:
        Dataset.from_folder(root)
    msg = str(info.value)
    assert "s2 -> img/2.png" in msg
    assert "s1" not in msg and "s3" not in msg
    assert info.value.rows == ["s2"]
    _check_value_error(info.value)


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_unreadable_image_decode_mode(
    tmp_path: Path, kind: str, dataset_dir: Maker, noise_png: bytes
) -> None:
    root = dataset_dir(tmp_path, _cols())
    data = (
        b"\x00garbage, not an image\xff" * 4
        if kind == "garbage"
        else noise_png[: len(noise_png) // 2]
    )
    (root / "img" / "3.png").write_bytes(data)
    with pytest.raises(UnreadableImageError) as info:
        Dataset.from_folder(root, check_images="decode")
    msg = str(info.value)
    assert "s3 -> img/3.png" in msg
    assert "s1" not in msg and "s2" not in msg
    assert info.value.rows == ["s3"]
    _check_value_error(info.value)


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_unreadable_image_from_load_images(
    tmp_path: Path, kind: str, dataset_dir: Maker, noise_png: bytes
) -> None:
    root = dataset_dir(tmp_path, _cols())
    data = b"\x89PNG but really not" if kind == "garbage" else noise_png[: len(noise_png) // 2]
    (root / "img" / "2.png").write_bytes(data)
    ds = Dataset.from_folder(root)  # "exists" does not decode
    assert ds.load_images(["s1", "s3"]).shape == (2, 4, 4, 1)
    with pytest.raises(UnreadableImageError) as info:
        ds.load_images()
    assert str(Path("img") / "2.png") in str(info.value)
    _check_value_error(info.value)


def test_several_unreadable_images_are_all_named(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols())
    for name in ("1.png", "3.png"):
        (root / "img" / name).write_bytes(b"nope")
    with pytest.raises(UnreadableImageError) as info:
        Dataset.from_folder(root, check_images="decode")
    assert info.value.rows == ["s1", "s3"]
    assert str(info.value).startswith("2 image file(s)")


@pytest.mark.parametrize("bad", ["../x.png", "img/../../x.png", "/etc/x.png", "C:/x.png"])
@pytest.mark.parametrize("check", ["none", "exists", "decode"])
def test_path_escape(tmp_path: Path, bad: str, check: str, png: Maker, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path / "data", _cols(image=["img/1.png", bad, "img/3.png"]))
    png(tmp_path / "x.png")  # the escaping target exists: still refused
    with pytest.raises(PathEscapeError) as info:
        Dataset.from_folder(root, check_images=check)  # type: ignore[arg-type]
    msg = str(info.value)
    assert f"s2 -> {bad}" in msg
    assert "s1" not in msg
    assert info.value.rows == ["s2"]
    _check_value_error(info.value)


def test_dotdot_inside_root_is_allowed(tmp_path: Path, png: Maker, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols(image=["img/1.png", "img/../img/2.png", "./img/3.png"]))
    png(root / "img" / "2.png")
    assert len(Dataset.from_folder(root)) == 3


def test_empty_manifest_csv(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("sample_id,image,label\n")
    with pytest.raises(EmptyDatasetError) as info:
        Dataset.from_folder(tmp_path, classes=["cat"])
    assert "manifest.csv has no rows" in str(info.value)
    _check_value_error(info.value)


def test_empty_manifest_parquet(tmp_path: Path) -> None:
    pl.DataFrame(schema={"sample_id": pl.Utf8, "image": pl.Utf8, "label": pl.Utf8}).write_parquet(
        tmp_path / "manifest.parquet"
    )
    with pytest.raises(EmptyDatasetError, match=r"manifest\.parquet has no rows"):
        Dataset.from_folder(tmp_path, classes=["cat"])


def test_zero_byte_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_bytes(b"")
    with pytest.raises(DatacentricError) as info:
        Dataset.from_folder(tmp_path, classes=["cat"])
    _check_value_error(info.value)
    assert "manifest.csv" in str(info.value)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(EmptyDatasetError) as info:
        Dataset.from_folder(tmp_path)
    assert str(tmp_path) in str(info.value)
    _check_value_error(info.value)


def test_class_folders_without_images(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    with pytest.raises(EmptyDatasetError) as info:
        Dataset.from_folder(tmp_path)
    assert "'cat', 'dog'" in str(info.value)


@pytest.mark.parametrize("drop", ["sample_id", "image", "label"])
def test_missing_required_column(tmp_path: Path, drop: str, png: Maker, dataset_dir: Maker) -> None:
    cols = _cols()
    del cols[drop]
    if drop == "image":
        for i in (1, 2, 3):
            png(tmp_path / "img" / f"{i}.png")
    dataset_dir(tmp_path, cols, images=False)
    with pytest.raises(SchemaError) as info:
        Dataset.from_folder(tmp_path, classes=["cat", "dog"])
    msg = str(info.value)
    assert f"missing required column(s) ['{drop}']" in msg
    assert "manifest.csv" in msg
    _check_value_error(info.value)


def test_unreadable_manifest_file(tmp_path: Path) -> None:
    (tmp_path / "manifest.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SchemaError, match=r"could not read the manifest .*manifest\.parquet"):
        Dataset.from_folder(tmp_path)


def test_bad_split_value(tmp_path: Path, dataset_dir: Maker) -> None:
    root = dataset_dir(tmp_path, _cols(split=["train", "training", "valid"]))
    with pytest.raises(SchemaError) as info:
        Dataset.from_folder(root)
    msg = str(info.value)
    assert "'training', 'valid'" in msg
    assert "'s2', 's3'" in msg
    assert "'s1'" not in msg
    _check_value_error(info.value)


def test_non_image_file_in_class_folder(tmp_path: Path, png: Maker) -> None:
    png(tmp_path / "cat" / "1.png")
    png(tmp_path / "dog" / "1.png")
    (tmp_path / "dog" / "notes.txt").write_text("hello")
    with pytest.raises(InvalidDatasetError) as info:
        Dataset.from_folder(tmp_path)
    assert "dog/notes.txt" in str(info.value)
    assert info.value.rows == ["dog/notes.txt"]
    _check_value_error(info.value)


def test_nonexistent_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(InvalidDatasetError) as info:
        Dataset.from_folder(missing)
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)
    _check_value_error(info.value)


def test_file_instead_of_directory(tmp_path: Path, png: Maker) -> None:
    f = png(tmp_path / "x.png")
    with pytest.raises(InvalidDatasetError, match=re.escape(str(f))):
        Dataset.from_folder(f)


@pytest.mark.parametrize(
    "cls",
    [
        InvalidDatasetError,
        DuplicateSampleIdError,
        UnknownLabelError,
        MissingImageError,
        UnreadableImageError,
        PathEscapeError,
        EmptyDatasetError,
        SchemaError,
        InvalidParameterError,
    ],
)
def test_error_hierarchy(cls: type[Exception]) -> None:
    assert issubclass(cls, DatacentricError)
    assert issubclass(cls, ValueError)


# --------------------------------------------------------------------- from_arrays
def test_from_arrays_int_and_str_labels() -> None:
    imgs = np.zeros((4, 3, 3), np.uint8)
    a = Dataset.from_arrays(imgs, [0, 1, None, np.int64(1)], classes=["cat", "dog"])
    b = Dataset.from_arrays(imgs, ["cat", "dog", None, "dog"], classes=["cat", "dog"])
    c = Dataset.from_arrays(imgs, np.array([0, 1, 0, 1]), classes=["cat", "dog"])
    assert a.manifest["label"].to_list() == ["cat", "dog", None, "dog"]
    assert b.manifest.equals(a.manifest)
    assert c.manifest["label"].to_list() == ["cat", "dog", "cat", "dog"]
    assert a.sample_ids == ["0", "1", "2", "3"]
    assert a.manifest["image"].to_list() == ["array:0", "array:1", "array:2", "array:3"]
    assert a.root is None
    assert a.label_indices().tolist() == [0, 1, -1, 1]


def test_from_arrays_out_of_range_int_labels() -> None:
    with pytest.raises(UnknownLabelError) as info:
        Dataset.from_arrays(np.zeros((4, 2, 2)), [0, -1, 2, 1], classes=["a", "b"])
    msg = str(info.value)
    assert "rows 1, 2" in msg
    assert "values -1, 2" in msg
    assert info.value.rows == [1, 2]
    _check_value_error(info.value)


def test_from_arrays_unknown_str_label() -> None:
    with pytest.raises(UnknownLabelError) as info:
        Dataset.from_arrays(np.zeros((2, 2, 2)), ["a", "zebra"], classes=["a", "b"])
    assert "'zebra'" in str(info.value)
    assert info.value.rows == ["1"]


def test_from_arrays_metadata_ids_and_splits() -> None:
    meta = pl.DataFrame({"scanner": ["s1", "s2", "s1"], "age": [3, 4, 5]})
    ds = Dataset.from_arrays(
        np.zeros((3, 2, 2)),
        [0, 1, 0],
        classes=["a", "b"],
        metadata=meta,
        sample_ids=["x", "y", "z"],
        split=["train", "val", "test"],
    )
    assert ds.metadata_columns == ["scanner", "age"]
    assert ds.manifest.rows() == [
        ("x", "array:0", "a", "train", "s1", 3),
        ("y", "array:1", "b", "val", "s2", 4),
        ("z", "array:2", "a", "test", "s1", 5),
    ]
    ds2 = Dataset.from_arrays(
        np.zeros((2, 2, 2)), [0, 1], ["a", "b"], metadata={"annotator": ["ann1", "ann2"]}
    )
    assert ds2.manifest["annotator"].to_list() == ["ann1", "ann2"]
    assert ds2.metadata_columns == []


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"labels": [0, 1]}, r"got 3 images but 2 labels"),
        ({"sample_ids": ["a", "b"]}, r"got 3 images but 2 sample_ids"),
        ({"split": ["train", "val"]}, r"got 3 images but 2 split values"),
        ({"metadata": {"m": [1, 2, 3, 4]}}, r"metadata has 4 rows but there are 3 images"),
        ({"metadata": {"label": ["a", "a", "a"]}}, r"reserved column\(s\) \['label'\]"),
        ({"classes": []}, r"classes is empty"),
        ({"classes": ["a", "a"]}, r"classes must be unique"),
        ({"classes": "ab"}, r"received the string 'ab'"),
    ],
)
def test_from_arrays_length_and_schema_errors(kwargs: dict, pattern: str) -> None:
    args: dict = {"labels": [0, 0, 0], "classes": ["a", "b"]}
    args.update(kwargs)
    with pytest.raises(SchemaError, match=pattern):
        Dataset.from_arrays(np.zeros((3, 2, 2), np.uint8), **args)


def test_from_arrays_duplicate_sample_ids() -> None:
    with pytest.raises(DuplicateSampleIdError, match="'a'"):
        Dataset.from_arrays(np.zeros((2, 2, 2)), [0, 0], ["a"], sample_ids=["a", "a"])


# --------------------------------------------------------------------- load_images
def test_load_images_shapes_and_values() -> None:
    gray = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    ds = Dataset.from_arrays(gray, [0, 0], ["a"])
    batch = ds.load_images()
    assert batch.shape == (2, 3, 4, 1)
    assert batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[..., 0], gray)
    rgb = np.zeros((2, 3, 4, 3), np.uint8)
    assert Dataset.from_arrays(rgb, [0, 0], ["a"]).load_images().shape == (2, 3, 4, 3)
    # chosen ids, in the given order
    np.testing.assert_array_equal(ds.load_images(["1", "0"])[..., 0], gray[::-1])
    with pytest.raises(InvalidDatasetError, match="'9'"):
        ds.load_images(["0", "9"])


def test_load_images_float_arrays_are_scaled() -> None:
    ds = Dataset.from_arrays(np.full((1, 2, 2), 1.0), [0], ["a"])
    assert ds.load_images().max() == 255


def test_load_images_size_resizes() -> None:
    ds = Dataset.from_arrays(np.full((2, 8, 6), 77, np.uint8), [0, 0], ["a"])
    out = ds.load_images(size=(4, 3))
    assert out.shape == (2, 4, 3, 1)
    assert np.all(out == 77)


def test_load_images_mode_conversion() -> None:
    gray = Dataset.from_arrays(np.full((2, 3, 3), 100, np.uint8), [0, 0], ["a"])
    rgb = gray.load_images(mode="RGB")
    assert rgb.shape == (2, 3, 3, 3)
    assert np.all(rgb == 100)
    red = np.zeros((1, 2, 2, 3), np.uint8)
    red[..., 0] = 255
    lum = Dataset.from_arrays(red, [0], ["a"]).load_images(mode="L")
    assert lum.shape == (1, 2, 2, 1)
    assert np.all(lum == 76)  # 0.299 * 255


def test_load_images_mode_rgb_of_single_channel_arrays() -> None:
    # (N, H, W, 1) arrays are grayscale: mode="RGB" must give 3 equal channels.
    ds = Dataset.from_arrays(np.full((2, 3, 3, 1), 50, np.uint8), [0, 0], ["a"])
    out = ds.load_images(mode="RGB")
    assert out.shape == (2, 3, 3, 3)
    assert np.all(out == 50)


def test_load_images_mode_l_of_single_channel_arrays() -> None:
    # Already grayscale: mode="L" must keep the values, not fail on the channel axis.
    ds = Dataset.from_arrays(np.full((2, 3, 3, 1), 50, np.uint8), [0, 0], ["a"])
    out = ds.load_images(mode="L")
    assert out.shape == (2, 3, 3, 1)
    assert np.all(out == 50)


def test_load_images_mode_rgb_drops_alpha_of_arrays() -> None:
    rgba = np.full((1, 2, 2, 4), 9, np.uint8)
    out = Dataset.from_arrays(rgba, [0], ["a"]).load_images(mode="RGB")
    assert out.shape == (1, 2, 2, 3)


def test_load_images_mismatched_shapes() -> None:
    imgs = [np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8), np.zeros((4, 4, 3), np.uint8)]
    ds = Dataset.from_arrays(imgs, [0, 0, 0], ["a"])
    with pytest.raises(InvalidDatasetError) as info:
        ds.load_images()
    msg = str(info.value)
    assert "(4, 4, 1)" in msg and "(5, 4, 1)" in msg and "(4, 4, 3)" in msg
    assert "size=(H, W)" in msg
    assert ds.load_images(size=(4, 4), mode="RGB").shape == (3, 4, 4, 3)


def test_load_images_from_files_mixed_modes(tmp_path: Path, png: Maker) -> None:
    png(tmp_path / "a" / "1.png", value=200, size=(5, 3))
    png(tmp_path / "b" / "1.png", value=(10, 20, 30), size=(5, 3), mode="RGB")
    ds = Dataset.from_folder(tmp_path)
    with pytest.raises(InvalidDatasetError, match="different shapes"):
        ds.load_images()
    out = ds.load_images(mode="RGB")
    assert out.shape == (2, 3, 5, 3)
    assert out[0, 0, 0].tolist() == [200, 200, 200]
    assert out[1, 0, 0].tolist() == [10, 20, 30]
    assert ds.load_images(mode="L", size=(6, 10)).shape == (2, 6, 10, 1)
    batches = list(ds.iter_images(batch_size=1, mode="RGB"))
    assert [ids for ids, _ in batches] == [["a/1.png"], ["b/1.png"]]
