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
ABSOLUTE = ImageQualityFinder(mode="absolute")
RELATIVE_TYPES = ("dark", "bright", "blurry", "low_information", "odd_aspect_ratio")


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
    dark = find(imgs, ABSOLUTE).filter(pl.col("issue_type") == "dark")
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
    t = find([normal(0), np.full((16, 16, 3), (200, 10, 10), np.uint8)], ABSOLUTE)
    assert flagged(t, "low_information") == ["1"]
    blurry = t.filter(pl.col("issue_type") == "blurry", pl.col("sample_id") == "1").row(
        0, named=True
    )
    assert blurry["value"] == 1.0 and not blurry["is_issue"] and blurry["severity"] == 0.0


def test_sharp_square_is_not_blurry_but_blurred_copy_is() -> None:
    t = find([blurred_square(0), blurred_square(1.0), blurred_square(3.0)], ABSOLUTE)
    b = t.filter(pl.col("issue_type") == "blurry")
    assert b["value"][0] < b["value"][1] < b["value"][2]
    assert b["is_issue"].to_list() == [False, False, True]


def test_thresholds_are_parameters() -> None:
    imgs = [normal(0), np.full((8, 8, 3), (40, 30, 50), np.uint8)]
    assert flagged(find(imgs, ABSOLUTE), "dark") == ["1"]
    assert (
        flagged(find(imgs, ImageQualityFinder(dark_threshold=0.1, mode="absolute")), "dark") == []
    )
    both = ImageQualityFinder(dark_threshold=0.9, mode="absolute")
    assert flagged(find(imgs, both), "dark") == ["0", "1"]
    tall = [normal(0), normal(1, (40, 20))]
    assert flagged(find(tall, ABSOLUTE), "odd_aspect_ratio") == []
    lax = ImageQualityFinder(odd_aspect_ratio_threshold=1.5, mode="absolute")
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
        {"mode": "dataset"},
        {"mode": None},
        {"z_threshold": 0},
        {"z_threshold": -1.0},
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
        "mode",
        "z_threshold",
    }
    assert params["mode"] == "relative" and params["z_threshold"] == 3.5


# ------------------------------------------------------------- relative to the dataset


def lowres_digits(n: int, seed: int = 0) -> list[np.ndarray]:
    """Real digits upsampled 8x8 -> 32x32 without smoothing or noise: few grey levels."""
    from sklearn.datasets import load_digits

    digits = load_digits().images
    idx = np.random.default_rng(seed).permutation(len(digits))[:n]
    out = []
    for i in idx:
        ink = (digits[i] * 255 / 16).astype(np.uint8)
        big = Image.fromarray(255 - ink).resize((32, 32), Image.Resampling.NEAREST)
        out.append(np.asarray(big.convert("RGB")))
    return out


def flag_share(table: pl.DataFrame) -> dict[str, float]:
    shares = table.group_by("issue_type").agg(pl.col("is_issue").mean())
    return dict(shares.rows())


def test_uniformly_low_resolution_images_flag_almost_nothing() -> None:
    """The issue's case: fixed thresholds flag most of such a dataset low-information."""
    imgs = lowres_digits(300)
    relative = find(imgs)
    absolute = find(imgs, ABSOLUTE)
    assert flag_share(absolute)["low_information"] > 0.7  # what the issue met
    shares = flag_share(relative)
    assert max(shares.values()) <= 0.01, shares  # 0 to 3 of 300, per sub-type
    assert relative["is_issue"].sum() <= 3
    # the statistic and the threshold are the same in both modes, only the rule differs
    info = relative.filter(pl.col("issue_type") == "low_information")
    assert info["value"].equals(absolute.filter(pl.col("issue_type") == "low_information")["value"])
    assert (info["value"] < 0.375).mean() > 0.7
    assert info["dataset_median"].n_unique() == 1
    assert info["dataset_median"][0] == pytest.approx(float(np.median(info["value"].to_numpy())))


