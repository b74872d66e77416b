"""Data interventions on one slice, with the model held fixed.

When the worst slice's errors are not explained by label issues (:func:`diagnose_slice`),
relabeling cannot help it: its problem is the input. Two data-side interventions change
only the training rows the fixed recipe sees, never its code or hyper-parameters:

- **matched augmentation** (:func:`matched_augmentation`, :func:`augmented_copies`): the
  slice's images are measured against the rest's (brightness, contrast, blur, noise, as
  :func:`image_statistics` defines them) and albumentations transforms are chosen that
  move the rest's images toward the slice's; augmented copies of the rest's training
  images are added to the training set (so every class is seen under the slice's
  conditions);
- **oversampling** (:func:`oversample`): the slice's training rows repeated ``factor``
  times.

Either training set is trained over the loop's seeds and judged against the previous
iteration with :func:`datacentric.slices.seed_verdict`; :func:`keep_intervention` keeps it
only when the slice improved significantly and no slice regressed significantly.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError

__all__ = [
    "STATISTICS",
    "TOLERANCE",
    "augmented_copies",
    "build_augmentation",
    "diagnose_slice",
    "image_statistics",
    "keep_intervention",
    "matched_augmentation",
    "oversample",
    "slice_statistics",
]

#: The image statistics compared between a slice and the rest (luma on a 0–1 scale):
#: ``brightness`` mean, ``contrast`` standard deviation, ``blurriness`` as the scan measures
#: it (``exp(-2 r)``, r the Laplacian-to-gradient energy ratio: higher is blurrier) and
#: ``noise`` (Immerkær's estimate of the standard deviation of additive Gaussian noise).
STATISTICS = ("brightness", "contrast", "blurriness", "noise")

#: Differences (slice median − rest median) smaller than these choose no transform;
#: ``contrast`` is a relative difference (ratio − 1).
TOLERANCE: dict[str, float] = {
    "brightness": 0.03,
    "contrast": 0.10,
    "blurriness": 0.05,
    "noise": 0.01,
}

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
_LUMA = np.array([0.299, 0.587, 0.114])


def _gray(image: np.ndarray) -> np.ndarray:
    """Luma of one uint8 image (H, W), (H, W, 1) or (H, W, 3|4), on a 0–1 scale."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[..., 0] if arr.shape[2] < 3 else arr[..., :3] @ _LUMA
    return arr / 255.0


def _noise_sigma(g: np.ndarray) -> float:
    """Immerkær (1996): sigma = sqrt(pi/2) / (6 (W-2)(H-2)) * sum |g * M|."""
    h, w = g.shape
    if h < 3 or w < 3:
        return 0.0
    conv = sum(
        _IMMERKAER[i, j] * g[i : h - 2 + i, j : w - 2 + j] for i in range(3) for j in range(3)
    )
    return float(math.sqrt(math.pi / 2) * np.abs(conv).sum() / (6.0 * (w - 2) * (h - 2)))


def image_statistics(images: Sequence[np.ndarray]) -> pl.DataFrame:
    """Per image: ``brightness``, ``contrast``, ``blurriness`` and ``noise`` (see
    :data:`STATISTICS`).

    Parameters
    ----------
    images : sequence of numpy.ndarray
        ``uint8`` images, (H, W) or (H, W, C); sizes may differ.

    Returns
    -------
    polars.DataFrame
        One row per image, the four statistics as columns.

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((16, 16), 51, np.uint8)
    >>> [round(v, 6) for v in image_statistics([flat]).row(0)]
    [0.2, 0.0, 1.0, 0.0]
    """
    from datacentric.issues.image_stats import _blurriness

    rows = []
    for image in images:
        g = _gray(image)
        blur = float(_blurriness(g[None].astype(np.float32))[0])
        rows.append((float(g.mean()), float(g.std()), blur, _noise_sigma(g)))
    return pl.DataFrame(rows, schema=dict.fromkeys(STATISTICS, pl.Float64), orient="row")


def _slice_mask(ds: Dataset, in_slice: pl.Expr | np.ndarray | Sequence[bool]) -> np.ndarray:
    if isinstance(in_slice, pl.Expr):
        mask = ds.manifest.select(in_slice.fill_null(False)).to_series().to_numpy()
    else:
        mask = np.asarray(in_slice)
    if mask.dtype != np.bool_ or mask.shape != (len(ds),):
        raise InvalidParameterError(
            f"in_slice must be a polars expression or a boolean mask of {len(ds)} rows; "
            f"received {mask.dtype} of shape {mask.shape}. Pass e.g. pl.col('camera') == 'old'."
        )
    return mask.astype(bool)


