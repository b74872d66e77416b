"""Known answers for the bundled demo dataset (generated once per module)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image
from scipy.ndimage import uniform_filter
from sklearn.datasets import load_digits

from datacentric.dataset import Dataset
from datacentric.datasets import (
    DEMO_CLASSES,
    DEMO_INJECTIONS,
    GROUND_TRUTH_FILE,
    dark_score,
    load_demo,
    load_ground_truth,
)
from datacentric.exceptions import InvalidParameterError

CFG = DEMO_INJECTIONS
N_DIGITS = 1797
LINKS = ("exact_duplicate_of", "near_duplicate_of", "leak_of")


def _expected_rare_keep() -> tuple[int, int]:
    """(kept train rows of the rare class, its train rows before subsampling)."""
    counts = np.bincount(load_digits().target)
    train = {str(c): int(n - round(CFG.test_fraction * n)) for c, n in enumerate(counts)}
    others = [n for c, n in train.items() if c != CFG.rare_class]
    return round(CFG.rare_class_ratio * float(np.median(others))), train[CFG.rare_class]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Dataset, pl.DataFrame]:
    root = tmp_path_factory.mktemp("demo")
    ds = load_demo(root, seed=0)
    manifest = pl.read_parquet(root / "manifest.parquet")
    truth = load_ground_truth(root)
    joined = manifest.join(truth, on="sample_id", how="inner", maintain_order="left")
    assert joined.height == manifest.height == truth.height
    return root, ds, joined


def _pixels(root: Path, rel: str) -> np.ndarray:
    with Image.open(root / rel) as im:
        return np.asarray(im)


def _image_of(joined: pl.DataFrame, sample_id: str) -> str:
    return joined.filter(pl.col("sample_id") == sample_id)["image"].item()


# ------------------------------------------------------------------ layout and counts
def test_files_columns_and_ids(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    root, ds, joined = demo
    assert (root / "classes.txt").read_text().split() == list(DEMO_CLASSES)
    assert ds.classes == list(DEMO_CLASSES)
    assert ds.manifest.columns == [
        "sample_id",
        "image",
        "label",
        "split",
        "scanner",
        "vendor",
        "writer_group",
        "annotator",
    ]
    truth_only = set(load_ground_truth(root).columns) - {"sample_id"}
    assert truth_only.isdisjoint(ds.manifest.columns)
    assert (joined["image"] == "images/" + joined["sample_id"] + ".png").all()
    assert set(joined["split"].unique()) == {"train", "test"}
    assert set(joined["scanner"].unique()) == set(CFG.scanner_weights)
    assert set(joined["vendor"].unique()) == set(CFG.vendor_weights)
    assert set(joined["writer_group"].unique()) == set(CFG.writer_group_weights)
    assert (joined["annotator"].str.split("/").list.first() == joined["vendor"]).all()
    copies = joined.filter(pl.any_horizontal(pl.col(*LINKS).is_not_null()))
    originals = joined.filter(~pl.col("sample_id").is_in(copies["sample_id"].implode()))
    ids = originals["sample_id"].str.slice(1).cast(pl.Int64).to_numpy()
    assert ids.min() >= 0 and ids.max() < N_DIGITS
    assert (copies["sample_id"].str.slice(1).cast(pl.Int64) >= N_DIGITS).all()


def test_row_count_known_answer(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    _, ds, _ = demo
    keep, before = _expected_rare_keep()
    n_copies = CFG.exact_duplicates + CFG.near_duplicates + CFG.exact_leaks + CFG.near_leaks
    assert len(ds) == N_DIGITS - (before - keep) + n_copies == 1759


def test_injection_counts_match_knobs(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    _, _, j = demo
    assert j["exact_duplicate_of"].is_not_null().sum() == CFG.exact_duplicates
    assert j["near_duplicate_of"].is_not_null().sum() == CFG.near_duplicates
    assert j["leak_of"].is_not_null().sum() == CFG.exact_leaks + CFG.near_leaks
    # every copy records exactly one kind
    kinds = j.select(pl.sum_horizontal(pl.col(*LINKS).is_not_null())).to_series()
    assert kinds.max() == 1
    is_copy = kinds == 1
    for vendor, rate in CFG.label_noise_rate.items():
        classes = list(CFG.noise_classes.get(vendor, tuple(CFG.confusion)))
        eligible = j.filter(
            ~is_copy
            & (pl.col("split") == "train")
            & (pl.col("vendor") == vendor)
            & pl.col("true_label").is_in(classes)
        )
        assert eligible["is_label_noise"].sum() == round(rate * eligible.height), vendor
        assert j.filter(pl.col("is_label_noise") & (pl.col("vendor") == vendor)).height == round(
            rate * eligible.height
        )
    # seed 0 (docs/demo-data.md): 40 + 23 + 92 flipped rows
    assert j["is_label_noise"].sum() == 155


# ------------------------------------------------------------------ determinism
def test_same_seed_is_byte_identical(
    demo: tuple[Path, Dataset, pl.DataFrame], tmp_path: Path
) -> None:
    root, _, _ = demo
    load_demo(tmp_path, seed=0, commit=False)
    for name in ("manifest.parquet", GROUND_TRUTH_FILE, "classes.txt"):
        assert (tmp_path / name).read_bytes() == (root / name).read_bytes(), name
    rels = pl.read_parquet(root / "manifest.parquet")["image"].to_list()
    for rel in rels[:: len(rels) // 25] + rels[-5:]:
        assert (tmp_path / rel).read_bytes() == (root / rel).read_bytes(), rel


def test_different_seed_differs(demo: tuple[Path, Dataset, pl.DataFrame], tmp_path: Path) -> None:
    root, _, _ = demo
    load_demo(tmp_path, seed=1, size=8, commit=False)
    a = pl.read_parquet(root / "manifest.parquet")
    b = pl.read_parquet(tmp_path / "manifest.parquet")
    assert not a.equals(b)
    assert not load_ground_truth(root).equals(load_ground_truth(tmp_path))
    assert b.height == a.height  # the counts do not depend on the seed


# ------------------------------------------------------------------ label noise
def test_noise_heaviest_in_vendor_c_and_train_only(
    demo: tuple[Path, Dataset, pl.DataFrame],
) -> None:
    _, _, j = demo
    assert not j.filter(pl.col("split") == "test")["is_label_noise"].any()
    rates = dict(
        j.filter(pl.col("split") == "train")
        .group_by("vendor")
        .agg(pl.col("is_label_noise").mean())
        .iter_rows()
    )
    # share of train rows flipped = rate x share of look-alike classes (6 of the 9 others)
    assert rates["vendor_c"] > 0.2
    assert 0.04 < rates["vendor_a"] < 0.15 and 0.04 < rates["vendor_b"] < 0.15
    assert rates["vendor_c"] > 2 * max(rates["vendor_a"], rates["vendor_b"])
    # every vendor confuses only the look-alike pairs (1/7, 3/8, 4/9)
    look_alikes = {"1", "3", "4", "7", "8", "9"}
    for vendor in ("vendor_a", "vendor_b", "vendor_c"):
        assert set(CFG.noise_classes[vendor]) == look_alikes
        noisy = j.filter(pl.col("is_label_noise") & (pl.col("vendor") == vendor))
        assert set(noisy["true_label"]) == look_alikes, vendor
        assert (noisy["true_label"].replace_strict(dict(CFG.confusion)) == noisy["label"]).all()


def test_noisy_vendor_annotates_the_dark_scanner(
    demo: tuple[Path, Dataset, pl.DataFrame],
) -> None:
    """scanner_c's site sends 90 % of its scans to vendor_c; the other scanners 10 %."""
    _, _, j = demo
    share = dict(j.group_by("scanner").agg((pl.col("vendor") == "vendor_c").mean()).iter_rows())
    assert CFG.vendor_weights_by_scanner["scanner_c"]["vendor_c"] == 0.9
    assert CFG.vendor_weights["vendor_c"] == 0.1
    assert 0.85 < share["scanner_c"] < 0.95  # binomial, n = 542 for seed 0
    assert 0.05 < share["scanner_a"] < 0.15 and 0.05 < share["scanner_b"] < 0.15
    # so the dark scanner's train labels are the noisiest (about twice the others' rate)
    train = j.filter(pl.col("split") == "train")
    dark = train["scanner"] == "scanner_c"
    rate_dark = train.filter(dark)["is_label_noise"].mean()
    rate_other = train.filter(~dark)["is_label_noise"].mean()
    assert isinstance(rate_dark, float) and isinstance(rate_other, float)
    assert rate_dark > 1.5 * rate_other


