"""The bundled demo dataset: real handwritten digits with seeded, documented problems.

The images are scikit-learn's copy of the UCI "Optical Recognition of Handwritten Digits"
data (1,797 real 8x8 scans, shipped inside scikit-learn, no network), rendered as RGB ink on
paper. :data:`DEMO_INJECTIONS` holds every knob of the simulated problems; the ground truth
of each planted problem goes to ``ground_truth.parquet``, never into the manifest. The full
description is ``docs/demo-data.md``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from numbers import Integral
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import polars as pl

from datacentric._io import atomic_write, atomic_write_text, ensure_writable, os_errors_as
from datacentric._read import read_parquet
from datacentric._validation import Interval, validate_call
from datacentric.dataset import Dataset, VersionStore
from datacentric.dataset.store import STORE_DIR
from datacentric.exceptions import InvalidParameterError

__all__ = [
    "DEMO_CLASSES",
    "DEMO_INJECTIONS",
    "GROUND_TRUTH_FILE",
    "DemoInjections",
    "dark_score",
    "load_demo",
    "load_ground_truth",
]

_T = TypeVar("_T")
RGB = tuple[int, int, int]

DEMO_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
"""The ten digit classes, in order: ``"0"`` .. ``"9"``."""

GROUND_TRUTH_FILE = "ground_truth.parquet"
_MANIFEST = "manifest.parquet"
_CLASSES_FILE = "classes.txt"
_IMAGES = "images"
# Files either demo writes (classification: d0000.png; detection: s00000.png and its boxes),
# so that overwrite=True replaces an earlier demo of either task.
_IMAGE_NAME = re.compile(r"^(d\d{4}|s\d{5})\.png$")
_DETECTION_FILES = (
    "annotations.parquet",
    "ground_truth_boxes.parquet",
    "ground_truth_images.parquet",
)
_MARKERS = (GROUND_TRUTH_FILE, "ground_truth_boxes.parquet")
_SIZE_RANGE = (8, 256)
#: The digits annotators confuse in pairs when blurred: 1/7, 3/8, 4/9.
_LOOK_ALIKES = ("1", "3", "4", "7", "8", "9")


def _frozen(mapping: Mapping[str, _T]) -> Any:
    return field(default_factory=lambda: MappingProxyType(dict(mapping)))


@dataclass(frozen=True)
class DemoInjections:
    """Every knob of the demo simulation (read-only; :data:`DEMO_INJECTIONS` is the one used).

    Attributes
    ----------
    test_fraction : float
        Share of each class put in ``test`` (stratified, ``round(fraction * n_class)``).
    scanner_weights, vendor_weights, writer_group_weights : mapping of str to float
        Probabilities of each metadata value per original image; ``annotators_per_vendor``
        annotators ``<vendor>/ann1`` .. ``annN`` are drawn uniformly within the vendor.
    vendor_weights_by_scanner : mapping of str to (mapping of str to float)
        Scanners whose images go to the vendors in other shares than ``vendor_weights``
        (a site that sends its scans mostly to one vendor).
    label_noise_rate : mapping of str to float
        Per vendor: share of its eligible train rows whose label is flipped. Eligible = train
        originals whose true class is in ``noise_classes[vendor]`` (default: every class of
        ``confusion``, so never ``rare_class``); the count is ``round(rate * n)``.
    noise_classes : mapping of str to tuple of str
        Per vendor, the true classes its annotators confuse (vendors not listed: every key
        of ``confusion``).
    confusion : mapping of str to str
        Class-conditional flip: a noisy row of true class ``k`` is labelled ``confusion[k]``.
        No class flips to ``rare_class``.
    dark_scanner : str
        The scanner whose images are dark, low-contrast and out of focus.
    dark_blur_radius : float
        The dark scanner's blur radius (in place of ``blur_radius``), in pixels of a 32-px
        image.
    dark_threshold : float
        An image is dark when :func:`dark_score` (CleanVision's 99th-percentile perceived
        brightness) is below this.
    scanner_style : mapping of str to (paper RGB, ink RGB)
        Colour of the paper (background) and of the ink per scanner.
    exposure_range, sensor_noise_std, blur_radius : (float, float), float, float
        Per image: colours times a factor from ``exposure_range``, plus Gaussian noise (0-255
        scale); the blur radius is in pixels of a 32-px image (scaled with ``size``).
    exact_duplicates, near_duplicates : int
        Train copies added with new ids: byte-identical, or perturbed (see ``near_*``).
    exact_leaks, near_leaks : int
        Test images copied into train with new ids, byte-identical or perturbed.
    near_shift_px, near_brightness_range, near_noise_std : int, (float, float), float
        A near copy is shifted by ``near_shift_px`` in one of 8 directions (edges replicated),
        scaled by a brightness factor from the range, and gets fresh Gaussian noise.
    rare_class : str
        The class subsampled in train (and never given or flipped to by label noise).
    rare_class_ratio : float
        Train rows of ``rare_class`` kept: ``round(ratio * median train count of the others)``.
    """

    test_fraction: float = 0.4
    scanner_weights: Mapping[str, float] = _frozen(
        {"scanner_a": 0.4, "scanner_b": 0.3, "scanner_c": 0.3}
    )
    vendor_weights: Mapping[str, float] = _frozen(
        {"vendor_a": 0.5, "vendor_b": 0.4, "vendor_c": 0.1}
    )
    vendor_weights_by_scanner: Mapping[str, Mapping[str, float]] = _frozen(
        {"scanner_c": MappingProxyType({"vendor_a": 0.05, "vendor_b": 0.05, "vendor_c": 0.9})}
    )
    writer_group_weights: Mapping[str, float] = _frozen({"adult": 0.6, "school": 0.4})
    annotators_per_vendor: int = 3
    label_noise_rate: Mapping[str, float] = _frozen(
        {"vendor_a": 0.15, "vendor_b": 0.15, "vendor_c": 0.4}
    )
    # every vendor confuses the look-alike pairs 1/7, 3/8, 4/9; vendor_c the most
    noise_classes: Mapping[str, tuple[str, ...]] = _frozen(
        {"vendor_a": _LOOK_ALIKES, "vendor_b": _LOOK_ALIKES, "vendor_c": _LOOK_ALIKES}
    )
    confusion: Mapping[str, str] = _frozen(
        {"0": "6", "1": "7", "3": "8", "4": "9", "5": "6", "6": "5", "7": "1", "8": "3", "9": "4"}
    )
    dark_scanner: str = "scanner_c"
    dark_blur_radius: float = 1.2
    dark_threshold: float = 0.32
    scanner_style: Mapping[str, tuple[RGB, RGB]] = _frozen(
        {
            "scanner_a": ((246, 244, 236), (28, 36, 96)),  # warm paper, blue ink
            "scanner_b": ((238, 242, 247), (58, 30, 26)),  # cool paper, brown-black ink
            "scanner_c": ((66, 62, 54), (30, 28, 34)),  # dark and low contrast
        }
    )
    exposure_range: tuple[float, float] = (0.94, 1.0)
    sensor_noise_std: float = 2.0
    blur_radius: float = 0.6
    exact_duplicates: int = 15
    near_duplicates: int = 15
    exact_leaks: int = 10
    near_leaks: int = 10
    near_shift_px: int = 1
    near_brightness_range: tuple[float, float] = (0.96, 1.04)
    near_noise_std: float = 2.0
    rare_class: str = "2"
    rare_class_ratio: float = 1 / 6

    def as_dict(self) -> dict[str, Any]:
        """The knobs as plain, JSON-serialisable Python values.

        Examples
        --------
        >>> DEMO_INJECTIONS.as_dict()["label_noise_rate"]["vendor_c"]
        0.4
        >>> DEMO_INJECTIONS.as_dict()["vendor_weights_by_scanner"]["scanner_c"]["vendor_c"]
        0.9
        """

        def plain(v: Any) -> Any:
            return {k: plain(x) for k, x in v.items()} if isinstance(v, Mapping) else v

        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


DEMO_INJECTIONS = DemoInjections()
"""The simulation parameters :func:`load_demo` uses; see :class:`DemoInjections`."""


def dark_score(image: np.ndarray) -> float:
    """CleanVision's dark score: the 99th percentile of per-pixel perceived brightness.

    Brightness of a pixel is ``sqrt(0.241 R² + 0.691 G² + 0.068 B²) / 255`` (grayscale
    images: ``value / 255``); an image is dark when the score is below
    ``DEMO_INJECTIONS.dark_threshold`` (0.32).

    Examples
    --------
    >>> import numpy as np
    >>> round(dark_score(np.full((4, 4, 3), 255, np.uint8)), 3)
    1.0
    >>> dark_score(np.full((4, 4), 51, np.uint8)) < DEMO_INJECTIONS.dark_threshold
    True
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[2] >= 3:
        r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
        bright = np.sqrt(0.241 * r * r + 0.691 * g * g + 0.068 * b * b) / 255.0
    else:
        bright = arr.reshape(arr.shape[0], arr.shape[1]) / 255.0
    return float(np.percentile(bright, 99))


