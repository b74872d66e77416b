"""Outliers: samples far from all others in embedding space."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import Interval
from datacentric.issues.base import IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.knn import knn
from datacentric.issues.registry import register_finder

__all__ = ["OutlierFinder"]


@register_finder
class OutlierFinder(IssueFinder):
    """Samples unlike the rest: large mean cosine distance to their ``k`` nearest neighbours.

    The score is the mean distance ``d`` to the ``k`` nearest neighbours. A sample is an
    outlier when the robust z-score of ``log d`` — ``(log d - median) / (1.4826 · MAD)`` —
    exceeds ``z_threshold`` (the log makes the right-skewed distances near-symmetric, so
    the threshold means the same on tight and loose data).
    ``severity = min(1, z / (2 · z_threshold))``, so the threshold sits at 0.5. When
    ``pred_probs`` are given, cleanlab's ``OutOfDistribution`` score from predicted
    probabilities is added as the column ``ood_pred_score`` (lower = more atypical) for
    reference; it does not change the flag.

    Parameters
    ----------
    k : int >= 1
        Neighbours averaged (default 10).
    z_threshold : float > 0
        Robust z-score above which a sample is flagged (default 4.5).

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> rng = np.random.default_rng(0)
    >>> emb = rng.normal(size=(300, 8)) * 0.2 + [1, 0, 0, 0, 0, 0, 0, 0]
    >>> emb[7] = [-1, 0, 0, 0, 0, 0, 0, 0]  # points the other way
    >>> ds = Dataset.from_arrays(np.zeros((300, 2, 2)), [0] * 300, ["a"])
    >>> t = OutlierFinder().find(ScanContext(ds, embeddings=emb))
    >>> t.filter(pl.col("is_issue"))["sample_id"].to_list()
    ['7']
    """

    name = "outlier"
    requires = frozenset({"embeddings"})
    description = "Far from every other sample in embedding space."
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "k": [Interval(Integral, 1, None, closed="left")],
        "z_threshold": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, k: int = 10, z_threshold: float = 4.5) -> None:
        self.k = k
        self.z_threshold = z_threshold

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Score every sample by its mean distance to its nearest neighbours."""
        if ctx.knn_k >= self.k or ctx.embeddings is None:
            graph = ctx.knn_graph  # (which says so when there are no embeddings)
        else:
            graph = knn(ctx.embeddings, self.k, engine=ctx.knn_engine)
        dist = graph.distances[:, : self.k].mean(axis=1).astype(np.float64)
        log_d = np.log(dist + 1e-6)
        log_med = float(np.median(log_d))
        mad = float(np.median(np.abs(log_d - log_med))) * 1.4826
        z = (log_d - log_med) / max(mad, 1e-9)
        med = float(np.median(dist))
        flagged = z > self.z_threshold
        severity = np.clip(z / (2 * self.z_threshold), 0.0, 1.0)
        detail = [
            (
                f"Atypical: mean distance {d:.3f} to its {self.k} nearest samples is {zz:.1f} "
                f"robust SDs above the median {med:.3f}; check it belongs in the dataset."
                if f
                else None
            )
            for f, d, zz in zip(flagged, dist, z, strict=True)
        ]
        extra: dict[str, np.ndarray] = {"knn_distance": dist, "robust_z": z}
        if ctx.pred_probs is not None and (ctx.labels >= 0).all():
            from cleanlab.outlier import OutOfDistribution

            ood = OutOfDistribution()
            extra["ood_pred_score"] = np.asarray(
                ood.fit_score(pred_probs=ctx.pred_probs, labels=ctx.labels, verbose=False),
                dtype=np.float64,
            )
        return issue_table(
            self.name, ctx.dataset.sample_ids, flagged, severity, detail, None, **extra
        )
