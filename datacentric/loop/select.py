"""What to label next: choose unlabeled samples for annotators, the model held fixed.

:func:`select_unlabeled` ranks the unlabeled rows of a dataset (``label`` null) with the
fixed recipe's predictions and returns the ``budget`` worth labeling first:

- ``uncertainty`` (least confidence): ``1 - max_k p_k``; the model is unsure of its best guess.
- ``margin``: ``1 - (p_(1) - p_(2))``; the two most likely classes are close.
- ``entropy``: ``H(p) / log K``; the probability is spread over many classes.
- ``diversity``: k-center greedy on the embeddings (the core-set rule): each pick is the
  unlabeled sample farthest from every labeled sample and every earlier pick, so the batch
  covers the parts of the input space the labels do not; score = that distance over the
  first pick's. With no labeled row, the first pick is the sample farthest from the mean.
- ``hybrid``: uncertainty within diverse clusters: k-means (scikit-learn, seeded) splits the
  unlabeled embeddings into ``budget`` clusters and the most uncertain sample of each
  (by ``measure``, margin by default) is picked, so a batch never spends two labels on
  one confusing look-alike; ``cluster`` says which.
- ``random``: a seeded uniform draw, the baseline every strategy has to beat.

Every score is in [0, 1], higher = label it sooner. The predictions are the fixed recipe's
out-of-sample ones (what ``datacentric scan`` saves as ``predictions.npz``: for unlabeled rows
the mean of the cross-validation fold models); without them, :func:`select_unlabeled`
computes them with :func:`~datacentric.train.cross_val_predict`.
"""

from __future__ import annotations

import logging
import warnings
from numbers import Integral
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options, validate_call
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError, format_items

if TYPE_CHECKING:
    from datacentric.dataset import Dataset
    from datacentric.train import ModelRecipe, Predictions

__all__ = [
    "SELECTION_SCHEMA",
    "STRATEGIES",
    "as_review_items",
    "entropy_scores",
    "k_center_greedy",
    "least_confidence_scores",
    "margin_scores",
    "select_unlabeled",
]

log = logging.getLogger(__name__)

Strategy = Literal["uncertainty", "margin", "entropy", "diversity", "hybrid", "random"]
Measure = Literal["uncertainty", "margin", "entropy"]

#: The strategies of :func:`select_unlabeled`, in the order the docs present them.
STRATEGIES: tuple[str, ...] = ("uncertainty", "margin", "entropy", "diversity", "hybrid", "random")

#: Columns of the table :func:`select_unlabeled` returns.
SELECTION_SCHEMA: dict[str, type[pl.DataType]] = {
    "rank": pl.Int64,
    "sample_id": pl.Utf8,
    "strategy": pl.Utf8,
    "score": pl.Float64,
    "cluster": pl.Int64,
    "pred_label": pl.Utf8,
    "confidence": pl.Float64,
}

_CHUNK = 4096  # rows of a distance block (memory: _CHUNK x n_labeled floats)
_MINIBATCH_ROWS = 20_000  # hybrid: mini-batch k-means above this many unlabeled rows


def least_confidence_scores(pred_probs: np.ndarray) -> np.ndarray:
    """``1 - max_k p_k`` per row: how unsure the model is of its best guess.

    Examples
    --------
    >>> least_confidence_scores(np.array([[0.9, 0.1], [0.5, 0.5]])).round(3).tolist()
    [0.1, 0.5]
    """
    p = np.asarray(pred_probs, dtype=np.float64)
    return 1.0 - p.max(axis=1)


