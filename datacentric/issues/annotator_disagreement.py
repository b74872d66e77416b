"""Annotator disagreement: samples whose several annotators chose different labels."""

from __future__ import annotations

import warnings
from numbers import Real
from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import Interval
from datacentric.exceptions import SchemaError
from datacentric.issues.agreement import agreement_report, rating_matrix
from datacentric.issues.base import IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.registry import register_finder

__all__ = ["AnnotatorDisagreementFinder"]


def _crowdlab_consensus(
    matrix: np.ndarray, raters: list[str], items: list[str], pred_probs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Consensus labels and quality scores from cleanlab's CROWDLAB (per item)."""
    import pandas as pd
    from cleanlab.multiannotator import get_label_quality_multiannotator

    wide = pd.DataFrame(
        np.where(matrix.T >= 0, matrix.T, np.nan).astype(np.float64), index=items, columns=raters
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Annotators do not agree on any example")
        info = get_label_quality_multiannotator(
            wide,
            pred_probs,
            return_detailed_quality=False,
            return_annotator_stats=False,
            verbose=False,
        )
    quality = info["label_quality"]
    return (
        quality["consensus_label"].to_numpy().astype(np.int64),
        quality["consensus_quality_score"].to_numpy().astype(np.float64),
    )


@register_finder
class AnnotatorDisagreementFinder(IssueFinder):
    """Flag samples whose annotators disagree, and propose their consensus label.

    Reads ``ctx.annotations`` (``sample_id, annotator, label``; null labels are ignored and
    an annotator's repeated label for one sample counts once, the last one). The
    consensus of a sample is:

    * with ``ctx.pred_probs``: cleanlab's CROWDLAB
      (:func:`cleanlab.multiannotator.get_label_quality_multiannotator`, consensus method
      ``"best_quality"``), which weighs each annotator by their agreement with the others
      and the model by its accuracy against the majority vote; ``consensus_quality`` is
      its ``consensus_quality_score``;
    * otherwise the majority vote (no consensus on a tie).

    One row per sample with at least one annotation. ``agreement`` is the fraction of
    its annotators that chose the consensus (the plurality share on a tie). A sample with
    two or more annotations is an issue when ``agreement < min_agreement``.
    ``severity`` is ``1 - consensus_quality`` with pred_probs, else ``1 - agreement``.
    ``suggested_label`` is the consensus when the sample has two or more annotations and
    the consensus differs from the dataset label. Extra columns: ``n_annotations``,
    ``agreement``, ``consensus_label``, ``consensus_quality`` (null without pred_probs)
    and ``annotator_labels`` (e.g. ``"ann1:cat, ann2:dog"``).

    Parameters
    ----------
    min_agreement : float in [0, 1], default 1.0
        The share of annotators that must choose the consensus; 1.0 flags any
        disagreement, 0.6 flags only samples where fewer than 60% agree.

    Examples
    --------
    >>> from datacentric.dataset import Dataset
    >>> ds = Dataset.from_arrays(np.zeros((2, 2, 2), np.uint8), ["a", "a"], classes=["a", "b"])
    >>> ann = pl.DataFrame({"sample_id": ["0", "0", "0", "1", "1"],
    ...                     "annotator": ["x", "y", "z", "x", "y"],
    ...                     "label": ["b", "b", "a", "a", "a"]})
    >>> t = AnnotatorDisagreementFinder().find(ScanContext(ds, annotations=ann))
    >>> t.select("sample_id", "is_issue", "agreement", "suggested_label").rows()
    [('0', True, 0.666..., 'b'), ('1', False, 1.0, None)]
    >>> t["annotator_labels"][0]
    'x:b, y:b, z:a'
    """

    name = "annotator_disagreement"
    requires = frozenset({"annotators"})
    description = "Samples whose annotators chose different labels."
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "min_agreement": [Interval(Real, 0, 1, closed="both")]
    }

    def __init__(self, min_agreement: float = 1.0) -> None:
        self.min_agreement = min_agreement

    @staticmethod
    def _annotations(ctx: ScanContext) -> pl.DataFrame:
        if ctx.annotations is None:
            raise SchemaError(
                "annotator_disagreement needs annotations (columns sample_id, annotator, "
                "label); pass ScanContext(..., annotations=frame)."
            )
        return ctx.annotations

    def statistics(self, ctx: ScanContext) -> dict[str, Any]:
        """Dataset-level agreement statistics; see :func:`agreement_report`.

        Examples
        --------
        >>> from datacentric.dataset import Dataset
        >>> ds = Dataset.from_arrays(np.zeros((1, 2, 2), np.uint8), ["a"], classes=["a", "b"])
        >>> ann = pl.DataFrame({"sample_id": ["0", "0"], "annotator": ["x", "y"],
        ...                     "label": ["a", "b"]})
        >>> AnnotatorDisagreementFinder().statistics(ScanContext(ds, annotations=ann))["pairwise"]
        [{'annotator_a': 'x', 'annotator_b': 'y', 'n_shared': 1, 'cohens_kappa': 0.0}]
        """
        return agreement_report(self._annotations(ctx), ctx.dataset.classes)

    def find(self, ctx: ScanContext) -> pl.DataFrame:
        """Return one row per annotated sample of ``ctx.dataset``."""
        min_agree = float(self.min_agreement)
        classes = ctx.dataset.classes
        matrix, raters, items = rating_matrix(self._annotations(ctx), classes)
        # items in manifest order
        position = {sid: i for i, sid in enumerate(ctx.dataset.sample_ids)}
        rows = np.asarray([position[s] for s in items], dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        matrix, rows = matrix[:, order], rows[order]
        items = [items[i] for i in order]

        rated = matrix >= 0
        counts = np.zeros((len(items), len(classes)))
        r_idx, i_idx = np.nonzero(rated)
        np.add.at(counts, (i_idx, matrix[r_idx, i_idx]), 1.0)
        n_ann = counts.sum(axis=1)
        multi = n_ann >= 2

        quality: np.ndarray | None = None
        use_crowdlab = ctx.pred_probs is not None and len(raters) >= 2 and bool(multi.any())
        if use_crowdlab and ctx.pred_probs is not None:
            consensus, quality = _crowdlab_consensus(matrix, raters, items, ctx.pred_probs[rows])
        else:
            top = counts.max(axis=1)
            unique_top = (counts == top[:, None]).sum(axis=1) == 1
            consensus = np.where(unique_top, counts.argmax(axis=1), -1)
        has_consensus = consensus >= 0
        agreement = np.where(
            has_consensus,
            counts[np.arange(len(items)), np.maximum(consensus, 0)] / n_ann,
            counts.max(axis=1) / n_ann,
        )
        is_issue = multi & (agreement < min_agree - 1e-12)
        severity = 1.0 - (quality if quality is not None else agreement)
        if quality is None:
            severity[~multi] = 0.0

        given = ctx.labels[rows]
        suggest = multi & has_consensus & (consensus != given)
        details: list[str] = []
        ann_labels: list[str] = []
        for col in range(len(items)):
            who = np.flatnonzero(rated[:, col])
            votes = [f"{raters[r]}:{classes[matrix[r, col]]}" for r in who]
            ann_labels.append(", ".join(votes))
            details.append(
                self._detail(
                    votes,
                    classes,
                    int(consensus[col]),
                    int(given[col]),
                    int(n_ann[col]),
                    float(agreement[col]),
                    bool(is_issue[col]),
                )
            )
        cons_names = [classes[c] if c >= 0 else None for c in consensus]
        return self.check_output(
            issue_table(
                self.name,
                items,
                is_issue,
                severity,
                details,
                suggested_label=[
                    c if s else None for c, s in zip(cons_names, suggest, strict=True)
                ],
                n_annotations=pl.Series(n_ann.astype(np.int64), dtype=pl.Int64),
                agreement=pl.Series(agreement, dtype=pl.Float64),
                consensus_label=pl.Series(cons_names, dtype=pl.Utf8),
                consensus_quality=pl.Series(
                    [None] * len(items) if quality is None else quality, dtype=pl.Float64
                ),
                annotator_labels=pl.Series(ann_labels, dtype=pl.Utf8),
            )
        )

    @staticmethod
    def _detail(
        votes: list[str],
        classes: list[str],
        consensus: int,
        given: int,
        n: int,
        agreement: float,
        issue: bool,
    ) -> str:
        """One sentence describing the annotations of a sample."""
        if n < 2:
            return f"Only one annotation ({votes[0]}); nothing to compare."
        agree = round(agreement * n)
        if consensus < 0:
            text = f"Annotators disagree ({', '.join(votes)}) with no consensus (a tie)."
        elif issue:
            text = (
                f"Annotators disagree ({', '.join(votes)}); {agree} of {n} chose the consensus "
                f"'{classes[consensus]}'."
            )
        elif agree == n:
            text = f"All {n} annotators chose '{classes[consensus]}'."
        else:
            text = f"{agree} of {n} annotators chose the consensus '{classes[consensus]}'."
        if consensus >= 0 and consensus != given:
            current = f"'{classes[given]}'" if given >= 0 else "missing"
            text += f" The dataset label is {current}; relabel to '{classes[consensus]}'."
        elif consensus < 0:
            text += " Ask another annotator or adjudicate."
        return text