def test_planted_dark_subset_is_flagged_and_nothing_else() -> None:
    """300 ordinary colour images, 9 (3 %) of them darkened: exactly those 9, only as dark."""
    imgs = [normal(i) for i in range(300)]
    dark = [str(i) for i in range(0, 300, 34)][:9]
    for i in map(int, dark):
        imgs[i] = (imgs[i] * 0.25).astype(np.uint8)  # p99 brightness ~0.19
    t = find(imgs)
    assert flagged(t, "dark") == dark
    assert t.filter(pl.col("is_issue"), pl.col("issue_type") != "dark").height == 0
    rows = t.filter(pl.col("issue_type") == "dark", pl.col("is_issue"))
    assert (rows["robust_z"] > 3.5).all() and (rows["value"] < 0.32).all()
    # the detail says why: the value, the floor, the dataset's median and the z-score
    med = rows["dataset_median"][0]
    assert 0.7 < med < 0.8
    first = rows.row(0, named=True)
    assert first["detail"] == (
        f"Very dark: 99th-percentile brightness {first['value']:.2f} < 0.32, unusual for this "
        f"dataset (median {med:.2f}, robust z {first['robust_z']:.1f} > 3.5); check the "
        "exposure or remove it."
    )


def test_dark_dataset_flags_nothing_and_good_dataset_ignores_its_long_tail() -> None:
    night = [(normal(i) * 0.25).astype(np.uint8) for i in range(60)]
    assert flag_share(find(night, ABSOLUTE))["dark"] == 1.0
    assert find(night)["is_issue"].sum() == 0
    # good images with a tail of dimmer ones: unusual for the dataset, but not dark
    tail = [normal(i) for i in range(60)]
    for i in range(50, 60):
        tail[i] = (tail[i] * (0.45 + 0.01 * i - 0.5)).astype(np.uint8)  # p99 0.35..0.43
    t = find(tail)
    dim = t.filter(
        pl.col("issue_type") == "dark", pl.col("sample_id").is_in(list(map(str, range(50, 60))))
    )
    assert (dim["robust_z"] > 3.5).all() and (dim["value"] > 0.32).all()
    assert t["is_issue"].sum() == 0
    # dropping the floor (the loosest threshold) flags on the relative rule alone
    no_floor = find(tail, ImageQualityFinder(dark_threshold=1.0))
    assert flagged(no_floor, "dark") == [str(i) for i in range(50, 60)]


def test_degraded_camera_slice_is_flagged_in_low_resolution_data() -> None:
    """A darker, blurred 6 % slice among upsampled low-res digits: dark in both modes."""
    imgs = lowres_digits(300, seed=1)
    rng = np.random.default_rng(1)
    slice_ids = [str(i) for i in sorted(rng.choice(300, 18, replace=False))]
    for i in map(int, slice_ids):
        soft = Image.fromarray(imgs[i]).filter(ImageFilter.GaussianBlur(1.2))
        imgs[i] = (np.asarray(soft) * rng.uniform(0.18, 0.30)).astype(np.uint8)
    relative, absolute = find(imgs), find(imgs, ABSOLUTE)
    assert flagged(relative, "dark") == flagged(absolute, "dark") == slice_ids
    # ... and the slice's blur is unusual for this sharp, blocky dataset
    blur = relative.filter(pl.col("issue_type") == "blurry", pl.col("sample_id").is_in(slice_ids))
    assert (blur["robust_z"] > 3.5).all()
    others = relative.filter(~pl.col("sample_id").is_in(slice_ids), pl.col("is_issue"))
    assert others.height <= 3  # a low-information digit or two, against ~250 in absolute mode
    assert absolute.filter(~pl.col("sample_id").is_in(slice_ids), pl.col("is_issue")).height > 200


def test_relative_severity_and_columns(crafted: pl.DataFrame) -> None:
    """Severity is min(absolute severity, z / 2 z_threshold); odd_size and grayscale have no z."""
    for kind in RELATIVE_TYPES:
        rows = crafted.filter(pl.col("issue_type") == kind)
        assert rows["robust_z"].null_count() == 0 and rows["dataset_median"].null_count() == 0
        rel = np.clip(rows["robust_z"].to_numpy() / 7.0, 0, 1)
        assert (rows["severity"].to_numpy() <= rel + 1e-12).all()
    for kind in ("odd_size", "grayscale"):
        rows = crafted.filter(pl.col("issue_type") == kind)
        assert rows["robust_z"].null_count() == rows.height == 17
    aspect = crafted.filter(pl.col("issue_type") == "odd_aspect_ratio", pl.col("is_issue"))
    assert "unusual for this dataset (median 1.0:1, robust z" in aspect["detail"][0]


