"""Fixtures shared by the training tests: sklearn's handwritten digits as a small Dataset."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from datacentric.dataset import Dataset

DIGIT_CLASSES = [str(d) for d in range(10)]


def make_digits(
    n: int | None = None,
    size: int = 32,
    seed: int = 0,
    labels: list[Any] | None = None,
    split: bool = False,
) -> Dataset:
    """sklearn's handwritten digits upscaled to ``size`` (grayscale), classes "0" to "9".

    The first ``n`` samples of a seeded permutation, with sample ids ``d<index>``.
    ``labels`` replaces the true labels; with ``split`` every third row is "test" and the
    others "train" (2:1), otherwise all are "train".
    """
    data = load_digits()
    idx = np.random.default_rng(seed).permutation(len(data.target))[:n]
    images = np.stack(
        [
            np.asarray(
                Image.fromarray((data.images[i] * (255 / 16)).astype(np.uint8)).resize(
                    (size, size), Image.Resampling.BILINEAR
                )
            )
            for i in idx
        ]
    )
    labs = data.target[idx].tolist() if labels is None else labels
    splits = ["test" if k % 3 == 0 else "train" for k in range(len(idx))] if split else "train"
    return Dataset.from_arrays(
        images, labs, DIGIT_CLASSES, sample_ids=[f"d{i}" for i in idx], split=splits
    )


@pytest.fixture(scope="session")
def digits_dataset() -> Callable[..., Dataset]:
    """``digits_dataset(n=None, size=32, seed=0, labels=None, split=False)``: see make_digits."""
    return make_digits
