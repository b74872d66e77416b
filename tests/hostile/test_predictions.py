"""Hostile predictions: every entry point reads them through ``Predictions.coerce``.

Classes in another order are put back by name (results equal to the correctly ordered file);
other classes, a wrong number of columns, values that are not probabilities, confidences
outside [0, 1], unknown / missing / repeated sample ids and unreadable files are one-line
``SchemaError``s naming the file, rows or classes. Nothing is ever unpickled.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from datacentric import Dataset
from datacentric.cli import app
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.issues import ScanResult, scan
from datacentric.slices import discover_dataset, evaluate
from datacentric.train import Predictions
from datacentric.train.coerce import coerce_embeddings
from tests.hostile._child import GIB, run_child
from tests.hostile.cases import versioned_dataset

CLASSES = ["a", "b", "c"]
N = 30


@pytest.fixture()
def ds() -> Dataset:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (N, 6, 6), dtype=np.uint8)
    return Dataset.from_arrays(
        imgs,
        [i % 3 for i in range(N)],
        CLASSES,
        metadata={"site": ["x", "y"] * (N // 2)},
        split=["train", "test"] * (N // 2),
    )


def _probs(n: int = N, seed: int = 1) -> np.ndarray:
    p = np.random.default_rng(seed).dirichlet([1.0, 1.0, 1.0], n)
    return p / p.sum(axis=1, keepdims=True)


def _save(path: Path, **arrays: np.ndarray) -> Path:
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
    return path


def _npz(ds: Dataset, path: Path, probs: np.ndarray, classes: list[str] | None = None) -> Path:
    emb = np.random.default_rng(2).normal(size=(len(ds), 4)).astype(np.float32)
    Predictions(ds.sample_ids, probs, emb, classes=classes or CLASSES).save(path)
    return path


# ----------------------------------------------------------------- class names
def test_permuted_classes_are_reordered_and_give_the_same_results(
    ds: Dataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probs = _probs()
    perm = [2, 0, 1]  # the file's columns: c, a, b
    right = _npz(ds, tmp_path / "right.npz", probs)
    permuted = _npz(ds, tmp_path / "perm.npz", probs[:, perm], [CLASSES[i] for i in perm])
    with caplog.at_level(logging.INFO, logger="datacentric.train.coerce"):
        got = Predictions.coerce(permuted, ds)
    assert "reordered" in caplog.text and str(permuted) in caplog.text
    np.testing.assert_allclose(got.pred_probs, probs)
    assert got.classes == CLASSES
    # the same answers through scan and slices evaluate as from the correctly ordered file
    finders = ["label", "outlier"]
    a = scan(ds, str(right), finders=finders, cross_validate=False).issues
    b = scan(ds, str(permuted), finders=finders, cross_validate=False).issues
    assert a.equals(b) and a.height == 2 * N
    ea = evaluate(ds, right, split=None, min_n=1).table
    eb = evaluate(ds, permuted, split=None, min_n=1).table
    assert ea.equals(eb)
    # and an in-memory Predictions object with shuffled rows and classes
    rows = np.arange(N)[::-1]
    shuffled = Predictions(
        [ds.sample_ids[i] for i in rows], probs[rows][:, perm], np.zeros((N, 0)),
        classes=[CLASSES[i] for i in perm],
    )  # fmt: skip
    np.testing.assert_allclose(Predictions.coerce(shuffled, ds).pred_probs, probs)


def test_unrelated_classes_name_both_lists(ds: Dataset, tmp_path: Path) -> None:
    path = _npz(ds, tmp_path / "other.npz", _probs(), ["cat", "dog", "bird"])
    with pytest.raises(SchemaError) as err:
        Predictions.coerce(path, ds)
    msg = str(err.value)
    assert str(path) in msg and "['cat', 'dog', 'bird']" in msg and "['a', 'b', 'c']" in msg
    with pytest.raises(SchemaError, match=r"\['cat', 'dog', 'bird'\].*\['a', 'b', 'c'\]"):
        evaluate(ds, path, split=None)


def test_wrong_number_of_class_columns(ds: Dataset, tmp_path: Path) -> None:
    four = np.full((N, 4), 0.25)
    np.save(tmp_path / "four.npy", four)
    with pytest.raises(SchemaError, match=r"four\.npy.*4 class columns.*3 classes"):
        Predictions.coerce(tmp_path / "four.npy", ds)
    with pytest.raises(SchemaError, match="4 class columns"):
        scan(ds, four, finders=["label"], cross_validate=False)
    two_names = _save(
        tmp_path / "names.npz", sample_ids=np.array(ds.sample_ids), pred_probs=_probs(),
        classes=np.array(["a", "b"]),
    )  # fmt: skip
    with pytest.raises(SchemaError, match=r"names\.npz.*2 classes.*3 class columns"):
        Predictions.coerce(two_names, ds)


# ----------------------------------------------------------------- values
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.nan, "NaN or infinite values in 1 row"),
        (np.inf, "NaN or infinite values in 1 row"),
        (-0.2, r"probabilities in \[0, 1\]; 1 row"),
        (1.5, r"probabilities in \[0, 1\]; 1 row"),
    ],
)
def test_non_probabilities_name_the_rows(
    ds: Dataset, tmp_path: Path, value: float, message: str
) -> None:
    probs = _probs()
    probs[7, 1] = value
    np.save(tmp_path / "p.npy", probs)
    with pytest.raises(SchemaError, match=message) as err:
        Predictions.coerce(tmp_path / "p.npy", ds)
    assert "rows 7 (sample ids '7')" in str(err.value) and "p.npy" in str(err.value)
    with pytest.raises(SchemaError, match=message):  # in memory too, through scan
        scan(ds, probs, finders=["label"], cross_validate=False)


def test_rows_not_summing_to_one_say_softmax(ds: Dataset) -> None:
    logits = np.random.default_rng(0).uniform(0, 1, (N, 3))  # in [0, 1], sums up to 3
    with pytest.raises(SchemaError, match=r"sum to 1.*softmax") as err:
        Predictions.coerce(logits, ds)
    assert "rows 0, 1, 2" in str(err.value)
    tiny = _probs()
    tiny[0] = [1.0 + 5e-7, -5e-7, 0.0]  # float rounding: clipped and accepted
    got = Predictions.coerce(tiny, ds)
    assert got.pred_probs.min() >= 0.0 and abs(got.pred_probs[0].sum() - 1.0) < 1e-12


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize(("value", "shown"), [(7.4, "7.4"), (float("nan"), "nan"), (-1.0, "-1.0")])
def test_confidence_outside_0_1_is_refused(
    ds: Dataset, tmp_path: Path, suffix: str, value: float, shown: str
) -> None:
    conf = [0.9] * N
    conf[4] = value
    frame = pl.DataFrame({"sample_id": ds.sample_ids, "pred": ["a"] * N, "confidence": conf})
    path = tmp_path / f"preds{suffix}"
    frame.write_parquet(path) if suffix == ".parquet" else frame.write_csv(path)
    with pytest.raises(SchemaError, match=r"confidence must be a probability in \[0, 1\]") as err:
        evaluate(ds, path, split=None, min_n=1)
    msg = str(err.value)
    assert str(path) in msg and "rows 4 (sample ids '4')" in msg and shown in msg.lower()


def test_valid_confidences_give_a_bounded_ece(ds: Dataset) -> None:
    frame = pl.DataFrame({"sample_id": ds.sample_ids, "pred": ["a"] * N, "confidence": [0.9] * N})
    ece = evaluate(ds, frame, split=None, min_n=1).metric("ece")
    assert ece["value"].max() <= 1.0


def test_label_tables_check_names_and_ids(ds: Dataset) -> None:
    ids = ds.sample_ids
    unknown = pl.DataFrame({"sample_id": ids, "pred": ["a"] * (N - 1) + ["zebra"]})
    with pytest.raises(SchemaError, match=r"'zebra'.*classes \['a', 'b', 'c'\]"):
        evaluate(ds, unknown, split=None)
    # integer predictions index the classes (they were compared as the text '0' before)
    as_int = pl.DataFrame({"sample_id": ids, "pred": [i % 3 for i in range(N)]})
    acc = evaluate(ds, as_int, split=None, min_n=1).metric("accuracy")
    assert acc.filter(pl.col("slice") == "overall")["value"][0] == 1.0
    with pytest.raises(SchemaError, match=r"outside 0\.\.2"):
        evaluate(ds, as_int.with_columns(pred=pl.lit(3)), split=None)
    extra = pl.concat([unknown.head(N - 1), pl.DataFrame({"sample_id": ["ghost"], "pred": ["a"]})])
    with pytest.raises(SchemaError, match=r"not in the dataset: 'ghost'"):
        evaluate(ds, extra, split=None)
    twice = pl.DataFrame({"sample_id": [*ids, "3"], "pred": ["a"] * (N + 1)})
    with pytest.raises(SchemaError, match=r"more than one prediction: '3'"):
        discover_dataset(ds, twice)
    missing = pl.DataFrame({"sample_id": ids[1:], "pred": ["a"] * (N - 1)})
    with pytest.raises(SchemaError, match=r"1 evaluated sample\(s\) have no prediction: '0'"):
        evaluate(ds, missing, split=None)
    with pytest.raises(SchemaError, match=r"holds predicted labels"):
        scan(ds, missing, finders=["label"], cross_validate=False)


def test_missing_extra_and_repeated_ids_in_npz(ds: Dataset, tmp_path: Path) -> None:
    probs = _probs()
    ids = list(ds.sample_ids)
    cases = {
        "missing": (ids[2:], probs[2:], r"2 sample\(s\) of the dataset have no prediction: '0'"),
        "extra": ([*ids[:-1], "ghost"], probs, r"1 sample id\(s\) are not in the dataset: 'ghost'"),
        "repeated": ([*ids[:-1], "5"], probs, r"more than one prediction: '5'"),
    }  # fmt: skip
    for name, (sids, p, message) in cases.items():
        path = _save(tmp_path / f"{name}.npz", sample_ids=np.array(sids), pred_probs=p)
        with pytest.raises(SchemaError, match=message) as err:
            Predictions.coerce(path, ds)
        assert f"{name}.npz" in str(err.value)


# ----------------------------------------------------------------- files
def _object_npz(path: Path, marker: Path) -> Path:
    class Boom:  # unpickling it would create ``marker``
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.mkdir, (str(marker),))

    arr = np.empty(3, dtype=object)
    arr[:] = [Boom(), Boom(), Boom()]
    with path.open("wb") as fh:
        np.savez(fh, sample_ids=np.array(["0", "1", "2"]), pred_probs=arr)
    return path


def test_object_arrays_are_refused_and_never_unpickled(ds: Dataset, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = _object_npz(tmp_path / "evil.npz", marker)
    for call in (
        lambda: Predictions.coerce(path, ds),
        lambda: Predictions.load(path),
        lambda: evaluate(ds, path, split=None),
    ):
        with pytest.raises(SchemaError, match=r"evil\.npz.*Python objects.*never unpickles"):
            call()
    assert not marker.exists()
    np.save(tmp_path / "evil.npy", np.array([object()] * 2, dtype=object), allow_pickle=True)
    with pytest.raises(SchemaError, match=r"evil\.npy.*Python objects"):
        Predictions.coerce(tmp_path / "evil.npy", ds)


def test_unreadable_files_are_one_line_schema_errors(ds: Dataset, tmp_path: Path) -> None:
    good = _npz(ds, tmp_path / "good.npz", _probs())
    data = good.read_bytes()
    files = {
        "garbage.npz": os.urandom(300),
        "empty.npz": b"",
        "truncated.npz": data[: len(data) // 2],
        "empty.npy": b"",
        "truncated.npy": b"",  # written below
        "garbage.parquet": b"PAR1 not really",
        "empty.csv": b"",
    }
    buf = io.BytesIO()
    np.save(buf, _probs())
    files["truncated.npy"] = buf.getvalue()[:200]
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(SchemaError) as err:
            Predictions.coerce(path, ds) if name.endswith((".npz", ".npy")) else evaluate(
                ds, path, split=None
            )
        msg = str(err.value)
        assert str(path) in msg and "\n" not in msg, (name, msg)
    with pytest.raises(InvalidParameterError, match=r"preds\.txt.*\.npz.*\.npy.*\.parquet"):
        Predictions.coerce(tmp_path / "preds.txt", ds)
    with pytest.raises(InvalidParameterError, match="does not exist"):
        Predictions.coerce(tmp_path / "nope.npz", ds)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"pred_probs": np.full(N, 0.5)},
            r"shape \(n_samples, n_classes\), received shape \(30,\)",
        ),
        ({"pred_probs": np.full((N, 3, 1), 0.5)}, r"received shape \(30, 3, 1\)"),
        ({"pred_probs": np.full((N, 3), "x")}, "must be numbers"),
        ({"pred_probs": np.full((N + 1, 3), 1 / 3)}, r"30 rows, received 31"),
        ({"embeddings": np.zeros((N, 2))}, "has no 'pred_probs' array"),
        ({"pred_probs": np.full((N, 3), 1 / 3), "embeddings": np.zeros(N)}, "embeddings must"),
        (
            {"pred_probs": np.full((N, 3), 1 / 3), "embeddings": np.full((N, 2), np.nan)},
            r"embeddings have NaN or infinite values in 30 row",
        ),
        (
            {"pred_probs": np.full((N, 3), 1 / 3), "sample_ids": np.zeros((N, 2))},
            "sample_ids must be a 1-D array",
        ),
    ],
)
def test_wrong_shapes_and_dtypes(
    ds: Dataset, tmp_path: Path, arrays: dict[str, np.ndarray], message: str
) -> None:
    path = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SchemaError, match=message) as err:
        Predictions.coerce(path, ds)
    assert "bad.npz" in str(err.value)


def test_forged_header_is_refused_before_reading(ds: Dataset, tmp_path: Path) -> None:
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 3)}
    )
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pred_probs.npy", head.getvalue())  # the header alone: no data
    with pytest.raises(SchemaError, match=r"forged\.npz.*claims shape \(1000000000, 3\)"):
        Predictions.coerce(path, ds)


def test_npz_zip_bomb_stays_small(tmp_path: Path) -> None:
    """A ~0.1 MB .npz whose member inflates to 128 MiB: refused from its header."""
    path = tmp_path / "bomb.npz"
    n = 128 * 2**20 // 8
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f8", "fortran_order": False, "shape": (n // 3, 3)}
    )
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("pred_probs.npy", "w", force_zip64=True) as fh,
    ):
        fh.write(head.getvalue())
        chunk = bytes(2**22)
        for _ in range(n * 8 // len(chunk)):
            fh.write(chunk)
    assert path.stat().st_size < 1_000_000
    code = f"""
