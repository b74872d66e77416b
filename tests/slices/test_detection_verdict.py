"""Seed verdicts for detectors: paired bootstrap over seeds × images with known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.slices import detection_seed_verdict
from datacentric.slices.detection_verdict import TEST_BOTH, TEST_IMAGES
from datacentric.testing import check_parameter_constraints

N = 40  # images per camera


@pytest.fixture(scope="module")
def ds() -> Dataset:
    """80 test images, cameras x and y, one 30 px cat or dog per image."""
    n = 2 * N
    ids = [str(i) for i in range(n)]
    manifest = pl.DataFrame(
        {"sample_id": ids, "image": [f"{i}.png" for i in ids], "label": [None] * n,
         "split": ["test"] * n, "camera": ["x"] * N + ["y"] * N}
    )  # fmt: skip
    boxes = pl.DataFrame(
        {"annotation_id": ids, "sample_id": ids,
         "label": ["cat" if i % 2 else "dog" for i in range(n)],
         "x": [5.0] * n, "y": [5.0] * n, "w": [30.0] * n, "h": [30.0] * n}
    )  # fmt: skip
    return Dataset(manifest, ["cat", "dog"], annotations=boxes)


def _found(ds: Dataset, keep: np.ndarray, seed: int) -> pl.DataFrame:
    """The true boxes of the images in ``keep``, moved by < 1 px (IoU > 0.9), scored at
    random: a detector that finds exactly those objects."""
    rng = np.random.default_rng(seed)
    t = ds.annotations.filter(pl.Series(keep)).drop("annotation_id")
    return t.with_columns(
        x=pl.col("x") + pl.Series(rng.uniform(-0.5, 0.5, t.height)),
        score=pl.Series(rng.uniform(0.5, 1.0, t.height)),
    )


def _side(ds: Dataset, miss_x: float, miss_y: float, seeds: list[int]) -> list[pl.DataFrame]:
    """One table per seed: each seed's detector misses ``miss_x`` of camera x's objects and
    ``miss_y`` of camera y's, different objects per seed."""
    out = []
    for s in seeds:
        rng = np.random.default_rng(100 + s)
        miss = np.r_[rng.random(N) < miss_x, rng.random(N) < miss_y]
        out.append(_found(ds, ~miss, s))
    return out


def test_the_same_runs_are_no_change(ds: Dataset) -> None:
    runs = _side(ds, 0.2, 0.2, [0, 1, 2])
    v = detection_seed_verdict(ds, runs, runs, metric="map50", n_boot=100)
    assert set(v["verdict"]) == {"no significant change"}
    # the seeds of each side are resampled independently, so draws differ, but never enough
    assert v["diff"].abs().max() == 0.0 and v["p_value"].min() > 0.5
    assert (v["test"] == TEST_BOTH).all()
    assert v["slice"].to_list() == [
        "overall", "box_area=small", "box_class=cat", "box_class=dog", "camera=x", "camera=y"
    ]  # fmt: skip
    assert v.filter(pl.col("slice") == "camera=x")["n"].item() == N


def test_a_gain_on_one_camera_is_found_there_only(ds: Dataset) -> None:
    before = _side(ds, 0.5, 0.1, [0, 1, 2])
    after = _side(ds, 0.05, 0.1, [3, 4, 5])
    v = detection_seed_verdict(ds, before, after, "slices: [{by: camera}]", metric="map50",
                               n_boot=100, box_slices=False)  # fmt: skip
    got = dict(zip(v["slice"], v["verdict"], strict=True))
    assert got == {
        "overall": "improved",
        "camera=x": "improved",
        "camera=y": "no significant change",
    }
    x = v.filter(pl.col("slice") == "camera=x").row(0, named=True)
    # AP@0.5 of a detector that finds a share f of the objects (no false box) is COCO's
    # 101-point precision: (floor(100 f) + 1) / 101, averaged over the two classes and seeds
    assert x["before"] == pytest.approx(0.5, abs=0.1)
    assert x["after"] == pytest.approx(0.95, abs=0.05)
    assert x["ci_low"] > 0.2 and x["p_value"] < 0.05
    assert x["before_low"] <= x["before"] <= x["before_high"]


