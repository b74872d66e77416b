"""Inter-annotator agreement: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha (nominal).

Cohen's kappa is scikit-learn's :func:`~sklearn.metrics.cohen_kappa_score`; Fleiss' kappa
and Krippendorff's alpha (which scikit-learn lacks) are numpy. :func:`agreement_report`
turns a long annotation table (``sample_id, annotator, label``) into the dataset-level
statistics a scan stores.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from datacentric.exceptions import SchemaError

__all__ = [
    "agreement_report",
    "cohens_kappa",
    "fleiss_kappa",
    "krippendorff_alpha_nominal",
    "majority_vote",
    "rating_matrix",
]


def _chance_corrected(observed: float, expected: float) -> float:
    """``(p_o - p_e) / (1 - p_e)``; NaN when chance agreement is already perfect."""
    if expected >= 1.0 - 1e-12:
        return float("nan")
    return float((observed - expected) / (1.0 - expected))


def cohens_kappa(a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray) -> float:
    """Cohen's kappa of two raters on the same items (nominal categories).

    ``kappa = (p_o - p_e) / (1 - p_e)`` where ``p_o`` is the fraction of items the raters
    agree on and ``p_e = sum_c p_a(c) p_b(c)`` the agreement expected from each rater's
    own category frequencies (Cohen 1960), computed by
    :func:`sklearn.metrics.cohen_kappa_score` on the labels encoded as integers (so any
    hashable labels work). NaN, without a warning, when ``p_e == 1`` (both raters always
    use the same single category) or there are no items.

    Parameters
    ----------
    a, b : sequences of equal length
        The two raters' labels (any hashable values), aligned by item.

    Examples
    --------
    >>> cohens_kappa(["x", "x", "y", "y"], ["x", "x", "y", "y"])
    1.0
    >>> round(cohens_kappa([0, 0, 1, 1], [0, 1, 0, 1]), 3)
    0.0
    >>> cohens_kappa(["a", "a"], ["a", "a"])
    nan
    """
    from sklearn.metrics import cohen_kappa_score

    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise SchemaError(
            f"cohens_kappa needs two 1-D label sequences of equal length; received shapes "
            f"{a_arr.shape} and {b_arr.shape}."
        )
    if a_arr.size == 0:
        return float("nan")
    _, codes = np.unique(np.concatenate([a_arr, b_arr]), return_inverse=True)
    codes = codes.ravel()
    if codes.max() == 0:  # one category for both raters: p_e = 1, kappa undefined
        return float("nan")
    return float(cohen_kappa_score(codes[: a_arr.size], codes[a_arr.size :]))


def fleiss_kappa(counts: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Fleiss' kappa from an items × categories count matrix (Fleiss 1971).

    ``counts[i, j]`` is the number of raters who put item ``i`` in category ``j``. With
    ``n_i = sum_j counts[i, j]`` raters on item ``i``:

    * ``P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1))``, ``P_bar = mean_i P_i``,
    * ``p_j = sum_i n_ij / sum_i n_i``, ``P_e = sum_j p_j^2``,
    * ``kappa = (P_bar - P_e) / (1 - P_e)``.

    Fleiss' formula assumes the same ``n`` for every item. When ``n_i`` varies, this
    function uses the formulas above unchanged (items weighted equally in ``P_bar``,
    category proportions pooled over all ratings), which reduces exactly to Fleiss' kappa
    for constant ``n``; :func:`krippendorff_alpha_nominal` is the principled statistic for
    varying numbers of ratings. Items with fewer than two ratings carry no agreement
    information and are skipped.

    Examples
    --------
    Fleiss' (1971) example as given on Wikipedia: 10 items, 14 raters, 5 categories.

    >>> table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
    ...          [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
    ...          [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    >>> round(fleiss_kappa(table), 3)
    0.21
    """
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 2 or (arr < 0).any():
        raise SchemaError(
            "fleiss_kappa needs a 2-D items × categories matrix of non-negative counts; "
            f"received shape {arr.shape}."
        )
    n_i = arr.sum(axis=1)
    arr, n_i = arr[n_i >= 2], n_i[n_i >= 2]
    if arr.shape[0] == 0:
        return float("nan")
    p_i = ((arr**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_j = arr.sum(axis=0) / n_i.sum()
    return _chance_corrected(float(p_i.mean()), float((p_j**2).sum()))


def krippendorff_alpha_nominal(ratings: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Krippendorff's alpha for nominal data from a raters × items matrix.

    Missing ratings are NaN or any negative value. The standard coincidence-matrix
    computation (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"): for
    each item ``u`` with ``m_u >= 2`` ratings, every ordered pair of ratings ``(c, k)``
    from different raters adds ``1 / (m_u - 1)`` to ``o[c, k]``. With ``n_c = sum_k
    o[c, k]`` and ``n = sum_c n_c`` (the pairable ratings),

    ``alpha = 1 - (n - 1) * sum_{c != k} o[c, k] / sum_{c != k} n_c n_k``.

    Examples
    --------
    Krippendorff's (2011) example C: 4 observers, 12 units, some missing; nominal
    alpha = 0.743.

    >>> nan = float("nan")
    >>> r = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    ...      [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    ...      [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    ...      [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    >>> round(krippendorff_alpha_nominal(r), 3)
    0.743
    """
    arr = np.asarray(ratings, dtype=np.float64)
    if arr.ndim != 2:
        raise SchemaError(
            f"krippendorff_alpha_nominal needs a 2-D raters × items matrix; received shape "
            f"{arr.shape}."
        )
    present = np.isfinite(arr) & (arr >= 0)
    values = np.unique(arr[present])
    if values.size == 0:
        return float("nan")
    # items × categories counts of the ratings, then the coincidence matrix.
    codes = np.searchsorted(values, np.where(present, arr, values[0]))
    counts = np.zeros((arr.shape[1], values.size))
    rater_idx, item_idx = np.nonzero(present)
    np.add.at(counts, (item_idx, codes[rater_idx, item_idx]), 1.0)
    m_u = counts.sum(axis=1)
    counts, m_u = counts[m_u >= 2], m_u[m_u >= 2]
    if counts.shape[0] == 0:
        return float("nan")
    weighted = counts / (m_u - 1)[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    observed_off = coincidence.sum() - np.trace(coincidence)
    expected_off = n_c.sum() ** 2 - (n_c**2).sum()
    if expected_off <= 0:
        return float("nan")
    return float(1.0 - (n - 1) * observed_off / expected_off)


def majority_vote(labels: Sequence[str]) -> str | None:
    """The label chosen by the most annotators; ``None`` on a tie or no labels.

    Examples
    --------
    >>> majority_vote(["a", "b", "a"]), majority_vote(["a", "b"])
    ('a', None)
    """
    values, counts = np.unique(np.asarray(list(labels), dtype=object), return_counts=True)
    if values.size == 0 or (counts == counts.max()).sum() > 1:
        return None
    return str(values[int(np.argmax(counts))])


def rating_matrix(
    annotations: pl.DataFrame, classes: Sequence[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """Annotators × samples matrix of class indices (``-1`` = not rated).

    Null labels are dropped; when an annotator labelled a sample more than once, the last
    annotation counts. Returns the matrix, the annotator ids and the sample ids (both
    sorted by first appearance).

    Examples
    --------
    >>> ann = pl.DataFrame({"sample_id": ["s1", "s1", "s2"], "annotator": ["x", "y", "x"],
    ...                     "label": ["a", "b", "b"]})
    >>> m, raters, items = rating_matrix(ann, ["a", "b"])
    >>> m.tolist(), raters, items
    ([[0, 1], [1, -1]], ['x', 'y'], ['s1', 's2'])
    """
    need = ["sample_id", "annotator", "label"]
    missing = [c for c in need if c not in annotations.columns]
    if missing:
        raise SchemaError(
            f"annotations need columns {need}, missing {missing}; received {annotations.columns}."
        )
    ann = (
        annotations.select([pl.col(c).cast(pl.Utf8) for c in need])
        .drop_nulls()
        .unique(subset=["sample_id", "annotator"], keep="last", maintain_order=True)
    )
    unknown = sorted(set(ann["label"].to_list()) - set(classes))
    if unknown:
        raise SchemaError(
            f"annotations have labels not among the classes {list(classes)!r}: {unknown[:10]}."
        )
    raters = ann["annotator"].unique(maintain_order=True).to_list()
    items = ann["sample_id"].unique(maintain_order=True).to_list()
    r_pos = {r: i for i, r in enumerate(raters)}
    i_pos = {s: i for i, s in enumerate(items)}
    c_pos = {c: i for i, c in enumerate(classes)}
    matrix = np.full((len(raters), len(items)), -1, dtype=np.int64)
    for sid, rater, label in ann.iter_rows():
        matrix[r_pos[rater], i_pos[sid]] = c_pos[label]
    return matrix, raters, items


def _num(x: float) -> float | None:
    """NaN → None, so the report stays JSON-friendly."""
    return None if not np.isfinite(x) else round(float(x), 6)


def agreement_report(annotations: pl.DataFrame, classes: list[str]) -> dict[str, Any]:
    """Dataset-level agreement statistics of a multi-annotator label table.

    The consensus of a sample is its majority vote (no consensus on a tie); it includes
    the annotator being compared. Undefined statistics (e.g. kappa when chance agreement
    is 1, or no shared items) are ``None``.

    Returns
    -------
    dict
        ``n_samples``, ``n_samples_multi`` (>= 2 annotations), ``n_annotators``,
        ``n_annotations``, ``fleiss_kappa`` (over samples with >= 2 annotations; see
        :func:`fleiss_kappa` for varying counts), ``krippendorff_alpha``, ``pairwise``
        (``annotator_a, annotator_b, n_shared, cohens_kappa``), ``annotators``
        (``annotator, n_labeled, n_with_consensus, agreement_with_consensus,
        kappa_with_consensus``) and ``per_class`` (``class, n_annotations,
        specific_agreement`` = share of the ratings of the class matched by another
        annotator on the same sample, ``alpha`` = one-vs-rest Krippendorff alpha).

    Examples
    --------
    >>> ann = pl.DataFrame({"sample_id": ["s1", "s1", "s2", "s2"],
    ...                     "annotator": ["x", "y", "x", "y"], "label": ["a", "a", "b", "b"]})
    >>> rep = agreement_report(ann, ["a", "b"])
    >>> rep["fleiss_kappa"], rep["krippendorff_alpha"], rep["pairwise"][0]["n_shared"]
    (1.0, 1.0, 2)
    """
    matrix, raters, _ = rating_matrix(annotations, classes)
    k = len(classes)
    rated = matrix >= 0
    counts = np.zeros((matrix.shape[1], k))
    r_idx, i_idx = np.nonzero(rated)
    np.add.at(counts, (i_idx, matrix[r_idx, i_idx]), 1.0)
    m_u = counts.sum(axis=1)
    multi = m_u >= 2
    ratings = np.where(rated, matrix, np.nan).astype(np.float64)

    consensus = np.full(matrix.shape[1], -1, dtype=np.int64)
    top = counts.max(axis=1, initial=0.0)
    unique_top = (counts == top[:, None]).sum(axis=1) == 1
    consensus[unique_top] = counts[unique_top].argmax(axis=1)

    pairwise: list[dict[str, Any]] = []
    for a, b in itertools.combinations(range(len(raters)), 2):
        shared = rated[a] & rated[b]
        kappa = cohens_kappa(matrix[a, shared], matrix[b, shared]) if shared.any() else np.nan
        pairwise.append(
            {
                "annotator_a": raters[a],
                "annotator_b": raters[b],
                "n_shared": int(shared.sum()),
                "cohens_kappa": _num(kappa),
            }
        )

    per_annotator: list[dict[str, Any]] = []
    for r, name in enumerate(raters):
        cmp = rated[r] & (consensus >= 0) & multi
        n_cmp = int(cmp.sum())
        per_annotator.append(
            {
                "annotator": name,
                "n_labeled": int(rated[r].sum()),
                "n_with_consensus": n_cmp,
                "agreement_with_consensus": _num(
                    float(np.mean(matrix[r, cmp] == consensus[cmp])) if n_cmp else np.nan
                ),
                "kappa_with_consensus": _num(
                    cohens_kappa(matrix[r, cmp], consensus[cmp]) if n_cmp else np.nan
                ),
            }
        )

    per_class: list[dict[str, Any]] = []
    for c, name in enumerate(classes):
        n_c = counts[multi, c]
        denom = float((n_c * (m_u[multi] - 1)).sum())
        specific = float((n_c * (n_c - 1)).sum()) / denom if denom > 0 else np.nan
        binary = np.where(rated, (matrix == c).astype(np.float64), np.nan)
        per_class.append(
            {
                "class": name,
                "n_annotations": int(counts[:, c].sum()),
                "specific_agreement": _num(specific),
                "alpha": _num(krippendorff_alpha_nominal(binary)),
            }
        )

    return {
        "n_samples": int(matrix.shape[1]),
        "n_samples_multi": int(multi.sum()),
        "n_annotators": len(raters),
        "n_annotations": int(rated.sum()),
        "fleiss_kappa": _num(fleiss_kappa(counts[multi])),
        "krippendorff_alpha": _num(krippendorff_alpha_nominal(ratings)),
        "pairwise": pairwise,
        "annotators": per_annotator,
        "per_class": per_class,
    }
