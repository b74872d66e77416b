"""Non-finite and out-of-range numbers entering the monitor (docs/monitor.md, "Bad input").

An infinity in a numeric column of a batch or the reference is refused (SchemaError naming
the column, the count and the first rows) and nothing is stored; NaN or null in a metric is a
missing value, counted in the missing bin and ``missing_rate`` — never summed as 0 into the
mean. Confidences must be in [0, 1] or null; embeddings finite; late labels text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.monitor import Monitor
from datacentric.monitor.config import MonitorConfig

N = 40
DAY = dt.datetime(2024, 5, 1, 12)


def _ref(n: int = 200, **cols: list[object]) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "camera": ["a", "b"] * (n // 2),
            "x": rng.normal(10.0, 1.0, n),
            "prediction": ["cat", "dog"] * (n // 2),
            "confidence": rng.uniform(0.5, 1.0, n),
            "label": ["cat", "dog", "dog", "cat"] * (n // 4),
        }
    )
    return frame.with_columns(**{k: pl.Series(k, v) for k, v in cols.items()})


def _batch(x: list[float], **cols: list[object]) -> pl.DataFrame:
    n = len(x)
    frame = pl.DataFrame(
        {
            "sample_id": [f"p{i}" for i in range(n)],
            "timestamp": [DAY] * n,
            "camera": ["a", "b"] * (n // 2),
            "x": pl.Series(x, dtype=pl.Float64),
            "prediction": ["cat"] * n,
            "confidence": [0.8] * n,
        }
    )
    return frame.with_columns(**{k: pl.Series(k, v) for k, v in cols.items()})


def _monitor(tmp_path: Path, ref: pl.DataFrame | None = None) -> Monitor:
    return Monitor(
        tmp_path / "m.duckdb", reference=_ref() if ref is None else ref,
        slices="[{by: camera}]", config={"min_rows": 5},
    )  # fmt: skip


def _stat(mon: Monitor, statistic: str, slice: str = "overall") -> float:
    stats = mon.window_stats(slice=slice, metric="x")
    return float(stats.filter(pl.col("statistic") == statistic)["value"][0])


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_infinite_metric_in_a_batch_is_refused_and_nothing_is_stored(
    tmp_path: Path, value: float
) -> None:
    x = [10.0] * N
    x[3] = x[17] = value
    with _monitor(tmp_path) as mon:
        with pytest.raises(SchemaError) as err:
            mon.ingest(_batch(x), batch_id="b1")
        msg = str(err.value)
        assert "column 'x' has 2 infinite value(s)" in msg and "rows 3, 17" in msg
        assert mon.status()["n_batches"] == 0 and mon.status()["n_rows"] == 0


def test_nan_metric_is_counted_missing_not_summed_as_zero(tmp_path: Path) -> None:
    x = [12.0] * N
    x[0] = x[1] = x[2] = x[3] = float("nan")
    x[4] = None  # type: ignore[call-overload]
    with _monitor(tmp_path) as mon:
        mon.ingest(_batch(x), batch_id="b1")
        # the mean is over the 35 known values (12.0), not 35 * 12 / 40 = 10.5
        assert _stat(mon, "mean") == pytest.approx(12.0)
        assert _stat(mon, "missing_rate") == pytest.approx(5 / N)
        hist = mon._store.query(  # the stored histogram: the last bin holds the missing rows
            "SELECT bin, sum(count) AS n, sum(sum) AS s FROM hist WHERE metric = 'x' AND "
            "slice = 'overall' GROUP BY bin ORDER BY bin"
        )
        missing_bin = mon.profile.metric("x").missing_bin
        rows = {int(b): (int(n), float(s)) for b, n, s in hist.rows()}
        assert rows[missing_bin] == (5, 0.0)
        assert sum(n for b, (n, _) in rows.items() if b != missing_bin) == 35
        assert sum(s for b, (_, s) in rows.items() if b != missing_bin) == pytest.approx(420.0)


@pytest.mark.parametrize(
    ("conf", "shown"), [(7.4, "7.4"), (float("nan"), "nan"), (-0.1, "-0.1"), (float("inf"), "inf")]
)
def test_batch_confidence_outside_0_1(tmp_path: Path, conf: float, shown: str) -> None:
    c = [0.8] * N
    c[6] = conf
    with _monitor(tmp_path) as mon:
        with pytest.raises(
            SchemaError, match=r"'confidence' must be a probability in \[0, 1\]"
        ) as e:
            mon.ingest(_batch([10.0] * N, confidence=c))
        assert "rows 6" in str(e.value) and shown in str(e.value)
        assert mon.status()["n_batches"] == 0
    # null means unknown: accepted, and not scored for CBPE
    c[6] = None  # type: ignore[call-overload]
    with Monitor(tmp_path / "m.duckdb") as mon:
        assert mon.ingest(_batch([10.0] * N, confidence=c)).status == "ingested"


def test_reference_numbers(tmp_path: Path) -> None:
    x = list(np.random.default_rng(0).normal(10.0, 1.0, 200))
    x[9] = float("inf")
    with pytest.raises(SchemaError, match=r"reference column 'x' has 1 infinite value.*rows 9"):
        _monitor(tmp_path, _ref(x=x))
    conf = [0.9] * 200
    conf[11] = 7.4
    with pytest.raises(SchemaError, match=r"reference column 'confidence'.*7\.4.*rows 11"):
        _monitor(tmp_path, _ref(confidence=conf))
    with pytest.raises(SchemaError, match=r"reference column 'label' must be text"):
        _monitor(tmp_path, _ref(label=[float("nan")] * 200))
    with Monitor(tmp_path / "m.duckdb", reference=_ref()) as mon:  # refusals stored nothing
        assert mon.status()["n_batches"] == 0 and mon.profile.n_rows == 200
    # NaN in a reference metric is missing: counted in the reference's missing bin
    x[9] = float("nan")
    x[10] = float("nan")
    with Monitor(tmp_path / "nan.duckdb", reference=_ref(x=x), slices="[{by: camera}]") as mon:
        counts = mon.profile.ref_counts["overall"]["x"]
        assert counts[-1] == 2 and sum(counts) == 200


def test_embeddings_must_be_finite(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = _ref(embedding=[list(v) for v in rng.normal(size=(200, 3))])
    bad_ref = ref.with_columns(
        pl.Series("embedding", [[float("nan"), 0.0, 0.0], *ref["embedding"].to_list()[1:]])
    )
    with pytest.raises(
        SchemaError, match=r"column 'embedding' has NaN or infinite values in 1 row"
    ):
        _monitor(tmp_path, bad_ref)
    with _monitor(tmp_path, ref) as mon:
        emb = [list(v) for v in rng.normal(size=(N, 3))]
        emb[5] = [0.0, float("inf"), 0.0]
        with pytest.raises(SchemaError, match=r"'embedding' has NaN or infinite.*rows 5"):
            mon.ingest(_batch([10.0] * N, embedding=emb))
        emb[5] = [1e200, 1e200, 1e200]  # finite, but its distance overflows
        with pytest.raises(SchemaError, match=r"distance of column 'embedding'.*rows 5"):
            mon.ingest(_batch([10.0] * N, embedding=emb))
        assert mon.status()["n_batches"] == 0


def test_labels_files(tmp_path: Path) -> None:
    with _monitor(tmp_path) as mon:
        mon.ingest(_batch([10.0] * N), batch_id="b1")
        floats = tmp_path / "labels.parquet"
        pl.DataFrame({"sample_id": ["p0", "p1"], "label": [float("nan"), 1.0]}).write_parquet(
            floats
        )
        with pytest.raises(SchemaError, match=r"labels column 'label' must be text.*Float64"):
            mon.record_labels(floats)
        nulls = tmp_path / "labels.csv"
        nulls.write_text("sample_id,label\np0,cat\np1,\n")
        with pytest.raises(
            SchemaError, match=r"1 row\(s\) with a null sample_id or label \(at rows 1\)"
        ):
            mon.record_labels(nulls)
        assert mon.status()["n_labels"] == 0
        assert mon.record_labels(pl.DataFrame({"sample_id": ["p0"], "label": ["cat"]})) == 1


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("junk.parquet", b"PAR1 this is not parquet"),
        ("empty.csv", b""),
        ("bin.csv", b"\xff\xfe\x00"),
    ],
)
def test_unreadable_batch_files(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with _monitor(tmp_path) as mon:
        with pytest.raises(SchemaError) as err:
            mon.ingest(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"critical_factor": float("nan")}, r"critical_factor must be a number >= 1; received nan"),
        ({"drift": {"wasserstein": float("nan")}}, r"wasserstein must be.*received nan"),
        ({"drift": {"psi": float("inf")}}, r"psi must be a number > 0.*received inf"),
        ({"missing_rate": -0.1}, r"missing_rate must be a number in \(0, 1\].*received -0.1"),
        (
            {"drift": {"metrics": {"x": {"wasserstein": float("nan")}}}},
            r"metric_overrides\['x'\]\['wasserstein'\].*received nan.*Fix drift\.metrics\.x",
        ),
        ({"drift": {"alpha": float("nan")}}, r"alpha must be a number in \(0, 1\); received nan"),
    ],
)
def test_config_numbers(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        MonitorConfig.from_dict(doc)
