"""Shared test fixtures: tiny real image files and dataset directories on disk."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from PIL import Image


def write_png(
    path: str | Path,
    value: int | tuple[int, ...] = 0,
    size: tuple[int, int] = (4, 4),
    mode: str = "L",
) -> Path:
    """Write a solid-colour PNG of ``size`` (width, height) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=value).save(path)
    return path


def noise_png_bytes(size: int = 32, seed: int = 0) -> bytes:
    """A PNG of random RGB noise (incompressible, so half of it is a truncated image)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def make_dataset_dir(
    root: str | Path,
    columns: Mapping[str, Sequence[Any]],
    *,
    fmt: str = "csv",
    classes: Sequence[str] | None = None,
    images: bool = True,
) -> Path:
    """Write ``root/manifest.<fmt>`` from ``columns`` and a PNG for every ``image`` path.

    Pixel values differ per row (row index * 10) so tests can tell images apart.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame(dict(columns))
    if images:
        for i, rel in enumerate(frame["image"].to_list()):
            target = root / rel
            if rel and not rel.startswith("/") and ".." not in rel and not target.exists():
                write_png(target, value=(i * 10) % 256)
    if fmt == "csv":
        frame.write_csv(root / "manifest.csv")
    elif fmt == "parquet":
        frame.write_parquet(root / "manifest.parquet")
    else:  # pragma: no cover - test helper misuse
        raise ValueError(fmt)
    if classes is not None:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return root


@pytest.fixture
def png() -> Callable[..., Path]:
    """``png(path, value=0, size=(4, 4), mode="L")`` writes a solid-colour PNG."""
    return write_png


@pytest.fixture
def dataset_dir() -> Callable[..., Path]:
    """``dataset_dir(root, columns, fmt="csv", classes=None, images=True)``."""
    return make_dataset_dir


@pytest.fixture
def noise_png() -> bytes:
    """Bytes of a 32x32 random-noise RGB PNG (about 3 kB)."""
    return noise_png_bytes()


@pytest.fixture
def small_dir(tmp_path: Path) -> Path:
    """Four samples (cat, dog, cat, unlabeled) with a metadata column, as manifest.csv."""
    return make_dataset_dir(
        tmp_path / "data",
        {
            "sample_id": ["s1", "s2", "s3", "s4"],
            "image": ["img/1.png", "img/2.png", "img/3.png", "img/4.png"],
            "label": ["cat", "dog", "cat", None],
            "split": ["train", "train", "val", "test"],
            "scanner": ["a", "b", "a", "b"],
        },
        classes=["cat", "dog"],
    )
