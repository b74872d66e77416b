"""Broken manifests: each one a single-line error of the right class naming the file/rows."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import (
    DatacentricError,
    DuplicateSampleIdError,
    SchemaError,
    UnknownLabelError,
)
from tests.conftest import make_dataset_dir, write_png

HEADER = "sample_id,image,label,site\n"


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for i in (1, 2, 3):
        write_png(root / "img" / f"{i}.png", value=i)
    (root / "classes.txt").write_text("cat\ndog\n")
    return root


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg, msg
    assert isinstance(exc, DatacentricError)
    return msg


def test_utf8_bom_is_read(tmp_path: Path) -> None:
    root = _root(tmp_path)
    text = HEADER + "s1,img/1.png,cat,caf\u00e9\ns2,img/2.png,dog,north\n"
    (root / "manifest.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    ds = Dataset.from_folder(root)
    assert ds.manifest.columns[:4] == ["sample_id", "image", "label", "split"]
    assert ds.sample_ids == ["s1", "s2"]
    assert ds.manifest["site"].to_list() == ["caf\u00e9", "north"]


def test_latin1_csv_names_file_line_and_byte(tmp_path: Path) -> None:
    root = _root(tmp_path)
    text = HEADER + "s1,img/1.png,cat,north\ns2,img/2.png,dog,caf\u00e9\n"
    (root / "manifest.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(SchemaError) as info:
        Dataset.from_folder(root)
    msg = _one_line(info.value)
    assert str(root / "manifest.csv") in msg
    assert "not UTF-8" in msg and "byte 0xe9 at line 3" in msg


def test_utf16_csv_is_a_schema_error(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "manifest.csv").write_bytes((HEADER + "s1,img/1.png,cat,x\n").encode("utf-16"))
    with pytest.raises(SchemaError, match="not UTF-8") as info:
        Dataset.from_folder(root)
    assert "manifest.csv" in _one_line(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"PAR1garbagePAR1",
        b"PAR1" + os.urandom(256),
        b"",
        b"not a parquet file at all",
    ],
    ids=["bad-footer", "random", "empty", "text"],
)
def test_corrupt_parquet(tmp_path: Path, data: bytes) -> None:
    root = _root(tmp_path)
    (root / "manifest.parquet").write_bytes(data)
    with pytest.raises(SchemaError) as info:
        Dataset.from_folder(root)
    msg = _one_line(info.value)
    assert str(root / "manifest.parquet") in msg


def test_truncated_parquet(tmp_path: Path) -> None:
    root = make_dataset_dir(
        tmp_path / "data",
        {"sample_id": ["s1", "s2"], "image": ["img/1.png", "img/2.png"], "label": ["a", "b"]},
        fmt="parquet",
    )
    data = (root / "manifest.parquet").read_bytes()
    (root / "manifest.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(SchemaError, match=r"manifest\.parquet") as info:
        Dataset.from_folder(root)
    _one_line(info.value)


@pytest.mark.parametrize(
    "text",
    [
        HEADER + "s1,img/1.png,cat,x,extra,fields\n",
        HEADER + '"s1,img/1.png,cat,x\n',
        "\x00\x01\x02\xff\xfe",
        "just one column\nand another row\n",
    ],
    ids=["ragged", "open-quote", "binary", "no-columns"],
)
def test_corrupt_csv(tmp_path: Path, text: str) -> None:
    root = _root(tmp_path)
    (root / "manifest.csv").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(SchemaError) as info:
        Dataset.from_folder(root)
    assert "manifest.csv" in _one_line(info.value)


def test_nested_column_types(tmp_path: Path) -> None:
    root = _root(tmp_path)
    pl.DataFrame({"sample_id": [[1, 2]], "image": [{"a": 1}], "label": ["cat"]}).write_parquet(
        root / "manifest.parquet"
    )
    with pytest.raises(SchemaError) as info:
        Dataset.from_folder(root)
    msg = _one_line(info.value)
    assert "manifest.parquet" in msg and "sample_id" in msg and "list" in msg.lower()


def test_duplicate_ids_name_ids_and_rows(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "manifest.csv").write_text(
        HEADER + "s1,img/1.png,cat,x\ns2,img/2.png,dog,x\ns1,img/3.png,cat,y\n"
    )
    with pytest.raises(DuplicateSampleIdError) as info:
        Dataset.from_folder(root)
    msg = _one_line(info.value)
    assert "manifest.csv" in msg and "'s1'" in msg and "rows 0, 2" in msg
    assert info.value.rows == ["s1"]


def test_unknown_labels_name_labels_and_samples(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "manifest.csv").write_text(
        HEADER + "s1,img/1.png,cat,x\ns2,img/2.png,bird,x\ns3,img/3.png,fish,y\n"
    )
    with pytest.raises(UnknownLabelError) as info:
        Dataset.from_folder(root)
    msg = _one_line(info.value)
    assert "manifest.csv" in msg and "'bird'" in msg and "'fish'" in msg
    assert info.value.rows == ["s2", "s3"]


def test_missing_columns_are_named_before_class_inference(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "classes.txt").unlink()
    (root / "manifest.csv").write_text("id,path\n1,img/1.png\n")
    with pytest.raises(SchemaError) as info:
        Dataset.from_folder(root)
    msg = _one_line(info.value)
    assert "manifest.csv" in msg and "missing required column(s)" in msg and "'label'" in msg


def test_latin1_classes_file(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "manifest.csv").write_text(HEADER + "s1,img/1.png,cat,x\n")
    (root / "classes.txt").write_bytes("cat\ndog\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(SchemaError) as info:
        Dataset.from_folder(root)
    msg = _one_line(info.value)
    assert str(root / "classes.txt") in msg and "not UTF-8" in msg
