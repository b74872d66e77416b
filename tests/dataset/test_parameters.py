"""Dataset method parameters are declared and checked in one place, with one message form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datacentric import Dataset
from datacentric.dataset.images import check_image_paths
from datacentric.exceptions import InvalidParameterError
from datacentric.testing import check_parameter_constraints


def test_check_images_is_declared(small_dir: Path) -> None:
    for load in (Dataset.from_folder, Dataset.open):
        # another type, an unknown option
        assert check_parameter_constraints(load, {"root": small_dir}) == 2
    with pytest.raises(
        InvalidParameterError,
        match=r"^Dataset\.from_folder: parameter check_images must be one of 'none', 'exists', "
        r"'decode'; received 'all' \(str\)\. Pass e\.g\. check_images='exists' \(the default\)",
    ):
        Dataset.from_folder(small_dir, check_images="all")  # type: ignore[arg-type]
    ds = Dataset.from_folder(small_dir)
    rows = {"sample_id": ["s9"], "image": ["img/1.png"], "label": ["cat"], "split": ["train"]}
    with pytest.raises(InvalidParameterError, match=r"^Dataset\.add: parameter check_images .*'x'"):
        ds.add(rows, reason="more", check_images="x")  # type: ignore[arg-type]
    assert len(ds) == 4 and ds.pending_changes.height == 0
    with pytest.raises(InvalidParameterError, match=r"^check_image_paths: parameter check "):
        check_image_paths(small_dir, [], [], "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "CMYK"}, r"mode must be one of 'L', 'RGB' or None; received 'CMYK' \(str\)"),
        (
            {"size": (0, 8)},
            r"size must be a \(height, width\) pair of integers >= 1 with at most [0-9,]+ pixels "
            r"or None; ",
        ),
        ({"size": 8}, r"size must be a \(height, width\) pair .*; received 8 \(int\)"),
    ],
)
def test_load_images_arguments(kwargs: dict[str, object], match: str) -> None:
    ds = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 0], ["a"])
    with pytest.raises(InvalidParameterError, match=r"^Dataset\.load_images: parameter " + match):
        ds.load_images(**kwargs)  # type: ignore[arg-type]
    assert ds.load_images(size=(2, 3), mode="RGB").shape == (2, 2, 3, 3)


def test_iter_and_unreadable_images_arguments() -> None:
    ds = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 0], ["a"])
    with pytest.raises(
        InvalidParameterError,
        match=r"^Dataset\.iter_images: parameter batch_size must be an integer >= 1; received 0",
    ):
        ds.iter_images(0)  # checked when called, not when the first batch is asked for
    with pytest.raises(InvalidParameterError, match=r"^Dataset\.iter_batches: parameter mode "):
        next(ds.iter_images(2, mode="P"))
    with pytest.raises(
        InvalidParameterError, match=r"^Dataset\.unreadable_images: parameter workers .*received 0"
    ):
        ds.unreadable_images(workers=0)
    with pytest.raises(InvalidParameterError, match=r"unreadable_images: parameter progress"):
        ds.unreadable_images(progress="yes")  # type: ignore[arg-type]
