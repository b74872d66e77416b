"""Known answers for the detection demo (written once per module, through the CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image
from typer.testing import CliRunner

from datacentric.cli import app
from datacentric.dataset import Dataset
from datacentric.datasets import (
    DEMO_INJECTIONS,
    DETECTION_DEMO_INJECTIONS,
    DETECTION_GROUND_TRUTH_FILES,
    dark_score,
    load_detection_demo,
    load_detection_ground_truth,
)
from datacentric.exceptions import InvalidParameterError

CFG = DETECTION_DEMO_INJECTIONS
RATES = {
    "overlooked": CFG.overlooked_rate,
    "badly_located": CFG.badly_located_rate,
    "swapped": CFG.swapped_rate,
    "duplicate": CFG.duplicate_rate,
}
# seed 0, 300 scenes of 96 x 96: 832 digits, 617 of them in train scenes
SEED0 = {"overlooked": 37, "badly_located": 37, "swapped": 31, "duplicate": 25}
BOX = ["x", "y", "w", "h"]
TRUE_BOX = ["true_x", "true_y", "true_w", "true_h"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Dataset, pl.DataFrame]:
    """The default demo, written by ``datacentric demo-data DIR --task detection``."""
    root = tmp_path_factory.mktemp("detdemo") / "demo"
    result = CliRunner().invoke(app, ["demo-data", str(root), "--task", "detection"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "300 scenes, 820 boxes" in result.stdout
    ds = Dataset.open(root)
    truth = load_detection_ground_truth(root)
    boxes = truth.boxes.join(truth.images, on="sample_id").join(
        ds.manifest.select("sample_id", "split", "camera"), on="sample_id"
    )
    return root, ds, boxes


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two (n, 4) x, y, w, h arrays."""
    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y1 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def _gray(root: Path, sample_id: str) -> np.ndarray:
    with Image.open(root / "images" / f"{sample_id}.png") as im:
        return np.asarray(im, dtype=np.float64).mean(axis=2)


# ------------------------------------------------------------------ the dataset
def test_cli_writes_a_loadable_detection_dataset(
    demo: tuple[Path, Dataset, pl.DataFrame],
) -> None:
    root, ds, _ = demo
    assert (ds.task, ds.version, len(ds), ds.classes) == (
        "detection",
        1,
        300,
        [str(d) for d in range(10)],
    )
    assert ds.annotations is not None and ds.annotations.height == 820
    assert ds.manifest["label"].null_count() == 300
    assert ds.manifest.group_by("split").len().sort("split").rows() == [
        ("test", 75),
        ("train", 225),
    ]
    assert set(ds.manifest["camera"]) == {"cam_a", "cam_b", "cam_c"}
    assert set(ds.manifest["site"]) == {"site_north", "site_south"}
    assert ds.box_problems().height == 0  # inside the image, positive size, known class
    # 1-5 digits per scene; the ground truth stays out of the dataset's files
    n_objects = load_detection_ground_truth(root).images["n_objects"]
    assert n_objects.min() >= 1 and n_objects.max() <= 5
    assert not {"problem", "true_x", "duplicate_of"} & set(ds.annotations.columns)
    assert not {"is_dark", "problem"} & set(ds.manifest.columns)


