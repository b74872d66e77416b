"""Class imbalance: the class distribution, the imbalance ratio and the rare classes."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import Interval
from datacentric.issues.base import IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["ImbalanceFinder"]


def _class_indices(boxes: pl.DataFrame, classes: list[str]) -> np.ndarray:
    """The class index of each box (``-1`` for a label not in ``classes``)."""
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(c, -1) for c in boxes["label"].to_list()], np.int64)


@register_finder
class ImbalanceFinder(IssueFinder):
    """Samples of rare classes, and the dataset's class distribution.

    A class is rare when its count of labelled samples (in ``split``, default train) is
    below ``rare_fraction`` × the median class count. Its samples are flagged with
    ``severity = 1 - count / (rare_fraction · median)``. :meth:`statistics` returns the
    distribution, the imbalance ratio (largest / smallest non-empty class) and the rare
    and empty classes. (cleanlab's ``class_imbalance`` compares the rarest class with
    ``0.1 / K``; relative to the median this rule catches a class at 1/6 of the others
    in a 10-class problem, which cleanlab's does not.)

    On a detection dataset the classes are counted over **boxes** (of the samples in
    ``split``) and every box of a rare class is a row (``annotation_id`` set).

    Parameters
    ----------
    rare_fraction : float in [0, 1]
        Fraction of the median class count under which a class is rare (default 0.5).
    split : str or None
        Count only this split (default ``"train"``, where imbalance shapes the model);
        ``None`` counts every split. Falls back to all rows if the split is absent.

    Examples
    --------
    >>> import numpy as np
    >>> from datacentric import Dataset
    >>> ds = Dataset.from_arrays(np.zeros((23, 2, 2)), [0] * 10 + [1] * 10 + [2] * 3,
    ...                          ["a", "b", "c"])
    >>> f = ImbalanceFinder()
    >>> f.find(ScanContext(ds)).filter(pl.col("is_issue"))["sample_id"].to_list()
    ['20', '21', '22']
    >>> f.statistics(ScanContext(ds))["rare_classes"]
    ['c']
    """

    name = "imbalance"
    requires = frozenset({"class_labels"})
    description = "Belongs to a class much rarer than the others."
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "rare_fraction": [Interval(Real, 0, 1, closed="both")],
        "split": [str, None],
    }

    def __init__(self, rare_fraction: float = 0.5, split: str | None = "train") -> None:
        self.rare_fraction = rare_fraction
        self.split = split

    def _counted(self, ctx: ScanContext) -> np.ndarray:
        """The class index of every counted item: the samples, or the boxes of a detection
        dataset, of ``split`` (all of them if the split is absent); ``-1`` when unlabelled."""
        manifest = ctx.dataset.manifest
        boxes = ctx.dataset.annotations if ctx.dataset.task == "detection" else None
        if boxes is not None:
            if self.split is not None and (manifest["split"] == self.split).any():
                keep = manifest.filter(pl.col("split") == self.split)["sample_id"]
                boxes = boxes.filter(pl.col("sample_id").is_in(keep.implode()))
            return _class_indices(boxes, ctx.dataset.classes)
        labels = ctx.labels
        if self.split is not None:
            in_split = (manifest["split"] == self.split).to_numpy()
            if in_split.any():
                labels = labels[in_split]
        return labels

    def _counts(self, ctx: ScanContext) -> np.ndarray:
        labels = self._counted(ctx)
        labels = labels[labels >= 0]
        return np.bincount(labels, minlength=len(ctx.dataset.classes))

    def statistics(self, ctx: ScanContext) -> dict[str, Any]:
        """Class counts, shares, imbalance ratio, rare and empty classes."""
        counts = self._counts(ctx)
        classes = ctx.dataset.classes
        nonzero = counts[counts > 0]
        median = float(np.median(counts)) if counts.size else 0.0
        return {
            "counted_split": self.split,
            "class_counts": {c: int(n) for c, n in zip(classes, counts, strict=True)},
            "class_shares": {
                c: float(n / max(counts.sum(), 1)) for c, n in zip(classes, counts, strict=True)
            },
            "imbalance_ratio": float(nonzero.max() / nonzero.min()) if nonzero.size else None,
            "median_count": median,
            "rare_classes": [
                c
                for c, n in zip(classes, counts, strict=True)
                if 0 < n < self.rare_fraction * median
            ],
            "empty_classes": [c for c, n in zip(classes, counts, strict=True) if n == 0],
        }

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Flag every labelled sample (or box) of a rare class."""
        counts = self._counts(ctx)
        median = float(np.median(counts))
        bound = self.rare_fraction * median
        # a row for every labelled sample (or box), whatever its split
        boxes = ctx.dataset.annotations if ctx.dataset.task == "detection" else None
        items = ctx.labels if boxes is None else _class_indices(boxes, ctx.dataset.classes)
        labelled = np.flatnonzero(items >= 0)
        lab = items[labelled]
        count_of = counts[lab].astype(np.float64)
        flagged = (count_of > 0) & (count_of < bound)
        severity = np.where(flagged, 1.0 - count_of / max(bound, 1e-9), 0.0)
        classes = ctx.dataset.classes
        where = f"the {self.split} split" if self.split else "the dataset"
        unit = "boxes" if boxes is not None else "samples"
        detail = [
            (
                f"Rare class {classes[c]!r}: {int(counts[c])} {unit} in {where} vs a median of "
                f"{median:.0f} per class; collect or weight more examples of it."
                if f
                else None
            )
            for f, c in zip(flagged, lab, strict=True)
        ]
        if boxes is not None:
            picked = boxes[labelled.tolist()]
            ids = picked["sample_id"].to_list()
            extra: dict[str, Any] = {"annotation_id": picked["annotation_id"]}
        else:
            ids = np.asarray(ctx.dataset.sample_ids, dtype=object)[labelled].tolist()
            extra = {}
        return issue_table(
            self.name,
            ids,
            flagged,
            severity,
            detail,
            class_count=pl.Series(count_of.astype(np.int64)),
            **extra,
        )