def margin_scores(pred_probs: np.ndarray) -> np.ndarray:
    """``1 - (p_(1) - p_(2))`` per row: how close the two most likely classes are.

    Examples
    --------
    >>> margin_scores(np.array([[0.6, 0.3, 0.1], [0.4, 0.4, 0.2]])).round(3).tolist()
    [0.7, 1.0]
    """
    p = np.asarray(pred_probs, dtype=np.float64)
    if p.shape[1] < 2:
        return np.zeros(p.shape[0])
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy_scores(pred_probs: np.ndarray) -> np.ndarray:
    """Entropy of each row over ``log K`` (0: certain, 1: uniform).

    Examples
    --------
    >>> entropy_scores(np.array([[1.0, 0.0], [0.5, 0.5]])).round(3).tolist()
    [0.0, 1.0]
    """
    p = np.asarray(pred_probs, dtype=np.float64)
    if p.shape[1] < 2:
        return np.zeros(p.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return np.clip(h / np.log(p.shape[1]), 0.0, 1.0) + 0.0  # + 0.0: no -0.0


_MEASURES = {
    "uncertainty": least_confidence_scores,
    "margin": margin_scores,
    "entropy": entropy_scores,
}


def _min_sq_dist(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared distance of each row of ``x`` to its nearest row of ``centers``, in blocks."""
    out = np.full(x.shape[0], np.inf)
    if centers.shape[0] == 0:
        return out
    c2 = (centers**2).sum(axis=1)
    for a in range(0, x.shape[0], _CHUNK):
        xb = x[a : a + _CHUNK]
        d = (xb**2).sum(axis=1)[:, None] - 2.0 * xb @ centers.T + c2[None, :]
        out[a : a + _CHUNK] = np.maximum(d.min(axis=1), 0.0)
    return out


def k_center_greedy(
    embeddings: np.ndarray, budget: int, labeled: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``budget`` rows of ``embeddings`` by k-center greedy (farthest-first traversal).

    Each pick is the row farthest from its nearest center, the centers being the
    ``labeled`` embeddings and the rows picked so far. Without labeled embeddings the first
    pick is the row farthest from the mean. Ties go to the lower row index.

    Parameters
    ----------
    embeddings : numpy.ndarray of shape (N, D)
        The candidates.
    budget : int
        How many to pick (at most N).
    labeled : numpy.ndarray of shape (M, D), optional
        The embeddings already labeled (the first centers).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Row indices in pick order, and each pick's distance to its nearest center when
        picked.

    Examples
    --------
    Points on a line: the two ends come first, then the middle of the widest gap.

    >>> x = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    >>> k_center_greedy(x, 3)[0].tolist()
    [4, 0, 3]
    >>> k_center_greedy(x, 1, labeled=np.array([[9.0]]))[0].tolist()
    [0]
    """
    x = np.asarray(embeddings, dtype=np.float64)
    n = x.shape[0]
    budget = min(int(budget), n)
    picks: list[int] = []
    dists: list[float] = []
    if budget == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    centers = np.zeros((0, x.shape[1])) if labeled is None else np.asarray(labeled, np.float64)
    if centers.shape[0] == 0:
        first = int(np.argmax(((x - x.mean(axis=0)) ** 2).sum(axis=1)))
        picks.append(first)
        dists.append(float(np.sqrt(((x[first] - x.mean(axis=0)) ** 2).sum())))
        nearest = ((x - x[first]) ** 2).sum(axis=1)
    else:
        nearest = _min_sq_dist(x, centers)
    taken = np.zeros(n, dtype=bool)
    taken[picks] = True
    sq = (x**2).sum(axis=1)  # |x - c|^2 = |x|^2 - 2 x.c + |c|^2: one matrix-vector product
    while len(picks) < budget:
        masked = np.where(taken, -1.0, nearest)
        i = int(np.argmax(masked))
        picks.append(i)
        dists.append(float(np.sqrt(max(masked[i], 0.0))))
        taken[i] = True
        nearest = np.minimum(nearest, np.maximum(sq - 2.0 * (x @ x[i]) + sq[i], 0.0))
    return np.asarray(picks, dtype=np.int64), np.asarray(dists)


def _hybrid(
    emb: np.ndarray, unsure: np.ndarray, budget: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The most uncertain row of each of ``budget`` k-means clusters: (rows, clusters).

    Above :data:`_MINIBATCH_ROWS` rows, scikit-learn's mini-batch k-means. When k-means
    finds fewer distinct clusters than ``budget`` (many identical embeddings), the batch is
    topped up with the most uncertain rows not yet picked.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.exceptions import ConvergenceWarning

    if budget >= emb.shape[0]:
        rows = np.arange(emb.shape[0])
        return rows, rows.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicates: fewer clusters
        if emb.shape[0] > _MINIBATCH_ROWS:  # mini-batch k-means: minutes → seconds at 100k
            km = MiniBatchKMeans(
                n_clusters=budget,
                n_init=3,
                random_state=seed,
                batch_size=max(2048, 4 * budget),
            ).fit(emb)
        else:
            km = KMeans(n_clusters=budget, n_init=3, random_state=seed).fit(emb)
    clusters = km.labels_.astype(np.int64)
    picks: list[int] = []
    for c in range(budget):
        members = np.flatnonzero(clusters == c)
        if members.size:  # the most uncertain member; ties: the lower row
            picks.append(int(members[np.argmax(unsure[members])]))
    if len(picks) < budget:
        rest = np.setdiff1d(np.arange(emb.shape[0]), picks)
        order = rest[np.lexsort((rest, -unsure[rest]))]
        picks += order[: budget - len(picks)].tolist()
    rows = np.asarray(picks, dtype=np.int64)
    return rows, clusters[rows]


def _scaled(x: np.ndarray) -> np.ndarray:
    """``x`` over its largest absolute value (distance ranks unchanged; no overflow when
    squared)."""
    x = np.asarray(x, dtype=np.float64)
    top = float(np.abs(x).max()) if x.size else 0.0
    return x / top if top > 0 else x


@validate_call(
    {
        "strategy": [Options(str, set(STRATEGIES))],
        "budget": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, 2**32 - 1)],
        "measure": [Options(str, set(_MEASURES))],
        "folds": [Interval(Integral, 2, None, closed="left")],
    }
)
def select_unlabeled(
    ds: Dataset,
    predictions: Predictions | None = None,
    *,
    strategy: Strategy = "margin",
    budget: int = 100,
    seed: int = 0,
    measure: Measure = "margin",
    recipe: ModelRecipe | None = None,
    folds: int = 5,
) -> pl.DataFrame:
    """Choose the ``budget`` unlabeled samples of ``ds`` to label next, best first.

    Parameters
    ----------
    ds : Dataset
        A classification dataset; its rows with a null ``label`` are the candidates.
    predictions : Predictions, optional
        The fixed recipe's out-of-sample predictions of (at least) every unlabeled row,
        e.g. ``Predictions.load("predictions.npz")`` written by ``datacentric scan``;
        ``diversity`` and ``hybrid`` also use their embeddings (and those of the labeled
        rows, for ``diversity``). Default: :func:`~datacentric.train.cross_val_predict`
        of ``recipe`` (minutes).
    strategy : {"uncertainty", "margin", "entropy", "diversity", "hybrid", "random"}
        How to rank (see the module docstring).
    budget : int
        How many samples to choose (>= 1). More than there are unlabeled rows takes them
        all, and says so in the log.
    seed : int
        Seeds ``random``, the k-means of ``hybrid`` and the cross-validation.
    measure : {"uncertainty", "margin", "entropy"}
        The uncertainty ``hybrid`` ranks a cluster's members by.
    recipe : ModelRecipe, optional
        The fixed recipe cross-validated when ``predictions`` is None.
    folds : int
        Cross-validation folds when ``predictions`` is None.

    Returns
    -------
    polars.DataFrame
        One row per chosen sample, in order: ``rank`` (1 = label first), ``sample_id``,
        ``strategy``, ``score`` (in [0, 1], higher = sooner), ``cluster`` (``hybrid``: the
        k-means cluster; null otherwise), ``pred_label`` and ``confidence`` (the model's
        guess, sent to annotators as the pre-annotation).

    Raises
    ------
    InvalidDatasetError
        The dataset has no unlabeled row, or is a detection dataset.
    InvalidParameterError
        An unknown strategy, a budget below 1, predictions that miss unlabeled rows, or
        ``diversity``/``hybrid`` with predictions that carry no embeddings.

    Examples
    --------
    >>> from datacentric import Dataset
    >>> from datacentric.train import Predictions
    >>> ds = Dataset.from_arrays(np.zeros((4, 2, 2)), ["a", None, None, None], ["a", "b"])
    >>> probs = np.array([[0.9, 0.1], [0.95, 0.05], [0.55, 0.45], [0.7, 0.3]])
    >>> p = Predictions(ds.sample_ids, probs, np.zeros((4, 1)), classes=ds.classes)
    >>> select_unlabeled(ds, p, strategy="uncertainty", budget=2).select(
    ...     "rank", "sample_id", pl.col("score").round(3)).rows()
    [(1, '2', 0.45), (2, '3', 0.3)]
    >>> select_unlabeled(ds, p, strategy="best", budget=2)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: select_unlabeled: parameter strategy must be ...
    """
    if ds.task != "classification":
        raise InvalidDatasetError(
            f"select_unlabeled ranks unlabeled images of a classification dataset; this one's "
            f"task is {ds.task!r}. Choose images to annotate for boxes by hand for now."
        )
    manifest = ds.manifest
    unlabeled = manifest.filter(pl.col("label").is_null())["sample_id"].to_list()
    if not unlabeled:
        raise InvalidDatasetError(
            f"select_unlabeled: the dataset has no unlabeled row (all {manifest.height} rows "
            "have a label), so there is nothing to choose. Add images without a label "
            "(label null) to choose among them."
        )
    if predictions is None:
        from datacentric.train import cross_val_predict

        log.info("select_unlabeled: cross-validating the fixed recipe for predictions")
        predictions = cross_val_predict(ds, recipe, folds=folds, seed=seed)
    have = set(predictions.sample_ids)
    missing = [s for s in unlabeled if s not in have]
    if missing:
        raise InvalidParameterError(
            f"select_unlabeled: {len(missing)} unlabeled sample(s) have no prediction: "
            f"{format_items(missing)}. Pass predictions of every row (the predictions.npz "
            "`datacentric scan DIR` writes covers them), or predictions=None to compute them."
        )
    if budget > len(unlabeled):
        log.warning(
            "select_unlabeled: budget %d is more than the %d unlabeled sample(s); taking all "
            "of them.",
            budget,
            len(unlabeled),
        )
    k = min(budget, len(unlabeled))
    pool = predictions.take(unlabeled)
    probs = pool.pred_probs
    emb = pool.embeddings
    if strategy in ("diversity", "hybrid") and emb.shape[1] == 0:
        raise InvalidParameterError(
            f"select_unlabeled: strategy={strategy!r} needs embeddings, and these predictions "
            "carry none (dimension 0). Pass the predictions of a scan or cross_val_predict "
            "(they have embeddings), or choose uncertainty, margin, entropy or random."
        )
    clusters: np.ndarray | None = None
    if strategy in _MEASURES:
        scores = _MEASURES[strategy](probs)
        rows = np.lexsort((np.arange(len(unlabeled)), -scores))[:k]
        picked = scores[rows]
    elif strategy == "random":
        draw = np.random.default_rng(seed).random(len(unlabeled))
        rows = np.argsort(-draw, kind="stable")[:k]
        picked = draw[rows]
    elif strategy == "diversity":
        lab_ids = manifest.filter(pl.col("label").is_not_null())["sample_id"].to_list()
        lab_ids = [s for s in lab_ids if s in have]
        centers = predictions.take(lab_ids).embeddings if lab_ids else None
        scale = max(
            float(np.abs(emb).max()) if emb.size else 0.0,
            float(np.abs(centers).max()) if centers is not None and centers.size else 0.0,
        )
        scale = scale if scale > 0 else 1.0
        rows, dist = k_center_greedy(
            np.asarray(emb, np.float64) / scale,
            k,
            None if centers is None else np.asarray(centers, np.float64) / scale,
        )
        top = dist[0] if dist.size and dist[0] > 0 else 1.0
        picked = np.clip(dist / top, 0.0, 1.0)
    else:  # hybrid
        unsure = _MEASURES[measure](probs)
        rows, clusters = _hybrid(_scaled(emb), unsure, k, seed)
        order = np.lexsort((rows, -unsure[rows]))
        rows, clusters = rows[order], clusters[order]
        picked = unsure[rows]
    top_p = probs[rows]
    names = list(pool.classes or ds.classes)
    return pl.DataFrame(
        {
            "rank": np.arange(1, len(rows) + 1),
            "sample_id": [unlabeled[i] for i in rows],
            "strategy": [strategy] * len(rows),
            "score": np.asarray(picked, dtype=np.float64),
            "cluster": [None] * len(rows) if clusters is None else clusters,
            "pred_label": [names[j] for j in top_p.argmax(axis=1)] if len(rows) else [],
            "confidence": top_p.max(axis=1) if len(rows) else np.zeros(0),
        },
        schema=SELECTION_SCHEMA,
    )


def as_review_items(selection: pl.DataFrame) -> pl.DataFrame:
    """A selection as the items a review backend pushes, in its order.

    ``issue_type`` ``"unlabeled"``, ``severity`` = the strategy's score, ``priority`` keeping
    the selection's rank (so a push sends them best first), and a ``detail`` sentence an
    annotator reads (strategy, rank, score, the model's guess).

    Examples
    --------
    >>> sel = pl.DataFrame({"rank": [1], "sample_id": ["7"], "strategy": ["margin"],
    ...                     "score": [0.92], "cluster": [None], "pred_label": ["3"],
    ...                     "confidence": [0.48]}, schema=SELECTION_SCHEMA)
    >>> as_review_items(sel).row(0, named=True)["detail"]
    'Unlabeled; chosen by margin (rank 1, score 0.920); the model guesses 3 at 48%.'
    """
    missing = [c for c in ("rank", "sample_id", "strategy", "score") if c not in selection.columns]
    if missing:
        raise InvalidParameterError(
            f"as_review_items: the selection lacks the column(s) {missing}; received columns "
            f"{selection.columns}. Pass the table select_unlabeled() returns."
        )
    n = selection.height
    has_guess = {"pred_label", "confidence"} <= set(selection.columns)
    details = []
    for r in selection.iter_rows(named=True):
        text = f"Unlabeled; chosen by {r['strategy']} (rank {r['rank']}, score {r['score']:.3f})"
        if has_guess and r["pred_label"] is not None and r["confidence"] is not None:
            text += f"; the model guesses {r['pred_label']} at {r['confidence']:.0%}"
        details.append(text + ".")
    return selection.select(
        pl.col("sample_id").cast(pl.Utf8),
        pl.lit("unlabeled").alias("issue_type"),
        pl.col("score").cast(pl.Float64).clip(0.0, 1.0).alias("severity"),
        pl.Series("detail", details, dtype=pl.Utf8),
        (pl.lit(n + 1) - pl.col("rank")).cast(pl.Float64).alias("priority"),
    )
