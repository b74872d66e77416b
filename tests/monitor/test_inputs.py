"""Input metrics computed by the monitor: image statistics from paths, embedding distance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import SchemaError
from datacentric.monitor import Monitor
from tests.conftest import write_png


def _images(root: Path, prefix: str, values: list[int]) -> list[str]:
    paths = []
    for i, v in enumerate(values):
        rel = f"{prefix}/{i}.png"
        write_png(root / rel, value=v, size=(8, 8))
        paths.append(rel)
    return paths


def test_image_metrics_are_computed_from_paths(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 80
    ref = pl.DataFrame(
        {
            "image": _images(tmp_path, "ref", rng.integers(110, 150, n).tolist()),
            "camera": ["a", "b"] * (n // 2),
            "prediction": ["x"] * n,
            "confidence": rng.uniform(0.5, 1.0, n),
        }
    )
    mon = Monitor(
        tmp_path / "m.duckdb", reference=ref, slices="[{by: camera}]",
        config={"min_rows": 10}, metrics=["brightness_mean", "contrast", "width"],
        image_root=tmp_path,
    )  # fmt: skip
    values = [
        int(v) if i % 2 == 0 else int(v) - 90 for i, v in enumerate(rng.integers(110, 150, n))
    ]
    batch = pl.DataFrame(
        {
            "sample_id": [f"p{i}" for i in range(n)],
            "timestamp": [dt.datetime(2024, 6, 1, 12)] * n,
            "image": _images(tmp_path, "prod", values),
            "camera": ["a", "b"] * (n // 2),
            "prediction": ["x"] * n,
            "confidence": rng.uniform(0.5, 1.0, n),
        }
    )
    alerts = mon.ingest(batch).alerts
    assert ("camera=b", "brightness_mean") in alerts.select("slice", "metric").rows()
    assert "camera=a" not in alerts["slice"].to_list()
    mean = mon.window_stats(slice="camera=b", metric="brightness_mean").filter(
        pl.col("statistic") == "mean"
    )["value"][0]
    assert mean == pytest.approx((np.mean(values[1::2])) / 255, abs=1e-6)
    broken = batch.head(2).with_columns(
        image=pl.Series(["prod/0.png", "missing.png"]), sample_id=pl.Series(["q0", "q1"])
    )
    with pytest.raises(SchemaError, match="could not be read"):
        mon.ingest(broken)


def test_embedding_distance_drift(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 3000

    def frame(shift_b: float, seed: int) -> pl.DataFrame:
        r = np.random.default_rng(seed)
        camera = np.array(["a", "b"] * (n // 2))
        emb = r.normal(0, 1, (n, 8))
        emb[camera == "b"] += shift_b
        return pl.DataFrame(
            {"camera": camera, "prediction": r.choice(["x", "y"], n),
             "confidence": r.uniform(0.5, 1, n), "embedding": emb.tolist()}
        )  # fmt: skip

    mon = Monitor(tmp_path / "m.duckdb", reference=frame(0.0, 2), slices="[{by: camera}]")
    assert "embedding_distance" in mon.status()["metrics"]
    batch = frame(0.8, 3).with_columns(
        sample_id=pl.int_range(n).cast(pl.String), timestamp=pl.lit(dt.datetime(2024, 6, 1))
    )
    alerts = mon.ingest(batch).alerts
    assert ("camera=b", "embedding_distance") in alerts.select("slice", "metric").rows()
    assert "camera=a" not in alerts["slice"].to_list()
    with pytest.raises(SchemaError, match="no 'embedding' column"):
        mon.ingest(
            batch.drop("embedding").with_columns(sample_id=pl.lit("z") + pl.col("sample_id"))
        )
    del rng
