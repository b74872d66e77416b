"""Known answers for slice definitions: YAML -> polars expressions, expansion, errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices.spec import (
    Slice,
    SliceSpec,
    expand_slices,
    load_slices,
    parse_where,
    save_slices,
    slices_to_yaml,
)

REPO = Path(__file__).resolve().parents[2]

FRAME = pl.DataFrame(
    {
        "vendor": ["vendor_a", "vendor_b", "vendor_c", "vendor_a", None, "vendor_c"],
        "scanner": ["scanner_a", "scanner_a", "scanner_c", "scanner_b", "scanner_c", "scanner_c"],
        "width": [50, 100, 150, 500, 600, None],
        "brightness": [0.1, 0.8, 0.95, None, 0.5, 0.3],
        "ok": [True, False, True, None, False, True],
        "day": [
            dt.date(2024, 1, 1),
            dt.date(2024, 1, 15),
            dt.date(2024, 2, 1),
            None,
            dt.date(2024, 3, 1),
            dt.date(2024, 1, 1),
        ],
    }
).with_columns(
    pl.col("vendor").cast(pl.Categorical).alias("vendor_cat"),
    pl.col("scanner").cast(pl.Enum(["scanner_a", "scanner_b", "scanner_c"])).alias("scanner_enum"),
)


def rows(mask: pl.Series) -> list[int]:
    return [int(i) for i in mask.arg_true().to_list()]


def one_slice(where_yaml: str) -> Slice:
    [spec] = load_slices(f"- name: s\n  where: {where_yaml}\n", columns=FRAME.columns)
    [s] = spec.expand(FRAME)
    return s


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("{vendor: vendor_a}", [0, 3]),
        ("{vendor: {eq: vendor_a}}", [0, 3]),
        ("{vendor: {ne: vendor_a}}", [1, 2, 4, 5]),  # null is not equal to vendor_a
        ("{vendor: {in: [vendor_b, vendor_c]}}", [1, 2, 5]),
        ("{vendor: {not_in: [vendor_a, vendor_b]}}", [2, 4, 5]),
        ("{width: {gt: 100}}", [2, 3, 4]),
        ("{width: {gte: 100}}", [1, 2, 3, 4]),
        ("{width: {lt: 150}}", [0, 1]),
        ("{width: {lte: 150}}", [0, 1, 2]),
        ("{width: {between: [100, 500]}}", [1, 2, 3]),
        ("{width: {gt: 100, lte: 500}}", [2, 3]),
        ("{width: {is_null: true}}", [5]),
        ("{width: {is_null: false}}", [0, 1, 2, 3, 4]),
        ("{width: {in: [50, 600.0]}}", [0, 4]),
        ("{width: 100.0}", [1]),
        ("{brightness: {gte: 0.8}}", [1, 2]),
        ("{brightness: {between: [0.3, 0.5]}}", [4, 5]),
        ("{ok: true}", [0, 2, 5]),
        ("{ok: {ne: true}}", [1, 3, 4]),
        ("{day: 2024-01-01}", [0, 5]),
        ("{day: {gte: 2024-01-15}}", [1, 2, 4]),
        ("{day: {between: [2024-01-01, 2024-01-31]}}", [0, 1, 5]),
        ("{day: {in: [2024-02-01, 2024-03-01]}}", [2, 4]),
        ("{scanner: {gt: scanner_b}}", [2, 4, 5]),
        ("{vendor_cat: vendor_c}", [2, 5]),
        ("{vendor_cat: {in: [vendor_a, vendor_x]}}", [0, 3]),
        ("{scanner_enum: {ne: scanner_c}}", [0, 1, 3]),
        ("{vendor: vendor_c, scanner: scanner_c}", [2, 5]),
        ("{all: [{vendor: vendor_c}, {scanner: scanner_c}]}", [2, 5]),
        ("{any: [{brightness: {gte: 0.8}}, {width: {gt: 500}}]}", [1, 2, 4]),
        ("{not: {vendor: vendor_a}}", [1, 2, 4, 5]),
        ("{not: {any: [{vendor: vendor_a}, {width: {is_null: true}}]}}", [1, 2, 4]),
        ("{all: [{not: {vendor: {in: [vendor_a]}}}, {ok: false}]}", [1, 4]),
    ],
)
def test_operator_masks(where: str, expected: list[int]) -> None:
    s = one_slice(where)
    assert rows(s.mask(FRAME)) == expected
    assert s.mask(FRAME).null_count() == 0
    # the expression compiled without a schema (parse_where) selects the same rows
    [spec] = load_slices(f"- name: s\n  where: {where}\n")
    expr, cols = parse_where(spec.where or {})
    assert cols == s.columns
    assert rows(FRAME.select(expr).to_series()) == expected


def test_columns_in_order_of_first_use() -> None:
    s = one_slice("{any: [{width: {gt: 1}}, {vendor: a, width: 3}, {scanner: {is_null: true}}]}")
    assert s.columns == ("width", "vendor", "scanner")
    assert s.source == "<string>:1"
    assert s.definition == {
        "name": "s",
        "where": {
            "any": [
                {"width": {"gt": 1}},
                {"vendor": "a", "width": 3},
                {"scanner": {"is_null": True}},
            ]
        },
    }


def test_parse_where_plain_dict() -> None:
    expr, cols = parse_where({"width": {"between": [100, 500]}, "vendor": {"ne": "vendor_a"}})
    assert cols == ("width", "vendor")
    assert rows(FRAME.select(expr).to_series()) == [1, 2]


# --------------------------------------------------------------------------- by expansion


def test_by_expansion_names_masks_and_nulls() -> None:
    specs = load_slices("- by: vendor\n")
    assert specs[0].name == "vendor=*"
    slices = expand_slices(specs, FRAME)
    assert [s.name for s in slices] == [
        "vendor=vendor_a",
        "vendor=vendor_b",
        "vendor=vendor_c",
        "vendor=<null>",
    ]
    assert [rows(s.mask(FRAME)) for s in slices] == [[0, 3], [1], [2, 5], [4]]
    assert slices[0].definition == {"name": "vendor=vendor_a", "where": {"vendor": "vendor_a"}}
    assert slices[-1].definition == {
        "name": "vendor=<null>",
        "where": {"vendor": {"is_null": True}},
    }
    assert all(s.columns == ("vendor",) and s.source == "<string>:1" for s in slices)


def test_by_two_columns_sorted_nulls_last() -> None:
    slices = expand_slices(load_slices("- by: [vendor, scanner]\n"), FRAME)
    assert [(s.name, rows(s.mask(FRAME))) for s in slices] == [
        ("vendor=vendor_a & scanner=scanner_a", [0]),
        ("vendor=vendor_a & scanner=scanner_b", [3]),
        ("vendor=vendor_b & scanner=scanner_a", [1]),
        ("vendor=vendor_c & scanner=scanner_c", [2, 5]),
        ("vendor=<null> & scanner=scanner_c", [4]),
    ]
    assert slices[-1].definition["where"] == {
        "vendor": {"is_null": True},
        "scanner": "scanner_c",
    }


def test_by_min_n_drops_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="datacentric.slices.spec"):
        slices = expand_slices(load_slices("- by: [vendor, scanner]\n  min_n: 2\n"), FRAME)
    assert [s.name for s in slices] == ["vendor=vendor_c & scanner=scanner_c"]
    assert "dropped 4 of 5 value combinations with fewer than min_n=2 rows" in caplog.text
    assert "<string>:1" in caplog.text


@pytest.mark.parametrize(
    ("column", "names", "masks"),
    [
        ("ok", ["ok=false", "ok=true", "ok=<null>"], [[1, 4], [0, 2, 5], [3]]),
        (
            "day",
            ["day=2024-01-01", "day=2024-01-15", "day=2024-02-01", "day=2024-03-01", "day=<null>"],
            [[0, 5], [1], [2], [4], [3]],
        ),
        (
            "width",
            ["width=50", "width=100", "width=150", "width=500", "width=600", "width=<null>"],
            [[0], [1], [2], [3], [4], [5]],
        ),
        (
            "vendor_cat",
            [
                "vendor_cat=vendor_a",
                "vendor_cat=vendor_b",
                "vendor_cat=vendor_c",
                "vendor_cat=<null>",
            ],
            [[0, 3], [1], [2, 5], [4]],
        ),
    ],
)
def test_by_dtypes(column: str, names: list[str], masks: list[list[int]]) -> None:
    slices = expand_slices(load_slices(f"- by: {column}\n"), FRAME)
    assert [s.name for s in slices] == names
    assert [rows(s.mask(FRAME)) for s in slices] == masks


def test_by_slices_partition_the_rows() -> None:
    for by in ("vendor", "[vendor, scanner]", "[ok, day]", "brightness"):
        slices = expand_slices(load_slices(f"- by: {by}\n"), FRAME)
        total = sum(int(s.mask(FRAME).sum()) for s in slices)
        assert total == FRAME.height, by


def test_by_unsupported_dtype() -> None:
    frame = pl.DataFrame({"tags": [[1, 2], [3]]})
    with pytest.raises(SchemaError, match=r"<string>:1: by \['tags'\]: column 'tags' has dtype"):
        expand_slices(load_slices("- by: tags\n"), frame)


# --------------------------------------------------------------------------- round trip

ROUND_TRIP_YAML = """\
slices:
  - name: dark
    where: {scanner: scanner_c}
  - name: wide_or_bright
    where:
      any:
        - {width: {gt: 100, lte: 500}}
        - {brightness: {gte: 0.8}}
  - name: not_a
    where: {not: {vendor: {in: [vendor_a]}}}
  - name: early
    where: {day: {between: [2024-01-01, 2024-01-31]}, ok: true}
  - by: vendor
  - by: [ok, day]
    min_n: 1
