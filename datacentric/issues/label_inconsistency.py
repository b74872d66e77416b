"""Label inconsistency: near-identical inputs that carry different labels."""

from __future__ import annotations

import numpy as np
import polars as pl

from datacentric.issues.base import issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.near_duplicate import NearIdenticalFinder
from datacentric.issues.registry import register_finder

__all__ = ["LabelInconsistencyFinder"]


@register_finder
class LabelInconsistencyFinder(NearIdenticalFinder):
    """Flag labelled samples with a near-identical input that has a different label.

    Near-identical means what it means for ``near_duplicate`` (same parameters, same
    rule): exact pixel copies, shift-tolerant pixel matches, and — when embeddings are
    given — embedding neighbours within ``threshold`` × the median nearest-neighbour
    distance. Both members of a conflicting pair are flagged. Unlabelled samples get no
    row and never conflict.

    Each labelled sample gets one row. Extra columns: ``conflict_with`` (the nearest
    conflicting sample id), ``conflict_label`` (its label) and ``distance``, all null
    without a conflict. ``severity`` is 1 for identical inputs and 0.5 at the radius.
    ``suggested_label`` is the label held by a strict majority (more than half) of the
    sample's near-identical group (the sample and its near-identical labelled
    neighbours), else null.

    Parameters
    ----------
    threshold, max_shift, max_hamming, method
        As for :class:`~datacentric.issues.near_duplicate.NearDuplicateFinder`.

    Examples
    --------
    >>> from datacentric.dataset import Dataset
    >>> ds = Dataset.from_arrays(np.zeros((3, 2, 2), np.uint8), ["a", "b", "b"],
    ...                          classes=["a", "b"])
    >>> emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> t = LabelInconsistencyFinder().find(ScanContext(ds, embeddings=emb))
    >>> t.select("sample_id", "is_issue", "conflict_with").rows()
    [('0', True, '1'), ('1', True, '0'), ('2', False, None)]
    >>> print(t["detail"][0])
    Near-identical to 1 (distance 0.0000) which is labelled 'b', but this one is
    labelled 'a'; decide one label for both.
    """

    name = "label_inconsistency"
    requires = frozenset({"labels", "images"})
    description = "Near-identical inputs that carry different labels."

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Return one row per labelled sample of ``ctx.dataset``."""
        ids = np.asarray(ctx.dataset.sample_ids, dtype=object)
        classes = ctx.dataset.classes
        labels = ctx.labels
        n = labels.size

        pairs = self.pairs(ctx)
        i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
        dist = np.maximum(pairs["distance"].to_numpy(), 0.0)
        rad = pairs["radius"].to_numpy()
        both = (labels[i] >= 0) & (labels[j] >= 0)
        src = np.concatenate([i[both], j[both]])
        dst = np.concatenate([j[both], i[both]])
        dd = np.concatenate([dist[both], dist[both]])
        rr = np.concatenate([rad[both], rad[both]])

        # nearest conflicting neighbour of every sample (ties: lower index)
        conflict = labels[src] != labels[dst]
        cs, cd, cdist, crad = src[conflict], dst[conflict], dd[conflict], rr[conflict]
        order = np.lexsort((cd, cdist, cs))
        cs, cd, cdist, crad = cs[order], cd[order], cdist[order], crad[order]
        first_src, first_pos, n_conflicts = np.unique(cs, return_index=True, return_counts=True)
        partner = np.full(n, -1, dtype=np.int64)
        partner_dist = np.full(n, np.nan)
        others = np.zeros(n, dtype=np.int64)
        partner[first_src] = cd[first_pos]
        partner_dist[first_src] = cdist[first_pos]
        partner_rad = np.zeros(n)
        partner_rad[first_src] = crad[first_pos]
        others[first_src] = n_conflicts
        flagged = partner >= 0

        suggestion = self._majority(labels, src, dst, flagged)

        rows = np.flatnonzero(labels >= 0)
        ratio = np.divide(partner_dist, partner_rad, out=np.zeros(n), where=partner_rad > 0)
        sev = np.where(flagged, 1.0 - 0.5 * np.clip(np.nan_to_num(ratio), 0.0, 1.0), 0.0)
        details: list[str | None] = []
        for r in rows:
            if not flagged[r]:
                details.append(None)
                continue
            p = partner[r]
            text = (
                f"Near-identical to {ids[p]} (distance {partner_dist[r]:.4f}) which is "
                f"labelled '{classes[labels[p]]}', but this one is labelled "
                f"'{classes[labels[r]]}'; decide one label for both."
            )
            if others[r] > 1:
                text += f" ({others[r]} near-identical samples carry another label.)"
            details.append(text)
        return self.check_output(
            issue_table(
                self.name,
                ids[rows].tolist(),
                flagged[rows],
                sev[rows],
                details,
                suggested_label=[classes[s] if s >= 0 else None for s in suggestion[rows]],
                conflict_with=pl.Series(
                    [ids[p] if p >= 0 else None for p in partner[rows]], dtype=pl.Utf8
                ),
                conflict_label=pl.Series(
                    [classes[labels[p]] if p >= 0 else None for p in partner[rows]],
                    dtype=pl.Utf8,
                ),
                distance=pl.Series(partner_dist[rows], dtype=pl.Float64, nan_to_null=True),
            )
        )

    @staticmethod
    def _majority(
        labels: np.ndarray, src: np.ndarray, dst: np.ndarray, flagged: np.ndarray
    ) -> np.ndarray:
        """Per sample, the strict-majority label of itself + its near-identical neighbours.

        Computed for flagged samples only; ``-1`` elsewhere or without a strict majority.
        """
        n = labels.size
        out = np.full(n, -1, dtype=np.int64)
        members = flagged[src]
        own = np.flatnonzero(flagged)
        g = np.concatenate([src[members], own])
        lab = np.concatenate([labels[dst[members]], labels[own]])
        if g.size == 0:
            return out
        n_classes = int(labels.max()) + 1
        keys, counts = np.unique(g * n_classes + lab, return_counts=True)
        grp, cls = keys // n_classes, keys % n_classes
        size = np.bincount(grp, weights=counts, minlength=n)
        # per group, the largest count (keys are sorted by group)
        order = np.lexsort((-counts, grp))
        grp_o, cls_o, cnt_o = grp[order], cls[order], counts[order]
        first = np.unique(grp_o, return_index=True)[1]
        top_grp, top_cls, top_cnt = grp_o[first], cls_o[first], cnt_o[first]
        strict = 2 * top_cnt > size[top_grp]
        out[top_grp[strict]] = top_cls[strict]
        return out
