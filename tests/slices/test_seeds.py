"""Seed verdicts: the two-level bootstrap on known answers and a small simulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices import paired_bootstrap, seed_summary, seed_verdict
from datacentric.slices.seeds import TEST_BOTH, TEST_SAMPLES

N = 400


def _correct(rng: np.random.Generator, z: np.ndarray, seeds: int, gain: float) -> np.ndarray:
    """(seeds × samples) right/wrong of models that differ by seed: a per-sample difficulty
    ``z``, a seed-wide offset and a per-sample-and-seed flip noise (logistic model)."""
    offset = rng.normal(0, 0.15, (seeds, 1))
    noise = rng.normal(0, 1.0, (seeds, z.size))
    p = 1 / (1 + np.exp(-(z + gain + offset + noise)))
    return rng.random((seeds, z.size)) < p


def _run(correct: np.ndarray, seeds: list[int], site: list[str] | None = None) -> pl.DataFrame:
    n = correct.shape[1]
    rows = {
        "sample_id": [f"s{i}" for _ in seeds for i in range(n)],
        "seed": [s for s in seeds for _ in range(n)],
        "label": ["a"] * (len(seeds) * n),
        "pred": ["a" if c else "b" for row in correct for c in row],
    }
    frame = pl.DataFrame(rows)
    if site is not None:
        frame = frame.with_columns(site=pl.Series(site * len(seeds)))
    return frame


def test_identical_runs_are_no_change_with_p_near_1() -> None:
    rng = np.random.default_rng(0)
    run = _run(_correct(rng, rng.normal(1.0, 2, N), 3, 0.0), [0, 1, 2])
    v = seed_verdict(run, run, n_boot=1000)
    row = v.row(0, named=True)
    assert (row["slice"], row["n"], row["diff"]) == ("overall", N, 0.0)
    assert row["verdict"] == "no significant change" and row["p_value"] >= 0.9
    assert row["ci_low"] < 0 < row["ci_high"] and row["test"] == TEST_BOTH
    assert row["before"] == row["after"] and row["seeds_before"] == 3


def test_a_planted_10_point_gain_is_improved_and_a_loss_regressed() -> None:
    rng = np.random.default_rng(1)
    before = np.zeros((3, N), dtype=bool)
    before[:, :280] = True  # 70 % right on every seed
    after = before.copy()
    after[:, 280:320] = True  # +10 points: 40 more samples right on every seed
    after[0, 0:4] = False  # and a little seed noise on each side
    before[2, 300:305] = True
    b, a = _run(before, [0, 1, 2]), _run(after, [3, 4, 5])
    up = seed_verdict(b, a, n_boot=1000).row(0, named=True)
    assert up["verdict"] == "improved" and up["p_value"] < 0.01
    assert up["diff"] == pytest.approx(after.mean() - before.mean())
    assert 0.05 < up["ci_low"] < up["diff"] < up["ci_high"] < 0.15
    assert up["before_low"] < before.mean() < up["before_high"]
    down = seed_verdict(a, b, n_boot=1000).row(0, named=True)
    assert down["verdict"] == "regressed" and down["diff"] == pytest.approx(-up["diff"])
    # a significant change below min_effect is not a verdict
    small = seed_verdict(b, a, n_boot=1000, min_effect=0.2).row(0, named=True)
    assert small["verdict"] == "no significant change"
    del rng


def test_seed_noise_alone_is_rarely_significant() -> None:
    """Same data, different seeds: 'improved'/'regressed' in at most 5 % of 100 repetitions."""
    rng = np.random.default_rng(7)
    hits = 0
    for rep in range(100):
        z = rng.normal(1.5, 2, N)
        a = _run(_correct(rng, z, 3, 0.0), [0, 1, 2])
        b = _run(_correct(rng, z, 3, 0.0), [3, 4, 5])
        verdict = seed_verdict(a, b, n_boot=400, seed=rep)["verdict"].item(0)
        hits += verdict != "no significant change"
    assert hits <= 5


def test_a_real_gain_is_found_over_seed_noise() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(1.0, 2, N)
    a = _run(_correct(rng, z, 3, 0.0), [0, 1, 2])
    b = _run(_correct(rng, z, 3, 1.0), [3, 4, 5])  # about +10 points
    row = seed_verdict(a, b, n_boot=1000).row(0, named=True)
    assert row["verdict"] == "improved" and row["diff"] > 0.05


def test_slices_get_their_own_verdict_and_summary() -> None:
    site = ["x" if i % 2 else "y" for i in range(N)]
    before = np.zeros((2, N), dtype=bool)
    before[:, : N // 2] = True
    after = before.copy()
    after[:, 1::2] = True  # every x sample becomes right; y unchanged
    v = seed_verdict(_run(before, [0, 1], site), _run(after, [2, 3], site), n_boot=500)
    got = {r["slice"]: r["verdict"] for r in v.iter_rows(named=True)}
    assert got == {"overall": "improved", "site=x": "improved", "site=y": "no significant change"}
    assert v["slice"].to_list() == ["overall", "site=y", "site=x"]  # worst difference first
    s = seed_summary(_run(after, [2, 3], site), n_boot=500)
    assert s.select("slice", "n", "mean").rows() == [
        ("overall", N, 0.75),
        ("site=y", N // 2, 0.5),
        ("site=x", N // 2, 1.0),
    ]
    assert s["seeds"].to_list() == [2, 2, 2]


def test_one_seed_falls_back_to_the_sample_test_and_says_so() -> None:
    before = np.zeros((1, N), dtype=bool)
    before[0, :200] = True
    after = before.copy()
    after[0, 200:260] = True
    row = seed_verdict(_run(before, [0]), _run(after, [0]), n_boot=500).row(0, named=True)
    assert row["test"] == TEST_SAMPLES and row["verdict"] == "improved"


def test_recall_of_one_class_and_unpaired_samples() -> None:
    run = pl.DataFrame(
        {
            "sample_id": ["1", "2", "3", "4"],
            "seed": [0, 0, 0, 0],
            "label": ["a", "a", "b", "b"],
            "pred": ["a", "b", "b", "b"],
        }
    )
    s = seed_summary(run, metric="recall[a]", n_boot=100, min_n=1)
    assert s.select("slice", "n", "mean").rows() == [("overall", 2, 0.5)]
    # only samples that every seed of both runs evaluated are compared
    v = seed_verdict(run, run.head(3), n_boot=100, min_n=1)
    assert v["n"].item(0) == 3 and v["low_support"].item(0) is False


def test_bad_inputs_fail_clearly() -> None:
    run = pl.DataFrame({"sample_id": ["1"], "seed": [0], "label": ["a"], "pred": ["a"]})
    with pytest.raises(SchemaError, match="lacks column\\(s\\) 'seed'"):
        seed_verdict(run.drop("seed"), run)
    with pytest.raises(SchemaError, match="appears more than once for seed 0"):
        seed_verdict(pl.concat([run, run]), run)
    with pytest.raises(InvalidParameterError, match="parameter metric"):
        seed_verdict(run, run, metric="f1")
    with pytest.raises(InvalidParameterError, match="parameter level"):
        seed_verdict(run, run, level=1.5)
    with pytest.raises(InvalidParameterError, match="the same, non-zero number of samples"):
        paired_bootstrap(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(InvalidParameterError, match="finite scores"):
        paired_bootstrap(np.array([[np.nan]]), np.ones((1, 1)))


def _folder(tmp_path: Path) -> tuple[Path, list[str]]:
    """A versioned dataset of 200 test samples (site x/y) and their true labels."""
    from datacentric import Dataset

    labels = ["a" if i % 3 else "b" for i in range(200)]
    site = ["x" if i % 2 else "y" for i in range(200)]
    ds = Dataset.from_arrays(
        np.zeros((200, 2, 2), np.uint8), labels, ["a", "b"], split=["test"] * 200,
        metadata={"site": site},
    )  # fmt: skip
    root = tmp_path / "d"
    ds.to_folder(root).commit("test set")
    return root, labels


def _preds(path: Path, labels: list[str], wrong: range) -> Path:
    pred = [("b" if y == "a" else "a") if i in wrong else y for i, y in enumerate(labels)]
    pl.DataFrame({"sample_id": [str(i) for i in range(len(labels))], "pred": pred}).write_csv(path)
    return path


def test_cli_slices_compare_takes_several_runs_per_side(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from datacentric.cli import app

    root, labels = _folder(tmp_path)
    for s in range(3):  # before: 60-62 wrong; after: 10-12 wrong (+25 points)
        _preds(tmp_path / f"before_{s}.csv", labels, range(60 + s))
        _preds(tmp_path / f"after_{s}.csv", labels, range(10 + s))
    argv = ["slices", "compare", str(root), "--before", str(tmp_path / "before_*.csv")]
    argv += [a for s in range(3) for a in ("--after", str(tmp_path / f"after_{s}.csv"))]
    res = CliRunner().invoke(app, [*argv, "--json", str(tmp_path / "v.json")], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "before (3 runs) → after (3 runs)" in res.output and TEST_BOTH in res.output
    got = pl.read_json(tmp_path / "v.json")
    assert got["slice"].to_list()[0] == "overall"
    assert set(got["slice"]) == {"overall", "site=x", "site=y"}
    overall = got.row(0, named=True)
    assert overall["verdict"] == "improved" and overall["diff"] == pytest.approx(0.25)
    assert f"{overall['diff']:+.3f} [{overall['ci_low']:+.3f}" in res.output
    json.loads((tmp_path / "v.json").read_text())  # plain JSON
    # one run per side: the sample-only test, said in the title
    res = CliRunner().invoke(
        app,
        ["slices", "compare", str(root), "--before", str(tmp_path / "before_0.csv"),
         "--after", str(tmp_path / "after_0.csv")],
        terminal_width=300,
    )  # fmt: skip
    assert res.exit_code == 0 and "samples only" in res.output


def test_cli_slices_compare_refuses_bad_runs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from datacentric.cli import app

    root, labels = _folder(tmp_path)
    ok = _preds(tmp_path / "ok.csv", labels, range(3))
    pl.read_csv(ok).head(150).write_csv(tmp_path / "short.csv")
    base = ["slices", "compare", str(root), "--before", str(ok)]
    res = CliRunner().invoke(app, [*base, "--after", str(tmp_path / "nothing_*.csv")])
    assert res.exit_code == 1 and "matches no file" in res.output
    res = CliRunner().invoke(app, [*base, "--after", str(tmp_path / "short.csv")])
    assert res.exit_code == 1 and "50 evaluated sample(s) have no prediction" in res.output
    res = CliRunner().invoke(app, [*base, "--after", str(ok), "--min-effect", "nan"])
    assert res.exit_code == 1 and "--min-effect" in res.output


def test_intervals_of_an_accuracy_stay_within_0_and_1() -> None:
    """Near-perfect seeds: the widened seed offsets must not carry an interval past 1."""
    rng = np.random.default_rng(0)
    before = (rng.random((3, 150)) < np.array([[0.97], [0.98], [0.99]])).astype(float)
    after = np.ones((3, 150))
    after[1, :2] = 0  # one seed slightly worse: seed offsets exist on both sides
    r = paired_bootstrap(before, after, n_boot=2000)
    assert 0.0 <= r.before_ci[0] <= r.before_ci[1] <= 1.0
    assert 0.0 <= r.after_ci[0] <= r.after_ci[1] <= 1.0
    assert r.after_ci[1] == 1.0  # the draws reach past 1 here: clipped, not dropped
    assert -1.0 <= r.ci[0] <= r.diff <= r.ci[1] <= 1.0
