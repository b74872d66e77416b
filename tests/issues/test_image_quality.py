"""ImageQualityFinder: each sub-type on crafted images, severities, parameters, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image, ImageFilter

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.base import ISSUE_SCHEMA
from datacentric.issues.context import ScanContext
from datacentric.issues.image_quality import ImageQualityFinder
from datacentric.issues.registry import REGISTRY

SUBTYPES = ImageQualityFinder.reports


def normal(seed: int, size: tuple[int, int] = (32, 32)) -> np.ndarray:
    """An ordinary colour image: mid-range colour noise (sharp, informative, not gray)."""
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, (*size, 3), dtype=np.uint8)


def blurred_square(radius: float) -> np.ndarray:
    img = np.zeros((32, 32, 3), np.uint8)
    img[8:24, 8:24] = (230, 120, 40)
    img[..., 2] += 30  # keep it colour
    out = Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)) if radius else img
    return np.asarray(out)


def find(images: list[np.ndarray], finder: ImageQualityFinder | None = None) -> pl.DataFrame:
    ds = Dataset.from_arrays(images, ["a"] * len(images), classes=["a"])
    return (finder or ImageQualityFinder()).find(ScanContext(ds))


def flagged(table: pl.DataFrame, kind: str) -> list[str]:
    rows = table.filter(pl.col("is_issue") & (pl.col("issue_type") == kind))
    return rows["sample_id"].to_list()


@pytest.fixture(scope="module")
def crafted() -> pl.DataFrame:
    """Ten ordinary images (ids 0-9) and one of each problem (ids 10-16)."""
    imgs = [normal(i) for i in range(10)]
    imgs.append(np.full((32, 32, 3), (4, 2, 16), np.uint8))  # 10 dark
    white = normal(10)
    white[...] = np.clip(white.astype(int) + 160, 0, 255)
    imgs.append(white)  # 11 bright (washed out)
    imgs.append(blurred_square(3.0))  # 12 blurry
    imgs.append(np.full((32, 32, 3), (120, 80, 40), np.uint8))  # 13 uniform: low information
    imgs.append(normal(13, (128, 128)))  # 14 odd size
    imgs.append(normal(14, (3, 30)))  # 15 odd aspect (and odd size)
    gray = normal(15)[..., 0]
    imgs.append(np.repeat(gray[..., None], 3, axis=2))  # 16 grayscale
    return find(imgs)


def test_one_row_per_sample_and_subtype(crafted: pl.DataFrame) -> None:
    assert crafted.height == 17 * len(SUBTYPES)
    assert set(crafted["issue_type"].unique()) == set(SUBTYPES)
    assert crafted.group_by("sample_id", "issue_type").len()["len"].max() == 1
    for col, dtype in ISSUE_SCHEMA.items():
        assert crafted.schema[col] == dtype
    assert crafted.schema["value"] == pl.Float64 and crafted.schema["threshold"] == pl.Float64


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("dark", ["10"]),
        ("bright", ["11"]),
        ("blurry", ["12"]),
        ("low_information", ["10", "13"]),
        ("odd_size", ["14", "15"]),
        ("odd_aspect_ratio", ["15"]),
        ("grayscale", ["16"]),
    ],
)
def test_each_subtype_flags_the_crafted_image(
    crafted: pl.DataFrame, kind: str, expected: list[str]
) -> None:
    assert flagged(crafted, kind) == expected


def test_severity_is_above_half_exactly_when_flagged(crafted: pl.DataFrame) -> None:
    assert crafted["severity"].is_between(0.0, 1.0).all()
    bad = crafted.filter(pl.col("is_issue") != (pl.col("severity") > 0.5))
    assert bad.height == 0, bad


def test_details_name_the_measurement_and_action(crafted: pl.DataFrame) -> None:
    issues = crafted.filter(pl.col("is_issue"))
    assert issues["detail"].null_count() == 0
    assert (
        crafted.filter(~pl.col("is_issue"))["detail"].null_count() == crafted.height - issues.height
    )
    dark = issues.filter(pl.col("issue_type") == "dark").row(0, named=True)
    assert dark["detail"].startswith("Very dark: 99th-percentile brightness 0.02 < 0.32")
    assert "exposure" in dark["detail"]
    assert dark["value"] == pytest.approx(0.02, abs=0.01) and dark["threshold"] == 0.32
    odd = issues.filter(pl.col("issue_type") == "odd_size", pl.col("sample_id") == "14")
    assert "128x128" in odd["detail"][0] and "16.0x larger" in odd["detail"][0]
    assert "(32x32;" in odd["detail"][0]
    aspect = issues.filter(pl.col("issue_type") == "odd_aspect_ratio")["detail"][0]
    assert aspect.startswith("Odd aspect ratio 30x3 (10.0:1, limit 3:1)")
    gray = issues.filter(pl.col("issue_type") == "grayscale")["detail"][0]
    assert "1 of 17 readable images are grayscale" in gray


def test_severity_grows_past_the_threshold() -> None:
    imgs = [np.full((8, 8, 3), (v, v // 2, v // 3), np.uint8) for v in (80, 40, 10, 0)]
    dark = find(imgs).filter(pl.col("issue_type") == "dark")
    sev = dark["severity"].to_list()
    assert dark["is_issue"].all()
    assert sev == sorted(sev) and sev[-1] == 1.0
    sizes = [normal(i, (32, 32)) for i in range(9)]
    sizes += [normal(9, (128, 128)), normal(10, (512, 512))]
    odd = find(sizes).filter(pl.col("issue_type") == "odd_size").sort("value")
    assert odd["is_issue"].to_list() == [False] * 9 + [True, True]
    assert odd["value"][-2:].to_list() == [16.0, 256.0]
    assert 0.5 < odd["severity"][-2] < odd["severity"][-1] == 1.0


def test_smaller_odd_size_and_fences_when_sizes_vary() -> None:
    same = [normal(i) for i in range(9)] + [normal(9, (8, 8))]
    t = find(same).filter(pl.col("issue_type") == "odd_size", pl.col("is_issue"))
    assert t["sample_id"].to_list() == ["9"] and "16.0x smaller" in t["detail"][0]
    # sizes spread from 16 to 512 px: 20x the median area is inside the Tukey fences
    sides = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
    varied = [normal(i, (s, s)) for i, s in enumerate(sides)]
    assert flagged(find(varied), "odd_size") == []


def test_grayscale_is_not_flagged_in_a_grayscale_dataset() -> None:
    imgs = [normal(i)[..., 0] for i in range(6)] + [normal(7)]
    t = find(imgs)
    assert flagged(t, "grayscale") == []
    gray_rows = t.filter(pl.col("issue_type") == "grayscale")
    assert gray_rows["value"].to_list() == [1.0] * 6 + [0.0]
    assert gray_rows["threshold"].null_count() == 7
    assert flagged(find(imgs, ImageQualityFinder(grayscale_max_fraction=1.0)), "grayscale") == [
        str(i) for i in range(6)
    ]


def test_uniform_image_is_low_information_not_blurry() -> None:
    t = find([normal(0), np.full((16, 16, 3), (200, 10, 10), np.uint8)])
    assert flagged(t, "low_information") == ["1"]
    blurry = t.filter(pl.col("issue_type") == "blurry", pl.col("sample_id") == "1").row(
        0, named=True
    )
    assert blurry["value"] == 1.0 and not blurry["is_issue"] and blurry["severity"] == 0.0


def test_sharp_square_is_not_blurry_but_blurred_copy_is() -> None:
    t = find([blurred_square(0), blurred_square(1.0), blurred_square(3.0)])
    b = t.filter(pl.col("issue_type") == "blurry")
    assert b["value"][0] < b["value"][1] < b["value"][2]
    assert b["is_issue"].to_list() == [False, False, True]


def test_thresholds_are_parameters() -> None:
    imgs = [normal(0), np.full((8, 8, 3), (40, 30, 50), np.uint8)]
    assert flagged(find(imgs), "dark") == ["1"]
    assert flagged(find(imgs, ImageQualityFinder(dark_threshold=0.1)), "dark") == []
    assert flagged(find(imgs, ImageQualityFinder(dark_threshold=0.9)), "dark") == ["0", "1"]
    tall = [normal(0), normal(1, (40, 20))]
    assert flagged(find(tall), "odd_aspect_ratio") == []
    lax = ImageQualityFinder(odd_aspect_ratio_threshold=1.5)
    assert flagged(find(tall, lax), "odd_aspect_ratio") == ["1"]


def test_unreadable_images_have_no_rows(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    Image.fromarray(normal(0)).save(tmp_path / "img/ok.png")
    (tmp_path / "img/bad.png").write_bytes(b"garbage")
    m = pl.DataFrame(
        {
            "sample_id": ["ok", "bad", "gone"],
            "image": ["img/ok.png", "img/bad.png", "x.png"],
            "label": ["a", "a", None],
        }
    )
    t = ImageQualityFinder().find(ScanContext(Dataset(m, ["a"], tmp_path)))
    assert t["sample_id"].unique().to_list() == ["ok"]
    assert t.height == len(SUBTYPES)
    m2 = m.filter(pl.col("sample_id") != "ok")
    empty = ImageQualityFinder().find(ScanContext(Dataset(m2, ["a"], tmp_path)))
    assert empty.height == 0 and "value" in empty.columns


@pytest.mark.parametrize(
    "params",
    [
        {"dark_threshold": 2},
        {"bright_threshold": -0.1},
        {"blurry_threshold": "high"},
        {"low_information_threshold": 1.5},
        {"odd_size_threshold": 0.5},
        {"odd_size_iqr": -1},
        {"odd_aspect_ratio_threshold": 0.9},
        {"grayscale_max_fraction": 2},
    ],
)
def test_invalid_parameters_raise(params: dict) -> None:
    name = next(iter(params))
    with pytest.raises(InvalidParameterError, match=name):
        ImageQualityFinder(**params)


def test_declaration_and_params() -> None:
    assert REGISTRY.get("image_quality") is ImageQualityFinder
    assert ImageQualityFinder.requires == frozenset({"images"})
    params = ImageQualityFinder(dark_threshold=0.25).get_params()
    assert params["dark_threshold"] == 0.25 and params["odd_size_threshold"] == 10.0
    assert set(params) == {
        "dark_threshold",
        "bright_threshold",
        "blurry_threshold",
        "low_information_threshold",
        "odd_size_threshold",
        "odd_size_iqr",
        "odd_aspect_ratio_threshold",
        "grayscale_max_fraction",
    }
