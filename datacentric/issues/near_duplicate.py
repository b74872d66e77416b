"""Near duplicates: nearly identical inputs, grouped into clusters."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options, validate_call
from datacentric.issues._pairs import (
    PAIR_SCHEMA,
    clusters,
    embedding_pairs,
    phash_pairs,
    relative_radius,
)
from datacentric.issues.base import IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.pixels import pixel_pairs
from datacentric.issues.registry import register_finder

__all__ = ["NEAR_CONSTRAINTS", "NearDuplicateFinder", "NearIdenticalFinder", "near_pairs"]

_METHODS = ("auto", "embeddings", "pixels", "phash")

#: What the near-identical parameters accept (shared by the finders and :func:`near_pairs`).
NEAR_CONSTRAINTS: dict[str, list[Any]] = {
    "threshold": [Interval(Real, 0, 10, closed="both")],
    "max_shift": [Interval(Integral, 0, 8, closed="both")],
    "max_hamming": [Interval(Integral, 0, 32, closed="both")],
    "method": [Options(str, _METHODS)],
}


@validate_call(NEAR_CONSTRAINTS)
def near_pairs(
    ctx: ScanContext,
    method: str = "auto",
    threshold: float = 0.13,
    max_hamming: int = 4,
    max_shift: int = 2,
) -> pl.DataFrame:
    """Near-identical pairs ``i < j`` with the closest distance found and the method.

    ``"auto"``: shift-tolerant pixel matching, plus embeddings when given (a pair found
    either way counts). ``"embeddings"``, ``"pixels"`` or ``"phash"``: that one only.
    Embedding and pixel pairs use the relative rule ``distance < threshold × median
    nearest-neighbour distance``; perceptual hashes a Hamming bound.
    """
    key = ("near_pairs", method, float(threshold), int(max_hamming), int(max_shift))
    pairs: pl.DataFrame = ctx.memo(
        key, lambda: _near_pairs(ctx, method, threshold, max_hamming, max_shift)
    )
    return pairs


def _near_pairs(
    ctx: ScanContext, method: str, threshold: float, max_hamming: int, max_shift: int
) -> pl.DataFrame:
    parts = [pl.DataFrame(schema=PAIR_SCHEMA)]
    if method == "embeddings" or (method == "auto" and ctx.embeddings is not None):
        graph = ctx.knn_graph
        parts.append(embedding_pairs(graph, relative_radius(graph, threshold)))
    if method in ("auto", "pixels"):
        thumbs, ok = ctx.thumbnails
        parts.append(pixel_pairs(thumbs, ok, threshold=threshold, max_shift=max_shift))
    if method == "phash":
        parts.append(phash_pairs(ctx.image_stats["phash"], max_hamming))
    pairs = pl.concat(parts)
    return pairs.sort("distance", "method").unique(["i", "j"], keep="first").sort("i", "j")


class NearIdenticalFinder(IssueFinder):
    """Base of the finders built on near-identical pairs (:func:`near_pairs`).

    They share one parameter set, declared here, so a pair means the same thing to
    ``near_duplicate``, ``leakage`` and ``label_inconsistency``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = NEAR_CONSTRAINTS

    def __init__(
        self,
        threshold: float = 0.13,
        max_shift: int = 2,
        max_hamming: int = 4,
        method: str = "auto",
    ) -> None:
        self.threshold = threshold
        self.max_shift = max_shift
        self.max_hamming = max_hamming
        self.method = method

    def pairs(self, ctx: ScanContext) -> pl.DataFrame:
        """The near-identical pairs for this finder's parameters (shared within a scan)."""
        return near_pairs(ctx, self.method, self.threshold, self.max_hamming, self.max_shift)