"""


def _names_and_masks(slices: list[Slice]) -> list[tuple[str, list[int]]]:
    return [(s.name, rows(s.mask(FRAME))) for s in slices]


def test_round_trip_expanded_slices(tmp_path: Path) -> None:
    slices = expand_slices(load_slices(ROUND_TRIP_YAML, columns=FRAME.columns), FRAME)
    path = save_slices(slices, tmp_path / "sub" / "saved.yaml")
    assert path == tmp_path / "sub" / "saved.yaml"
    assert [p.name for p in path.parent.iterdir()] == ["saved.yaml"]  # no temp file left
    again = expand_slices(load_slices(path), FRAME)
    assert _names_and_masks(again) == _names_and_masks(slices)
    assert [s.definition for s in again] == [s.definition for s in slices]
    assert "vendor=<null>" in [s.name for s in again]
    assert again[0].source == f"{path}:2"


def test_round_trip_specs_and_dicts(tmp_path: Path) -> None:
    specs = load_slices(ROUND_TRIP_YAML)
    text = slices_to_yaml(specs)
    assert load_slices(text) == specs
    path = save_slices([*specs, {"name": "extra", "where": {"width": 50}}], tmp_path / "s.yml")
    again = load_slices(str(path))
    assert [s.name for s in again][-1] == "extra"
    assert _names_and_masks(expand_slices(again[:-1], FRAME)) == _names_and_masks(
        expand_slices(specs, FRAME)
    )
    # overwriting is atomic and replaces the content
    save_slices([{"by": "vendor"}], path)
    assert [s.name for s in load_slices(path)] == ["vendor=*"]


def test_slices_to_yaml_rejects_duplicates_and_bad_items() -> None:
    dark = {"name": "dark", "where": {"scanner": "scanner_c"}}
    with pytest.raises(SchemaError, match="'dark' is defined twice"):
        slices_to_yaml([dark, dark])
    with pytest.raises(InvalidParameterError, match="received int at position 1"):
        slices_to_yaml([dark, 3])  # type: ignore[list-item]


def test_top_level_list_and_file_sources(tmp_path: Path) -> None:
    assert [s.name for s in load_slices("- by: vendor\n- {name: x, where: {width: 1}}\n")] == [
        "vendor=*",
        "x",
    ]
    path = tmp_path / "s.yaml"
    path.write_text("# comment\nslices:\n  - by: vendor\n", encoding="utf-8")
    for arg in (path, str(path)):
        [spec] = load_slices(arg)
        assert spec.source == f"{path}:3"
    assert load_slices("slices: []") == []
    with pytest.raises(InvalidParameterError, match=r"slice file 'missing\.yaml' does not exist"):
        load_slices("missing.yaml")


def test_slice_spec_programmatic() -> None:
    spec = SliceSpec("wide", where={"width": {"gt": 100}})
    assert spec.columns == ("width",)
    assert SliceSpec(by=("vendor", "scanner")).columns == ("vendor", "scanner")
    by = SliceSpec(by=("vendor",))
    assert dataclasses.replace(by, min_n=3).definition == {"by": "vendor", "min_n": 3}
    assert hash(by) == hash(SliceSpec(by=("vendor",)))
    [s] = spec.expand(FRAME)
    assert s == spec.expand(FRAME)[0] and hash(s) == hash(spec.expand(FRAME)[0])
    with pytest.raises(SchemaError, match="exactly one of 'where'"):
        SliceSpec("nothing")
    with pytest.raises(SchemaError, match="a 'by' entry is named after its columns"):
        SliceSpec("mine", by=("vendor",))
    with pytest.raises(SchemaError, match=r"<where>: where: unknown operator 'bogus'"):
        parse_where({"width": {"bogus": 1}})


# --------------------------------------------------------------------------- errors

COLS = ["sample_id", "vendor", "scanner", "width"]


@pytest.mark.parametrize(
    ("text", "columns", "prefix", "fragments"),
    [
        (  # unknown column, block style: the line of the column key
            "slices:\n  - name: a\n    where:\n      all:\n        - {scanner: scanner_c}\n"
            "        - {vendr: vendor_c}\n",
            COLS,
            "<string>:6:",
            ["unknown column 'vendr'", "did you mean 'vendor'?", "'sample_id', 'vendor'"],
        ),
        (
            "- by: vendor\n- by:\n    - vendor\n    - scannr\n",
            COLS,
            "<string>:4:",
            ["unknown column 'scannr'", "did you mean 'scanner'?", "Available columns"],
        ),
        (
            "slices:\n  - name: a\n    where:\n      width: {gtee: 3}\n",
            None,
            "<string>:4:",
            ["unknown operator 'gtee'", "did you mean 'gte'?", "'between'", "'is_null'"],
        ),
        (
            "slices:\n  - name: a\n    where: {vendor: [x\n  - by: b\n",
            None,
            "<string>:4:",
            ["not valid YAML", "flow sequence (from line 3)"],
        ),
        ("- by: a\n\t- by: b\n", None, "<string>:2:", ["not valid YAML"]),
        (
            "- name: a\n  where:\n    width:\n      in: 3\n",
            None,
            "<string>:4:",
            ["'in' on column 'width' takes a non-empty list, received 3"],
        ),
        (
            "- name: a\n\n  where: {width: {between: [1]}}\n",
            None,
            "<string>:3:",
            ["'between' on column 'width' takes [low, high]", "received [1]"],
        ),
        (
            "- name: a\n  where: {width: {between: [5, 1]}}\n",
            None,
            "<string>:2:",
            ["low <= high", "[5, 1]"],
        ),
        ("- by: x\n- name: 5\n  where: {w: 1}\n", None, "<string>:2:", ["name", "received 5"]),
        (
            "- name: a\n  where: {w: 1}\n- by: v\n- name: a\n  where: {w: 2}\n",
            None,
            "<string>:4:",
            ["slice name 'a' is defined twice (first at <string>:1)"],
        ),
        ("- by: v\n- by: v\n", None, "<string>:2:", ["'v=*' is defined twice"]),
        (
            "- name: a\n  where:\n    all: []\n",
            None,
            "<string>:3:",
            ["'all' needs a non-empty list of conditions, received []"],
        ),
        ("- by: v\n- name: a\n", None, "<string>:2:", ["exactly one of 'where'", "['name']"]),
        ("- {name: a, by: v, where: {v: 1}}\n", None, "<string>:1:", ["exactly one of 'where'"]),
        ("- where: {v: 1}\n", None, "<string>:1:", ["needs a name", "received None"]),
        ("- name: a\n  wher: {v: 1}\n", None, "<string>:2:", ["unknown key 'wher'", "'where'?"]),
        ("- name: a\n  where:\n    v: 1\n    v: 2\n", None, "<string>:4:", ["'v' appears twice"]),
        ("slice:\n  - by: v\n", None, "<string>:1:", ["top-level key 'slice'", "'slices'?"]),
        ("", None, "<string>:", ["received nothing"]),
        ("- by: v\n  min_n: 0\n", None, "<string>:2:", ["'min_n' must be a positive integer"]),
        ("- name: a\n  where: {v: 1}\n  min_n: 3\n", None, "<string>:3:", ["only to 'by'"]),
        ("- by: v\n  name: x\n", None, "<string>:2:", ["a 'by' entry takes no name"]),
        ("- by: [v, v]\n", None, "<string>:1:", ["distinct column names"]),
        ("- name: a\n  where: {gte: 3}\n", None, "<string>:2:", ["received 'gte'"]),
        ("- name: a\n  where: {v: null}\n", None, "<string>:2:", ["{v: {is_null: true}}"]),
        ("- name: a\n  where: {v: [1, 2]}\n", None, "<string>:2:", ["{v: {in: [a, b]}}"]),
        (
            "- name: a\n  where: {v: {gt: true}}\n",
            None,
            "<string>:2:",
            ["a number or a date, received True", "eq or ne"],
        ),
        ("- name: a\n  where: {v: {is_null: 1}}\n", None, "<string>:2:", ["true or false"]),
        ("- name: a\n  where: {not: [{v: 1}]}\n", None, "<string>:2:", ["non-empty mapping"]),
        ("- hello\n", None, "<string>:1:", ["a slice entry must be a mapping"]),
    ],
)
def test_errors_name_file_and_line(
    text: str, columns: list[str] | None, prefix: str, fragments: list[str]
) -> None:
    with pytest.raises(SchemaError) as info:
        load_slices(text, columns=columns)
    message = str(info.value)
    assert message.startswith(prefix), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_error_in_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("slices:\n  - by: vendor\n  - name: x\n    where: {vendro: a}\n")
    with pytest.raises(SchemaError, match=r"bad\.yaml:4: slice 'x' uses unknown column 'vendro'"):
        load_slices(path, columns=COLS)
    specs = load_slices(path)  # without columns: checked at expansion, same form
    with pytest.raises(SchemaError) as info:
        expand_slices(specs, FRAME)
    assert str(info.value).startswith(f"{path}:4: slice 'x' uses unknown column 'vendro'")
    assert "did you mean 'vendor'?" in str(info.value)


def test_string_vs_numeric_mismatch_at_expansion() -> None:
    specs = load_slices("- name: narrow\n  where:\n    width: {lt: '100'}\n")
    with pytest.raises(SchemaError) as info:
        expand_slices(specs, FRAME)
    message = str(info.value)
    assert message.startswith("<string>:3: slice 'narrow': 'lt' compares column 'width'")
    assert "Int64" in message and "'100'" in message and "unquoted" in message
    for where, needle in [
        ("{vendor: 3}", "column 'vendor' of dtype String with 3"),
        ("{width: {in: [1, x]}}", "column 'width' of dtype Int64 with 'x'"),
        ("{ok: 'yes'}", "column 'ok' of dtype Boolean"),
        ("{day: {gt: '2024-01-01'}}", "column 'day' of dtype Date"),
    ]:
        [spec] = load_slices(f"- name: s\n  where: {where}\n")
        with pytest.raises(SchemaError, match="<string>:2: slice 's': "):
            spec.expand(FRAME)
        with pytest.raises(SchemaError, match=needle):
            spec.expand(FRAME)


def test_where_name_colliding_with_by_slice() -> None:
    specs = load_slices("- name: vendor=vendor_a\n  where: {vendor: vendor_a}\n- by: vendor\n")
    with pytest.raises(SchemaError, match=r"<string>:3: slice name 'vendor=vendor_a' is produced"):
        expand_slices(specs, FRAME)


# --------------------------------------------------------------------------- demo data


def test_demo_slices_on_demo_manifest(tmp_path: Path) -> None:
    from datacentric.datasets import load_demo

    manifest = load_demo(tmp_path / "demo", commit=False).manifest
    specs = load_slices(REPO / "slices" / "demo.yaml", columns=manifest.columns)
    assert [s.name for s in specs] == [
        "scanner=*",
        "vendor=*",
        "writer_group=*",
        "dark_scanner",
        "noisy_vendor",
        "noisy_vendor_dark_scanner",
    ]
    slices = expand_slices(specs, manifest)
    sizes = {s.name: int(s.mask(manifest).sum()) for s in slices}
    assert list(sizes) == [
        "scanner=scanner_a",
        "scanner=scanner_b",
        "scanner=scanner_c",
        "vendor=vendor_a",
        "vendor=vendor_b",
        "vendor=vendor_c",
        "writer_group=adult",
        "writer_group=school",
        "dark_scanner",
        "noisy_vendor",
        "noisy_vendor_dark_scanner",
    ]
    n = manifest.height
    for column in ("scanner", "vendor", "writer_group"):
        assert sum(v for k, v in sizes.items() if k.startswith(f"{column}=")) == n
    assert sizes["dark_scanner"] == sizes["scanner=scanner_c"]
    assert sizes["noisy_vendor"] == sizes["vendor=vendor_c"]
    both = manifest.filter((pl.col("scanner") == "scanner_c") & (pl.col("vendor") == "vendor_c"))
    assert sizes["noisy_vendor_dark_scanner"] == both.height
    # shares from docs/demo-data.md (scanner_c 30 %, vendor_c 0.7 * 10 % + 0.3 * 90 % = 34 %),
    # loosely
    assert 0.22 * n < sizes["dark_scanner"] < 0.38 * n
    assert 0.26 * n < sizes["noisy_vendor"] < 0.42 * n
    assert 0 < sizes["noisy_vendor_dark_scanner"] < sizes["dark_scanner"]
    assert sizes["noisy_vendor_dark_scanner"] > 0.8 * sizes["dark_scanner"]  # 90 % of its scans
