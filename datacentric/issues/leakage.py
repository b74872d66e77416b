"""Train/test leakage: the same (or nearly the same) input in two splits."""

from __future__ import annotations

import numpy as np
import polars as pl

from datacentric.issues._pairs import exact_pairs
from datacentric.issues.base import issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.near_duplicate import NearIdenticalFinder
from datacentric.issues.registry import register_finder

__all__ = ["LeakageFinder"]

_RANK = {"train": 0, "val": 1, "test": 2}


@register_finder
class LeakageFinder(NearIdenticalFinder):
    """Samples whose exact or near copy sits in another split.

    Exact copies are found by the decoded-pixel hash; near copies with the same rule as
    :class:`~datacentric.issues.near_duplicate.NearDuplicateFinder`. Of each cross-split
    pair, the copy in the *less protected* split is flagged (train before val before
    test): removing it ends the leak without touching the evaluation set. Extra columns
    name the sample it leaks with, that sample's split, the distance and the match kind.

    Parameters
    ----------
    threshold, max_shift, max_hamming, method
        As for ``near_duplicate``.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> imgs = np.random.default_rng(0).integers(0, 255, (6, 8, 8), dtype=np.uint8)
    >>> imgs[4] = imgs[1]                    # a test image copied into train
    >>> ds = Dataset.from_arrays(imgs, [0] * 6, ["a"],
    ...                          split=["test", "test", "train", "train", "train", "train"])
    >>> t = LeakageFinder().find(ScanContext(ds))
    >>> t.filter(pl.col("is_issue"))[["sample_id", "leaked_with", "match"]].rows()
    [('4', '1', 'exact')]
    """

    name = "leakage"
    requires = frozenset({"images", "splits"})
    description = "The same or a nearly identical input appears in two splits."

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Find cross-split copies and flag the copy in the less protected split."""
        ds = ctx.dataset
        n = len(ds)
        exact = exact_pairs(ctx.image_stats["pixel_hash"])
        near = self.pairs(ctx)
        pairs = pl.concat([exact, near]).sort("distance").unique(["i", "j"], keep="first")
        split = np.array([_RANK.get(s, 0) for s in ds.manifest["split"].to_list()])
        i = pairs["i"].to_numpy()
        j = pairs["j"].to_numpy()
        cross = split[i] != split[j]
        i, j = i[cross], j[cross]
        dist = pairs["distance"].to_numpy()[cross]
        kind = pairs["method"].to_numpy()[cross]
        victim = np.where(split[i] < split[j], i, j)
        partner = np.where(split[i] < split[j], j, i)
        order = np.lexsort((dist, victim))  # closest partner first per victim
        victim, partner, dist, kind = victim[order], partner[order], dist[order], kind[order]
        first = np.r_[True, victim[1:] != victim[:-1]] if victim.size else np.zeros(0, bool)
        victim, partner, dist, kind = victim[first], partner[first], dist[first], kind[first]

        ids = ds.sample_ids
        splits = ds.manifest["split"].to_list()
        flagged = np.zeros(n, dtype=bool)
        flagged[victim] = True
        leaked_with: list[str | None] = [None] * n
        leaked_split: list[str | None] = [None] * n
        distance = np.full(n, np.nan)
        match: list[str | None] = [None] * n
        detail: list[str | None] = [None] * n
        for v, p, d, k in zip(victim, partner, dist, kind, strict=True):
            label = "exact" if k == "exact" else "near"
            leaked_with[v], leaked_split[v], distance[v], match[v] = ids[p], splits[p], d, label
            detail[v] = (
                f"{'Exact' if label == 'exact' else 'Near'} copy of {splits[p]} sample {ids[p]} "
                f"(distance {d:.4f}) in the {splits[v]} split: it leaks the {splits[p]} set. "
                f"Remove this copy from {splits[v]}."
            )
        severity = np.where(flagged, np.where(np.array(match) == "exact", 1.0, 0.9), 0.0)
        return issue_table(
            self.name,
            ids,
            flagged,
            severity,
            detail,
            leaked_with=pl.Series(leaked_with, dtype=pl.Utf8),
            leaked_split=pl.Series(leaked_split, dtype=pl.Utf8),
            distance=pl.Series(distance, dtype=pl.Float64),
            match=pl.Series(match, dtype=pl.Utf8),
        )
