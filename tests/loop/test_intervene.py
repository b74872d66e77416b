"""The loop's slice interventions on a planted dark, blurred slice of real digits."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pytest
from sklearn.datasets import load_digits

from datacentric import Dataset
from datacentric.loop import ExperimentLog, run_loop
from datacentric.loop.intervene import last_kept
from datacentric.loop.interventions import keep_intervention
from datacentric.train import SmallCNNRecipe

RECIPE = SmallCNNRecipe(epochs=4, image_size=16)


def _dark_camera(root: Path) -> None:
    """280 digits (classes 0-3); every other image comes from an 'old' camera: darker
    (x 0.35) and blurred (sigma 1 px on the 8 px digits); a third of them are test rows."""
    digits = load_digits()
    keep = np.flatnonzero(digits.target < 4)[:280]
    images = (digits.images[keep] * 15).astype(np.uint8)
    cam = ["old" if i % 2 == 1 else "new" for i in range(len(keep))]
    for i, c in enumerate(cam):
        if c == "old":
            images[i] = (cv2.GaussianBlur(images[i].astype(np.float32), (0, 0), 1.0) * 0.35).astype(
                np.uint8
            )
    split = ["test" if i % 3 == 0 else "train" for i in range(len(keep))]
    labels = [str(t) for t in digits.target[keep]]
    ds = Dataset.from_arrays(
        images, labels, ["0", "1", "2", "3"], split=split, metadata={"cam": cam}
    )
    ds.to_folder(root).commit("digits with a dark camera")


@pytest.fixture(scope="module")
def intervened(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("interv") / "d"
    _dark_camera(root)
    lines: list[str] = []
    results = run_loop(
        root, 0, recipe=RECIPE, seeds=2, seed=0, interventions=True, say=lines.append
    )
    return root, results, lines


def test_interventions_are_recorded_as_iterations(intervened) -> None:
    root, results, lines = intervened
    assert [r.iteration for r in results] == [0]
    recs = ExperimentLog(root).records()
    assert recs[0]["worst_slice"] == "cam=old"
    assert [r["iteration"] for r in recs] == [0, 1, 2]
    assert [r["intervention"]["kind"] for r in recs[1:]] == ["augment", "oversample"]
    first = recs[1]["intervention"]
    # no scan ran (0 fix iterations): no error of the slice is explained by a label flag
    assert first["diagnosis"]["input_problem"] is True
    assert (
        first["diagnosis"]["n_label_issues"] == 0 and first["diagnosis"]["scan_iteration"] is None
    )
    assert first["against_iteration"] == 0 and recs[1]["version"] == recs[0]["version"]
    # the planted slice is darker and blurrier: those transforms, in that direction
    chosen = {t["transform"]: t["params"] for t in first["params"]["transforms"]}
    assert set(chosen) >= {"RandomBrightnessContrast", "GaussianBlur"}
    stats, rest = first["params"]["slice_stats"], first["params"]["rest_stats"]
    assert stats["brightness"] < 0.5 * rest["brightness"]
    assert stats["blurriness"] > rest["blurriness"]
    # darker by a factor (0.35, and the blur lowers the contrast more): a < 1 scales the
    # mean down with the contrast
    lo, hi = chosen["RandomBrightnessContrast"]["contrast_limit"]
    assert -0.9 < lo < hi < -0.3
    assert min(chosen["GaussianBlur"]["sigma_limit"]) > 0
    # one augmented copy of each of the rest's train rows
    n_train = len(Dataset.open(root).split("train"))
    n_rest = len(Dataset.open(root).split("train").filter(pl.col("cam") == "new"))
    assert recs[1]["n_train"] == n_train + n_rest
    assert any("intervention augment on cam=old" in line for line in lines)
    # the data-collection estimate: 25/50/75/100 % of the slice's train rows, rest fixed
    dc = first["diagnosis"]["data_collection"]
    n_old = len(Dataset.open(root).split("train").filter(pl.col("cam") == "old"))
    assert dc["n_now"] == n_old
    assert [c["n"] for c in dc["curve"]] == [round(s * n_old) for s in (0.25, 0.5, 0.75, 1.0)]
    assert dc["target"] == recs[0]["accuracy"]
    assert any(f"data collection for cam=old: {dc['statement']}" in line for line in lines)


def test_keep_rule_and_model_follow_the_verdict(intervened) -> None:
    root, *_ = intervened
    log = ExperimentLog(root)
    recs = log.records()
    for rec in recs[1:]:
        iv = rec["intervention"]
        kept, reason = keep_intervention(log.frame(rec["iteration"], "verdict"), "cam=old")
        assert (iv["kept"], iv["reason"]) == (kept, reason)
        assert ("model" in rec) is kept
    # oversampling is judged against the augmentation only when that was kept
    expected = 1 if recs[1]["intervention"]["kept"] else 0
    assert recs[2]["intervention"]["against_iteration"] == expected
    kept_its = [0] + [r["iteration"] for r in recs[1:] if r["intervention"]["kept"]]
    assert last_kept(log)["iteration"] == kept_its[-1]


def test_report_and_verdict_skip_rejected_interventions(intervened) -> None:
    from datacentric.report.loop import render_loop_markdown

    root, *_ = intervened
    log = ExperimentLog(root)
    recs = log.records()
    kept = log.last_kept()["iteration"]
    # baseline → latest kept: the same table as asking for that iteration explicitly
    assert log.verdict().equals(log.verdict(after=kept))
    md = render_loop_markdown(root)
    section = md[md.index("Slice interventions") :]
    assert "cam=old" in section and "input problem" in section
    assert recs[1]["intervention"]["diagnosis"]["data_collection"]["statement"] in section
    for rec in recs[1:]:
        iv = rec["intervention"]
        assert ("kept" if iv["kept"] else "rejected") in section
        assert iv["reason"].split(":")[0] in section


def test_run_interventions_checks_its_parameters(tmp_path: Path) -> None:
    from datacentric.engine import get_engine
    from datacentric.exceptions import InvalidParameterError
    from datacentric.loop.intervene import run_interventions

    eng = get_engine(None, workers=1)
    try:
        with pytest.raises(InvalidParameterError, match="kinds"):
            run_interventions(tmp_path, recipe=RECIPE, engine=eng, kinds=["relabel"])
        with pytest.raises(InvalidParameterError, match="factor"):
            run_interventions(tmp_path, recipe=RECIPE, engine=eng, factor=1)
        with pytest.raises(InvalidParameterError, match="threshold"):
            run_interventions(tmp_path, recipe=RECIPE, engine=eng, threshold=1.5)
        lines: list[str] = []  # an empty log: nothing to try, said so
        assert run_interventions(tmp_path, recipe=RECIPE, engine=eng, say=lines.append) == []
        assert lines == ["interventions: no worst slice recorded; nothing to try"]
    finally:
        eng.close()


def test_cli_prints_one_line_per_intervention(intervened, tmp_path: Path) -> None:
    import shutil

    from typer.testing import CliRunner

    from datacentric.cli import app

    root, *_ = intervened
    copy = tmp_path / "d"
    shutil.copytree(root, copy)
    res = CliRunner().invoke(app, ["loop", str(copy), "-i", "0"], terminal_width=250)
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    for rec in ExperimentLog(copy).records()[1:]:
        iv = rec["intervention"]
        state = "kept" if iv["kept"] else "rejected"
        assert f"Intervention {rec['iteration']}: {iv['kind']} on cam=old: {state}" in out
    assert len(ExperimentLog(copy).records()) == 3  # -i 0 without --interventions: no training
