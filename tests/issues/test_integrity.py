"""Integrity: missing labels, unreadable images and empty metadata are reported, not dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

from datacentric import Dataset
from datacentric.issues.context import ScanContext
from datacentric.issues.integrity import IntegrityFinder
from datacentric.testing import check_issue_finder


def test_reports_each_problem(tmp_path: Path) -> None:
    for i in range(3):
        Image.new("RGB", (8, 8), (i * 50, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    manifest = pl.DataFrame(
        {
            "sample_id": ["s0", "s1", "s2", "s3"],
            "image": ["0.png", "1.png", "2.png", "bad.png"],
            "label": ["a", None, "a", "a"],
            "site": ["x", "y", None, "x"],
        }
    )
    ds = Dataset(manifest, ["a"], tmp_path)
    t = IntegrityFinder().find(ScanContext(ds))
    assert t.height == 12  # every sample, every check: nothing dropped
    flagged = t.filter(pl.col("is_issue")).select("sample_id", "issue_type").rows()
    assert sorted(flagged) == [
        ("s1", "missing_label"),
        ("s2", "null_metadata"),
        ("s3", "unreadable_image"),
    ]
    assert (
        "site"
        in t.filter((pl.col("sample_id") == "s2") & (pl.col("issue_type") == "null_metadata"))[
            "detail"
        ].item()
    )


def test_contract() -> None:
    check_issue_finder(IntegrityFinder)


def test_without_image_check() -> None:
    ds = Dataset.from_arrays(np.zeros((2, 2, 2)), [0, 0], ["a"])
    t = IntegrityFinder(check_images=False).find(ScanContext(ds))
    assert set(t["issue_type"]) == {"missing_label"}
