"""Hostile numbers and prediction files on the CLI: one ``Error:`` line naming the file.

Prediction files go through ``Predictions.coerce`` (``scan --pred-probs``, ``slices
evaluate/discover -p``); monitor batches, references and labels through the monitor's
checks; float options (``--min-confidence``, ``--max-drop``) through ``datacentric._validation``,
before any training starts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from tests.hostile.cases import CliCase, versioned_dataset

N = 24  # versioned_dataset's samples
CLASSES = ["a", "b", "c"]
IDS = [f"s{i:03d}" for i in range(N)]

_SCAN = ("scan", "{dataset}", "--out", "{out}/scan.parquet", "--no-cv", "--finders", "label")
_PROB_ARGVS = {
    "scan": (*_SCAN, "--pred-probs", "{preds}"),
    "slices-evaluate": (
        "slices", "evaluate", "{dataset}", "-p", "{preds}", "--split", "all", "--min-n", "1",
        "--out", "{out}/m.json",
    ),
    "slices-discover": (
        "slices", "discover", "{dataset}", "-p", "{preds}", "--split", "all",
        "--out", "{out}/d.yaml",
    ),
    "slices-compare": (
        "slices", "compare", "{dataset}", "--before", "{preds}", "--after", "{preds}",
        "--split", "all",
    ),
}  # fmt: skip
_TABLE_ARGVS = {k: v for k, v in _PROB_ARGVS.items() if k != "scan"}


def _probs(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet([1.0, 1.0, 1.0], N)


def _npz(path: Path, probs: np.ndarray, classes: list[str], ids: list[str] = IDS) -> None:
    with path.open("wb") as fh:
        np.savez(
            fh,
            sample_ids=np.array(ids),
            pred_probs=probs,
            embeddings=np.zeros((len(ids), 0), np.float32),
            classes=np.array(classes),
        )


def _with_dataset(write: object) -> object:
    """A ``build`` that makes the dataset and one predictions file (``write(path)``)."""

    def build(tmp: Path, *, name: str) -> dict[str, str]:
        root = versioned_dataset(tmp / "data")
        path = tmp / name
        write(path)  # type: ignore[operator]
        return {"dataset": str(root), "preds": str(path)}

    return build


def _case(
    name: str, filename: str, write: object, argvs: dict[str, tuple[str, ...]], **kw: object
) -> CliCase:
    build = _with_dataset(write)
    return CliCase(
        name=name,
        build=lambda tmp: build(tmp, name=filename),  # type: ignore[operator]
        argvs=argvs,
        **kw,  # type: ignore[arg-type]
    )


def _permuted(path: Path) -> None:
    _npz(path, _probs()[:, [2, 0, 1]], ["c", "a", "b"])


def _unrelated(path: Path) -> None:
    _npz(path, _probs(), ["cat", "dog", "bird"])


def _nan_npy(path: Path) -> None:
    p = _probs()
    p[5, 0] = np.nan
    np.save(path, p)


def _logits_npy(path: Path) -> None:
    np.save(path, np.random.default_rng(0).uniform(0.0, 1.0, (N, 3)))


def _four_columns(path: Path) -> None:
    np.save(path, np.full((N, 4), 0.25))


def _truncated(path: Path) -> None:
    _npz(path, _probs(), CLASSES)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a zip archive at all" * 8)


def _object_array(path: Path) -> None:
    arr = np.empty(N, dtype=object)
    arr[:] = [{"p": 1}] * N
    with path.open("wb") as fh:
        np.savez(fh, sample_ids=np.array(IDS), pred_probs=arr)


def _missing_ids(path: Path) -> None:
    _npz(path, _probs()[2:], CLASSES, IDS[2:])


def _extra_ids(path: Path) -> None:
    _npz(path, _probs(), CLASSES, [*IDS[:-1], "ghost"])


def _confidence_74(path: Path) -> None:
    conf = [0.9] * N
    conf[3] = 7.4
    pl.DataFrame({"sample_id": IDS, "pred": ["a"] * N, "confidence": conf}).write_csv(path)


def _nan_confidence(path: Path) -> None:
    conf = [0.9] * N
    conf[3] = float("nan")
    pl.DataFrame({"sample_id": IDS, "pred": ["a"] * N, "confidence": conf}).write_parquet(path)


def _unknown_pred(path: Path) -> None:
    pl.DataFrame({"sample_id": IDS, "pred": ["a"] * (N - 1) + ["zebra"]}).write_parquet(path)


def _corrupt_parquet(path: Path) -> None:
    path.write_bytes(b"PAR1" + bytes(range(256)) + b"PAR1")


def _empty_csv(path: Path) -> None:
    path.write_bytes(b"")


# ----------------------------------------------------------------- monitor fixtures
def _reference() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "camera": ["a", "b"] * 50,
            "x": rng.normal(10.0, 1.0, 100),
            "prediction": ["cat", "dog"] * 50,
            "confidence": rng.uniform(0.5, 1.0, 100),
            "label": ["cat", "dog", "dog", "cat"] * 25,
        }
    )


def _batch(n: int = 20) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sample_id": [f"p{i}" for i in range(n)],
            "timestamp": [dt.datetime(2024, 5, 1, 12)] * n,
            "camera": ["a", "b"] * (n // 2),
            "x": [10.0] * n,
            "prediction": ["cat"] * n,
            "confidence": [0.8] * n,
        }
    )


def _monitor_build(batch: pl.DataFrame | None, ref: pl.DataFrame | None = None):  # type: ignore[no-untyped-def]
    def build(tmp: Path) -> dict[str, str]:
        tmp.mkdir(parents=True, exist_ok=True)
        (ref if ref is not None else _reference()).write_parquet(tmp / "ref.parquet")
        path = tmp / "batch.parquet"
        (batch if batch is not None else _batch()).write_parquet(path)
        return {"ref": str(tmp / "ref.parquet"), "batch": str(path), "store": str(tmp / "m.duckdb")}

    return build


def _labels_build(labels: pl.DataFrame, suffix: str = ".parquet"):  # type: ignore[no-untyped-def]
    def build(tmp: Path) -> dict[str, str]:
        from datacentric.monitor import Monitor

        tmp.mkdir(parents=True, exist_ok=True)
        with Monitor(tmp / "m.duckdb", reference=_reference(), slices="[{by: camera}]") as mon:
            mon.ingest(_batch(), batch_id="b1")
        path = tmp / f"labels{suffix}"
        labels.write_parquet(path) if suffix == ".parquet" else labels.write_csv(path)
        return {"labels": str(path), "store": str(tmp / "m.duckdb")}

    return build


_INGEST = {
    "monitor-ingest": (
        "monitor", "ingest", "{batch}", "--store", "{store}", "--reference", "{ref}",
    ),
}  # fmt: skip


def _inf_batch() -> pl.DataFrame:
    b = _batch()
    x = [10.0] * b.height
    x[4] = float("inf")
    return b.with_columns(x=pl.Series(x))


def _conf_batch() -> pl.DataFrame:
    c = [0.8] * 20
    c[2] = 7.4
    return _batch().with_columns(confidence=pl.Series(c))


def _inf_reference() -> pl.DataFrame:
    ref = _reference()
    x = ref["x"].to_list()
    x[7] = float("-inf")
    return ref.with_columns(x=pl.Series(x))


def _dataset_only(tmp: Path) -> dict[str, str]:
    return {"dataset": str(versioned_dataset(tmp / "data"))}


def _detection_without_truth(tmp: Path) -> dict[str, str]:
    """A detection demo whose ground-truth files are gone (a detection dataset of one's own)."""
    from datacentric.datasets import DETECTION_GROUND_TRUTH_FILES, load_detection_demo

    root = tmp / "det"
    load_detection_demo(root, n_scenes=8, size=48, seed=0)
    for name in DETECTION_GROUND_TRUTH_FILES:
        (root / name).unlink()
    return {"dataset": str(root)}


CASES: list[CliCase] = [
    _case(
        "pred-permuted-classes",
        "perm.npz",
        _permuted,
        _PROB_ARGVS,
        default="ok",
    ),
    _case(
        "pred-unrelated-classes",
        "other.npz",
        _unrelated,
        _PROB_ARGVS,
        match="['cat', 'dog', 'bird']",
    ),
    _case("pred-nan-npy", "nan.npy", _nan_npy, _PROB_ARGVS, match="{preds}"),
    _case("pred-logits-npy", "logits.npy", _logits_npy, _PROB_ARGVS, match="softmax"),
    _case("pred-four-columns", "four.npy", _four_columns, _PROB_ARGVS, match="4 class columns"),
    _case("pred-truncated-npz", "cut.npz", _truncated, _PROB_ARGVS, match="{preds}"),
    _case("pred-not-a-zip", "junk.npz", _garbage, _PROB_ARGVS, match="{preds}"),
    _case("pred-object-array", "evil.npz", _object_array, _PROB_ARGVS, match="never unpickles"),
    _case(
        "pred-missing-ids",
        "some.npz",
        _missing_ids,
        {"scan": _PROB_ARGVS["scan"]},
        match="'s000', 's001'",
    ),
    _case("pred-extra-ids", "extra.npz", _extra_ids, _PROB_ARGVS, match="'ghost'"),
    _case("pred-confidence-7.4", "c.csv", _confidence_74, _TABLE_ARGVS, match="{preds}"),
    _case(
        "pred-confidence-nan",
        "c.parquet",
        _nan_confidence,
        _TABLE_ARGVS,
        match="confidence must be a probability",
    ),
    _case("pred-unknown-class", "u.parquet", _unknown_pred, _TABLE_ARGVS, match="'zebra'"),
    _case("pred-corrupt-parquet", "bad.parquet", _corrupt_parquet, _TABLE_ARGVS, match="{preds}"),
    _case("pred-empty-csv", "empty.csv", _empty_csv, _TABLE_ARGVS, match="{preds}"),
    _case(
        "pred-table-for-scan",
        "c.parquet",
        _unknown_pred,
        {"scan": _PROB_ARGVS["scan"]},
        match="must be an existing .npy",
    ),
    CliCase(
        name="monitor-inf-metric",
        build=_monitor_build(_inf_batch()),
        argvs=_INGEST,
        match="column 'x' has 1 infinite value(s)",
    ),
    CliCase(
        name="monitor-confidence-7.4",
        build=_monitor_build(_conf_batch()),
        argvs=_INGEST,
        match="'confidence' must be a probability in [0, 1]",
    ),
    CliCase(
        name="monitor-inf-reference",
        build=_monitor_build(None, _inf_reference()),
        argvs=_INGEST,
        match="reference column 'x' has 1 infinite value(s)",
    ),
    CliCase(
        name="monitor-labels-float",
        build=_labels_build(pl.DataFrame({"sample_id": ["p0"], "label": [float("nan")]})),
        argvs={"monitor-labels": ("monitor", "labels", "{labels}", "--store", "{store}")},
        match="labels column 'label' must be text",
    ),
    CliCase(
        name="monitor-labels-null",
        build=_labels_build(
            pl.DataFrame({"sample_id": ["p0", "p1"], "label": ["cat", None]}), ".csv"
        ),
        argvs={"monitor-labels": ("monitor", "labels", "{labels}", "--store", "{store}")},
        match="null sample_id or label",
    ),
    CliCase(
        name="float-options",
        build=_dataset_only,
        argvs={
            "loop-min-confidence-nan": ("loop", "{dataset}", "--min-confidence", "nan"),
            "loop-min-confidence-2": ("loop", "{dataset}", "--min-confidence", "2"),
            "loop-seeds-0": ("loop", "{dataset}", "--seeds", "0"),
            "loop-seeds-negative": ("loop", "{dataset}", "--seeds", "-3"),
            "loop-seeds-huge": ("loop", "{dataset}", "--seeds", "1000000"),
            "loop-oversample-factor-1": ("loop", "{dataset}", "--oversample-factor", "1"),
            "loop-simulated-review-nan": ("loop", "{dataset}", "--simulated-review", "nan"),
            "loop-simulated-review-2": ("loop", "{dataset}", "--simulated-review", "2"),
            "loop-oversample-factor-huge": (
                "loop",
                "{dataset}",
                "--interventions",
                "--oversample-factor",
                "1000",
            ),
            "slices-compare-min-effect-nan": (
                "slices",
                "compare",
                "{dataset}",
                "--before",
                "{out}/a.csv",
                "--after",
                "{out}/b.csv",
                "--min-effect",
                "nan",
            ),
            "slices-compare-min-effect-2": (
                "slices",
                "compare",
                "{dataset}",
                "--before",
                "{out}/a.csv",
                "--after",
                "{out}/b.csv",
                "--min-effect",
                "2",
            ),
            "export-max-drop-negative": (
                "export",
                "{dataset}",
                "--out",
                "{out}/export",
                "--max-drop",
                "-1",
            ),
            "export-max-drop-inf": (
                "export",
                "{dataset}",
                "--out",
                "{out}/export",
                "--max-drop",
                "inf",
            ),
            "slices-compare-n-boot-5": (
                "slices",
                "compare",
                "{dataset}",
                "--before",
                "{out}/a.csv",
                "--after",
                "{out}/b.csv",
                "--n-boot",
                "5",
            ),
            "slices-check-max-drop-nan": (
                "slices",
                "check",
                "--baseline",
                "{out}/a.json",
                "--current",
                "{out}/b.json",
                "--max-drop",
                "nan",
            ),
        },
        match="must be",
    ),
    CliCase(
        name="review-budget",
        build=_dataset_only,
        argvs={
            f"loop-review-budget-{label}": ("loop", "{dataset}", "--review-budget", value)
            for label, value in (
                ("negative", "-1"),
                ("fraction", "2.5"),
                ("nan", "nan"),
                ("word", "some"),
                ("empty", ""),
            )
        },
        match="--review-budget must be an integer >= 0 or one of 'all'",
    ),
    CliCase(
        name="simulated-review-not-a-demo",
        build=_dataset_only,
        argvs={"loop-simulated-review": ("loop", "{dataset}", "--simulated-review", "0.95")},
        match="is not a demo folder written by load_demo",
    ),
    CliCase(
        name="simulated-review-detection-not-a-demo",
        build=_detection_without_truth,
        argvs={"loop-simulated-review": ("loop", "{dataset}", "--simulated-review", "0.95")},
        match="is not a folder written by load_detection_demo",
    ),
]
