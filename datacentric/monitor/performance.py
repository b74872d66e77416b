"""Label-free performance estimate (CBPE) and accuracy on labels that arrive later.

Confidence-based performance estimation: on the labelled reference, fit an isotonic map from
the model's confidence to the probability that its prediction is right; in production the
expected accuracy of a window is the mean calibrated confidence of its rows. The estimate
is valid while the relation between confidence and correctness holds (covariate shift); it
cannot see concept drift — which is what recorded labels (``Monitor.record_labels``) show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Calibrator", "fit_calibrator"]


@dataclass(frozen=True)
class Calibrator:
    """A monotone piecewise-linear map from confidence to P(correct).

    Examples
    --------
    >>> cal = Calibrator((0.5, 1.0), (0.25, 0.75))
    >>> cal.apply(np.array([0.4, 0.75, 1.0, np.nan])).tolist()
    [0.25, 0.5, 0.75, nan]
    """

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, confidence: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (NaN stays NaN; outside the fitted range: clipped)."""
        out = np.interp(confidence, np.asarray(self.x), np.asarray(self.y))
        out[np.isnan(confidence)] = np.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form."""
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(d["x"]), tuple(d["y"]))


def fit_calibrator(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 20) -> Calibrator:
    """Binned isotonic calibration of ``correct`` (0/1) on ``confidence``.

    The confidences are cut into up to ``n_bins`` quantile bins of at least 50 rows; each bin
    gives (mean confidence, accuracy), made non-decreasing by isotonic regression weighted
    by the bin sizes, and joined linearly (flat beyond the first and last bin). Binning
    first keeps a handful of rows at the extremes from setting the map there. Rows with a
    NaN confidence are left out.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> conf = rng.uniform(0.5, 1.0, 20_000)
    >>> correct = rng.random(20_000) < conf - 0.2   # over-confident by 0.2
    >>> cal = fit_calibrator(conf, correct)
    >>> [round(float(v), 1) for v in cal.apply(np.array([0.6, 0.8]))]
    [0.4, 0.6]
    """
    from sklearn.isotonic import IsotonicRegression

    ok = ~np.isnan(confidence)
    x, y = confidence[ok].astype(np.float64), correct[ok].astype(np.float64)
    if x.size == 0:
        return Calibrator((0.0, 1.0), (0.0, 1.0))
    k = int(max(1, min(n_bins, x.size // 50)))
    order = np.argsort(x, kind="stable")
    parts = np.array_split(order, k)
    cx = np.array([x[p].mean() for p in parts])
    cy = np.array([y[p].mean() for p in parts])
    w = np.array([p.size for p in parts], dtype=np.float64)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0).fit_transform(cx, cy, sample_weight=w)
    return Calibrator(tuple(float(v) for v in cx), tuple(float(v) for v in fitted))
