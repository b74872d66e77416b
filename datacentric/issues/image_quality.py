"""Image quality: dark, bright, blurry, low-information, odd-size, odd-aspect, grayscale."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, ClassVar, NamedTuple

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options
from datacentric.issues.base import ISSUE_SCHEMA, IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["ImageQualityFinder"]

_EPS = 1e-12
#: MAD to standard deviation for a normal distribution (the robust z-score's scale).
_MAD_TO_SD = 1.4826
#: Smallest spread a robust z-score divides by: the statistics are on [0, 1] (aspect: log
#: fold), so a dataset whose values all agree to within 0.01 does not make a 0.02 difference
#: a hundred-sigma outlier.
_MIN_SPREAD = 0.01
MODES = ("relative", "absolute")


def _severity_low(v: np.ndarray, t: float) -> np.ndarray:
    """Low is bad: 1 at 0, 0.5 at the threshold ``t``, 0 at 1 (piecewise linear)."""
    return np.where(v < t, 1.0 - 0.5 * v / max(t, _EPS), 0.5 * (1.0 - v) / max(1.0 - t, _EPS))


def _severity_high(v: np.ndarray, t: float) -> np.ndarray:
    """High is bad: 0 at 0, 0.5 at the threshold ``t``, 1 at 1 (piecewise linear)."""
    return np.where(v > t, 0.5 + 0.5 * (v - t) / max(1.0 - t, _EPS), 0.5 * v / max(t, _EPS))


def _severity_fold(fold: np.ndarray, t: float) -> np.ndarray:
    """A fold (>= 1) against a fold threshold: 0.5 at ``t``, 1 at ``t²`` and beyond."""
    return np.log(fold) / (2.0 * max(math.log(t), _EPS))


def robust_z(
    value: np.ndarray, high_is_bad: bool, reference: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """One-sided robust z-scores of ``value`` against the median of ``reference``, and it.

    ``z = (v - median) / s`` (``median - v`` when low is bad), ``s = max(1.4826 MAD,
    0.01)``, median and MAD of ``reference`` (default: ``value`` itself): positive in the
    bad direction only, so half the values or more are never above 0.

    Examples
    --------
    >>> z, m = robust_z(np.array([0.90, 0.92, 0.93, 0.94, 0.10]), high_is_bad=False)
    >>> round(m, 2), np.round(z, 1).tolist()
    (0.92, [0.7, 0.0, -0.3, -0.7, 27.7])
    """
    ref = value if reference is None or len(reference) == 0 else reference
    median = float(np.median(ref))
    spread = max(_MAD_TO_SD * float(np.median(np.abs(ref - median))), _MIN_SPREAD)
    z = (value - median) / spread if high_is_bad else (median - value) / spread
    return z, median


_MESSAGES = {
    "dark": "Very dark: 99th-percentile brightness {v:.2f} < {t:.2f}{rel}; check the exposure "
    "or remove it.",
    "bright": "Very bright (washed out): 1st-percentile brightness {v:.2f} > {t:.2f}{rel}; check "
    "the exposure or remove it.",
    "blurry": "Blurry: blurriness {v:.2f} > {t:.2f} (soft edges){rel}; re-capture it in focus or "
    "remove it.",
    "low_information": "Low information: entropy {v:.2f} < {t:.2f} (nearly uniform){rel}; check "
    "it is not blank, a placeholder or a failed capture, or remove it.",
    "odd_size": "Odd size {dims}: its area is {v:.1f}x {side} than the dataset median "
    "({median}; limit {t:g}x); check it is the right image, or resize consistently.",
    "odd_aspect_ratio": "Odd aspect ratio {dims} ({v:.1f}:1, limit {t:g}:1){rel}; check for a "
    "bad crop, a strip or a banner image.",
    "grayscale": "Grayscale in a mostly colour dataset ({n_gray} of {n} readable images are "
    "grayscale); check the capture mode, or convert all images to one mode.",
}
_RELATIVE = ", unusual for this dataset (median {m}, robust z {z:.1f} > {zt:g})"


class _Check(NamedTuple):
    """One sub-type's statistic and absolute rule, and its robust z where it has one."""

    kind: str
    value: np.ndarray
    threshold: float | None
    past: np.ndarray
    severity: np.ndarray
    z: np.ndarray | None
    median: float | None


