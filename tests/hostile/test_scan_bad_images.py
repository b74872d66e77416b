"""One bad image must not abort a scan (or a loop iteration): it is reported and left out.

A tiny dataset with one truncated image and one 12000 x 12000 PNG (140 KB): the scan's
cross-validation trains and predicts on the 22 others, the integrity finder reports exactly
the two, and the result still lists every sample.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from datacentric import Dataset
from datacentric.issues import scan
from datacentric.loop import run_loop
from datacentric.train import SmallCNNRecipe
from tests.hostile._images import truncated_png, write_big_png
from tests.hostile.cases import versioned_dataset

RECIPE = SmallCNNRecipe(image_size=8, epochs=1, batch_size=16)
TRUNCATED, OVERSIZED = "s005", "s010"


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = versioned_dataset(tmp_path_factory.mktemp("bad") / "data")
    (root / "images" / "005.png").write_bytes(truncated_png())
    write_big_png(root / "images" / "010.png")
    return root


def _unreadable(result: object) -> pl.DataFrame:
    return result.flagged("unreadable_image")  # type: ignore[attr-defined]


def test_scan_reports_and_excludes_the_bad_images(bad_root: Path) -> None:
    ds = Dataset.open(bad_root)
    result = scan(ds, recipe=RECIPE, folds=2)
    flagged = _unreadable(result)
    assert sorted(flagged["sample_id"].to_list()) == [TRUNCATED, OVERSIZED]
    details = dict(flagged.select("sample_id", "detail").rows())
    assert "truncated" in details[TRUNCATED]
    assert "12000x12000 = 144,000,000 pixels" in details[OVERSIZED]
    assert "40,000,000" in details[OVERSIZED]
    assert result.meta["n_excluded"] == 2
    assert sorted(e["sample_id"] for e in result.meta["excluded"]) == [TRUNCATED, OVERSIZED]
    # every sample is still in the result; the model-based rows cover the other 22
    assert result.samples.height == 24
    assert result.predictions is not None
    predicted = set(result.predictions.sample_ids)
    assert predicted == set(ds.sample_ids) - {TRUNCATED, OVERSIZED}
    label_rows = result.issues.filter(pl.col("issue_type") == "label")
    assert label_rows.height == 22
    assert not {TRUNCATED, OVERSIZED} & set(label_rows["sample_id"].to_list())
    integrity = result.issues.filter(pl.col("issue_type") == "unreadable_image")
    assert integrity.height == 24  # integrity sees every row


def test_scan_pre_pass_without_image_finders(bad_root: Path) -> None:
    """With no finder that decodes images, the streaming pre-pass finds the two."""
    result = scan(Dataset.open(bad_root), finders=["label"], recipe=RECIPE, folds=2)
    assert result.meta["n_excluded"] == 2
    assert result.issues.height == 22


def test_scan_without_a_model_does_not_exclude(bad_root: Path) -> None:
    result = scan(Dataset.open(bad_root), finders=["integrity"], cross_validate=False)
    assert result.meta["n_excluded"] is None
    assert sorted(_unreadable(result)["sample_id"].to_list()) == [TRUNCATED, OVERSIZED]


def test_loop_iteration_leaves_the_bad_images_out(bad_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(bad_root, root)
    said: list[str] = []
    results = run_loop(root, iterations=1, recipe=RECIPE, folds=2, say=said.append)
    assert [r.record["n_excluded"] for r in results] == [2, 2]
    excluded = {e["sample_id"] for e in results[0].record["excluded"]}
    assert excluded == {TRUNCATED, OVERSIZED}
    assert any("2 images excluded (unreadable/too large)" in line for line in said)
    assert results[1].scan is not None and results[1].scan.meta["n_excluded"] == 2