# ---------------------------------------------------------------------- simulation
def _metadata(rng: np.random.Generator, n: int, cfg: DemoInjections) -> dict[str, np.ndarray]:
    def draw(weights: Mapping[str, float]) -> np.ndarray:
        return rng.choice(np.array(list(weights)), size=n, p=np.array(list(weights.values())))

    scanner = draw(cfg.scanner_weights)
    vendor = draw(cfg.vendor_weights)
    for sc, weights in cfg.vendor_weights_by_scanner.items():
        at = scanner == sc
        vendor[at] = rng.choice(
            np.array(list(weights)), size=int(at.sum()), p=np.array(list(weights.values()))
        )
    writer = draw(cfg.writer_group_weights)
    ann = rng.integers(1, cfg.annotators_per_vendor + 1, size=n)
    annotator = np.array([f"{v}/ann{a}" for v, a in zip(vendor, ann, strict=True)])
    return {"scanner": scanner, "vendor": vendor, "writer_group": writer, "annotator": annotator}


def _split(rng: np.random.Generator, y: np.ndarray, fraction: float) -> np.ndarray:
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: round(fraction * len(idx))]] = True
    return test


def _render(
    rng: np.random.Generator, raw: np.ndarray, scanner: np.ndarray, size: int, cfg: DemoInjections
) -> np.ndarray:
    """Render 8x8 digits (0..16) as ``uint8`` RGB ink on paper of ``size`` x ``size``."""
    from PIL import Image, ImageFilter

    out = np.empty((len(raw), size, size, 3), dtype=np.uint8)
    blur = ImageFilter.GaussianBlur(cfg.blur_radius * size / 32)
    dark_blur = ImageFilter.GaussianBlur(cfg.dark_blur_radius * size / 32)
    exposure = rng.uniform(*cfg.exposure_range, size=len(raw))
    for i, digit in enumerate(raw):
        small = Image.fromarray(np.round(digit * (255 / 16)).astype(np.uint8), "L")
        big = small.resize((size, size), Image.Resampling.BILINEAR)
        ink = np.asarray(big.filter(dark_blur if scanner[i] == cfg.dark_scanner else blur))
        v = (ink.astype(np.float64) / 255.0)[..., None]
        paper, ink_rgb = (np.array(c, dtype=np.float64) for c in cfg.scanner_style[scanner[i]])
        img = (paper * (1 - v) + ink_rgb * v) * exposure[i]
        img += rng.normal(0.0, cfg.sensor_noise_std, size=img.shape)
        out[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return out


def _perturb(rng: np.random.Generator, img: np.ndarray, cfg: DemoInjections) -> np.ndarray:
    """A near copy: a small shift (edges replicated), a brightness change and fresh noise."""
    s = cfg.near_shift_px
    moves = [(dy, dx) for dy in (-s, 0, s) for dx in (-s, 0, s) if (dy, dx) != (0, 0)]
    dy, dx = moves[int(rng.integers(len(moves)))]
    h, w = img.shape[:2]
    padded = np.pad(img, ((s, s), (s, s), (0, 0)), mode="edge")
    shifted = padded[s - dy : s - dy + h, s - dx : s - dx + w].astype(np.float64)
    shifted *= rng.uniform(*cfg.near_brightness_range)
    shifted += rng.normal(0.0, cfg.near_noise_std, size=shifted.shape)
    return np.clip(np.round(shifted), 0, 255).astype(np.uint8)


def _simulate(
    seed: int, size: int, cfg: DemoInjections
) -> tuple[pl.DataFrame, pl.DataFrame, list[np.ndarray]]:
    """Build ``(manifest, ground_truth, images)`` in memory, one image per manifest row."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    raw = np.asarray(digits.images, dtype=np.float64)
    y = np.array([str(int(t)) for t in digits.target])
    n = len(y)
    rng = np.random.default_rng(seed)
    meta = _metadata(rng, n, cfg)
    test = _split(rng, y, cfg.test_fraction)

    # 5. rare class: keep only a few of its train rows; the rest are not in the dataset.
    others = [int(np.sum((y == c) & ~test)) for c in DEMO_CLASSES if c != cfg.rare_class]
    n_keep = round(cfg.rare_class_ratio * float(np.median(others)))
    rare_train = np.flatnonzero((y == cfg.rare_class) & ~test)
    keep = np.ones(n, dtype=bool)
    keep[np.setdiff1d(rare_train, rng.choice(rare_train, n_keep, replace=False))] = False

    # 1. class-conditional label noise, per vendor, train rows only.
    label = y.copy()
    noisy = np.zeros(n, dtype=bool)
    for vendor, rate in cfg.label_noise_rate.items():
        classes = cfg.noise_classes.get(vendor, tuple(cfg.confusion))
        cand = np.flatnonzero(keep & ~test & (meta["vendor"] == vendor) & np.isin(y, classes))
        pick = rng.choice(cand, round(rate * len(cand)), replace=False)
        noisy[pick] = True
        label[pick] = [cfg.confusion[t] for t in y[pick]]

    # 3./4. sources of the copies: clean non-rare train rows; non-rare test rows for leaks.
    train_src = np.flatnonzero(keep & ~test & ~noisy & (y != cfg.rare_class))
    test_src = np.flatnonzero(test & (y != cfg.rare_class))
    dup_src = rng.choice(train_src, cfg.exact_duplicates + cfg.near_duplicates, replace=False)
    leak_src = rng.choice(test_src, cfg.exact_leaks + cfg.near_leaks, replace=False)
    copies: list[tuple[str, int]] = [
        *(("exact", int(i)) for i in dup_src[: cfg.exact_duplicates]),
        *(("near", int(i)) for i in dup_src[cfg.exact_duplicates :]),
        *(("leak_exact", int(i)) for i in leak_src[: cfg.exact_leaks]),
        *(("leak_near", int(i)) for i in leak_src[cfg.exact_leaks :]),
    ]
    copies = [copies[int(j)] for j in rng.permutation(len(copies))]  # ids do not reveal the kind

    # 2. rendering; the dark scanner comes from its paper/ink colours (cfg.scanner_style).
    rendered = _render(rng, raw, meta["scanner"], size, cfg)

    orig = np.flatnonzero(keep)
    src = [int(i) for i in orig] + [i for _, i in copies]
    ids = [f"d{i:04d}" for i in orig] + [f"d{n + j:04d}" for j in range(len(copies))]
    images = [rendered[i] for i in orig]
    links: dict[str, list[str | None]] = {k: [None] * len(orig) for k in ("exact", "near", "leak")}
    for kind, i in copies:
        exact = kind in ("exact", "leak_exact")
        images.append(rendered[i] if exact else _perturb(rng, rendered[i], cfg))
        for k in links:
            hit = kind == k or (k == "leak" and kind.startswith("leak"))
            links[k].append(f"d{i:04d}" if hit else None)
    src_arr = np.array(src)
    is_copy = np.arange(len(src)) >= len(orig)
    manifest = pl.DataFrame(
        {
            "sample_id": ids,
            "image": [f"{_IMAGES}/{s}.png" for s in ids],
            "label": label[src_arr],
            "split": np.where(test[src_arr] & ~is_copy, "test", "train"),
            **{k: v[src_arr] for k, v in meta.items()},
        },
        schema_overrides={k: pl.Utf8 for k in ("label", "split", *meta)},
    )
    truth = pl.DataFrame(
        {
            "sample_id": ids,
            "true_label": y[src_arr],
            "is_label_noise": noisy[src_arr] & ~is_copy,
            "is_dark": meta["scanner"][src_arr] == cfg.dark_scanner,
            "exact_duplicate_of": pl.Series(links["exact"], dtype=pl.Utf8),
            "near_duplicate_of": pl.Series(links["near"], dtype=pl.Utf8),
            "leak_of": pl.Series(links["leak"], dtype=pl.Utf8),
            "is_rare_class": y[src_arr] == cfg.rare_class,
        },
        schema_overrides={"true_label": pl.Utf8},
    )
    return manifest, truth, images


# ---------------------------------------------------------------------- files
def _check_args(root: Path, overwrite: bool, owner: str = "load_demo") -> None:
    if root.exists() and not root.is_dir():
        raise InvalidParameterError(
            f"{owner}: {root} exists and is not a directory. Pass a new or existing directory."
        )
    manifests = [root / m for m in (_MANIFEST, "manifest.csv") if (root / m).is_file()]
    if manifests and not overwrite:
        raise InvalidParameterError(
            f"{owner}: {root} already holds a dataset ({manifests[0].name}); refusing to "
            "overwrite it. Pass overwrite=True to regenerate the demo there (CLI: --overwrite), "
            "or choose another directory."
        )
    if manifests and not _is_demo(root):
        raise InvalidParameterError(
            f"{owner}: {root} holds a dataset that the demo loaders did not write (it has "
            f"{manifests[0].name} but no {GROUND_TRUTH_FILE} or {_MARKERS[1]}); overwrite=True "
            "only replaces an earlier demo, never your own data. Choose another (or an empty) "
            "directory."
        )


def _is_demo(root: Path) -> bool:
    """Whether ``root`` holds a ground-truth file of either demo (written by a demo loader)."""
    return any((root / m).is_file() for m in _MARKERS)


def _clear_previous_demo(root: Path) -> None:
    """Remove what an earlier demo (classification or detection) wrote, its versions included."""
    for name in (_MANIFEST, GROUND_TRUTH_FILE, _CLASSES_FILE, *_DETECTION_FILES):
        (root / name).unlink(missing_ok=True)
    images = root / _IMAGES
    if images.is_dir():
        for p in images.iterdir():
            if _IMAGE_NAME.match(p.name):
                p.unlink()
    store = root / STORE_DIR
    if store.is_dir():  # its versions describe the images just removed
        shutil.rmtree(store)


def _track(items: Iterable[_T], total: int, enabled: bool, what: str) -> Iterator[_T]:
    if not enabled:
        yield from items
        return
    from rich.progress import track

    yield from track(items, total=total, description=what)


def _write_atomic(frame: pl.DataFrame, path: Path) -> None:
    atomic_write(path, frame.write_parquet)


@validate_call(
    {
        "root": [str, Path],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "size": [Interval(Integral, *_SIZE_RANGE, closed="both")],
        "commit": ["boolean"],
        "overwrite": ["boolean"],
        "progress": ["boolean"],
    }
)
def load_demo(
    root: str | Path,
    *,
    seed: int = 0,
    size: int = 32,
    commit: bool = True,
    overwrite: bool = False,
    progress: bool = False,
) -> Dataset:
    """Write the demo dataset (real handwritten digits with planted problems) and load it.

    Renders scikit-learn's 1,797 handwritten digits (no network) as ``size`` x ``size`` RGB
    PNGs under ``root/images/``, simulates the problems described by
    :data:`DEMO_INJECTIONS` (look-alike label confusions at every vendor, heaviest at
    ``vendor_c``, which annotates most of a dark, out-of-focus scanner's images; exact and near
    duplicates, a train/test leak and a rare class) and writes
    ``root/manifest.parquet`` (last, atomically), ``root/classes.txt`` and the answers in
    ``root/ground_truth.parquet`` (read them with :func:`load_ground_truth`). The same
    ``seed`` gives byte-identical files. See ``docs/demo-data.md``.

    Parameters
    ----------
    root : str or Path
        Directory to write to (created if needed).
    seed : int
        Seed of every random choice.
    size : int
        Side of the square images in pixels, 8 to 256.
    commit : bool
        Commit the written data as version 1 of the ``root/.datacentric`` store.
    overwrite : bool
        Replace an earlier demo in ``root`` (its files and its ``.datacentric`` versions).
        Without it, a ``root`` that holds a manifest raises; a manifest not written by
        ``load_demo`` is never replaced.
    progress : bool
        Show a progress bar (``rich``) while writing images.

    Returns
    -------
    Dataset
        The dataset, opened at HEAD (version 1) when ``commit`` is true.

    Raises
    ------
    InvalidParameterError
        ``root`` already holds a manifest and ``overwrite`` is false, or a bad ``seed``/``size``.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> ds = load_demo(root, seed=0)
    >>> ds.version, ds.classes[:3], len(ds)
    (1, ['0', '1', '2'], 1759)
    >>> ds.manifest.columns
    ['sample_id', 'image', 'label', 'split', 'scanner', 'vendor', 'writer_group', 'annotator']
    >>> truth = load_ground_truth(root)
    >>> int(truth["is_label_noise"].sum()), int(truth["leak_of"].is_not_null().sum())
    (155, 20)
    """
    root = Path(root)
    _check_args(root, overwrite)
    ensure_writable(root, "the demo dataset", folder=True)
    from PIL import Image

    manifest, truth, images = _simulate(int(seed), int(size), DEMO_INJECTIONS)
    if _is_demo(root):
        _clear_previous_demo(root)
    with os_errors_as(root / _IMAGES, "write the demo images to"):
        (root / _IMAGES).mkdir(parents=True, exist_ok=True)
        pairs = zip(manifest["image"].to_list(), images, strict=True)
        for rel, arr in _track(pairs, len(images), progress, "Writing demo images"):
            Image.fromarray(arr, "RGB").save(root / rel, format="PNG")
    atomic_write_text(root / _CLASSES_FILE, "\n".join(DEMO_CLASSES) + "\n")
    _write_atomic(truth, root / GROUND_TRUTH_FILE)
    _write_atomic(manifest, root / _MANIFEST)
    ds = Dataset.from_folder(root)
    if not commit:
        return ds
    ds.version = VersionStore(root).head()  # a store with no manifest beside it: commit on top
    ds.commit(
        f"demo data (sklearn digits, seed={int(seed)})",
        meta={"demo": {"seed": int(seed), "size": int(size)}},
    )
    return Dataset.open(root)


def load_ground_truth(root: str | Path) -> pl.DataFrame:
    """Read the ground truth of the planted problems written by :func:`load_demo`.

    One row per manifest row: ``sample_id, true_label, is_label_noise, is_dark,
    exact_duplicate_of, near_duplicate_of, leak_of, is_rare_class``.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> _ = load_demo(root, commit=False, size=8)
    >>> load_ground_truth(root).columns[:3]
    ['sample_id', 'true_label', 'is_label_noise']
    """
    path = Path(root) / GROUND_TRUTH_FILE
    if not path.is_file():
        raise InvalidParameterError(
            f"load_ground_truth: {path} does not exist, so {Path(root)} is not a demo folder "
            "written by load_demo. Write one with load_demo(DIR) (CLI: `datacentric demo-data "
            "DIR`) and pass that DIR."
        )
    return read_parquet(
        path,
        what="the ground truth of a demo folder written by load_demo",
        fix="Write the demo folder again: load_demo(DIR, overwrite=True).",
        columns={"sample_id": "string", "true_label": "string"},
    )