@register_finder
class ImageQualityFinder(IssueFinder):
    """Images too dark, too bright, blurry, nearly blank, odd in size or shape, or grayscale.

    The statistics come from :func:`~datacentric.issues.image_stats.compute_image_stats`
    (``ctx.image_stats``, computed once per scan). The sub-types are CleanVision's; the
    dark and low-information defaults are CleanVision's, the others are chosen here. The
    table has one row per readable sample and sub-type: ``issue_type`` is the sub-type,
    ``value`` the statistic tested and ``threshold`` the limit it was tested against;
    ``detail`` is set on flagged rows. Unreadable images have no rows
    here (the ``integrity`` finder reports them).

    **Relative to the dataset** (``mode="relative"``, the default): ``dark``, ``bright``,
    ``blurry``, ``low_information`` and ``odd_aspect_ratio`` flag an image only when it is
    *unusual for this dataset* — its one-sided robust z-score against the dataset's own
    median, ``z = (median - v) / max(1.4826 MAD, 0.01)`` (``v - median`` when high is bad;
    on the log fold for the aspect ratio), exceeds ``z_threshold`` (3.5, Iglewicz and
    Hoaglin's cut-off for the modified z-score) — *and* it is past the absolute threshold
    below, which stays as a floor: a dataset of good images flags nothing even when it has a
    long tail, and a dataset that is uniformly dark (a night camera), blurry or
    low-resolution flags nothing either, since half of a dataset or more can never be above
    its own median. A group of bad images far from the bulk is still flagged, whatever its
    share below one half (the demo's dark scanner is a fifth of its data). To drop the floor
    and flag on the dataset-relative rule alone, set a threshold to its loosest value (e.g.
    ``dark_threshold=1``). ``mode="absolute"`` applies the absolute thresholds alone
    (CleanVision's rule; the behaviour before the relative rule). ``odd_size`` and
    ``grayscale`` are relative to the dataset in both modes (rules below). The table's
    ``robust_z`` and ``dataset_median`` columns hold the z-score and the median for the five
    relative sub-types (null for the other two) in both modes, and a relative flag's
    ``detail`` names them. :meth:`statistics` counts, per sub-type, the images flagged and
    those past the absolute threshold, and names a condition that is the dataset's norm.

    Every sub-type's ``severity`` is 0.5 exactly at its threshold, above 0.5 only when the
    row is flagged, and grows to 1 the further past the threshold (in relative mode it is
    the smaller of the absolute severity below and ``z / (2 z_threshold)``, clipped to
    [0, 1]):

    - ``dark``: ``brightness_p99 < dark_threshold`` (the brightest pixels are still dark;
      CleanVision's dark rule). Severity ``1 - v / (2 t)`` below ``t``, falling linearly
      from 0.5 to 0 between ``t`` and 1.
    - ``bright``: ``brightness_p1 > bright_threshold`` (even the darkest pixels are bright:
      washed out or over-exposed). Severity rises linearly from 0 at 0 to 0.5 at ``t``
      and 1 at 1.
    - ``blurry``: ``blurriness > blurry_threshold`` (``blurriness ≈ exp(-1 / s²)`` for
      edges blurred over ``s`` pixels at <= 64 px; 0.7 is about ``s = 1.7``). Severity as
      for ``bright``. Low-information images have no edges to judge: they are never
      blurry (severity 0), they are reported as ``low_information``.
    - ``low_information``: ``entropy < low_information_threshold`` (normalised Shannon
      entropy of the gray histogram; 0.375 is 3 of 8 bits, CleanVision's limit). Severity
      as for ``dark``.
    - ``odd_size``: the image area differs from the dataset's median area by more than the
      fold ``odd_size_threshold`` (either way) *and* its log-area lies outside the Tukey
      fences ``[Q1 - k IQR, Q3 + k IQR]`` of the dataset's log-areas, ``k = odd_size_iqr``
      (the fences only matter when sizes vary a lot; for one common size they collapse
      onto it). ``value`` is the fold ``max(a / m, m / a)``; severity
      ``ln(fold) / (2 ln t)``, capped at 0.5 when the fences clear the image.
    - ``odd_aspect_ratio``: ``max(w / h, h / w) > odd_aspect_ratio_threshold``; ``value``
      is that fold; severity ``ln(fold) / (2 ln t)``.
    - ``grayscale``: grayscale images are flagged only when the dataset is mostly colour,
      i.e. when at most ``grayscale_max_fraction`` of its readable images are grayscale
      (otherwise a grayscale dataset would be flagged whole). ``value`` is 1 for a
      grayscale image, 0 otherwise, ``threshold`` is null; severity of a grayscale image
      is ``1 - share of grayscale images``, 0 for colour ones.

    Parameters
    ----------
    dark_threshold : float, default 0.32
        Limit on the 99th-percentile perceived brightness, in [0, 1].
    bright_threshold : float, default 0.86
        Limit on the 1st-percentile perceived brightness, in [0, 1].
    blurry_threshold : float, default 0.7
        Limit on ``blurriness``, in [0, 1].
    low_information_threshold : float, default 0.375
        Limit on normalised entropy, in [0, 1].
    odd_size_threshold : float, default 10.0
        Area fold versus the median area, >= 1.
    odd_size_iqr : float, default 1.5
        Tukey fence multiplier on log-area, >= 0.
    odd_aspect_ratio_threshold : float, default 3.0
        Longer side over shorter side, >= 1.
    grayscale_max_fraction : float, default 0.5
        Largest share of grayscale images for which they are still flagged, in [0, 1].
    mode : {"relative", "absolute"}, default "relative"
        ``"relative"``: flag what is unusual for this dataset and past the absolute
        threshold; ``"absolute"``: the absolute thresholds alone.
    z_threshold : float, default 3.5
        Robust z-score above which a value is unusual for the dataset (relative mode), > 0.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric.dataset import Dataset
    >>> rng = np.random.default_rng(0)
    >>> imgs = rng.integers(60, 200, (4, 32, 32, 3), dtype=np.uint8)
    >>> imgs[1] //= 8  # very dark
    >>> ds = Dataset.from_arrays(imgs, ["a"] * 4, classes=["a"])
    >>> t = ImageQualityFinder().find(ScanContext(ds))
    >>> t.filter(pl.col("is_issue")).select("sample_id", "issue_type").rows()
    [('1', 'dark')]
    >>> print(t.filter(pl.col("is_issue"))["detail"][0])  # doctest: +NORMALIZE_WHITESPACE
    Very dark: 99th-percentile brightness 0.09 < 0.32, unusual for this dataset (median 0.73,
    robust z 58.9 > 3.5); check the exposure or remove it.

    A dataset that is dark throughout (a night camera) is not flagged in relative mode:

    >>> dim = rng.integers(8, 25, (4, 32, 32, 3), dtype=np.uint8)
    >>> night = Dataset.from_arrays(dim, ["a"] * 4, classes=["a"])
    >>> t = ImageQualityFinder().find(ScanContext(night))
    >>> t.filter(pl.col("is_issue")).height
    0
    >>> t = ImageQualityFinder(mode="absolute").find(ScanContext(night))
    >>> t.filter(pl.col("is_issue"))["issue_type"].to_list()
    ['dark', 'dark', 'dark', 'dark']
    """

    name = "image_quality"
    requires = frozenset({"images"})
    description = "Dark, bright, blurry, low-information, odd-size, odd-aspect or grayscale images."
    reports = (
        "dark",
        "bright",
        "blurry",
        "low_information",
        "odd_size",
        "odd_aspect_ratio",
        "grayscale",
    )
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "dark_threshold": [Interval(Real, 0, 1, closed="both")],
        "bright_threshold": [Interval(Real, 0, 1, closed="both")],
        "blurry_threshold": [Interval(Real, 0, 1, closed="both")],
        "low_information_threshold": [Interval(Real, 0, 1, closed="both")],
        "odd_size_threshold": [Interval(Real, 1, None, closed="left")],
        "odd_size_iqr": [Interval(Real, 0, None, closed="left")],
        "odd_aspect_ratio_threshold": [Interval(Real, 1, None, closed="left")],
        "grayscale_max_fraction": [Interval(Real, 0, 1, closed="both")],
        "mode": [Options(str, MODES)],
        "z_threshold": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        dark_threshold: float = 0.32,
        bright_threshold: float = 0.86,
        blurry_threshold: float = 0.7,
        low_information_threshold: float = 0.375,
        odd_size_threshold: float = 10.0,
        odd_size_iqr: float = 1.5,
        odd_aspect_ratio_threshold: float = 3.0,
        grayscale_max_fraction: float = 0.5,
        mode: str = "relative",
        z_threshold: float = 3.5,
    ) -> None:
        self.dark_threshold = dark_threshold
        self.bright_threshold = bright_threshold
        self.blurry_threshold = blurry_threshold
        self.low_information_threshold = low_information_threshold
        self.odd_size_threshold = odd_size_threshold
        self.odd_size_iqr = odd_size_iqr
        self.odd_aspect_ratio_threshold = odd_aspect_ratio_threshold
        self.grayscale_max_fraction = grayscale_max_fraction
        self.mode = mode
        self.z_threshold = z_threshold

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """One row per readable sample and sub-type (see the class docstring)."""
        s = ctx.image_stats.filter(pl.col("readable"))
        if s.height == 0:
            return self._empty()
        checks, width, height = self._checks(s)
        area = (width * height).astype(np.float64)
        med_area = float(np.median(area))
        gray = s["is_grayscale"].to_numpy().astype(bool)
        context = {
            "median": f"{int(np.median(width))}x{int(np.median(height))}",
            "n_gray": int(gray.sum()),
            "n": len(gray),
        }
        parts = []
        for c in checks:
            flagged, severity = self._apply_mode(c)
            relative = c.z is not None and self.mode == "relative"
            detail: list[str | None] = [None] * len(c.value)
            for i in np.flatnonzero(flagged):
                rel = ""
                if relative and c.z is not None and c.median is not None:
                    m = f"{c.median:.1f}:1" if c.kind == "odd_aspect_ratio" else f"{c.median:.2f}"
                    rel = _RELATIVE.format(m=m, z=c.z[i], zt=self.z_threshold)
                detail[i] = _MESSAGES[c.kind].format(
                    v=c.value[i],
                    t=c.threshold,
                    rel=rel,
                    dims=f"{width[i]}x{height[i]}",
                    side="smaller" if area[i] < med_area else "larger",
                    **context,
                )
            n = len(c.value)
            parts.append(
                issue_table(
                    c.kind,
                    s["sample_id"],
                    flagged,
                    severity,
                    detail,
                    value=pl.Series(c.value, dtype=pl.Float64),
                    threshold=pl.Series([c.threshold] * n, dtype=pl.Float64),
                    robust_z=pl.Series(c.z if c.z is not None else [None] * n, dtype=pl.Float64),
                    dataset_median=pl.Series([c.median] * n, dtype=pl.Float64),
                )
            )
        return self.check_output(pl.concat(parts))

    def statistics(self, ctx: ScanContext) -> dict[str, Any]:
        """Per sub-type: how many images are flagged, and how many are past the threshold.

        ``past_threshold`` counts the images the absolute rule alone would flag; where that
        is half the readable images or more in relative mode, the condition is this
        dataset's norm and ``norm_not_flagged`` names it (``mode="absolute"`` flags them).

        Examples
        --------
        >>> import numpy as np
        >>> from datacentric.dataset import Dataset
        >>> dim = np.random.default_rng(0).integers(8, 25, (6, 16, 16, 3), dtype=np.uint8)
        >>> ds = Dataset.from_arrays(dim, ["a"] * 6, classes=["a"])
        >>> stats = ImageQualityFinder().statistics(ScanContext(ds))
        >>> stats["norm_not_flagged"]
        'dark (6 of 6 images past the threshold)'
        >>> dark = stats["sub_types"][0]
        >>> dark["issue_type"], dark["flagged"], dark["past_threshold"], dark["dataset_median"]
        ('dark', 0, 6, 0.0896)
        """
        s = ctx.image_stats.filter(pl.col("readable"))
        rows: list[dict[str, Any]] = []
        norm = []
        for c in self._checks(s)[0] if s.height else []:
            flagged, _ = self._apply_mode(c)
            past = int(c.past.sum())
            rows.append(
                {
                    "issue_type": c.kind,
                    "flagged": int(flagged.sum()),
                    "past_threshold": past,
                    "threshold": c.threshold,
                    "dataset_median": None if c.median is None else round(c.median, 4),
                }
            )
            if self.mode == "relative" and c.z is not None and 2 * past >= s.height:
                norm.append(f"{c.kind} ({past} of {s.height} images past the threshold)")
        return {
            "mode": self.mode,
            "z_threshold": self.z_threshold,
            "n_readable": s.height,
            "norm_not_flagged": "; ".join(norm) if norm else "none",
            "sub_types": rows,
        }

    def _apply_mode(self, c: _Check) -> tuple[np.ndarray, np.ndarray]:
        """``is_issue`` and ``severity`` of a check: the absolute rule, or both rules."""
        if c.z is None or self.mode == "absolute":
            return c.past, c.severity
        flagged = c.past & (c.z > self.z_threshold)
        return flagged, np.minimum(c.severity, np.clip(c.z / (2 * self.z_threshold), 0, 1))

    def _checks(self, s: pl.DataFrame) -> tuple[list[_Check], np.ndarray, np.ndarray]:
        """Each sub-type's statistic, absolute rule and (relative sub-types) robust z."""
        p99, p1, blur, entropy = (
            s[c].cast(pl.Float64).to_numpy()
            for c in ("brightness_p99", "brightness_p1", "blurriness", "entropy")
        )
        width, height = s["width"].to_numpy(), s["height"].to_numpy()
        low_info = entropy < self.low_information_threshold

        area = (width * height).astype(np.float64)
        med_area = float(np.median(area))
        size_fold = np.maximum(area / med_area, med_area / area)
        log_area = np.log(area)
        q1, q3 = np.quantile(log_area, [0.25, 0.75])
        k = self.odd_size_iqr * (q3 - q1)
        fenced = (log_area < q1 - k - 1e-9) | (log_area > q3 + k + 1e-9)
        odd_size = (size_fold > self.odd_size_threshold) & fenced
        size_sev = _severity_fold(size_fold, self.odd_size_threshold)
        aspect_fold = np.maximum(width / height, height / width).astype(np.float64)

        gray = s["is_grayscale"].to_numpy().astype(bool)
        share = float(gray.mean())
        not_low = ~low_info
        absolute = [  # sub-type, value, threshold, is_issue, severity (the absolute rule)
            ("dark", p99, self.dark_threshold, p99 < self.dark_threshold,
             _severity_low(p99, self.dark_threshold)),
            ("bright", p1, self.bright_threshold, p1 > self.bright_threshold,
             _severity_high(p1, self.bright_threshold)),
            ("blurry", blur, self.blurry_threshold, (blur > self.blurry_threshold) & not_low,
             np.where(low_info, 0.0, _severity_high(blur, self.blurry_threshold))),
            ("low_information", entropy, self.low_information_threshold, low_info,
             _severity_low(entropy, self.low_information_threshold)),
            ("odd_size", size_fold, self.odd_size_threshold, odd_size,
             np.where(odd_size, size_sev, np.minimum(size_sev, 0.5))),
            ("odd_aspect_ratio", aspect_fold, self.odd_aspect_ratio_threshold,
             aspect_fold > self.odd_aspect_ratio_threshold,
             _severity_fold(aspect_fold, self.odd_aspect_ratio_threshold)),
            ("grayscale", gray.astype(np.float64), None,
             gray & (share <= self.grayscale_max_fraction), np.where(gray, 1.0 - share, 0.0)),
        ]  # fmt: skip
        # The statistic each relative sub-type is scored on, and whether high is bad; blurry
        # is scored among the images with edges to judge (not the low-information ones).
        relative = {
            "dark": (p99, False, None),
            "bright": (p1, True, None),
            "blurry": (blur, True, not_low),
            "low_information": (entropy, False, None),
            "odd_aspect_ratio": (np.log(aspect_fold), True, None),
        }
        checks = []
        for kind, value, threshold, past, severity in absolute:
            z = median = None
            if kind in relative:
                stat, high_is_bad, among = relative[kind]
                z, median = robust_z(stat, high_is_bad, None if among is None else stat[among])
                if kind == "odd_aspect_ratio":
                    median = math.exp(median)
            checks.append(_Check(kind, value, threshold, past, severity, z, median))
        return checks, width, height

    def _empty(self) -> pl.DataFrame:
        schema = {
            **ISSUE_SCHEMA,
            **dict.fromkeys(("value", "threshold", "robust_z", "dataset_median"), pl.Float64()),
        }
        return pl.DataFrame(schema=schema)