def _sample(ids: list[str], limit: int, seed: int) -> list[str]:
    if len(ids) <= limit:
        return ids
    pick = np.random.default_rng(seed).choice(len(ids), size=limit, replace=False)
    return [ids[i] for i in sorted(pick)]


@validate_call(
    {
        "ds": [Dataset],
        "split": [str, None],
        "max_images": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def slice_statistics(
    ds: Dataset,
    in_slice: pl.Expr | np.ndarray | Sequence[bool],
    *,
    split: str | None = "train",
    max_images: int = 256,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, float], list[np.ndarray]]:
    """Median image statistics of a slice and of the rest, on one split.

    Parameters
    ----------
    ds : Dataset
    in_slice : polars.Expr or boolean mask
        Which rows of ``ds`` are in the slice.
    split : str or None
        Measure the rows of this split only (``None``: every row).
    max_images : int
        At most this many images of each side are measured (a seeded random draw).
    seed : int

    Returns
    -------
    slice_stats, rest_stats : dict
        The median of each of :data:`STATISTICS`.
    rest_images : list of numpy.ndarray
        The rest's measured images (to calibrate the blur: :func:`matched_augmentation`).

    Raises
    ------
    InvalidParameterError
        When the slice or the rest has no row in ``split``.
    """
    mask = _slice_mask(ds, in_slice)
    ids = np.array(ds.sample_ids, dtype=object)
    in_split = (
        np.ones(len(ds), bool) if split is None else (ds.manifest["split"] == split).to_numpy()
    )
    out: list[Any] = []
    for side, rows in (("the slice", mask & in_split), ("the rest", ~mask & in_split)):
        chosen = _sample(list(ids[rows]), max_images, seed)
        if not chosen:
            raise InvalidParameterError(
                f"slice_statistics: {side} has no row in split {split!r}; nothing to compare. "
                "Pass a slice with training rows on both sides, or another split."
            )
        images = [ds.load_images([sid])[0] for sid in chosen]
        stats = image_statistics(images).median()
        out.append(({k: float(stats[k].item()) for k in STATISTICS}, images))
    return out[0][0], out[1][0], out[1][1]


def _blur_sigma(target: float, images: Sequence[np.ndarray]) -> float | None:
    """The Gaussian sigma that brings the median blurriness of ``images`` to ``target``
    (bisection over 0.1–8 px; ``None`` when even 8 px falls short)."""
    import cv2

    from datacentric.issues.image_stats import _blurriness

    grays = [(_gray(im) * 255.0).astype(np.float32) for im in images]

    def blurriness(sigma: float) -> float:
        blurred = [cv2.GaussianBlur(g, (0, 0), sigma) / 255.0 for g in grays]
        return float(np.median([_blurriness(b[None])[0] for b in blurred]))

    lo, hi = 0.1, 8.0
    if blurriness(hi) < target:
        return None
    for _ in range(20):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if blurriness(mid) < target else (lo, mid)
    return round((lo + hi) / 2, 3)


def _half_to_full(gap: float) -> tuple[float, float]:
    lo, hi = sorted((gap / 2, gap))
    return (round(lo, 4), round(hi, 4))


@validate_call({"slice_stats": [Mapping], "rest_stats": [Mapping], "calibration": [list, None]})
def matched_augmentation(
    slice_stats: Mapping[str, float],
    rest_stats: Mapping[str, float],
    *,
    calibration: list[np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """Albumentations transforms that move the rest's images toward the slice's.

    Each measured difference beyond :data:`TOLERANCE` chooses one transform, whose range
    spans half the gap to the whole gap (so the copies cover the way from the rest to the
    slice):

    - brightness and contrast → ``RandomBrightnessContrast``: the contrast factor
      ``a = contrast_slice / contrast_rest`` and the shift ``b = brightness_slice −
      a · brightness_rest`` (the transform computes ``a · x + b``);
    - blurriness → ``GaussianBlur`` with the sigma that, applied to ``calibration`` (images
      of the rest), gives their median the slice's blurriness (found by bisection);
    - noise → ``GaussNoise`` with the standard deviation that, added to the rest's noise,
      gives the slice's: ``sqrt(noise_slice² − noise_rest²)``.

    Parameters
    ----------
    slice_stats, rest_stats : mapping
        The medians of :data:`STATISTICS` (e.g. from :func:`slice_statistics`).
    calibration : list of numpy.ndarray, optional
        Images of the rest; without them a blur gap chooses no transform (its reason
        says so).

    Returns
    -------
    list of dict
        ``{"transform": name, "params": {...}, "reason": text}`` in the order they apply
        (brightness/contrast, blur, noise); empty when the slice looks like the rest.
        :func:`build_augmentation` makes the pipeline.

    Examples
    --------
    >>> rest = {"brightness": 0.5, "contrast": 0.2, "blurriness": 0.1, "noise": 0.0}
    >>> dark = dict(rest, brightness=0.3)
    >>> [spec] = matched_augmentation(dark, rest)
    >>> spec["transform"], spec["params"]["brightness_limit"]
    ('RandomBrightnessContrast', (-0.2, -0.1))
    >>> matched_augmentation(rest, rest)
    []
    """
    missing = [k for k in STATISTICS if k not in slice_stats or k not in rest_stats]
    if missing:
        raise InvalidParameterError(
            f"matched_augmentation: the statistics lack {', '.join(missing)}; pass the "
            f"medians of {', '.join(STATISTICS)} (slice_statistics gives them)."
        )
    s = {k: float(slice_stats[k]) for k in STATISTICS}
    r = {k: float(rest_stats[k]) for k in STATISTICS}
    bad = [f"{side} {k}={v[k]!r}" for side, v in (("slice", s), ("rest", r)) for k in STATISTICS
           if not (math.isfinite(v[k]) and v[k] >= 0)]  # fmt: skip
    if bad:
        raise InvalidParameterError(
            f"matched_augmentation: image statistics must be finite numbers >= 0; received "
            f"{', '.join(bad)}. Pass the medians slice_statistics gives."
        )
    specs: list[dict[str, Any]] = []
    ratio = s["contrast"] / r["contrast"] if r["contrast"] > 0 else 1.0
    if abs(ratio - 1) <= TOLERANCE["contrast"]:
        ratio = 1.0
    shift = s["brightness"] - ratio * r["brightness"]
    if abs(s["brightness"] - r["brightness"]) <= TOLERANCE["brightness"] and ratio == 1.0:
        shift = 0.0
    if ratio != 1.0 or shift != 0.0:
        specs.append(
            {
                "transform": "RandomBrightnessContrast",
                "params": {
                    "brightness_limit": _half_to_full(shift),
                    "contrast_limit": _half_to_full(ratio - 1),
                    "brightness_by_max": True,
                    "p": 1.0,
                },
                "reason": (
                    f"brightness {s['brightness']:.3f} vs {r['brightness']:.3f}, contrast "
                    f"{s['contrast']:.3f} vs {r['contrast']:.3f} (slice vs rest)"
                ),
            }
        )
    if s["blurriness"] - r["blurriness"] > TOLERANCE["blurriness"]:
        reason = f"blurriness {s['blurriness']:.3f} vs {r['blurriness']:.3f}"
        sigma = _blur_sigma(s["blurriness"], calibration) if calibration else None
        if sigma is not None:
            specs.append(
                {
                    "transform": "GaussianBlur",
                    "params": {"sigma_limit": _half_to_full(sigma), "blur_limit": 0, "p": 1.0},
                    "reason": f"{reason}: sigma {sigma:g} px measured on the rest's images",
                }
            )
    extra = s["noise"] ** 2 - r["noise"] ** 2
    if s["noise"] - r["noise"] > TOLERANCE["noise"] and extra > 0:
        std = math.sqrt(extra)
        specs.append(
            {
                "transform": "GaussNoise",
                "params": {"std_range": _half_to_full(std), "per_channel": False, "p": 1.0},
                "reason": f"noise {s['noise']:.3f} vs {r['noise']:.3f}",
            }
        )
    return specs


@validate_call({"specs": [list], "seed": [Interval(Integral, 0, None, closed="left")]})
def build_augmentation(specs: list[dict[str, Any]], seed: int = 0) -> Any:
    """The albumentations pipeline of :func:`matched_augmentation`'s specs (seeded).

    Examples
    --------
    >>> import numpy as np
    >>> spec = {"transform": "RandomBrightnessContrast", "params": {
    ...     "brightness_limit": (-0.2, -0.2), "contrast_limit": (0.0, 0.0), "p": 1.0}}
    >>> out = build_augmentation([spec])(image=np.full((4, 4), 100, np.uint8))["image"]
    >>> int(out[0, 0])
    49
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import albumentations as album

    transforms = []
    for spec in specs:
        name = spec.get("transform") if isinstance(spec, Mapping) else None
        if name not in ("RandomBrightnessContrast", "GaussianBlur", "GaussNoise"):
            raise InvalidParameterError(
                f"build_augmentation: unknown transform {name!r}; pass the specs "
                "matched_augmentation returns (RandomBrightnessContrast, GaussianBlur, "
                "GaussNoise)."
            )
        transforms.append(getattr(album, name)(**spec["params"]))
    return album.Compose(transforms, seed=seed)


def _with_rows(ds: Dataset, rows: pl.DataFrame, arrays: list[np.ndarray]) -> Dataset:
    """A view of ``ds`` plus ``rows`` (whose new images, if any, are ``array:<i>`` entries
    appended after the dataset's own arrays)."""
    view = ds.filter(pl.lit(True))
    view._manifest = pl.concat([ds.manifest, rows], how="vertical_relaxed")
    if arrays:
        view._arrays = [*(ds._arrays if ds._arrays is not None else []), *arrays]
    return view


@validate_call(
    {
        "ds": [Dataset],
        "specs": [list],
        "split": [str],
        "share": [Interval(Real, 0, 1, closed="right")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def augmented_copies(
    ds: Dataset,
    in_slice: pl.Expr | np.ndarray | Sequence[bool],
    specs: list[dict[str, Any]],
    *,
    split: str = "train",
    share: float = 1.0,
    seed: int = 0,
) -> Dataset:
    """``ds`` plus augmented copies of the rest's ``split`` rows (a training set; a view).

    Each copy is one draw of :func:`build_augmentation` (seeded) applied to a rest image,
    kept in memory (``array:<i>``), with the original's label, split and metadata and the
    sample id ``<id>~aug``. Nothing is written to the dataset.

    Parameters
    ----------
    ds : Dataset
    in_slice : polars.Expr or boolean mask
        The slice whose conditions the copies imitate.
    specs : list of dict
        From :func:`matched_augmentation` (empty: ``ds`` unchanged).
    split : str
    share : float
        The share of the rest's rows copied (a seeded random draw), in (0, 1].
    seed : int

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> ds = Dataset.from_arrays(np.full((4, 8, 8), 200, np.uint8), ["a", "b", "a", "b"],
    ...                          ["a", "b"], split="train")
    >>> spec = {"transform": "RandomBrightnessContrast", "params": {
    ...     "brightness_limit": (-0.5, -0.5), "contrast_limit": (0.0, 0.0), "p": 1.0}}
    >>> out = augmented_copies(ds, pl.col("sample_id") == "0", [spec])
    >>> out.sample_ids[4:], int(out.load_images(["1~aug"])[0].max())
    (['1~aug', '2~aug', '3~aug'], 72)
    """
    mask = _slice_mask(ds, in_slice)
    if not specs:
        return ds
    rest = ds.manifest.filter(pl.Series(~mask) & (pl.col("split") == split))
    if share < 1.0 and rest.height:
        keep = _sample(rest["sample_id"].to_list(), max(1, round(share * rest.height)), seed)
        rest = rest.filter(pl.col("sample_id").is_in(keep))
    pipeline = build_augmentation(specs, seed)
    base = len(ds._arrays) if ds._arrays is not None else 0
    arrays = [pipeline(image=ds.load_images([sid])[0])["image"] for sid in rest["sample_id"]]
    copies = rest.with_columns(
        (pl.col("sample_id") + "~aug").alias("sample_id"),
        pl.Series("image", [f"array:{base + i}" for i in range(rest.height)], pl.Utf8),
    )
    return _with_rows(ds, copies, arrays)


@validate_call(
    {
        "ds": [Dataset],
        "factor": [Interval(Integral, 1, 100, closed="both")],
        "split": [str],
    }
)
def oversample(
    ds: Dataset,
    in_slice: pl.Expr | np.ndarray | Sequence[bool],
    factor: int = 2,
    *,
    split: str = "train",
) -> Dataset:
    """``ds`` with the slice's ``split`` rows present ``factor`` times (a view).

    The copies point at the same images, with the sample ids ``<id>~os<k>``
    (k = 1 … factor − 1); nothing is written to the dataset.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> ds = Dataset.from_arrays(np.zeros((3, 4, 4), np.uint8), ["a", "b", "a"], ["a", "b"],
    ...                          split="train")
    >>> oversample(ds, pl.col("label") == "b", 3).sample_ids
    ['0', '1', '2', '1~os1', '1~os2']
    """
    mask = _slice_mask(ds, in_slice)
    rows = ds.manifest.filter(pl.Series(mask) & (pl.col("split") == split))
    if factor == 1 or rows.height == 0:
        return ds
    copies = pl.concat(
        [rows.with_columns(pl.col("sample_id") + f"~os{k}") for k in range(1, factor)],
        how="vertical",
    )
    return _with_rows(ds, copies, [])


@validate_call({"verdict": [pl.DataFrame], "target": [str]})
def keep_intervention(verdict: pl.DataFrame, target: str) -> tuple[bool, str]:
    """Whether to keep an intervention, and why, from its verdict table.

    Kept only when the ``target`` slice ``improved`` (significantly, over seeds × samples)
    and no slice (``overall`` included) ``regressed``.

    Parameters
    ----------
    verdict : polars.DataFrame
        :func:`datacentric.slices.seed_verdict` against the iteration before it.
    target : str
        The slice the intervention was made for.

    Examples
    --------
    >>> v = pl.DataFrame({"slice": ["overall", "cam=old", "cam=new"],
    ...                   "diff": [0.01, 0.08, -0.02], "p_value": [0.2, 0.001, 0.4],
    ...                   "verdict": ["no significant change", "improved",
    ...                               "no significant change"]})
    >>> keep_intervention(v, "cam=old")
    (True, 'cam=old improved by +0.080 (p = 0.001); no slice regressed')
    """
    rows = verdict.filter(pl.col("slice") == target)
    if rows.height == 0:
        return False, f"{target} is not in the verdict (no sample of it was evaluated)"
    row = rows.row(0, named=True)
    effect = f"{row['diff']:+.3f} (p = {row['p_value']:.3g})"
    if row["verdict"] != "improved":
        return False, f"{target} did not improve significantly: {effect}"
    worse = verdict.filter(pl.col("verdict") == "regressed")["slice"].to_list()
    if worse:
        return False, f"{target} improved by {effect}, but {', '.join(worse)} regressed"
    return True, f"{target} improved by {effect}; no slice regressed"


@validate_call(
    {
        "runs": [pl.DataFrame],
        "flagged": [list, set, frozenset, tuple],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "how": [Options(str, ("majority", "any"))],
    }
)
def diagnose_slice(
    runs: pl.DataFrame,
    in_slice: pl.Expr,
    flagged: Sequence[str] | set[str] | frozenset[str],
    *,
    threshold: float = 0.5,
    how: str = "majority",
) -> dict[str, Any]:
    """Whether label issues explain a slice's errors.

    A sample of the slice is an error when the seeds got it wrong (``how="majority"``: more
    than half of them; ``"any"``: at least one). The slice is an *input problem* when fewer
    than ``threshold`` of its errors are flagged as label issues: relabeling cannot fix
    the rest of them.

    Parameters
    ----------
    runs : polars.DataFrame
        A run table (``sample_id, seed, label, pred`` and the slice's metadata columns).
    in_slice : polars.Expr
        The slice's predicate on ``runs``.
    flagged : collection of str
        Sample ids flagged as label issues (by the scan).
    threshold : float
    how : {"majority", "any"}

    Returns
    -------
    dict
        ``n`` (samples of the slice), ``n_errors``, ``n_label_issues`` (errors flagged),
        ``share_explained`` (None without errors) and ``input_problem`` (bool).

    Examples
    --------
    >>> runs = pl.DataFrame({"sample_id": ["1", "2", "3", "4"], "seed": [0] * 4,
    ...                      "label": ["a"] * 4, "pred": ["b", "b", "b", "a"],
    ...                      "cam": ["old", "old", "old", "new"]})
    >>> d = diagnose_slice(runs, pl.col("cam") == "old", {"1"})
    >>> d["n_errors"], d["n_label_issues"], d["input_problem"]
    (3, 1, True)
    """
    per_sample = (
        runs.filter(in_slice.fill_null(False))
        .group_by("sample_id")
        .agg((pl.col("pred") != pl.col("label")).mean().alias("wrong"))
    )
    wrong = per_sample["wrong"] > 0.5 if how == "majority" else per_sample["wrong"] > 0
    errors = set(per_sample.filter(wrong)["sample_id"].to_list())
    explained = len(errors & set(map(str, flagged)))
    share = explained / len(errors) if errors else None
    return {
        "n": per_sample.height,
        "n_errors": len(errors),
        "n_label_issues": explained,
        "share_explained": share,
        "input_problem": share is not None and share < threshold,
    }