def test_seed_noise_widens_the_interval(ds: Dataset) -> None:
    """The same mean gain is significant with steady seeds and not with erratic ones."""
    steady_b = _side(ds, 0.3, 0.3, [0, 1, 2])
    steady_a = _side(ds, 0.2, 0.2, [3, 4, 5])
    erratic_b = [_side(ds, m, m, [s])[0] for m, s in ((0.0, 0), (0.3, 1), (0.6, 2))]
    erratic_a = [_side(ds, m, m, [s])[0] for m, s in ((0.0, 3), (0.2, 4), (0.4, 5))]
    kw = {"metric": "map50", "n_boot": 100, "box_slices": False, "slices": []}
    steady = detection_seed_verdict(ds, steady_b, steady_a, **kw).row(0, named=True)
    erratic = detection_seed_verdict(ds, erratic_b, erratic_a, **kw).row(0, named=True)
    assert steady["ci_high"] - steady["ci_low"] < erratic["ci_high"] - erratic["ci_low"]
    assert erratic["verdict"] == "no significant change"


def test_paired_seeds_share_the_seed_draw(ds: Dataset) -> None:
    """Arms trained with the same seeds (benchmarks): when a seed's luck is the same on both
    sides, one shared seed draw takes it out of the difference, narrowing its interval."""
    from datacentric.slices.detection_verdict import _bootstrap

    miss = {0: 0.0, 1: 0.3, 2: 0.6}  # erratic seeds, the same on both sides
    before = [_side(ds, m + 0.2, m + 0.2, [s])[0] for s, m in miss.items()]
    after = [_side(ds, m, m, [s])[0] for s, m in miss.items()]

    def width(paired: bool) -> float:
        rows = _bootstrap(ds, [before, after], [], "test", "map50", 200, 0, 0.9, False,
                          "test", paired_seeds=paired)  # fmt: skip
        _name, _n, _point, draws = next(iter(rows))
        lo, hi = np.percentile(draws[1] - draws[0], [2.5, 97.5])
        return float(hi - lo)

    assert width(True) < 0.5 * width(False)
    with pytest.raises(ValueError, match="paired seeds need as many seeds"):
        next(iter(_bootstrap(ds, [before, after[:2]], [], "test", "map50", 100, 0, 0.9, False,
                             "test", paired_seeds=True)))  # fmt: skip


def test_one_seed_a_side_resamples_images_only(ds: Dataset) -> None:
    one = _side(ds, 0.3, 0.3, [0])
    v = detection_seed_verdict(ds, one[0], one, n_boot=100, slices=[], box_slices=False)
    assert v["test"].to_list() == [TEST_IMAGES]
    assert v["seeds_before"].item() == 1 and v["diff"].item() == 0.0


def test_refusals(ds: Dataset) -> None:
    runs = _side(ds, 0.2, 0.2, [0])
    with pytest.raises(InvalidParameterError, match=r"parameter metric.*'map50'"):
        detection_seed_verdict(ds, runs, runs, metric="accuracy")
    with pytest.raises(InvalidParameterError, match=r"parameter before.*an empty list"):
        detection_seed_verdict(ds, [], runs)
    with pytest.raises(InvalidParameterError, match="split 'val' has no rows"):
        detection_seed_verdict(ds, runs, runs, split="val")
    classification = Dataset(ds.manifest, ["cat", "dog"])
    with pytest.raises(InvalidParameterError, match="a detection dataset"):
        detection_seed_verdict(classification, runs, runs)
    assert (
        check_parameter_constraints(
            detection_seed_verdict, {"ds": ds, "before": runs, "after": runs}
        )
        > 10
    )


def test_cli_compare_on_a_detection_dataset(tmp_path) -> None:
    """`slices compare` takes predicted-box files per seed on a detection dataset."""
    import json

    from typer.testing import CliRunner

    from datacentric.cli import app
    from datacentric.datasets import load_detection_demo

    root = tmp_path / "det"
    demo = load_detection_demo(root, n_scenes=60)
    test = demo.annotations.join(
        demo.manifest.filter(pl.col("split") == "test").select("sample_id"), on="sample_id"
    ).drop("annotation_id")
    argv = ["slices", "compare", str(root), "--json", str(tmp_path / "v.json"),
            "--n-boot", "100", "--slices", str(tmp_path / "none.yaml")]  # fmt: skip
    (tmp_path / "none.yaml").write_text("slices: []\n")
    for side, keep in (("before", 0.5), ("after", 1.0)):
        for s in (0, 1):
            rng = np.random.default_rng(s)
            found = test.filter(pl.Series(rng.random(test.height) < keep))
            path = tmp_path / f"{side}_{s}.parquet"
            found.with_columns(score=pl.lit(0.9)).write_parquet(path)
            argv += [f"--{side}", str(path)]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 0, res.output
    assert "map by slice" in res.output and "improved" in res.output
    rows = json.loads((tmp_path / "v.json").read_text())
    overall = next(r for r in rows if r["slice"] == "overall")
    assert overall["verdict"] == "improved" and overall["after"] == pytest.approx(1.0)
    assert overall["seeds_before"] == 2 and overall["test"] == TEST_BOTH
