"""The detection demo: scenes of real handwritten digits with boxes and planted box problems.

Each scene is a ``size`` x ``size`` RGB canvas holding 1 to 5 of scikit-learn's real 8x8
handwritten digits at varied scales and positions (never overlapping), on a background and
under a lighting that depend on the scene's ``camera`` and ``site``. Every digit is one box:
its ink bounding box in pixels, labelled with the digit. :data:`DETECTION_DEMO_INJECTIONS`
holds every knob; what was planted goes to ``ground_truth_boxes.parquet`` and
``ground_truth_images.parquet``, never into the dataset. See ``docs/demo-data.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from numbers import Integral
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from datacentric._io import atomic_write_text, ensure_writable, os_errors_as
from datacentric._read import read_parquet
from datacentric._validation import Interval, validate_call
from datacentric.dataset import Dataset, VersionStore
from datacentric.dataset.annotations import annotation_problems
from datacentric.datasets.demo import (
    _CLASSES_FILE,
    _IMAGES,
    _MANIFEST,
    DEMO_CLASSES,
    RGB,
    _check_args,
    _clear_previous_demo,
    _frozen,
    _is_demo,
    _split,
    _track,
    _write_atomic,
)
from datacentric.exceptions import InvalidParameterError

__all__ = [
    "BOX_PROBLEMS",
    "DETECTION_DEMO_INJECTIONS",
    "DETECTION_GROUND_TRUTH_FILES",
    "DetectionDemoInjections",
    "DetectionGroundTruth",
    "load_detection_demo",
    "load_detection_ground_truth",
]

BOX_PROBLEMS: tuple[str, ...] = ("none", "overlooked", "badly_located", "swapped", "duplicate")
"""The values of ``problem`` in the box ground truth."""

_BOXES_FILE = "ground_truth_boxes.parquet"
_SCENES_FILE = "ground_truth_images.parquet"
_ANNOTATIONS = "annotations.parquet"
DETECTION_GROUND_TRUTH_FILES: tuple[str, str] = (_BOXES_FILE, _SCENES_FILE)
"""The two ground-truth files :func:`load_detection_demo` writes: per box, per image."""

_SIZE_RANGE = (48, 512)
_SCENES_RANGE = (8, 99_999)


@dataclass(frozen=True)
class DetectionDemoInjections:
    """Every knob of the detection demo (read-only; :data:`DETECTION_DEMO_INJECTIONS` is used).

    Attributes
    ----------
    test_fraction : float
        Share of the scenes in ``test``, and (stratified by class) of the 1,797 source digits
        reserved for test scenes, so no handwritten digit appears in both splits.
    objects_per_scene : (int, int)
        Digits per scene, drawn uniformly from this inclusive range (fewer when a scene has
        no room left after ``placement_tries`` attempts).
    digit_scale_range : (float, float)
        The side of a digit's square, as a fraction of the canvas side, uniform in the range.
    gap_px : int
        Squares of two digits are at least this far apart, and at least 1 px from the border.
    placement_tries : int
        Random positions tried per digit before giving up on it.
    ink_threshold : float
        Rendered ink below this opacity (0..1) is dropped, so the box is exactly the ink.
    camera_weights, site_weights : mapping of str to float
        Probabilities of each camera and site per scene.
    camera_style : mapping of str to (paper RGB, ink RGB)
        Background and ink colours per camera.
    site_light : mapping of str to (str, float)
        Per site, the direction (``vertical`` or ``horizontal``) and strength of a linear
        lighting falloff: pixels are multiplied by ``1 - strength * t``, ``t`` going 0 to 1
        across the canvas (direction flipped at random per scene).
    exposure_range, sensor_noise_std : (float, float), float
        Per scene exposure factor; Gaussian noise per pixel and channel (0-255 scale).
    dark_camera : str
        The camera whose scenes are dark and low contrast (planted problem 5).
    overlooked_rate, badly_located_rate, swapped_rate, duplicate_rate : float
        Shares of the train boxes given each problem: ``round(rate * n_train_boxes)`` boxes
        each, disjoint, chosen at random (duplicates are added on top of the true boxes).
    bad_shift_fraction, bad_scale_fraction : float
        A badly located box moves by this fraction of its width (x) and height (y), each
        direction at random, and its width and height are multiplied by ``1 ± fraction``
        (sign at random); then it is clipped to the image.
    duplicate_jitter : float
        A duplicate box is the true box with each of x, y, w, h moved by up to this fraction
        of the width/height (uniform), clipped to the image.
    confusion : mapping of str to str
        A swapped box of true class ``k`` is labelled ``confusion[k]``.
    """

    test_fraction: float = 0.25
    objects_per_scene: tuple[int, int] = (1, 5)
    digit_scale_range: tuple[float, float] = (0.18, 0.4)
    gap_px: int = 2
    placement_tries: int = 50
    ink_threshold: float = 0.2
    camera_weights: Mapping[str, float] = _frozen({"cam_a": 0.4, "cam_b": 0.35, "cam_c": 0.25})
    site_weights: Mapping[str, float] = _frozen({"site_north": 0.5, "site_south": 0.5})
    camera_style: Mapping[str, tuple[RGB, RGB]] = _frozen(
        {
            "cam_a": ((236, 232, 220), (24, 30, 80)),  # warm grey desk, dark blue ink
            "cam_b": ((214, 226, 236), (50, 28, 22)),  # cool blue-grey desk, brown ink
            "cam_c": ((72, 68, 60), (36, 34, 40)),  # dark and low contrast
        }
    )
    site_light: Mapping[str, tuple[str, float]] = _frozen(
        {"site_north": ("vertical", 0.15), "site_south": ("horizontal", 0.15)}
    )
    exposure_range: tuple[float, float] = (0.92, 1.0)
    sensor_noise_std: float = 2.0
    dark_camera: str = "cam_c"
    overlooked_rate: float = 0.06
    badly_located_rate: float = 0.06
    swapped_rate: float = 0.05
    duplicate_rate: float = 0.04
    bad_shift_fraction: float = 0.3
    bad_scale_fraction: float = 0.3
    duplicate_jitter: float = 0.05
    confusion: Mapping[str, str] = _frozen(
        {
            "0": "6",
            "1": "7",
            "2": "7",
            "3": "8",
            "4": "9",
            "5": "6",
            "6": "5",
            "7": "1",
            "8": "3",
            "9": "4",
        }
    )

    def as_dict(self) -> dict[str, Any]:
        """The knobs as plain, JSON-serialisable Python values.

        Examples
        --------
        >>> DETECTION_DEMO_INJECTIONS.as_dict()["overlooked_rate"]
        0.06
        """
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in values.items()}


DETECTION_DEMO_INJECTIONS = DetectionDemoInjections()
"""The simulation parameters :func:`load_detection_demo` uses."""


class DetectionGroundTruth(NamedTuple):
    """What :func:`load_detection_ground_truth` returns.

    Attributes
    ----------
    boxes : polars.DataFrame
        One row per true object, plus one per planted duplicate box: ``annotation_id,
        sample_id, problem, true_label, true_x, true_y, true_w, true_h, duplicate_of``.
    images : polars.DataFrame
        One row per scene: ``sample_id, camera, is_dark, n_objects``.
    """

    boxes: pl.DataFrame
    images: pl.DataFrame


# ---------------------------------------------------------------------- simulation
class _Scene(NamedTuple):
    image: np.ndarray
    boxes: list[tuple[str, int, int, int, int]]  # label, x, y, w, h (true, in pixels)


def _ink(digit: np.ndarray, side: int, threshold: float) -> np.ndarray:
    """An 8x8 digit (0..16) as a ``side`` x ``side`` opacity map, faint ink dropped."""
    from PIL import Image

    small = Image.fromarray(np.round(digit * (255 / 16)).astype(np.uint8), "L")
    alpha = np.asarray(small.resize((side, side), Image.Resampling.BILINEAR)) / 255.0
    return np.where(alpha >= threshold, alpha, 0.0)


def _place(
    rng: np.random.Generator, size: int, n: int, cfg: DetectionDemoInjections
) -> list[tuple[int, int, int]]:
    """Up to ``n`` non-overlapping squares ``(x, y, side)``, ``gap_px`` apart and off the border."""
    placed: list[tuple[int, int, int]] = []
    g = cfg.gap_px
    for _ in range(n):
        side = max(8, round(size * rng.uniform(*cfg.digit_scale_range)))
        for _try in range(cfg.placement_tries):
            x, y = (int(v) for v in rng.integers(1, size - side, size=2))
            if all(
                x + side + g <= px or px + ps + g <= x or y + side + g <= py or py + ps + g <= y
                for px, py, ps in placed
            ):
                placed.append((x, y, side))
                break
    return placed


def _render_scene(
    rng: np.random.Generator,
    digits: list[tuple[np.ndarray, str]],
    size: int,
    camera: str,
    site: str,
    cfg: DetectionDemoInjections,
) -> _Scene:
    alpha = np.zeros((size, size), dtype=np.float64)
    boxes: list[tuple[str, int, int, int, int]] = []
    for (x, y, side), (digit, label) in zip(
        _place(rng, size, len(digits), cfg), digits, strict=False
    ):
        ink = _ink(digit, side, cfg.ink_threshold)
        alpha[y : y + side, x : x + side] = ink
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        boxes.append(
            (
                label,
                x + int(cols[0]),
                y + int(rows[0]),
                int(cols[-1] - cols[0]) + 1,
                int(rows[-1] - rows[0]) + 1,
            )
        )
    paper, ink_rgb = (np.array(c, dtype=np.float64) for c in cfg.camera_style[camera])
    direction, strength = cfg.site_light[site]
    t = np.linspace(0.0, 1.0, size)
    if rng.random() < 0.5:
        t = t[::-1]
    light = 1.0 - strength * (t[:, None] if direction == "vertical" else t[None, :])
    a = alpha[..., None]
    img = (paper * (1 - a) + ink_rgb * a) * (light[..., None] * rng.uniform(*cfg.exposure_range))
    img += rng.normal(0.0, cfg.sensor_noise_std, size=img.shape)
    return _Scene(np.clip(np.round(img), 0, 255).astype(np.uint8), boxes)


def _moved(
    rng: np.random.Generator,
    box: tuple[float, float, float, float],
    size: int,
    shift: float,
    scale: float,
    jitter: float,
) -> tuple[float, float, float, float]:
    """A box moved by ``shift`` of its size (random signs), resized by ``1 ± scale``, jittered
    by up to ``jitter`` of its size, then clipped to the image (at least 1 px wide and high)."""
    x, y, w, h = box
    sx, sy, sw, sh = rng.choice([-1.0, 1.0], size=4)
    jx, jy, jw, jh = rng.uniform(-jitter, jitter, size=4) if jitter else (0.0,) * 4
    nx, ny = x + (sx * shift + jx) * w, y + (sy * shift + jy) * h
    nw, nh = w * (1 + sw * scale + jw), h * (1 + sh * scale + jh)
    x0, y0 = min(max(nx, 0.0), size - 1.0), min(max(ny, 0.0), size - 1.0)
    x1, y1 = min(max(nx + nw, x0 + 1.0), size), min(max(ny + nh, y0 + 1.0), size)
    return (round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2))


def _simulate(
    seed: int, n_scenes: int, size: int, cfg: DetectionDemoInjections
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, list[np.ndarray]]:
    """``(manifest, annotations, truth_boxes, truth_images, images)`` in memory."""
    from sklearn.datasets import load_digits

    data = load_digits()
    raw = np.asarray(data.images, dtype=np.float64)
    y = np.array([str(int(t)) for t in data.target])
    rng = np.random.default_rng(seed)
    test_digit = _split(rng, y, cfg.test_fraction)
    pools = {False: np.flatnonzero(~test_digit), True: np.flatnonzero(test_digit)}
    ids = [f"s{i:05d}" for i in range(n_scenes)]
    is_test = np.zeros(n_scenes, dtype=bool)
    is_test[rng.permutation(n_scenes)[: round(cfg.test_fraction * n_scenes)]] = True

    def draw(weights: Mapping[str, float]) -> np.ndarray:
        return rng.choice(np.array(list(weights)), size=n_scenes, p=list(weights.values()))

    camera, site = draw(cfg.camera_weights), draw(cfg.site_weights)
    lo, hi = cfg.objects_per_scene
    images: list[np.ndarray] = []
    objects: list[tuple[str, str, int, int, int, int]] = []  # sample_id, label, x, y, w, h
    for i, sid in enumerate(ids):
        picks = rng.choice(pools[bool(is_test[i])], size=int(rng.integers(lo, hi + 1)))
        scene = _render_scene(rng, [(raw[k], y[k]) for k in picks], size, camera[i], site[i], cfg)
        images.append(scene.image)
        objects.extend((sid, *b) for b in scene.boxes)

    # annotation ids: 1..N over the true objects and the duplicates, in random order
    n_obj = len(objects)
    obj_test = np.array([is_test[int(o[0][1:])] for o in objects], dtype=bool)
    train = rng.permutation(np.flatnonzero(~obj_test))
    counts = [
        round(r * len(train))
        for r in (cfg.overlooked_rate, cfg.badly_located_rate, cfg.swapped_rate, cfg.duplicate_rate)
    ]
    problem = np.array(["none"] * n_obj, dtype=object)
    start = 0
    for name, k in zip(BOX_PROBLEMS[1:], counts, strict=True):
        problem[train[start : start + k]] = name
        start += k
    dup_src = np.sort(train[counts[0] + counts[1] + counts[2] : start])
    problem[dup_src] = "none"  # the source keeps its true box; the duplicate is a new row
    aid = [str(int(v) + 1) for v in rng.permutation(n_obj + len(dup_src))]

    truth_rows: list[dict[str, Any]] = []
    ann_rows: list[dict[str, Any]] = []
    for j, (sid, label, x, yy, w, h) in enumerate(objects):
        true_box = (float(x), float(yy), float(w), float(h))
        truth_rows.append(
            {
                "annotation_id": aid[j],
                "sample_id": sid,
                "problem": problem[j],
                "true_label": label,
                "true_x": true_box[0],
                "true_y": true_box[1],
                "true_w": true_box[2],
                "true_h": true_box[3],
                "duplicate_of": None,
            }
        )
        if problem[j] == "overlooked":
            continue
        obs_label, obs_box = label, true_box
        if problem[j] == "badly_located":
            s, c = cfg.bad_shift_fraction, cfg.bad_scale_fraction
            obs_box = _moved(rng, true_box, size, s, c, 0.0)
        elif problem[j] == "swapped":
            obs_label = cfg.confusion[label]
        ann_rows.append(
            {
                "annotation_id": aid[j],
                "sample_id": sid,
                "label": obs_label,
                "x": obs_box[0],
                "y": obs_box[1],
                "w": obs_box[2],
                "h": obs_box[3],
            }
        )
    for m, j in enumerate(dup_src):
        sid, label = objects[int(j)][:2]
        src = truth_rows[int(j)]
        box = _moved(
            rng,
            (src["true_x"], src["true_y"], src["true_w"], src["true_h"]),
            size,
            0.0,
            0.0,
            cfg.duplicate_jitter,
        )
        new_id = aid[n_obj + m]
        truth_rows.append(
            {
                **src,
                "annotation_id": new_id,
                "problem": "duplicate",
                "duplicate_of": src["annotation_id"],
            }
        )
        ann_rows.append(
            {
                "annotation_id": new_id,
                "sample_id": sid,
                "label": label,
                "x": box[0],
                "y": box[1],
                "w": box[2],
                "h": box[3],
            }
        )

    order = [pl.col("sample_id"), pl.col("annotation_id").cast(pl.Int64)]
    box_schema = {"x": pl.Float64, "y": pl.Float64, "w": pl.Float64, "h": pl.Float64}
    annotations = pl.DataFrame(
        ann_rows,
        schema={"annotation_id": pl.Utf8, "sample_id": pl.Utf8, "label": pl.Utf8, **box_schema},
    ).sort(order)
    truth_boxes = pl.DataFrame(
        truth_rows,
        schema={
            "annotation_id": pl.Utf8,
            "sample_id": pl.Utf8,
            "problem": pl.Utf8,
            "true_label": pl.Utf8,
            "true_x": pl.Float64,
            "true_y": pl.Float64,
            "true_w": pl.Float64,
            "true_h": pl.Float64,
            "duplicate_of": pl.Utf8,
        },
    ).sort(order)
    n_per_scene = np.bincount([int(o[0][1:]) for o in objects], minlength=n_scenes)
    manifest = pl.DataFrame(
        {
            "sample_id": ids,
            "image": [f"{_IMAGES}/{s}.png" for s in ids],
            "label": pl.Series([None] * n_scenes, dtype=pl.Utf8),
            "split": np.where(is_test, "test", "train"),
            "camera": camera,
            "site": site,
            "width": pl.Series([size] * n_scenes, dtype=pl.Int64),
            "height": pl.Series([size] * n_scenes, dtype=pl.Int64),
        },
        schema_overrides={"split": pl.Utf8, "camera": pl.Utf8, "site": pl.Utf8},
    )
    truth_images = pl.DataFrame(
        {
            "sample_id": ids,
            "camera": camera,
            "is_dark": camera == cfg.dark_camera,
            "n_objects": n_per_scene.astype(np.int64),
        },
        schema_overrides={"camera": pl.Utf8},
    )
    return manifest, annotations, truth_boxes, truth_images, images


def _check_boxes(annotations: pl.DataFrame, manifest: pl.DataFrame, size: int) -> None:
    """Every box passes the data model's checks, geometry included (a bug otherwise)."""
    sizes = manifest.select(
        "sample_id", "width", "height", pl.lit(None, dtype=pl.Utf8).alias("reason")
    )
    bad = annotation_problems(annotations, list(DEMO_CLASSES), manifest["sample_id"], sizes)
    if bad.height:  # pragma: no cover - guards the simulation itself
        raise AssertionError(f"detection demo made bad boxes: {bad.head(3).rows()}")


