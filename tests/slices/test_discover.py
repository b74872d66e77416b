"""Error clusters and end-to-end slice discovery."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.slices.clusters import default_n_clusters, error_clusters
from datacentric.slices.discover import DiscoveryResult, discover, discover_dataset
from datacentric.slices.spec import parse_where
from datacentric.testing import check_parameter_constraints


def blobs(seed: int = 0):
    """3 well separated blobs of 200; blob 2 has 50% errors and is 90% site=s3."""
    rng = np.random.default_rng(seed)
    centres = np.eye(16)[:3] * 10
    emb = np.vstack([rng.normal(c, 0.5, (200, 16)) for c in centres])
    blob = np.repeat([0, 1, 2], 200)
    err = np.zeros(600)
    for b, k in ((0, 10), (1, 10), (2, 100)):
        err[rng.choice(np.flatnonzero(blob == b), k, replace=False)] = 1.0
    site = rng.choice(["s1", "s2"], 600).astype(object)
    site[rng.choice(np.flatnonzero(blob == 2), 180, replace=False)] = "s3"
    site[rng.choice(np.flatnonzero(blob != 2), 10, replace=False)] = "s3"
    meta = pl.DataFrame({"site": site.astype(str), "sample_id": [str(i) for i in range(600)]})
    return emb, err, meta, blob


def test_error_cluster_found_and_named_after_its_metadata():
    emb, err, meta, blob = blobs()
    out = error_clusters(emb, err, meta, n_clusters=3)
    assert out.height == 3
    first = out.row(0, named=True)
    assert sorted(first["members"]) == np.flatnonzero(blob == 2).tolist()
    assert first["n"] == 200
    assert first["error_rate"] == pytest.approx(0.5)
    assert first["error_ratio"] == pytest.approx(0.5 / (120 / 600))
    assert first["p_value"] < 1e-10
    assert first["dominant"] == "site=s3"
    assert first["dominant_share"] == pytest.approx(0.9)
    assert first["name"] == f"cluster {first['cluster']} (mostly site=s3, 90%)"
    assert json.loads(first["where"]) == {"site": "s3"}  # sample_id (600 values) is ignored
    assert first["where_precision"] == pytest.approx(180 / 190)
    assert first["where_recall"] == pytest.approx(0.9)
    assert out["error_ratio"].to_list() == sorted(out["error_ratio"].to_list(), reverse=True)
    assert out["error_rate"].to_list()[1:] == pytest.approx([0.05, 0.05])
    # deterministic
    assert out.equals(error_clusters(emb, err, meta, n_clusters=3))


def test_clusters_without_metadata_min_size_and_default_k():
    emb, err, _, _ = blobs(1)
    out = error_clusters(emb, err)
    assert out.height == default_n_clusters(600) == 5
    assert out["name"].str.starts_with("cluster ").all()
    assert out["where"].is_null().all()
    assert error_clusters(emb, err, n_clusters=3, min_size=201).height == 0
    with pytest.raises(InvalidParameterError, match="one embedding row"):
        error_clusters(emb[:10], err)
    with pytest.raises(InvalidParameterError, match="n_clusters"):
        error_clusters(emb, err, n_clusters=0)
    with pytest.raises(
        InvalidParameterError,
        match=r"^error_clusters: parameter n_clusters must be an integer in \[1, 10\] .*"
        r"received 11 \(int\)",
    ):
        error_clusters(emb[:10], err[:10], n_clusters=11)  # more clusters than samples
    with pytest.raises(InvalidParameterError, match="min_share must be a number in"):
        error_clusters(emb, err, min_share=1.5)
    assert check_parameter_constraints(error_clusters, {"embeddings": emb, "errors": err}) == 22
    assert check_parameter_constraints(discover, {"frame": pl.DataFrame()}) == 29


def failing_frame(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3000
    vendor = rng.choice(["vendor_a", "vendor_b", "vendor_c"], n)
    scanner = rng.choice(["scanner_a", "scanner_b"], n)
    bad = (vendor == "vendor_c") & (scanner == "scanner_a")
    correct = rng.random(n) >= np.where(bad, 0.8, 0.05)
    return pl.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "label": rng.choice(["cat", "dog"], n),
            "vendor": vendor,
            "scanner": scanner,
            "width": rng.integers(0, 500, n),
            "exposure": rng.normal(size=n),
            "notes": [f"note {i}" for i in range(n)],
            "pred": rng.choice(["cat", "dog"], n),
            "correct": correct,
        }
    )


def test_discover_end_to_end():
    f = failing_frame()
    rng = np.random.default_rng(0)
    bad = ((f["vendor"] == "vendor_c") & (f["scanner"] == "scanner_a")).to_numpy()
    emb = rng.normal(size=(f.height, 8)) + bad[:, None] * 6.0
    res = discover(f, "correct", embeddings=emb, n_clusters=4)
    assert isinstance(res, DiscoveryResult)
    assert res.params["columns"] == ["vendor", "scanner", "width", "exposure"]
    assert res.params["skipped_columns"] == ["notes"]
    assert res.overall_error == pytest.approx(1 - f["correct"].mean())
    assert res.slices["definition"][0] == "vendor=vendor_c & scanner=scanner_a"
    assert res.clusters is not None
    assert res.clusters["dominant"][0] in ("vendor=vendor_c", "scanner=scanner_a")
    defs = res.definitions()
    names = [d["name"] for d in defs]
    assert len(names) == len(set(names))
    assert all(set(d) == {"name", "where"} for d in defs)
    assert len(defs) == res.slices.height + res.clusters.filter(pl.col("error_ratio") > 1).height
    for d, n in zip(defs, res.slices["n"], strict=False):  # the slices come first
        expr, _ = parse_where(d["where"])
        assert f.select(expr).to_series().sum() == n
    assert len(res.definitions(top=1)) == 2
    table = res.to_polars()
    assert set(table["source"]) == {"sliceline", "cluster"}
    text = res.summary()
    assert "overall error" in text and "vendor=vendor_c & scanner=scanner_a" in text
    assert "Embedding clusters" in text


def test_save_yaml_round_trips(tmp_path):
    spec = pytest.importorskip("datacentric.slices.spec")
    res = discover(failing_frame(1))
    path = res.save_yaml(tmp_path / "found.yaml", top=3)
    loaded = spec.load_slices(path)
    assert [s.name for s in loaded] == res.slices["definition"].to_list()[:3]


def test_discover_array_correct_and_errors():
    f = failing_frame(2)
    res = discover(f.drop("correct"), f["correct"].to_numpy(), columns=["vendor", "scanner"])
    assert res.slices["definition"][0] == "vendor=vendor_c & scanner=scanner_a"
    assert res.clusters is None
    with pytest.raises(SchemaError, match="'nope'"):
        discover(f, "nope")
    with pytest.raises(SchemaError, match="not in the frame"):
        discover(f, columns=["vendor", "missing"])
    with pytest.raises(SchemaError, match="null in rows"):
        discover(
            f.with_columns(
                correct=pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("correct"))
            )
        )
    with pytest.raises(SchemaError, match="no usable slice features"):
        discover(f.select("sample_id", "notes", "correct"))


def make_ds(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    site = rng.choice(["s1", "s2", "s3"], n)
    labels = rng.choice(["a", "b"], n)
    split = np.where(np.arange(n) % 4 == 0, "test", "train")
    ds = Dataset.from_arrays(
        np.zeros((n, 2, 2)),
        list(labels),
        ["a", "b"],
        metadata={"site": list(site)},
        split=list(split),
    )
    pred = labels.copy()
    wrong = (site == "s3") & (rng.random(n) < 0.7)
    pred[wrong] = np.where(labels[wrong] == "a", "b", "a")
    return ds, pred, site


def test_discover_dataset_from_frame_and_probabilities():
    ds, pred, site = make_ds()
    frame = pl.DataFrame({"sample_id": ds.sample_ids, "pred": list(pred)})
    res = discover_dataset(ds, frame, min_support=20, alpha=0.6)
    assert res.slices["definition"][0] == "site=s3"
    assert res.params["columns"] == ["label", "site"]
    assert res.params["n_rows"] == 400
    # integer predictions index the classes
    as_int = frame.with_columns(pl.col("pred").replace_strict({"a": 0, "b": 1}))
    assert discover_dataset(ds, as_int, min_support=20, alpha=0.6).slices.equals(res.slices)
    probs = np.where(pred[:, None] == np.array(["a", "b"]), 0.9, 0.1)
    emb = np.random.default_rng(0).normal(size=(400, 4)) + (site == "s3")[:, None] * 8
    p = SimpleNamespace(
        sample_ids=ds.sample_ids[::-1], pred_probs=probs[::-1], embeddings=emb[::-1]
    )
    res_t = discover_dataset(ds, p, split="test", min_support=10, n_clusters=4, alpha=0.6)
    assert res_t.params["n_rows"] == 100
    assert res_t.slices["definition"][0] == "site=s3"
    assert res_t.clusters is not None and res_t.clusters["dominant"][0] == "site=s3"
    with pytest.raises(SchemaError, match="no prediction for 1"):
        discover_dataset(ds, frame.slice(1))
    with pytest.raises(InvalidParameterError, match="no labelled samples"):
        discover_dataset(ds, frame, split="val")