# ------------------------------------------------------------------ planted problems
def test_counts_per_problem_follow_the_rates(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    _, ds, boxes = demo
    true_objects = boxes.filter(pl.col("problem") != "duplicate")
    n_train = true_objects.filter(pl.col("split") == "train").height
    assert (true_objects.height, n_train) == (832, 617)
    counts = dict(boxes.group_by("problem").len().rows())
    assert {p: counts[p] for p in RATES} == SEED0
    assert {p: round(rate * n_train) for p, rate in RATES.items()} == SEED0
    # only train scenes carry problems; test boxes are the truth
    assert boxes.filter(pl.col("split") == "test")["problem"].unique().to_list() == ["none"]
    assert ds.annotations is not None
    assert ds.annotations.height == 832 - SEED0["overlooked"] + SEED0["duplicate"]


def test_each_box_is_what_the_ground_truth_says(
    demo: tuple[Path, Dataset, pl.DataFrame],
) -> None:
    _, ds, boxes = demo
    assert ds.annotations is not None
    seen = boxes.join(ds.annotations, on=["annotation_id", "sample_id"], how="left")
    missing = seen.filter(pl.col("label").is_null())["problem"].unique().to_list()
    assert missing == ["overlooked"]  # removed boxes, and only they, are absent
    assert seen.filter(pl.col("problem") == "overlooked")["label"].null_count() == 37
    kept = seen.filter(pl.col("problem") != "overlooked")
    same_box = np.all(kept.select(BOX).to_numpy() == kept.select(TRUE_BOX).to_numpy(), axis=1)
    iou = _iou(kept.select(BOX).to_numpy(), kept.select(TRUE_BOX).to_numpy())
    problem = kept["problem"].to_numpy()
    assert same_box[np.isin(problem, ["none", "swapped"])].all()
    assert not same_box[problem == "badly_located"].any()
    assert iou[problem == "badly_located"].max() < 0.75
    assert iou[problem == "duplicate"].min() > 0.7
    relabelled = kept["label"] != kept["true_label"]
    assert (relabelled.to_numpy() == (problem == "swapped")).all()
    swapped = kept.filter(pl.col("problem") == "swapped")
    assert swapped["label"].to_list() == [CFG.confusion[t] for t in swapped["true_label"]]
    # a duplicate sits on an object whose own box is correct, with the same class
    dup = kept.filter(pl.col("problem") == "duplicate")
    src = boxes.select(
        pl.col("annotation_id").alias("duplicate_of"), pl.col("problem").alias("src_problem")
    )
    joined = dup.join(src, on="duplicate_of", how="left")
    assert joined["src_problem"].to_list() == ["none"] * dup.height
    assert (dup["label"] == dup["true_label"]).all()


def test_boxes_tightly_enclose_the_ink(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    root, _, boxes = demo
    lit = boxes.filter((pl.col("problem") != "duplicate") & ~pl.col("is_dark"))
    assert lit.height > 500
    for sid, x, y, w, h in (
        lit.select("sample_id", *TRUE_BOX).cast({c: pl.Int64 for c in TRUE_BOX}).rows()
    ):
        img = _gray(root, sid)
        ring = np.concatenate(
            [
                img[y - 1, x - 1 : x + w + 1],
                img[y + h, x - 1 : x + w + 1],
                img[y - 1 : y + h + 1, x - 1],
                img[y - 1 : y + h + 1, x + w],
            ]
        )
        paper = np.median(ring)
        borders = [
            img[y, x : x + w],
            img[y + h - 1, x : x + w],
            img[y : y + h, x],
            img[y : y + h, x + w - 1],
        ]
        # every edge of the box touches ink (>= 20 grey levels darker than the paper around it)
        assert all(paper - b.min() >= 20 for b in borders), (sid, x, y, w, h)
        # and the pixels just outside it are paper (noise and lighting only)
        assert paper - ring.min() < 15, (sid, x, y, w, h)


def test_the_dark_camera_is_darker_and_flat(demo: tuple[Path, Dataset, pl.DataFrame]) -> None:
    root, _, _ = demo
    images = load_detection_ground_truth(root).images
    assert (images["is_dark"] == (images["camera"] == CFG.dark_camera)).all()
    assert int(images["is_dark"].sum()) == 80
    stats: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for sid, dark in images.select("sample_id", "is_dark").rows():
        img = _gray(root, sid)
        stats[dark].append((float(img.mean()), float(np.percentile(img, 99) - img.min())))
        with Image.open(root / "images" / f"{sid}.png") as im:  # CleanVision's definition
            assert (dark_score(np.asarray(im)) < DEMO_INJECTIONS.dark_threshold) == dark, sid
    dark, lit = np.array(stats[True]), np.array(stats[False])
    assert dark[:, 0].max() < 80 < 150 < lit[:, 0].min()  # mean grey level
    assert dark[:, 1].max() < 60 < 120 < lit[:, 1].min()  # contrast: paper to darkest ink


# ------------------------------------------------------------------ files and arguments
def test_same_seed_same_bytes_other_seed_other_scenes(tmp_path: Path) -> None:
    def files(root: Path) -> dict[str, bytes]:
        names = ["manifest.parquet", "annotations.parquet", *DETECTION_GROUND_TRUTH_FILES]
        out = {n: (root / n).read_bytes() for n in names}
        out.update({p.name: p.read_bytes() for p in sorted((root / "images").iterdir())})
        return out

    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        load_detection_demo(tmp_path / name, seed=seed, n_scenes=12, size=64, commit=False)
    a, b, c = (files(tmp_path / n) for n in "abc")
    assert a == b
    assert len(a) == 4 + 12
    assert a["annotations.parquet"] != c["annotations.parquet"]
    assert a["s00000.png"] != c["s00000.png"]


def test_overwrite_and_refusals(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    load_detection_demo(root, n_scenes=8, size=48, commit=False)
    with pytest.raises(InvalidParameterError, match="overwrite=True"):
        load_detection_demo(root, n_scenes=8, size=48)
    ds = load_detection_demo(root, n_scenes=10, size=48, overwrite=True)
    assert (len(ds), ds.version) == (10, 1)
    assert len(list((root / "images").iterdir())) == 10
    own = tmp_path / "own"
    own.mkdir()
    (own / "manifest.csv").write_text("sample_id,image,label\n")
    with pytest.raises(InvalidParameterError, match="did not write"):
        load_detection_demo(own, overwrite=True)
    with pytest.raises(InvalidParameterError, match=r"ground_truth_boxes\.parquet does not exist"):
        load_detection_ground_truth(own)
    with pytest.raises(InvalidParameterError, match="n_scenes"):
        load_detection_demo(tmp_path / "x", n_scenes=3)


def test_each_demo_replaces_the_other(tmp_path: Path) -> None:
    from datacentric.datasets import load_demo

    root = tmp_path / "demo"
    load_demo(root, size=8, commit=False)
    ds = load_detection_demo(root, n_scenes=8, size=48, overwrite=True)
    names = {p.name for p in (root / "images").iterdir()}
    assert (ds.task, len(names), min(names)) == ("detection", 8, "s00000.png")
    assert not (root / "ground_truth.parquet").exists()
    back = load_demo(root, size=8, overwrite=True, commit=False)
    assert back.task == "classification"
    left = {"annotations.parquet", *DETECTION_GROUND_TRUTH_FILES} & {p.name for p in root.iterdir()}
    assert left == set()
    assert not any(p.name.startswith("s") for p in (root / "images").iterdir())