# ---------------------------------------------------------------------- files
@validate_call(
    {
        "root": [str, Path],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "n_scenes": [Interval(Integral, *_SCENES_RANGE, closed="both")],
        "size": [Interval(Integral, *_SIZE_RANGE, closed="both")],
        "commit": ["boolean"],
        "overwrite": ["boolean"],
        "progress": ["boolean"],
    }
)
def load_detection_demo(
    root: str | Path,
    *,
    seed: int = 0,
    n_scenes: int = 300,
    size: int = 96,
    commit: bool = True,
    overwrite: bool = False,
    progress: bool = False,
) -> Dataset:
    """Write the detection demo (scenes of real handwritten digits, with boxes) and load it.

    Builds ``n_scenes`` ``size`` x ``size`` RGB scenes of 1-5 of scikit-learn's handwritten
    digits each (no network) under ``root/images/``, one box per digit (its ink bounding
    box), plants the box problems of :data:`DETECTION_DEMO_INJECTIONS` on the train split
    (overlooked, badly located, swapped and duplicate boxes) and a dark camera, and writes
    ``root/manifest.parquet`` (last, atomically), ``root/annotations.parquet``,
    ``root/classes.txt`` and the answers in ``ground_truth_boxes.parquet`` and
    ``ground_truth_images.parquet`` (read them with :func:`load_detection_ground_truth`).
    The same arguments give byte-identical files. See ``docs/demo-data.md``.

    Parameters
    ----------
    root : str or Path
        Directory to write to (created if needed).
    seed : int
        Seed of every random choice.
    n_scenes : int
        Number of scenes (images), 8 to 99,999.
    size : int
        Side of the square scenes in pixels, 48 to 512.
    commit : bool
        Commit the written data as version 1 of the ``root/.datacentric`` store.
    overwrite : bool
        Replace an earlier demo (of either task) in ``root``, its versions included. A
        manifest not written by a demo loader is never replaced.
    progress : bool
        Show a progress bar (``rich``) while writing images.

    Returns
    -------
    Dataset
        The detection dataset, opened at HEAD (version 1) when ``commit`` is true.

    Raises
    ------
    InvalidParameterError
        ``root`` already holds a manifest and ``overwrite`` is false, or a bad argument.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> ds = load_detection_demo(root, seed=0)
    >>> ds.task, ds.version, len(ds), ds.annotations.height
    ('detection', 1, 300, 820)
    >>> truth = load_detection_ground_truth(root)
    >>> truth.boxes.group_by("problem").len().sort("problem").rows()
    [('badly_located', 37), ('duplicate', 25), ('none', 727), ('overlooked', 37), ('swapped', 31)]
    """
    root = Path(root)
    _check_args(root, overwrite, owner="load_detection_demo")
    ensure_writable(root, "the detection demo dataset", folder=True)
    from PIL import Image

    cfg = DETECTION_DEMO_INJECTIONS
    manifest, annotations, truth_boxes, truth_images, images = _simulate(
        int(seed), int(n_scenes), int(size), cfg
    )
    _check_boxes(annotations, manifest, int(size))
    if _is_demo(root):
        _clear_previous_demo(root)
    with os_errors_as(root / _IMAGES, "write the demo images to"):
        (root / _IMAGES).mkdir(parents=True, exist_ok=True)
        pairs = zip(manifest["image"].to_list(), images, strict=True)
        for rel, arr in _track(pairs, len(images), progress, "Writing demo scenes"):
            Image.fromarray(arr, "RGB").save(root / rel, format="PNG")
    atomic_write_text(root / _CLASSES_FILE, "\n".join(DEMO_CLASSES) + "\n")
    _write_atomic(truth_boxes, root / _BOXES_FILE)
    _write_atomic(truth_images, root / _SCENES_FILE)
    _write_atomic(annotations, root / _ANNOTATIONS)
    _write_atomic(manifest, root / _MANIFEST)
    ds = Dataset.from_folder(root)
    if not commit:
        return ds
    ds.version = VersionStore(root).head()
    ds.commit(
        f"detection demo data (sklearn digits, seed={int(seed)})",
        meta={
            "demo": {
                "task": "detection",
                "seed": int(seed),
                "n_scenes": int(n_scenes),
                "size": int(size),
            }
        },
    )
    return Dataset.open(root)