def test_absolute_mode_is_the_fixed_threshold_rule() -> None:
    """mode="absolute" flags exactly value-past-threshold, with the details of before."""
    imgs = lowres_digits(120, seed=2) + [normal(i) for i in range(20)]
    imgs += [(normal(i) * 0.2).astype(np.uint8) for i in range(5)]
    t = find(imgs, ABSOLUTE)
    past = {
        "dark": pl.col("value") < pl.col("threshold"),
        "bright": pl.col("value") > pl.col("threshold"),
        "low_information": pl.col("value") < pl.col("threshold"),
        "odd_aspect_ratio": pl.col("value") > pl.col("threshold"),
    }
    for kind, rule in past.items():
        rows = t.filter(pl.col("issue_type") == kind)
        assert rows["is_issue"].to_list() == rows.select(rule).to_series().to_list(), kind
    flagged_rows = t.filter(pl.col("is_issue"))
    assert flagged_rows.height > 100
    assert not flagged_rows["detail"].str.contains("unusual").any()
    assert flagged(t, "dark") == [str(i) for i in range(140, 145)]


def test_statistics_name_a_condition_that_is_the_dataset_norm(tmp_path: Path) -> None:
    """Relative mode does not flag a dataset-wide condition, but says so in the statistics."""
    from datacentric import scan
    from datacentric.issues import ScanResult

    imgs = lowres_digits(100, seed=3)
    ds = Dataset.from_arrays(imgs, ["a"] * 100, classes=["a"])
    absolute = ABSOLUTE.find(ScanContext(ds))
    past = int(absolute.filter(pl.col("issue_type") == "low_information")["is_issue"].sum())
    assert past > 50
    result = scan(ds, finders=["image_quality"], cross_validate=False)
    stats = result.statistics["image_quality"]
    assert stats["mode"] == "relative" and stats["n_readable"] == 100
    assert stats["norm_not_flagged"] == f"low_information ({past} of 100 images past the threshold)"
    rows = {r["issue_type"]: r for r in stats["sub_types"]}
    assert set(rows) == set(SUBTYPES)
    assert rows["low_information"]["past_threshold"] == past
    for kind, row in rows.items():
        n = result.flagged(kind).height
        assert row["flagged"] == n, kind
    assert rows["grayscale"]["dataset_median"] is None
    result.save(tmp_path / "scan.parquet")
    assert ScanResult.load(tmp_path / "scan.parquet").statistics == result.statistics
    # absolute mode flags them, so nothing is left unflagged
    fixed = ABSOLUTE.statistics(ScanContext(ds))
    assert fixed["norm_not_flagged"] == "none"
    assert {r["issue_type"]: r["flagged"] for r in fixed["sub_types"]}["low_information"] == past


@pytest.mark.parametrize(("n_dark", "flagged_dark"), [(8, 8), (16, 16), (24, 0), (40, 0)])
def test_a_bad_group_is_flagged_below_half_the_data_and_is_the_norm_above(
    n_dark: int, flagged_dark: int
) -> None:
    """40 images, n_dark of them dark: flagged while they are a minority, never the majority."""
    imgs = [normal(i) for i in range(40)]
    for i in range(n_dark):
        imgs[i] = (imgs[i] * 0.25).astype(np.uint8)
    ds = Dataset.from_arrays(imgs, ["a"] * 40, classes=["a"])
    finder = ImageQualityFinder()
    t = finder.find(ScanContext(ds))
    assert flagged(t, "dark") == [str(i) for i in range(flagged_dark)]
    assert t.filter(pl.col("is_issue"), pl.col("issue_type") != "dark").height == 0
    norm = finder.statistics(ScanContext(ds))["norm_not_flagged"]
    assert norm == (
        "none" if 2 * n_dark < 40 else f"dark ({n_dark} of 40 images past the threshold)"
    )
