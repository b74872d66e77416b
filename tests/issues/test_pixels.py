"""pixels.thumbnails: luma thumbnails read in parallel chunks, the same as one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from datacentric.dataset import Dataset
from datacentric.issues import pixels
from datacentric.issues.pixels import THUMB, pixel_pairs, thumbnails


def test_thumbnails_of_files_match_pil_one_by_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 600  # more than two read chunks: read by several threads
    (tmp_path / "img").mkdir()
    files, expected = [], np.zeros((n, THUMB, THUMB), np.uint8)
    for i in range(n):
        shape = (THUMB, THUMB, 3) if i % 3 else (24, 40, 3)  # some need resizing
        img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        img.save(tmp_path / f"img/{i}.png")
        files.append(f"img/{i}.png")
        luma = img.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX)
        expected[i] = np.asarray(luma)
    (tmp_path / "img/7.png").write_bytes(b"not an image")  # unreadable rows stay zero
    files[500] = "img/missing.png"
    expected[[7, 500]] = 0
    m = pl.DataFrame({"sample_id": [str(i) for i in range(n)], "image": files, "label": ["a"] * n})
    ds = Dataset(m, ["a"], tmp_path)
    seen: list[int] = []
    thumbs, ok = thumbnails(ds, progress=seen.append)
    assert thumbs.shape == (n, THUMB, THUMB) and thumbs.dtype == np.uint8
    assert np.flatnonzero(~ok).tolist() == [7, 500]
    np.testing.assert_array_equal(thumbs, expected)
    assert sum(seen) == n


def test_thumbnails_of_gray_arrays() -> None:
    imgs = np.zeros((3, 64, 48), np.uint8)
    imgs[1] = 200
    imgs[2, :32] = 100  # top half 100, bottom half 0
    thumbs, ok = thumbnails(Dataset.from_arrays(imgs, [0, 0, 0], ["a"]))
    assert ok.all()
    assert thumbs[0].max() == 0 and (thumbs[1] == 200).all()
    assert (thumbs[2, :16] == 100).all() and (thumbs[2, 16:] == 0).all()


def test_pixel_pairs_scored_in_parallel_chunks_find_the_planted_copies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(5)
    thumbs = rng.integers(0, 256, (60, THUMB, THUMB), dtype=np.uint8)
    thumbs[10] = np.roll(thumbs[3], 1, axis=1)  # a shifted copy
    thumbs[40] = np.clip(thumbs[20].astype(int) + 20, 0, 255)  # a brighter copy
    ok = np.ones(60, dtype=bool)
    whole = pixel_pairs(thumbs, ok)
    monkeypatch.setattr(pixels, "_CHUNK", 7)  # many chunks, scored by several threads
    chunked = pixel_pairs(thumbs, ok)
    assert chunked.equals(whole)
    assert sorted(zip(whole["i"], whole["j"], strict=True)) == [(3, 10), (20, 40)]
