"""The per-class gate and the "forgotten" report, with known answers."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.export import compress
from datacentric.export.class_gate import CLASS_METRIC, class_check
from datacentric.export.forgotten import forgotten, slice_masks
from datacentric.export.onnx import fitted_net, normalised_inputs, softmax, torch_logits
from datacentric.slices import check, load_slices
from datacentric.slices.evaluate import resolve_slices
from datacentric.slices.metrics import METRICS_SCHEMA, evaluate_frame
from datacentric.slices.result import SliceMetrics
from datacentric.testing import check_parameter_constraints
from datacentric.train import SmallCNNRecipe

compress_mod = importlib.import_module("datacentric.export.compress")
CLASSES = ["a", "b", "c"]


def _onehot(idx: list[int], p: float = 0.8) -> np.ndarray:
    """Rows with probability ``p`` on class ``idx[i]``, the rest spread evenly."""
    out = np.full((len(idx), 3), (1 - p) / 2)
    out[np.arange(len(idx)), idx] = p
    return out


# 8 rows: labels a a a a b b b c ; sites x x y y x y y y
LABELS = ["a", "a", "a", "a", "b", "b", "b", "c"]
SITE = ["x", "x", "y", "y", "x", "y", "y", "y"]
BEFORE = _onehot([0, 0, 0, 0, 1, 1, 1, 2])
AFTER = BEFORE.copy()
AFTER[7] = [0.05, 0.9, 0.05]  # c -> b: flipped, now wrong (tv 0.8)
AFTER[5] = [0.45, 0.45, 0.1]  # b -> a (argmax tie: first class): flipped, now wrong (tv 0.35)
AFTER[0] = [0.6, 0.3, 0.1]  # a stays a, tv 0.2
AFTER[4] = [0.1, 0.85, 0.05]  # b stays b, tv 0.05


def _report(**kw: object) -> object:
    masks = {
        "site=x": np.array([s == "x" for s in SITE]),
        "site=y": np.array([s == "y" for s in SITE]),
    }
    return forgotten(
        LABELS,
        BEFORE,
        AFTER,
        CLASSES,
        sample_ids=[f"s{i}" for i in range(8)],
        slices=masks,
        metadata=pl.DataFrame({"site": SITE}),
        **kw,  # type: ignore[arg-type]
    )


def test_samples_ranked_flips_first_then_by_distance() -> None:
    rep = _report()
    s = rep.samples
    assert s["sample_id"].to_list()[:4] == ["s7", "s5", "s0", "s4"]
    assert s["rank"].to_list() == list(range(1, 9))
    assert s["tv"].head(4).round(6).to_list() == [0.8, 0.35, 0.2, 0.05]
    assert s["effect"].head(3).to_list() == ["now wrong", "now wrong", "same"]
    top = s.row(0, named=True)
    assert (top["label"], top["before"], top["after"], top["site"]) == ("c", "c", "b", "y")
    assert top["p_before"] == pytest.approx(0.8) and top["p_after"] == pytest.approx(0.9)
    assert top["p_label_after"] == pytest.approx(0.05)
    assert rep.n_flipped == 2
    assert rep.top(10)["sample_id"].to_list() == ["s7", "s5", "s0", "s4"]  # tv 0 left out


def test_slices_and_classes_ranked_rare_called_out() -> None:
    rep = _report()
    sl = rep.slices
    assert sl["slice"].to_list() == ["overall", "site=y", "site=x"]
    assert sl["rank"].to_list() == [None, 1, 2]
    y = sl.row(1, named=True)
    assert (y["n"], y["n_flipped"], y["flip_rate"]) == (5, 2, 0.4)
    assert y["accuracy_before"] == 1.0 and y["accuracy_after"] == pytest.approx(0.6)
    assert y["change"] == pytest.approx(-0.4)
    cl = rep.classes
    # c: 1 of 1 flipped; b: 1 of 3; a: 0 of 4 (a before b by flip rate, not by name)
    assert cl["class"].to_list() == ["c", "b", "a"]
    assert cl["flip_rate"].to_list() == pytest.approx([1.0, 1 / 3, 0.0])
    assert cl["recall_after"].to_list() == pytest.approx([0.0, 2 / 3, 1.0])
    # evaluated rows 4, 3, 1: median 3, half of it 1.5 -> c (1 row) is rare
    assert rep.rare_classes == ["c"]
    assert "evaluated rows" in rep.rare_rule and "1.5" in rep.rare_rule
    # with training rows given, the rule reads those: a 100, b 90, c 60 -> median 90, 45: none
    assert _report(class_support={"a": 100, "b": 90, "c": 60}).rare_classes == []
    trained = _report(class_support={"a": 100, "b": 12, "c": 60})  # 12 < 30
    assert trained.rare_classes == ["b"] and "training rows" in trained.rare_rule
    d = trained.to_dict(top_k=2)
    assert d["rare_classes"] == ["b"] and len(d["samples"]) == 2 and d["n_flipped"] == 2
    assert [r["class"] for r in d["classes"]] == ["c", "b", "a"]


def _metrics(recalls: dict[str, tuple[float, int]], acc: float = 0.9) -> SliceMetrics:
    rows = [
        {"slice": "overall", "n": 300, "metric": "accuracy", "support": 300, "value": acc,
         "ci_low": None, "ci_high": None, "delta_vs_overall": 0.0, "p_value": None,
         "low_support": False},
        *[
            {"slice": "overall", "n": 300, "metric": f"recall[{c}]", "support": n, "value": v,
             "ci_low": None, "ci_high": None, "delta_vs_overall": 0.0, "p_value": None,
             "low_support": False}
            for c, (v, n) in recalls.items()
        ],
    ]  # fmt: skip
    return SliceMetrics(pl.DataFrame(rows, schema=METRICS_SCHEMA))


def test_class_gate_known_answers() -> None:
    base = _metrics({"a": (0.9, 200), "b": (0.9, 80), "c": (0.9, 20)})
    # a -1 pt (allowed), b -10 pt (fails), c -50 pt but 20 rows < min_n 30 (skipped)
    cur = _metrics({"a": (0.89, 200), "b": (0.8, 80), "c": (0.4, 20)})
    gate = class_check(base, cur, max_drop=0.02, min_n=30)
    assert gate.metric == CLASS_METRIC and not gate.passed
    assert gate.table["slice"].to_list() == ["a", "b", "c"]
    assert gate.table["status"].to_list() == ["pass", "fail", "skip"]
    b = gate.table.row(1, named=True)
    assert b["change"] == pytest.approx(-0.1)
    assert b["ci_low"] < -0.1 < b["ci_high"]  # Newcombe's interval, as the slice gate
    assert "recall[b] dropped 0.1000" in b["reason"]
    # exactly the slice gate's rule on recall[b] of the overall slice
    same = check(base, cur, metric="recall[b]", max_drop=0.02, min_n=30).table
    assert same.row(0, named=True)["ci_low"] == b["ci_low"]
    assert class_check(base, cur, max_drop=0.02, min_n=10).failures["slice"].to_list() == [
        "c",
        "b",
    ]
    assert class_check(base, base, max_drop=0.0, min_n=0).passed
    assert check_parameter_constraints(class_check, {"baseline": base, "current": cur}) == 8


def test_gate_intervals_are_joined_to_the_rankings() -> None:
    frame = pl.DataFrame(
        {
            "label": LABELS,
            "site": SITE,
        }
    )
    specs = load_slices("slices:\n  - by: site\n")
    slices = resolve_slices(specs, frame, ["site"])
    masks = slice_masks(frame, slices)
    assert {k: v.tolist() for k, v in masks.items()} == {
        "site=x": [s == "x" for s in SITE],
        "site=y": [s == "y" for s in SITE],
    }

    def metrics(probs: np.ndarray) -> SliceMetrics:
        pred = [CLASSES[i] for i in probs.argmax(axis=1)]
        t = evaluate_frame(frame.with_columns(pl.Series("pred", pred)), slices, classes=CLASSES,
                           min_n=1)  # fmt: skip
        return SliceMetrics(t)

    b, a = metrics(BEFORE), metrics(AFTER)
    sg = check(b, a, max_drop=0.01, min_n=1)
    cg = class_check(b, a, max_drop=0.01, min_n=1)
    rep = forgotten(LABELS, BEFORE, AFTER, CLASSES, slices=masks, slice_gate=sg, class_gate=cg)
    y = rep.slices.filter(pl.col("slice") == "site=y").row(0, named=True)
    g = sg.table.filter(pl.col("slice") == "site=y").row(0, named=True)
    assert (y["ci_low"], y["ci_high"], y["gate"]) == (g["ci_low"], g["ci_high"], "fail")
    assert y["change"] == pytest.approx(g["change"])
    c = rep.classes.row(0, named=True)
    assert (c["class"], c["gate"], c["change"]) == ("c", "fail", -1.0)
    assert rep.classes.filter(pl.col("class") == "a")["gate"].to_list() == ["pass"]


# ---------------------------------------------------------------- through compress


def _plant_class_regression(
    monkeypatch: pytest.MonkeyPatch, test_labels: list[str], cls: str
) -> None:
    """Make every ONNX prediction of the test rows of one true class wrong-shifted (logits
    rolled by one class), leaving every other row as torch predicts it."""
    from tests.export.test_compress import _plant_rows

    _plant_rows(monkeypatch, np.array([lab == cls for lab in test_labels]))


def test_compress_class_gate_fails_and_forgotten_report(
    recipe: SmallCNNRecipe, digits_ds: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test = digits_ds.filter(pl.col("split") == "test")
    labels = test.manifest["label"].to_list()
    fn = fitted_net(recipe)
    pred = softmax(torch_logits(fn.net, normalised_inputs(fn, test))).argmax(axis=1)
    right = {
        c: sum(1 for p, y in zip(pred, labels, strict=True) if fn.classes[p] == y == c)
        for c in fn.classes
    }
    target = max(fn.classes, key=lambda c: (right[c], c))  # the class torch gets right most
    assert right[target] >= 6
    # class "9" keeps 2 training rows in the evaluated dataset: rare by the training rows
    nines = digits_ds.manifest.filter((pl.col("split") == "train") & (pl.col("label") == "9"))
    drop = nines["sample_id"].to_list()[2:]
    eval_ds = digits_ds.filter(~pl.col("sample_id").is_in(drop))
    _plant_class_regression(monkeypatch, labels, target)
    # max_drop 0.3: no slice of 40-60 rows can lose 30 pt from ~10 rows, the class loses ~all
    rep = compress(recipe, digits_ds, eval_ds, targets=["onnx-fp32"], out_dir=tmp_path,
                   max_drop=0.3, latency_repeats=2, min_n=5)  # fmt: skip
    a = rep["onnx-fp32"]
    assert a.gate is not None and a.gate.passed  # every slice within 30 pt
    assert a.class_gate is not None and a.class_gate.failures["slice"].to_list() == [target]
    assert not rep.passed and rep.failed_targets == ["onnx-fp32"] and a.passed is False
    assert a.worst_class[0] == target and a.worst_class[1] is not None
    assert a.worst_class[1] <= -right[target] / labels.count(target) + 1e-9
    f = a.forgotten
    assert f is not None
    assert f.classes["class"][0] == target and f.classes["gate"][0] == "fail"
    flipped = f.samples.filter(pl.col("flipped"))
    assert set(flipped["label"].to_list()) == {target}
    assert flipped.height == labels.count(target)  # a roll moves every argmax
    assert f.samples["rank"].head(flipped.height).to_list() == list(range(1, flipped.height + 1))
    assert f.rare_classes == ["9"] and "training rows" in f.rare_rule
    # the manifest, export.md, the HTML report and the parquet
    m = json.loads((tmp_path / "export.json").read_text())
    art = m["artefacts"][0]
    assert art["class_gate"]["passed"] is False and art["worst_class"] == target
    assert [c["class"] for c in art["class_gate"]["classes"]] == fn.classes
    assert m["gate"] == {"passed": False, "failed_targets": ["onnx-fp32"]}
    lost = m["forgotten"]["onnx-fp32"]
    assert lost["rare_classes"] == ["9"] and lost["n_flipped"] == flipped.height
    assert lost["classes"][0]["class"] == target and lost["samples"][0]["label"] == target
    md = rep.to_markdown()
    assert "**FAIL** (class)" in md and "## Class gate: onnx-fp32" in md
    assert 'the "forgotten" report' in md and "| 9 |" in md and "**rare**" in md
    html = (tmp_path / "export.html").read_text()
    assert "What compression forgot" in html and f"class {target}: recall[{target}] dropped" in html
    assert "Rare classes (rare: fewer training rows than 0.5" in html
    forgot_html = html.split('id="forgotten"')[1]
    # the top 12 samples with a changed probability vector, each with its thumbnail
    assert forgot_html.count("data:image/png;base64,") == min(12, f.top(100).height)
    parquet = pl.read_parquet(tmp_path / "forgotten_samples.parquet")
    assert parquet.height == len(labels) and set(parquet["target"]) == {"onnx-fp32"}
