"""Slice discovery: where does the model fail? SliceLine on metadata plus embedding clusters.

:func:`discover` runs :func:`~datacentric.slices.sliceline.sliceline` over the
low-cardinality columns of a frame (and, given embeddings,
:func:`~datacentric.slices.clusters.error_clusters`) and returns a
:class:`DiscoveryResult` whose slices can be saved as YAML slice definitions and tracked
from then on. :func:`discover_dataset` does the same from a
:class:`~datacentric.Dataset` and the model's predictions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, SequenceOf, validate_call
from datacentric.dataset._schema import LABEL, RESERVED_COLUMNS, SAMPLE_ID, SPLIT
from datacentric.exceptions import InvalidParameterError, SchemaError, format_items
from datacentric.slices.clusters import default_n_clusters, error_clusters
from datacentric.slices.sliceline import SLICELINE_CONSTRAINTS, default_min_support, sliceline

__all__ = ["DiscoveryResult", "discover", "discover_dataset"]

MAX_CARDINALITY = 50
#: Columns that describe the prediction rather than the sample; never used as features.
PREDICTION_COLUMNS = ("pred", "pred_label", "prediction", "confidence", "error", "correct")


@dataclass
class DiscoveryResult:
    """Slices where a model errs more than overall, found by :func:`discover`.

    Attributes
    ----------
    slices : polars.DataFrame
        SliceLine's top slices (see :func:`~datacentric.slices.sliceline.sliceline`).
    clusters : polars.DataFrame or None
        Embedding clusters (see :func:`~datacentric.slices.clusters.error_clusters`),
        None without embeddings.
    overall_error : float
        Mean error over all rows.
    params : dict
        The parameters used, with the resolved ``min_support`` and ``columns``.
    """

    slices: pl.DataFrame
    clusters: pl.DataFrame | None
    overall_error: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_polars(self) -> pl.DataFrame:
        """Slices and clusters in one frame: ``source, rank, name, n, error_rate,
        error_ratio, score, p_value, where`` (``source`` is ``"sliceline"`` or ``"cluster"``)."""
        parts = [
            self.slices.select(
                pl.lit("sliceline").alias("source"),
                "rank",
                pl.col("definition").alias("name"),
                "n",
                "error_rate",
                pl.col("mean_error_ratio").alias("error_ratio"),
                "score",
                pl.lit(None, pl.Float64).alias("p_value"),
                "where",
            )
        ]
        if self.clusters is not None:
            parts.append(
                self.clusters.select(
                    pl.lit("cluster").alias("source"),
                    pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"),
                    "name",
                    "n",
                    "error_rate",
                    "error_ratio",
                    pl.lit(None, pl.Float64).alias("score"),
                    "p_value",
                    "where",
                )
            )
        return pl.concat(parts, how="vertical_relaxed")

    def definitions(self, top: int | None = None) -> list[dict[str, Any]]:
        """YAML-able slice definitions ``{"name", "where"}``: the slices, then the clusters.

        Only clusters that err more than overall and have a ``where`` are included. ``top``
        keeps the first ``top`` slices and the first ``top`` clusters. Names are unique.
        """
        items = [(d, w) for d, w in self.slices.select("definition", "where").rows()][:top]
        if self.clusters is not None:
            cl = self.clusters.filter(pl.col("where").is_not_null() & (pl.col("error_ratio") > 1))
            items += list(cl.select("name", "where").rows())[:top]
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for name, where in items:
            unique, i = name, 2
            while unique in seen:
                unique, i = f"{name} ({i})", i + 1
            seen.add(unique)
            out.append({"name": unique, "where": json.loads(where)})
        return out

    def save_yaml(self, path: str | Path, top: int | None = None) -> Path:
        """Write :meth:`definitions` as a YAML slice file (read back by ``slices.spec``)."""
        from datacentric.slices.spec import save_slices

        save_slices(self.definitions(top), path)
        return Path(path)

    def summary(self, top: int = 5) -> str:
        """A few lines for a person: overall error, the top slices and clusters."""
        p = self.params
        lines = [
            f"Slice discovery on {p.get('n_rows', '?'):,} rows, overall error "
            f"{self.overall_error:.1%}; features: {', '.join(p.get('columns', []))}."
        ]
        if self.slices.height == 0:
            lines.append("SliceLine: no slice scores above 0 (no subgroup errs clearly more).")
        else:
            lines.append(f"SliceLine (alpha={p.get('alpha')}, min_support={p.get('min_support')}):")
        for r in self.slices.head(top).iter_rows(named=True):
            lines.append(
                f"  {r['rank']}. {r['definition']}: n={r['n']:,}, error "
                f"{r['error_rate']:.1%} ({r['mean_error_ratio']:.1f}x), "
                f"score {r['score']:.3f}"
            )
        if self.clusters is not None:
            lines.append(f"Embedding clusters ({p.get('n_clusters')}):")
            for r in self.clusters.head(top).iter_rows(named=True):
                lines.append(
                    f"  {r['name']}: n={r['n']:,}, error {r['error_rate']:.1%} "
                    f"({r['error_ratio']:.1f}x), p={r['p_value']:.2g}"
                )
        return "\n".join(lines)


def _feature_columns(frame: pl.DataFrame, exclude: set[str]) -> tuple[list[str], list[str]]:
    """Default features: low-cardinality string/categorical/bool/int columns and floats."""
    used, skipped = [], []
    for name, dtype in frame.schema.items():
        if name in exclude:
            continue
        if dtype.is_float():
            used.append(name)
        elif (
            dtype.is_integer()
            or dtype in (pl.Utf8, pl.Boolean, pl.Categorical)
            or isinstance(dtype, pl.Enum)
        ):
            if frame[name].n_unique() <= MAX_CARDINALITY:
                used.append(name)
            elif dtype.is_integer():
                used.append(name)  # binned as a number
            else:
                skipped.append(name)
        else:
            skipped.append(name)
    return used, skipped


def _errors_from(frame: pl.DataFrame, correct: str | np.ndarray) -> np.ndarray:
    if isinstance(correct, str):
        if correct not in frame.columns:
            raise SchemaError(
                f"discover: column {correct!r} not in the frame (columns: "
                f"{format_items(frame.columns)}). Pass correct=<column of 1/True = correct> "
                "or an array."
            )
        s = frame[correct]
        if s.null_count():
            rows = s.is_null().arg_true().to_list()
            raise SchemaError(
                f"discover: {correct!r} is null in rows {format_items(rows)}; "
                "drop or fill them first."
            )
        values = s.cast(pl.Float64).to_numpy()
    else:
        values = np.asarray(correct, dtype=np.float64).ravel()
        if values.shape[0] != frame.height:
            raise InvalidParameterError(
                f"discover: correct has {values.shape[0]} values for {frame.height} rows; pass "
                "one per row."
            )
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise InvalidParameterError(
            "discover: correct must be booleans or numbers in [0, 1] (1 = correct)."
        )
    return 1.0 - values


@validate_call(
    {
        "frame": [pl.DataFrame],
        "correct": [str, "array-like"],
        "columns": [SequenceOf(str), None],
        "embeddings": ["array-like", None],
        **SLICELINE_CONSTRAINTS,
        "n_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def discover(
    frame: pl.DataFrame,
    correct: str | np.ndarray = "correct",
    *,
    columns: Sequence[str] | None = None,
    embeddings: np.ndarray | None = None,
    k: int = 10,
    max_level: int = 3,
    alpha: float = 0.95,
    min_support: int | None = None,
    n_bins: int = 5,
    n_clusters: int | None = None,
    seed: int = 0,
) -> DiscoveryResult:
    """Find the slices of ``frame`` where the model errs most.

    Parameters
    ----------
    frame : polars.DataFrame
        One row per evaluated sample, with the slice features.
    correct : str or numpy.ndarray
        The column (or array) saying whether each prediction is correct (bool or [0, 1]).
    columns : sequence of str, optional
        Features to slice by. Default: every column except the reserved manifest columns
        (``sample_id, image, label, split, annotator``), prediction columns (``pred``,
        ``confidence``, ...) and ``correct``: strings, categoricals, booleans and integers
        with at most 50 distinct values, and numbers (binned).
    embeddings : numpy.ndarray of shape (N, D), optional
        Also cluster these with :func:`~datacentric.slices.clusters.error_clusters`.
    k, max_level, alpha, min_support, n_bins
        Passed to :func:`~datacentric.slices.sliceline.sliceline`.
    n_clusters, seed
        Passed to :func:`~datacentric.slices.clusters.error_clusters`.

    Examples
    --------
    >>> f = pl.DataFrame({"site": ["a", "b"] * 100, "cam": ["x"] * 100 + ["y"] * 100})
    >>> f = f.with_columns(correct=~((pl.col("site") == "a") & (pl.col("cam") == "y")))
    >>> res = discover(f)
    >>> res.definitions(top=1)
    [{'name': 'site=a & cam=y', 'where': {'all': [{'site': 'a'}, {'cam': 'y'}]}}]
    >>> print(res.summary())
    Slice discovery on 200 rows, overall error 25.0%; features: site, cam.
    SliceLine (alpha=0.95, min_support=32):
      1. site=a & cam=y: n=50, error 100.0% (4.0x), score 2.700
    ...
    """
    errors = _errors_from(frame, correct)
    exclude = {*RESERVED_COLUMNS, *PREDICTION_COLUMNS}
    if isinstance(correct, str):
        exclude.add(correct)
    if columns is None:
        used, skipped = _feature_columns(frame, exclude)
    else:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"discover: columns {format_items(missing)} are not in the frame "
                f"(columns: {format_items(frame.columns)})."
            )
        used, skipped = list(columns), []
    if not used:
        raise SchemaError(
            "discover: no usable slice features (string/categorical/bool/int columns with at "
            f"most {MAX_CARDINALITY} values, or numbers); skipped {format_items(skipped)}. "
            "Add metadata columns or pass columns=[...]."
        )
    feats = frame.select(used).with_columns(  # high-cardinality integers are binned as numbers
        [
            pl.col(c).cast(pl.Float64)
            for c in used
            if frame.schema[c].is_integer() and frame[c].n_unique() > MAX_CARDINALITY
        ]
    )
    min_sup = default_min_support(frame.height) if min_support is None else min_support
    slices = sliceline(
        feats, errors, k=k, max_level=max_level, alpha=alpha, min_support=min_sup, n_bins=n_bins
    )
    clusters = None
    if embeddings is not None:
        clusters = error_clusters(
            embeddings, errors, frame.select(used), n_clusters=n_clusters, seed=seed, n_bins=n_bins
        )
    params = {
        "k": k,
        "max_level": max_level,
        "alpha": alpha,
        "min_support": min_sup,
        "n_bins": n_bins,
        "columns": used,
        "skipped_columns": skipped,
        "n_rows": frame.height,
        "seed": seed,
        "n_clusters": (n_clusters or default_n_clusters(frame.height))
        if embeddings is not None
        else None,
    }
    return DiscoveryResult(slices, clusters, float(errors.mean()), params)


@validate_call({"split": [str, None], "include_label": ["boolean"], "use_embeddings": ["boolean"]})
def discover_dataset(
    ds: Any,
    predictions: Any,
    *,
    split: str | None = None,
    include_label: bool = True,
    use_embeddings: bool = True,
    **kwargs: Any,
) -> DiscoveryResult:
    """:func:`discover` on the labelled samples of a :class:`~datacentric.Dataset`.

    Parameters
    ----------
    ds : datacentric.Dataset
        The dataset; its metadata columns are the features.
    predictions : polars.DataFrame, Predictions, array or path
        A frame with ``sample_id, pred`` (class names or indices into ``ds.classes``), or
        an object with ``sample_ids`` and ``pred_probs`` (argmax over ``ds.classes``) and
        optionally ``embeddings`` (used for clusters when ``use_embeddings``), or a file of
        one; read and checked by :func:`datacentric.train.coerce.coerce_predictions`.
    split : str, optional
        Only the samples of this split (e.g. ``"test"``); default all labelled samples.
    include_label : bool
        Also slice by the true ``label``.
    **kwargs
        Passed to :func:`discover`.

    Examples
    --------
    >>> from datacentric import Dataset
    >>> ds = Dataset.from_arrays(np.zeros((100, 2, 2)), [0, 1] * 50, ["a", "b"],
    ...                          metadata={"site": ["s1"] * 50 + ["s2"] * 50})
    >>> preds = pl.DataFrame({"sample_id": ds.sample_ids, "pred": ["a"] * 100})
    >>> discover_dataset(ds, preds, min_support=10).slices["definition"].to_list()[0]
    'label=b'
    """
    m = ds.manifest.with_row_index("_row").filter(pl.col(LABEL).is_not_null())
    if split is not None:
        m = m.filter(pl.col(SPLIT) == split)
    if m.height == 0:
        raise InvalidParameterError(
            f"discover_dataset: no labelled samples{f' in split {split!r}' if split else ''}; "
            "pass split=None or label samples first."
        )
    from datacentric.train.coerce import coerce_predictions

    got = coerce_predictions(predictions, ds, allow_missing=True, what="discover_dataset")
    emb = None
    if isinstance(got, pl.DataFrame):
        preds = got.select(SAMPLE_ID, "pred")
    else:
        probs = got.pred_probs
        preds = pl.DataFrame(
            {
                SAMPLE_ID: pl.Series(got.sample_ids, dtype=pl.Utf8),
                "pred": pl.Series([ds.classes[i] for i in probs.argmax(axis=1)], dtype=pl.Utf8),
            }
        )
        if use_embeddings and got.embeddings.shape[1] > 0:
            emb = got.embeddings
    preds = preds.with_columns(_prow=pl.int_range(pl.len()))
    joined = m.join(preds, on=SAMPLE_ID, how="left", maintain_order="left")
    missing = joined.filter(pl.col("_prow").is_null())[SAMPLE_ID].to_list()
    if missing:
        raise SchemaError(
            f"discover_dataset: no prediction for {len(missing)} sample(s): "
            f"{format_items(missing)}. Predict every evaluated sample."
        )
    name = "correct" if "correct" not in joined.columns else "_datacentric_correct"
    frame = joined.with_columns((pl.col(LABEL) == pl.col("pred")).alias(name))
    columns = kwargs.pop("columns", None)
    if columns is None:
        exclude = {*RESERVED_COLUMNS, *PREDICTION_COLUMNS, "_row", "_prow", name}
        columns, _ = _feature_columns(frame, exclude - ({LABEL} if include_label else set()))
    if emb is not None:
        emb = np.asarray(emb)
        if emb.ndim != 2 or not np.any(emb.std(axis=0) > 0):
            emb = None  # absent or constant embeddings carry no structure
        else:
            emb = emb[frame["_prow"].to_numpy()]
    kwargs.setdefault("embeddings", emb)
    return discover(frame.drop("_row", "_prow"), name, columns=columns, **kwargs)