@register_finder
class NearDuplicateFinder(NearIdenticalFinder):
    """Samples that are nearly identical to another sample (exact copies included).

    Two samples are near duplicates when, in pixel space or in embedding space, their
    distance is below ``threshold`` × the dataset's median nearest-neighbour distance
    (cleanlab's relative rule, same default 0.13). Pixel distance is ``1 - correlation``
    of 32×32 luma thumbnails at the best shift of up to ``max_shift`` pixels, so re-crops,
    brightness changes and noise still match while look-alikes of one class do not
    (:mod:`datacentric.issues.pixels`). Pairs are joined into clusters (connected
    components). Every member of a cluster is flagged; the first in manifest order is
    marked ``keep``. ``severity`` is 1 for identical inputs and 0.5 at the radius.

    Parameters
    ----------
    threshold : float in [0, 10]
        Relative radius (default 0.13).
    max_shift : int in [0, 8]
        Thumbnail pixels (of 32) by which a copy may be shifted (default 2).
    max_hamming : int in [0, 32]
        Perceptual-hash bits that may differ, for ``method="phash"`` (default 4).
    method : {"auto", "embeddings", "pixels", "phash"}
        ``"auto"``: pixels, plus embeddings when given.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> emb = np.random.default_rng(0).normal(size=(20, 16))
    >>> emb[5] = emb[2] + 1e-4              # sample 5 is a near copy of sample 2
    >>> ds = Dataset.from_arrays(np.zeros((20, 2, 2)), [0] * 20, ["a"])
    >>> t = NearDuplicateFinder().find(ScanContext(ds, embeddings=emb))
    >>> t.filter(pl.col("is_issue"))["sample_id"].to_list()
    ['2', '5']
    """

    name = "near_duplicate"
    requires = frozenset({"images"})
    description = "Nearly identical to another sample."

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Find near-identical pairs and group them into clusters."""
        n = len(ctx.dataset)
        pairs = self.pairs(ctx)
        cluster = clusters(n, pairs)
        ids = ctx.dataset.sample_ids
        both = pl.concat(
            [
                pairs.select("i", pl.col("j").alias("other"), "distance", "method", "radius"),
                pairs.select(
                    pl.col("j").alias("i"),
                    pl.col("i").alias("other"),
                    "distance",
                    "method",
                    "radius",
                ),
            ]
        )
        nearest = both.sort("distance").group_by("i").first()
        rows = nearest["i"].to_numpy()
        near_id = np.full(n, -1, dtype=np.int64)
        near_d = np.full(n, np.nan)
        near_r = np.full(n, np.nan)
        near_m = np.full(n, None, dtype=object)
        near_id[rows] = nearest["other"].to_numpy()
        near_d[rows] = nearest["distance"].to_numpy()
        near_r[rows] = nearest["radius"].to_numpy()
        near_m[rows] = nearest["method"].to_numpy()
        sizes = np.bincount(cluster[cluster >= 0]) if (cluster >= 0).any() else np.zeros(0, int)
        first_of: dict[int, int] = {}
        for row, c in enumerate(cluster):
            if c >= 0 and int(c) not in first_of:
                first_of[int(c)] = row
        flagged = cluster >= 0
        ratio = np.divide(near_d, near_r, out=np.zeros(n), where=near_r > 0)
        severity = np.where(flagged, 1.0 - 0.5 * np.clip(np.nan_to_num(ratio), 0.0, 1.0), 0.0)
        labels = ctx.dataset.manifest["label"].to_list()
        detail: list[str | None] = []
        for row in range(n):
            if not flagged[row]:
                detail.append(None)
                continue
            other = int(near_id[row])
            how = {"phash": "perceptual-hash", "pixels": "aligned-pixel", "exact": "pixel"}.get(
                str(near_m[row]), "embedding"
            )
            msg = (
                f"Nearly identical to {ids[other]} ({how} distance {near_d[row]:.4f}); cluster "
                f"{cluster[row]} has {sizes[cluster[row]]} members."
            )
            if labels[row] != labels[other]:
                msg += f" Labelled differently: {labels[row]!r} vs {labels[other]!r}."
            detail.append(msg + " Keep one unless the copies are intended.")
        return issue_table(
            self.name,
            ids,
            flagged,
            severity,
            detail,
            cluster_id=pl.Series([int(c) if c >= 0 else None for c in cluster], dtype=pl.Int64),
            cluster_size=pl.Series(
                [int(sizes[c]) if c >= 0 else None for c in cluster], dtype=pl.Int64
            ),
            keep=pl.Series([bool(c >= 0 and first_of[int(c)] == r) for r, c in enumerate(cluster)]),
            nearest_id=pl.Series([ids[o] if o >= 0 else None for o in near_id], dtype=pl.Utf8),
            distance=pl.Series(near_d, dtype=pl.Float64),
        )