def load_detection_ground_truth(root: str | Path) -> DetectionGroundTruth:
    """Read the planted problems written by :func:`load_detection_demo`.

    ``boxes``: one row per true object (overlooked ones included, though they are not in the
    dataset) and one per planted duplicate box; ``images``: one row per scene. See
    :class:`DetectionGroundTruth`.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = load_detection_demo(root, commit=False, n_scenes=8)
    >>> truth = load_detection_ground_truth(root)
    >>> truth.boxes.columns[:4]
    ['annotation_id', 'sample_id', 'problem', 'true_label']
    >>> truth.images.columns
    ['sample_id', 'camera', 'is_dark', 'n_objects']
    """
    root = Path(root)
    out = []
    for name in DETECTION_GROUND_TRUTH_FILES:
        path = root / name
        if not path.is_file():
            raise InvalidParameterError(
                f"load_detection_ground_truth: {path} does not exist, so {root} is not a "
                "folder written by load_detection_demo. Write one with "
                "load_detection_demo(DIR) (CLI: `datacentric demo-data DIR --task detection`) "
                "and pass that DIR."
            )
        out.append(
            read_parquet(
                path,
                what="the ground truth of a folder written by load_detection_demo",
                fix="Write the demo folder again: load_detection_demo(DIR, overwrite=True).",
                columns={"sample_id": "string"},
            )
        )
    return DetectionGroundTruth(out[0], out[1])
