"""Hostile images: a pixel cap checked from the header before decoding, one-line errors.

A 140 KB PNG of 12000 x 12000 pixels decodes to 144 MB (gray) and costs gigabytes once
converted and resized for training; a 50 KB 1-bit PNG of 20000 x 20000 is a real
decompression bomb (PIL itself refuses it with its own exception). Both must be refused by
reading the header only, naming the file, with the peak memory of the reading process well
under 1 GiB.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import datacentric as dc
from datacentric import Dataset
from datacentric.dataset.images import decode_image, read_image
from datacentric.exceptions import (
    DatacentricError,
    ImageTooLargeError,
    LimitExceededError,
    UnreadableImageError,
)
from datacentric.issues.image_stats import compute_image_stats
from tests.conftest import make_dataset_dir, noise_png_bytes
from tests.hostile._child import GIB, run_child
from tests.hostile._images import truncated_png, write_big_png


def _dataset_with(tmp_path: Path, name: str, data: bytes | None = None) -> Path:
    """Three 4x4 images, then ``img/<name>`` replaced by ``data`` (or a 12000^2 PNG)."""
    root = make_dataset_dir(
        tmp_path / "data",
        {
            "sample_id": ["s1", "s2", "s3"],
            "image": ["img/1.png", f"img/{name}", "img/3.png"],
            "label": ["a", "b", "a"],
        },
        classes=["a", "b"],
    )
    if data is None:
        write_big_png(root / "img" / name)
    else:
        (root / "img" / name).write_bytes(data)
    return root


def test_big_png_is_refused_from_its_header_in_bounded_memory(tmp_path: Path) -> None:
    root = _dataset_with(tmp_path, "big.png")
    assert (root / "img" / "big.png").stat().st_size < 200_000
    code = f"""
        from datacentric import Dataset
        from datacentric.exceptions import ImageTooLargeError
        ds = Dataset.from_folder({str(root)!r})
        try:
            ds.load_images(mode="RGB", size=(8, 8))
        except ImageTooLargeError as exc:
            print("REFUSED", exc)
    """
    child = run_child(code)
    assert child.returncode == 0, child.stderr
    line = child.stdout.strip().splitlines()[-1]
    assert line.startswith("REFUSED image file ")
    assert "img/big.png" in line and "12000x12000 = 144,000,000 pixels" in line
    assert "40,000,000" in line and "DATACENTRIC_MAX_IMAGE_PIXELS" in line
    assert 0 < child.peak_rss < GIB, child.peak_rss


def test_big_png_error_class_and_message(tmp_path: Path) -> None:
    root = _dataset_with(tmp_path, "big.png")
    ds = Dataset.from_folder(root)
    with pytest.raises(ImageTooLargeError) as info:
        ds.load_images(["s2"])
    msg = str(info.value)
    assert "\n" not in msg
    assert "img/big.png" in msg and "12000x12000" in msg and "max_image_pixels" in msg
    assert isinstance(info.value, UnreadableImageError)
    assert isinstance(info.value, LimitExceededError)
    # decode mode at load names the sample and the file
    with pytest.raises(ImageTooLargeError) as at_load:
        Dataset.from_folder(root, check_images="decode")
    assert "s2 -> img/big.png" in str(at_load.value)
    assert at_load.value.rows == ["s2"]


def test_real_decompression_bomb_is_ours_not_pils(tmp_path: Path) -> None:
    """20000^2 1-bit: PIL's own bomb check would raise its DecompressionBombError."""
    bomb = write_big_png(tmp_path / "bomb.png", 20_000, 20_000, bits=1)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(Image.DecompressionBombError):  # what PIL alone does
        Image.open(bomb)
    code = f"""
        from pathlib import Path
        from datacentric.dataset.images import decode_image
        from datacentric.exceptions import ImageTooLargeError
        try:
            decode_image(Path({str(bomb)!r}))
        except ImageTooLargeError as exc:
            print("REFUSED", exc)
    """
    child = run_child(code)
    assert child.returncode == 0, child.stderr
    assert child.stderr.strip() == ""  # no PIL warning, no traceback
    assert "REFUSED image file" in child.stdout and "bomb.png" in child.stdout
    assert "has 400,000,000 pixels, above the limit of 40,000,000" in child.stdout
    assert 0 < child.peak_rss < GIB


def test_pil_refusal_above_a_raised_cap_is_still_one_error(tmp_path: Path) -> None:
    bomb = write_big_png(tmp_path / "bomb.png", 20_000, 20_000, bits=1)
    with dc.config_context(max_image_pixels=10**12), pytest.raises(ImageTooLargeError) as info:
        decode_image(bomb)
    msg = str(info.value)
    assert "bomb.png" in msg and "PIL.Image.MAX_IMAGE_PIXELS" in msg and "\n" not in msg


