"""Label errors: confident learning (cleanlab) on out-of-sample predicted probabilities."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options
from datacentric.issues.base import IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["LabelFinder"]

#: cleanlab's ``find_label_issues(filter_by=...)`` rules.
FILTER_BY = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)
#: cleanlab's ``get_label_quality_scores(method=...)`` scores.
SCORING = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


@register_finder
class LabelFinder(IssueFinder):
    """Samples whose given label is likely wrong.

    Uses cleanlab's confident learning on **out-of-sample** ``pred_probs`` (from
    cross-validation): ``cleanlab.filter.find_label_issues`` (or its batched,
    memory-bounded twin ``find_label_issues_batched`` past ``batch_threshold`` samples)
    decides which samples are issues; the label quality score (``self_confidence``: the
    predicted probability of the given label) ranks them. ``severity = 1 - quality``.
    ``suggested_label`` is the most probable class when the sample is flagged.

    Parameters
    ----------
    filter_by : {"prune_by_noise_rate", "prune_by_class", "both", "confident_learning", \
"predicted_neq_given", "low_normalized_margin", "low_self_confidence"}
        cleanlab's rule (``cleanlab.filter.find_label_issues``).
    scoring : {"self_confidence", "normalized_margin", "confidence_weighted_entropy"}
        How label quality is scored.
    batch_threshold : int >= 1
        From this many labelled samples on, use the batched path (bounded memory).

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> ds = Dataset.from_arrays(np.zeros((40, 2, 2)), [0] * 20 + [1] * 20, ["a", "b"])
    >>> probs = np.tile([[0.9, 0.1]], (40, 1)); probs[20:] = [0.1, 0.9]
    >>> probs[3] = [0.05, 0.95]          # labelled "a", model is sure it is "b"
    >>> t = LabelFinder().find(ScanContext(ds, pred_probs=probs))
    >>> t.filter(pl.col("is_issue"))[["sample_id", "suggested_label"]].rows()
    [('3', 'b')]
    """

    name = "label"
    requires = frozenset({"labels", "pred_probs"})
    description = "Given label disagrees confidently with out-of-sample model predictions."
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "filter_by": [Options(str, FILTER_BY)],
        "scoring": [Options(str, SCORING)],
        "batch_threshold": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        filter_by: str = "prune_by_noise_rate",
        scoring: str = "self_confidence",
        batch_threshold: int = 200_000,
    ) -> None:
        self.filter_by = filter_by
        self.scoring = scoring
        self.batch_threshold = batch_threshold

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Flag likely label errors among the labelled samples."""
        from cleanlab.rank import get_label_quality_scores

        assert ctx.pred_probs is not None  # guaranteed by `requires`
        labelled = np.flatnonzero(ctx.labels >= 0)
        labels = ctx.labels[labelled]
        probs = ctx.pred_probs[labelled]
        classes = ctx.dataset.classes
        quality = get_label_quality_scores(labels, probs, method=self.scoring)
        flagged = self._flag(labels, probs)
        pred = probs.argmax(axis=1)
        given_p = probs[np.arange(labels.shape[0]), labels]
        pred_p = probs.max(axis=1)
        ids = np.asarray(ctx.dataset.sample_ids, dtype=object)[labelled]
        suggested = [
            classes[p] if f and p != g else None
            for f, p, g in zip(flagged, pred, labels, strict=True)
        ]
        detail = [
            (
                f"Labelled {classes[g]!r}, but the out-of-sample model gives that only "
                f"{gp:.2f} and predicts {classes[p]!r} with {pp:.2f}; check the label."
                if f
                else None
            )
            for f, g, p, gp, pp in zip(flagged, labels, pred, given_p, pred_p, strict=True)
        ]
        return issue_table(
            self.name,
            ids.tolist(),
            flagged,
            1.0 - quality,
            detail,
            suggested,
            label_quality=quality.astype(np.float64),
            predicted_label=[classes[p] for p in pred],
            predicted_prob=pred_p.astype(np.float64),
        )

    def _flag(self, labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
        if labels.shape[0] >= self.batch_threshold and self.filter_by == "prune_by_noise_rate":
            from cleanlab.experimental.label_issues_batched import find_label_issues_batched

            mask = find_label_issues_batched(
                labels=labels,
                pred_probs=probs,
                batch_size=100_000,
                n_jobs=1,
                verbose=False,
                return_mask=True,
            )
            return np.asarray(mask, dtype=bool)
        from cleanlab.filter import find_label_issues

        present = np.unique(labels)
        if present.shape[0] < 2:
            return np.zeros(labels.shape[0], dtype=bool)
        return np.asarray(
            find_label_issues(labels, probs, filter_by=self.filter_by, n_jobs=1), dtype=bool
        )
