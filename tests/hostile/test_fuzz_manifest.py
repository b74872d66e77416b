"""Property: any manifest file gives a valid Dataset or a DatacentricError, nothing else.

Random bytes, random CSV text and random column structures (mixed types, nulls, nested
values, odd names) are written as ``manifest.csv`` or ``manifest.parquet`` next to three real
images; ``Dataset.from_folder`` must either load them or raise a ``DatacentricError``
subclass with a one-line message.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacentric import Dataset
from datacentric.exceptions import DatacentricError
from tests.conftest import write_png

IMAGES = ["img/1.png", "img/2.png", "img/3.png"]
NAMES = ["sample_id", "image", "label", "split", "annotator", "site", "", "label ", "Ø"]

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
cell = st.one_of(
    st.none(),
    text,
    st.sampled_from([*IMAGES, "../x.png", "/etc/passwd", "train", "test", "val", "a", "b"]),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
nested = st.one_of(st.lists(st.integers(0, 9), max_size=3), st.dictionaries(text, st.integers()))


POOLS: dict[str, list[Any]] = {
    "sample_id": ["s1", "s2", "s3", 1, 2, "", None],
    "image": [*IMAGES, "../x.png", "/etc/passwd", "img/missing.png", "img", None, 3],
    "label": ["a", "b", "c", None, 1, ""],
    "split": ["train", "test", "val", "dev", None, 0],
    "annotator": ["ann1", None, 7],
}


@st.composite
def frames(draw: st.DrawFn) -> tuple[dict[str, list[Any]], bool]:
    n = draw(st.integers(min_value=0, max_value=6))
    core = draw(st.lists(st.sampled_from(list(POOLS)), max_size=5, unique=True))
    if draw(st.integers(0, 9)) < 7:  # mostly well-formed: the required columns are there
        core = ["sample_id", "image", "label", *[c for c in core if c not in NAMES[:3]]]
    extra = draw(st.lists(st.one_of(st.sampled_from(NAMES[5:]), text), max_size=3))
    allow_nested = draw(st.booleans())
    columns: dict[str, list[Any]] = {}
    for name in [*core, *extra]:
        kind = draw(st.sampled_from(["pool", "pool", "cells", "nested"]))
        if kind == "nested" and allow_nested:
            columns[name] = draw(st.lists(nested, min_size=n, max_size=n))
        elif kind == "pool" or name in POOLS:
            pool = POOLS.get(name, [*IMAGES, "a", "b", None])
            columns[name] = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        else:
            columns[name] = draw(st.lists(cell, min_size=n, max_size=n))
    return columns, allow_nested


def _frame(columns: dict[str, list[Any]]) -> pl.DataFrame | None:
    try:
        return pl.DataFrame(columns, strict=False)
    except Exception:  # not every random structure is a DataFrame; that is not under test
        return None


def _check(root: Path, classes_txt: bytes | None) -> None:
    if classes_txt is not None:
        (root / "classes.txt").write_bytes(classes_txt)
    try:
        ds = Dataset.from_folder(root)
    except DatacentricError as exc:
        assert "\n" not in str(exc), str(exc)
        return
    assert isinstance(ds, Dataset) and len(ds) >= 1
    assert ds.manifest.columns[:4] == ["sample_id", "image", "label", "split"]
    assert ds.manifest["sample_id"].is_unique().all()


def _fresh() -> tuple[tempfile.TemporaryDirectory[str], Path]:
    tmp = tempfile.TemporaryDirectory()
    root = Path(tmp.name)
    for i, rel in enumerate(IMAGES):
        write_png(root / rel, value=i)
    return tmp, root


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
classes_files = st.one_of(st.none(), st.binary(max_size=40), st.just(b"a\nb\n"), st.just(b"a\na\n"))


@SETTINGS
@given(
    data=st.binary(max_size=400),
    suffix=st.sampled_from([".csv", ".parquet"]),
    prefix=st.sampled_from([b"", b"PAR1", b"sample_id,image,label\n"]),
    classes=classes_files,
)
def test_random_bytes(data: bytes, suffix: str, prefix: bytes, classes: bytes | None) -> None:
    tmp, root = _fresh()
    with tmp:
        (root / f"manifest{suffix}").write_bytes(prefix + data)
        _check(root, classes)


@SETTINGS
@given(structure=frames(), parquet=st.booleans(), classes=classes_files)
def test_random_columns(
    structure: tuple[dict[str, list[Any]], bool], parquet: bool, classes: bytes | None
) -> None:
    columns, _ = structure
    frame = _frame(columns)
    if frame is None:
        return
    try:  # not every random frame has a file form (object columns, empty structs, ...)
        buf = io.BytesIO()
        if parquet:
            frame.write_parquet(buf)
        else:
            frame.write_csv(buf)
    except Exception:
        return
    tmp, root = _fresh()
    with tmp:
        (root / f"manifest.{'parquet' if parquet else 'csv'}").write_bytes(buf.getvalue())
        _check(root, classes)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    header = draw(
        st.one_of(
            st.just(["sample_id", "image", "label"]),
            st.just(["sample_id", "image", "label", "split", "site"]),
            st.lists(st.sampled_from(NAMES), max_size=5),
        )
    )
    word = st.one_of(text, st.sampled_from([*IMAGES, "s1", "s2", "a", "b", "c", "train", ""]))
    ragged = draw(st.booleans()) and draw(st.booleans())  # a quarter of the files
    width = st.integers(0, 6) if ragged else st.just(len(header))
    rows = draw(
        st.lists(width.flatmap(lambda w: st.lists(word, min_size=w, max_size=w)), max_size=6)
    )
    sep = draw(st.sampled_from([",", ",", ";", "\t"]))
    quote = draw(st.booleans())

    def line(cells: list[str]) -> str:
        return sep.join(f'"{c}"' if quote else c for c in cells)

    return "\n".join([line(header), *(line(r) for r in rows)]) + draw(st.sampled_from(["", "\n"]))


@SETTINGS
@given(body=csv_texts(), classes=classes_files)
def test_random_csv_text(body: str, classes: bytes | None) -> None:
    tmp, root = _fresh()
    with tmp:
        (root / "manifest.csv").write_text(body, encoding="utf-8")
        _check(root, classes)