def test_pil_warning_range_gives_no_warning(tmp_path: Path) -> None:
    """10000^2 = 100M pixels: above PIL's warning threshold, below its error threshold."""
    big = write_big_png(tmp_path / "warn.png", 10_000, 10_000, bits=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        with pytest.raises(ImageTooLargeError, match=r"warn\.png is 10000x10000"):
            decode_image(big)


def test_cap_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.png"
    Image.new("L", (300, 200)).save(path)
    assert decode_image(path).shape == (200, 300)
    with dc.config_context(max_image_pixels=59_999), pytest.raises(ImageTooLargeError) as info:
        decode_image(path)
    assert "300x200 = 60,000 pixels" in str(info.value) and "59,999" in str(info.value)
    with dc.config_context(max_image_pixels=60_000):
        assert decode_image(path).shape == (200, 300)
    monkeypatch.setenv("DATACENTRIC_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ImageTooLargeError, match="1,000 pixels"):
        decode_image(path)
    monkeypatch.setenv("DATACENTRIC_MAX_IMAGE_PIXELS", "60000")
    assert decode_image(path).shape == (200, 300)


def test_env_var_raises_the_cap_in_a_fresh_process(tmp_path: Path) -> None:
    root = _dataset_with(tmp_path, "big.png")
    write_big_png(root / "img" / "big.png", 7_000, 7_000)  # 49 M pixels: over the default
    code = f"""
        from datacentric import Dataset
        from datacentric.exceptions import ImageTooLargeError
        ds = Dataset.from_folder({str(root)!r})
        try:
            print("SHAPE", ds.load_images(["s2"]).shape)
        except ImageTooLargeError:
            print("REFUSED")
    """
    assert "REFUSED" in run_child(code).stdout
    child = run_child(code, env={"DATACENTRIC_MAX_IMAGE_PIXELS": "50_000_000"})
    assert child.returncode == 0, child.stderr
    assert "SHAPE (1, 7000, 7000, 1)" in child.stdout
    bad = run_child(code, env={"DATACENTRIC_MAX_IMAGE_PIXELS": "lots"})
    assert bad.returncode == 1
    assert "InvalidParameterError" in bad.last_error_line
    assert "DATACENTRIC_MAX_IMAGE_PIXELS" in bad.last_error_line


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("trunc.png", truncated_png(), "truncated"),
        ("garbage.png", b"\x00garbage, not an image\xff" * 8, "corrupt"),
        ("empty.png", b"", "corrupt"),
        ("header-only.png", noise_png_bytes()[:40], "corrupt"),
    ],
)
def test_truncated_or_garbage_image(tmp_path: Path, name: str, data: bytes, kind: str) -> None:
    root = _dataset_with(tmp_path, name, data)
    ds = Dataset.from_folder(root)
    with pytest.raises(UnreadableImageError) as info:
        ds.load_images()
    msg = str(info.value)
    assert f"img/{name}" in msg and "\n" not in msg
    assert type(info.value) is UnreadableImageError
    stats = compute_image_stats(ds)
    assert stats["readable"].to_list() == [True, False, True]
    assert stats["error"][1].startswith(f"{kind}: img/{name}")
    bad = ds.unreadable_images()
    assert bad["sample_id"].to_list() == ["s2"]
    assert bad["reason"][0].startswith(kind)


def test_oversized_image_in_image_stats_says_size_and_limit(tmp_path: Path) -> None:
    root = _dataset_with(tmp_path, "big.png")
    stats = compute_image_stats(Dataset.from_folder(root))
    assert stats["readable"].to_list() == [True, False, True]
    err = stats["error"][1]
    assert err.startswith("too large: image file") and "12000x12000" in err
    assert "40,000,000" in err


def test_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    root = _dataset_with(tmp_path, "pipe.png", b"")
    (root / "img" / "pipe.png").unlink()
    import os

    os.mkfifo(root / "img" / "pipe.png")
    with pytest.raises(UnreadableImageError, match=r"s2 -> img/pipe\.png"):
        Dataset.from_folder(root)
    ds = Dataset.from_folder(root, check_images="none")
    with pytest.raises(UnreadableImageError, match="not a regular file"):
        read_image(root, "img/pipe.png")
    assert ds.unreadable_images()["sample_id"].to_list() == ["s2"]


def test_every_image_error_is_a_datacentric_error(tmp_path: Path) -> None:
    root = _dataset_with(tmp_path, "big.png")
    ds = Dataset.from_folder(root)
    for sid in ("s2",):
        with pytest.raises(DatacentricError):
            ds.load_images([sid])
    # the in-memory path stays untouched by the file checks
    mem = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 0], ["a"])
    assert mem.unreadable_images().height == 0
    assert json.dumps(dc.get_config())  # plain values, printable