import numpy as np
from datacentric import Dataset
from datacentric.exceptions import SchemaError
from datacentric.train import Predictions
ds = Dataset.from_arrays(np.zeros((3, 2, 2), np.uint8), [0, 1, 2], ["a", "b", "c"])
try:
    Predictions.coerce({str(path)!r}, ds)
except SchemaError as exc:
    print("REFUSED", exc)
"""
    res = run_child(code)
    assert res.returncode == 0, res.stderr
    assert "REFUSED" in res.stdout and "bomb.npz" in res.stdout and "claims shape" in res.stdout
    assert res.peak_rss < GIB


def test_embeddings_are_checked(ds: Dataset, tmp_path: Path) -> None:
    emb = np.zeros((N, 4))
    emb[3, 1] = np.inf
    with pytest.raises(SchemaError, match=r"NaN or infinite values in 1 row.*rows 3"):
        scan(ds, embeddings=emb, finders=["outlier"], cross_validate=False)
    np.save(tmp_path / "e.npy", np.zeros((N - 1, 4)))
    with pytest.raises(SchemaError, match=r"e\.npy.*n_samples = 30"):
        coerce_embeddings(tmp_path / "e.npy", ds)
    with pytest.raises(SchemaError, match=r"no columns"):
        coerce_embeddings(np.zeros((N, 0)), ds)


def test_review_records_use_class_names(tmp_path: Path) -> None:
    from datacentric.integrations.fiftyone.records import build_records

    folder = Dataset.open(versioned_dataset(tmp_path / "data", n=6))
    probs = np.tile([0.7, 0.2, 0.1], (6, 1))  # the file's first class is 'c'
    preds = Predictions(folder.sample_ids, probs, np.zeros((6, 0)), classes=["c", "a", "b"])
    rec = build_records(folder, None, preds)
    assert rec.frame["pred_label"].to_list() == ["c"] * 6
    with pytest.raises(SchemaError, match=r"\['x', 'y', 'z'\]"):
        build_records(folder, None, Predictions(folder.sample_ids, probs, np.zeros((6, 0)),
                                                classes=["x", "y", "z"]))  # fmt: skip


def test_label_studio_pre_annotations_are_checked_before_any_request(tmp_path: Path) -> None:
    from datacentric.integrations.labelstudio import push_review

    folder = Dataset.open(versioned_dataset(tmp_path / "data", n=6))
    probs = np.tile([0.7, 0.2, 0.1], (6, 1))
    other = Predictions(folder.sample_ids, probs, np.zeros((6, 0)), classes=["x", "y", "z"])
    # no server at this URL: the predictions are refused before it is contacted
    with pytest.raises(SchemaError, match=r"\['x', 'y', 'z'\].*\['a', 'b', 'c'\]"):
        push_review(
            folder, None, project="abc", predictions=other, url="http://127.0.0.1:9", token="t"
        )
    np.save(tmp_path / "nan.npy", np.full((6, 3), np.nan))
    with pytest.raises(SchemaError, match=r"nan\.npy.*NaN or infinite values in 6 row"):
        push_review(
            folder, None, project="abc", predictions=str(tmp_path / "nan.npy"),
            url="http://127.0.0.1:9", token="t",
        )  # fmt: skip


# ----------------------------------------------------------------- the CLI round trip
def test_scan_npz_round_trips_into_scan_pred_probs(tmp_path: Path) -> None:
    root = versioned_dataset(tmp_path / "data")
    folder = Dataset.open(root)
    n = len(folder)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], n)
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "e.npy", rng.normal(size=(n, 5)).astype(np.float32))
    runner = CliRunner()
    first = tmp_path / "first" / "scan.parquet"
    args = ["--no-cv", "--finders", "label,outlier"]
    res = runner.invoke(
        app, ["scan", str(root), "--out", str(first), "--pred-probs", str(tmp_path / "p.npy"),
              "--embeddings", str(tmp_path / "e.npy"), *args],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    written = first.parent / "predictions.npz"
    assert written.is_file()
    second = tmp_path / "second" / "scan.parquet"
    res = runner.invoke(
        app, ["scan", str(root), "--out", str(second), "--pred-probs", str(written), *args]
    )
    assert res.exit_code == 0, res.output
    a, b = ScanResult.load(first), ScanResult.load(second)
    assert a.issues.equals(b.issues) and "outlier" not in b.skipped
    # the same file with its classes permuted gives the same scan
    used = Predictions.load(written)
    perm = [1, 2, 0]
    Predictions(
        used.sample_ids, used.pred_probs[:, perm], used.embeddings,
        classes=[used.classes[i] for i in perm],  # type: ignore[index]
    ).save(tmp_path / "perm.npz")  # fmt: skip
    third = tmp_path / "third" / "scan.parquet"
    res = runner.invoke(
        app, ["scan", str(root), "--out", str(third), "--pred-probs", str(tmp_path / "perm.npz"),
              *args],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert ScanResult.load(third).issues.equals(a.issues)