def test_labels_follow_the_truth_and_confusion_map(
    demo: tuple[Path, Dataset, pl.DataFrame],
) -> None:
    _, _, j = demo
    test = j.filter(pl.col("split") == "test")
    assert (test["label"] == test["true_label"]).all()
    clean = j.filter(~pl.col("is_label_noise"))
    assert (clean["label"] == clean["true_label"]).all()
    noisy = j.filter(pl.col("is_label_noise"))
    assert noisy.height > 0
    for label, true in noisy.select("label", "true_label").iter_rows():
        assert label == CFG.confusion[true] != true
    assert CFG.rare_class not in CFG.confusion.values()
    assert not noisy["is_rare_class"].any()


# ------------------------------------------------------------------ images
def test_images_are_rgb_of_requested_size(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    root, _, j = demo
    for rel in j["image"].to_list()[::97]:
        with Image.open(root / rel) as im:
            assert im.mode == "RGB" and im.size == (32, 32)
            arr = np.asarray(im).astype(int)
        assert np.abs(arr[..., 0] - arr[..., 2]).max() > 10  # tinted, not gray
        assert np.median(arr.sum(-1)) > arr.sum(-1).min() + 20  # ink darker than the paper


def test_dark_scanner_satisfies_the_dark_definition(
    demo: tuple[Path, Dataset, pl.DataFrame],
) -> None:
    root, _, j = demo
    assert (j["is_dark"] == (j["scanner"] == CFG.dark_scanner)).all()
    scores = np.array([dark_score(_pixels(root, rel)) for rel in j["image"].to_list()])
    dark = j["is_dark"].to_numpy()
    assert dark.sum() > 0.1 * len(dark)
    assert (scores[dark] < CFG.dark_threshold).all()
    assert (scores[~dark] >= CFG.dark_threshold).all()
    assert scores[dark].max() < 0.3 and scores[~dark].min() > 0.8  # a wide margin both ways


def _sharpness(img: np.ndarray) -> float:
    """Steepest edge (99th percentile of the gradient) of the grayscale image, smoothed over
    3x3 pixels against the sensor noise, divided by its contrast."""
    gray = uniform_filter(img.astype(np.float64).mean(axis=-1), 3)
    gy, gx = np.gradient(gray)
    contrast = np.percentile(gray, 99) - np.percentile(gray, 1)
    return float(np.percentile(np.hypot(gx, gy), 99) / contrast)


def test_dark_scanner_is_out_of_focus(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    """scanner_c blurs with radius 1.2 px instead of 0.6: its edges are softer for its contrast."""
    root, _, j = demo
    assert CFG.dark_blur_radius == 2 * CFG.blur_radius == 1.2
    originals = j.filter(pl.all_horizontal(pl.col(*LINKS).is_null()))
    values = {
        sc: np.array([_sharpness(_pixels(root, r)) for r in rows["image"].to_list()[::5]])
        for (sc,), rows in originals.group_by("scanner")
    }
    sharp = {sc: float(np.median(v)) for sc, v in values.items()}
    # seed 0: medians 0.200 (scanner_a), 0.199 (scanner_b), 0.172 (scanner_c)
    assert sharp["scanner_c"] < 0.92 * min(sharp["scanner_a"], sharp["scanner_b"])
    assert np.percentile(values["scanner_c"], 90) < min(sharp["scanner_a"], sharp["scanner_b"])
    assert abs(sharp["scanner_a"] - sharp["scanner_b"]) < 0.05 * sharp["scanner_a"]


def test_exact_duplicates_are_identical_copies(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    root, _, j = demo
    by_id = {r["sample_id"]: r for r in j.iter_rows(named=True)}
    for row in j.filter(pl.col("exact_duplicate_of").is_not_null()).iter_rows(named=True):
        src = by_id[row["exact_duplicate_of"]]
        assert src["split"] == row["split"] == "train"
        assert row["label"] == src["label"] == src["true_label"]
        assert (row["scanner"], row["vendor"]) == (src["scanner"], src["vendor"])
        assert np.array_equal(_pixels(root, row["image"]), _pixels(root, src["image"]))
        assert (root / row["image"]).read_bytes() == (root / src["image"]).read_bytes()


def test_near_duplicates_are_close_but_not_identical(
    demo: tuple[Path, Dataset, pl.DataFrame],
) -> None:
    root, _, j = demo
    by_id = {r["sample_id"]: r for r in j.iter_rows(named=True)}
    for row in j.filter(pl.col("near_duplicate_of").is_not_null()).iter_rows(named=True):
        src = by_id[row["near_duplicate_of"]]
        assert src["split"] == row["split"] == "train" and row["label"] == src["label"]
        a = _pixels(root, row["image"]).astype(float)
        b = _pixels(root, src["image"]).astype(float)
        assert not np.array_equal(a, b)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.5
        assert abs(a.mean() - b.mean()) < 0.06 * b.mean() + 3


def test_leaks_copy_test_samples_into_train(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    root, _, j = demo
    by_id = {r["sample_id"]: r for r in j.iter_rows(named=True)}
    leaks = j.filter(pl.col("leak_of").is_not_null())
    identical = 0
    for row in leaks.iter_rows(named=True):
        src = by_id[row["leak_of"]]
        assert row["split"] == "train" and src["split"] == "test"
        assert row["label"] == src["label"] == row["true_label"]
        a, b = _pixels(root, row["image"]), _pixels(root, src["image"])
        identical += int(np.array_equal(a, b))
        assert np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1] > 0.5
    assert identical == CFG.exact_leaks
    assert leaks["leak_of"].n_unique() == leaks.height


def test_rare_class_ratio(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    _, _, j = demo
    keep, _ = _expected_rare_keep()
    train = j.filter(pl.col("split") == "train")
    counts = dict(train.group_by("label").len().iter_rows())
    assert counts[CFG.rare_class] == keep
    others = [n for c, n in counts.items() if c != CFG.rare_class]
    assert 0.12 < counts[CFG.rare_class] / float(np.median(others)) < 0.22
    assert (j["is_rare_class"] == (j["true_label"] == CFG.rare_class)).all()
    # the test split keeps every rare-class image
    n_rare = int(np.sum(load_digits().target == int(CFG.rare_class)))
    rare_test = j.filter((pl.col("split") == "test") & pl.col("is_rare_class")).height
    assert rare_test == round(CFG.test_fraction * n_rare)


# ------------------------------------------------------------------ store and protection
def test_commit_created_version_1(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    root, ds, _ = demo
    assert ds.version == 1
    history = ds.history()
    assert history["version"].to_list() == [1]
    assert history["message"].item() == "demo data (sklearn digits, seed=0)"
    assert Dataset.open(root).manifest.equals(ds.manifest)


def test_existing_manifest_requires_overwrite(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    root, _, _ = demo
    before = (root / "manifest.parquet").read_bytes()
    with pytest.raises(InvalidParameterError, match="overwrite=True"):
        load_demo(root)
    assert (root / "manifest.parquet").read_bytes() == before


def test_overwrite_replaces_an_earlier_demo(tmp_path: Path) -> None:
    load_demo(tmp_path, seed=3, size=8)
    ds = load_demo(tmp_path, seed=4, size=8, overwrite=True)
    assert ds.version == 1 and ds.history().height == 1
    assert "seed=4" in ds.history()["message"].item()
    on_disk = {p.name for p in (tmp_path / "images").iterdir()}
    assert on_disk == {Path(p).name for p in ds.manifest["image"].to_list()}
    with Image.open(tmp_path / ds.manifest["image"][0]) as im:
        assert im.size == (8, 8)


def test_overwrite_never_replaces_foreign_data(tmp_path: Path) -> None:
    pl.DataFrame({"sample_id": ["a"], "image": ["a.png"], "label": ["x"]}).write_parquet(
        tmp_path / "manifest.parquet"
    )
    with pytest.raises(InvalidParameterError, match="did not write"):
        load_demo(tmp_path, overwrite=True, size=8)
    assert pl.read_parquet(tmp_path / "manifest.parquet").height == 1


def test_no_commit_returns_uncommitted_dataset(tmp_path: Path) -> None:
    ds = load_demo(tmp_path / "new", size=8, commit=False)
    assert ds.version is None
    assert not (tmp_path / "new" / ".datacentric").exists()


@pytest.mark.parametrize(
    "kwargs",
    [{"size": 4}, {"size": 1000}, {"seed": -1}, {"size": 32.0}, {"overwrite": "yes"}],
)
def test_bad_parameters_raise(tmp_path: Path, kwargs: dict[str, object]) -> None:
    [(name, value)] = kwargs.items()
    with pytest.raises(
        InvalidParameterError, match=rf"^load_demo: parameter {name} must be .*received {value!r}"
    ):
        load_demo(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "manifest.parquet").exists()


def test_missing_ground_truth_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="load_demo"):
        load_ground_truth(tmp_path)


def test_knobs_are_json_serialisable_and_read_only() -> None:
    knobs = json.loads(json.dumps(CFG.as_dict()))
    assert knobs["exact_duplicates"] == CFG.exact_duplicates
    assert set(knobs["label_noise_rate"]) == set(CFG.vendor_weights)
    with pytest.raises(TypeError):
        CFG.label_noise_rate["vendor_c"] = 0.0  # type: ignore[index]
