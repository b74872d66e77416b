"""Slice interventions: transforms chosen from measured statistics, training sets, keep rule."""

from __future__ import annotations

import cv2
import numpy as np
import polars as pl
import pytest

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.loop.interventions import (
    augmented_copies,
    build_augmentation,
    diagnose_slice,
    image_statistics,
    keep_intervention,
    matched_augmentation,
    oversample,
    slice_statistics,
)

REST = {"brightness": 0.5, "contrast": 0.2, "blurriness": 0.1, "noise": 0.01}


def _texture(n: int, seed: int, size: int = 32) -> list[np.ndarray]:
    """Smooth random textures (a blurred noise field) with mean ~128."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        field = cv2.GaussianBlur(rng.normal(0, 1, (size, size)), (0, 0), 1.0)
        field = field / field.std() * 40 + 128
        out.append(np.clip(field, 0, 255).astype(np.uint8))
    return out


def _at_full_gap(specs: list[dict]) -> list[dict]:
    """The specs with every range collapsed to its far end (the whole measured gap)."""
    out = []
    for spec in specs:
        params = dict(spec["params"])
        for key, value in params.items():
            if isinstance(value, tuple):
                far = max(value, key=abs)
                params[key] = (far, far)
        out.append({**spec, "params": params})
    return out


# ------------------------------------------------------------------ statistics
def test_noise_estimate_recovers_added_gaussian_noise() -> None:
    rng = np.random.default_rng(0)
    flat = np.clip(128 + rng.normal(0, 0.05 * 255, (64, 64)), 0, 255).astype(np.uint8)
    stats = image_statistics([flat]).row(0, named=True)
    assert stats["noise"] == pytest.approx(0.05, rel=0.1)
    assert stats["brightness"] == pytest.approx(128 / 255, abs=0.01)
    assert stats["contrast"] == pytest.approx(0.05, rel=0.1)


def test_slice_statistics_measures_a_planted_dark_slice() -> None:
    images = _texture(20, 0)
    images = [im if i % 2 else (im * 0.5).astype(np.uint8) for i, im in enumerate(images)]
    ds = Dataset.from_arrays(images, ["a"] * 20, ["a"], metadata={"cam": ["old", "new"] * 10})
    s, r, rest_images = slice_statistics(ds, pl.col("cam") == "old")
    assert s["brightness"] == pytest.approx(r["brightness"] / 2, rel=0.05)
    assert s["contrast"] == pytest.approx(r["contrast"] / 2, rel=0.1)
    assert len(rest_images) == 10
    with pytest.raises(InvalidParameterError, match="the slice has no row in split 'test'"):
        slice_statistics(ds, pl.col("cam") == "old", split="test")
    with pytest.raises(InvalidParameterError, match="boolean mask of 20 rows"):
        slice_statistics(ds, np.ones(3, bool))


# ------------------------------------------------------------------ transform choice
def test_darker_slice_chooses_a_negative_brightness_range_only() -> None:
    [spec] = matched_augmentation(dict(REST, brightness=0.3), REST)
    assert spec["transform"] == "RandomBrightnessContrast"
    assert spec["params"]["brightness_limit"] == (-0.2, -0.1)
    assert spec["params"]["contrast_limit"] == (0.0, 0.0)


def test_within_tolerance_chooses_nothing() -> None:
    close = {"brightness": 0.52, "contrast": 0.21, "blurriness": 0.13, "noise": 0.015}
    assert matched_augmentation(close, REST) == []
    # a sharper, brighter-by-little slice: blur and noise only ever add, never remove
    assert matched_augmentation(dict(REST, blurriness=0.0, noise=0.0), REST) == []


def test_lower_contrast_sets_factor_and_compensating_shift() -> None:
    # contrast halves at the same brightness: a = 0.5, b = 0.5 - 0.5 * 0.5 = 0.25
    [spec] = matched_augmentation(dict(REST, contrast=0.1), REST)
    assert spec["params"]["contrast_limit"] == (-0.5, -0.25)
    assert spec["params"]["brightness_limit"] == (0.125, 0.25)


def test_noisier_slice_adds_the_missing_noise_in_quadrature() -> None:
    [spec] = matched_augmentation(dict(REST, noise=0.05), dict(REST, noise=0.03))
    assert spec["transform"] == "GaussNoise"
    assert spec["params"]["std_range"] == (0.02, 0.04)


def test_full_gap_brightness_contrast_lands_on_the_slice_statistics() -> None:
    rest_images = _texture(8, 1)
    rest = image_statistics(rest_images).median().row(0, named=True)
    target = dict(rest, brightness=rest["brightness"] * 0.6, contrast=rest["contrast"] * 0.7)
    specs = matched_augmentation(target, rest)
    assert [s["transform"] for s in specs] == ["RandomBrightnessContrast"]
    pipeline = build_augmentation(_at_full_gap(specs), seed=0)
    moved = image_statistics([pipeline(image=im)["image"] for im in rest_images]).median()
    assert moved["brightness"].item() == pytest.approx(target["brightness"], abs=0.01)
    assert moved["contrast"].item() == pytest.approx(target["contrast"], rel=0.05)


def test_blur_sigma_is_calibrated_on_the_rest_images() -> None:
    rest_images = _texture(12, 2)
    slice_images = [cv2.GaussianBlur(im, (0, 0), 1.5) for im in _texture(12, 3)]
    rest = image_statistics(rest_images).median().row(0, named=True)
    target = image_statistics(slice_images).median().row(0, named=True)
    blur = [s for s in matched_augmentation(target, rest, calibration=rest_images)]
    blur = [s for s in blur if s["transform"] == "GaussianBlur"]
    assert len(blur) == 1
    sigma = blur[0]["params"]["sigma_limit"][1]
    assert sigma == pytest.approx(1.5, rel=0.25)
    # without images to calibrate on, no blur transform is guessed
    assert all(s["transform"] != "GaussianBlur" for s in matched_augmentation(target, rest))


def test_bad_statistics_and_specs_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="lack noise"):
        matched_augmentation({k: 0.1 for k in ("brightness", "contrast", "blurriness")}, REST)
    with pytest.raises(InvalidParameterError, match="unknown transform 'HorizontalFlip'"):
        build_augmentation([{"transform": "HorizontalFlip", "params": {}}])


# ------------------------------------------------------------------ training sets
def _small(n: int = 6) -> Dataset:
    return Dataset.from_arrays(
        _texture(n, 4),
        ["a", "b"] * (n // 2),
        ["a", "b"],
        metadata={"cam": ["old"] * 2 + ["new"] * (n - 2)},
        split=["train"] * (n - 1) + ["test"],
    )


def test_oversample_repeats_only_the_slice_training_rows() -> None:
    ds = _small()
    out = oversample(ds, pl.col("cam") == "old", 3)
    assert len(out) == len(ds) + 4
    assert out.sample_ids[len(ds) :] == ["0~os1", "1~os1", "0~os2", "1~os2"]
    assert out.manifest["label"].to_list()[len(ds) :] == ["a", "b", "a", "b"]
    assert np.array_equal(out.load_images(["1~os2"]), ds.load_images(["1"]))
    assert len(ds) == 6  # the dataset itself is untouched
    assert oversample(ds, pl.col("cam") == "old", 1) is ds
    with pytest.raises(InvalidParameterError, match="factor"):
        oversample(ds, pl.col("cam") == "old", 0)


def test_augmented_copies_imitate_the_slice_on_the_rest_training_rows() -> None:
    ds = _small()
    spec = {
        "transform": "RandomBrightnessContrast",
        "params": {"brightness_limit": (-0.3, -0.3), "contrast_limit": (0.0, 0.0), "p": 1.0},
    }
    out = augmented_copies(ds, pl.col("cam") == "old", [spec])
    # the rest's train rows are 2, 3, 4 (5 is test); the slice's rows are not copied
    assert out.sample_ids[len(ds) :] == ["2~aug", "3~aug", "4~aug"]
    before = image_statistics(list(ds.load_images(["2", "3", "4"])))["brightness"]
    after = image_statistics(list(out.load_images(["2~aug", "3~aug", "4~aug"])))["brightness"]
    assert (after - before).to_list() == pytest.approx([-0.3] * 3, abs=0.02)
    assert out.manifest.filter(pl.col("sample_id") == "3~aug")["label"].item() == "b"
    assert augmented_copies(ds, pl.col("cam") == "old", []) is ds
    half = augmented_copies(ds, pl.col("cam") == "old", [spec], share=0.5)
    assert len(half) == len(ds) + 2


# ------------------------------------------------------------------ keep rule, diagnosis
def _verdict(rows: list[tuple[str, float, float, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["slice", "diff", "p_value", "verdict"], orient="row")


@pytest.mark.parametrize(
    ("rows", "kept", "reason"),
    [
        (
            [("overall", 0.0, 0.5, "no significant change"), ("cam=old", 0.1, 0.001, "improved")],
            True,
            "cam=old improved by +0.100 (p = 0.001); no slice regressed",
        ),
        (
            [
                ("overall", 0.0, 0.5, "no significant change"),
                ("cam=old", 0.03, 0.2, "no significant change"),
            ],
            False,
            "cam=old did not improve significantly: +0.030 (p = 0.2)",
        ),
        (
            [
                ("overall", -0.02, 0.01, "regressed"),
                ("cam=old", 0.1, 0.001, "improved"),
                ("cam=new", -0.05, 0.001, "regressed"),
            ],
            False,
            "cam=old improved by +0.100 (p = 0.001), but overall, cam=new regressed",
        ),
        ([("overall", 0.1, 0.001, "improved")], False, "cam=old is not in the verdict"),
    ],
)
def test_keep_only_a_significant_gain_without_a_significant_regression(
    rows: list[tuple[str, float, float, str]], kept: bool, reason: str
) -> None:
    got, why = keep_intervention(_verdict(rows), "cam=old")
    assert got is kept
    assert why.startswith(reason)


def test_diagnose_slice_counts_errors_over_seeds() -> None:
    # sample 1 wrong in both seeds, 2 in one of two, 3 right; 4 is outside the slice
    runs = pl.DataFrame(
        {
            "sample_id": ["1", "2", "3", "4"] * 2,
            "seed": [0] * 4 + [1] * 4,
            "label": ["a"] * 8,
            "pred": ["b", "b", "a", "b", "b", "a", "a", "b"],
            "cam": ["old", "old", "old", "new"] * 2,
        }
    )
    old = pl.col("cam") == "old"
    d = diagnose_slice(runs, old, set())
    assert (d["n"], d["n_errors"], d["input_problem"]) == (3, 1, True)
    assert diagnose_slice(runs, old, {"1"})["input_problem"] is False  # 1 of 1 explained
    d = diagnose_slice(runs, old, ["1"], how="any")
    assert (d["n_errors"], d["share_explained"], d["input_problem"]) == (2, 0.5, False)
    assert diagnose_slice(runs, old, ["1"], how="any", threshold=0.6)["input_problem"] is True
    none = diagnose_slice(runs.with_columns(pred=pl.col("label")), old, [])
    assert (none["n_errors"], none["share_explained"], none["input_problem"]) == (0, None, False)
