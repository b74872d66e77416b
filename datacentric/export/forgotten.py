"""What a compressed model forgot: the samples, slices and classes whose predictions
compression changed most (Hooker et al., "What do compressed deep neural networks forget?",
2019).

:func:`forgotten` compares the per-sample class probabilities of the uncompressed model
(``before``) and of a compressed form (``after``) on the same rows. Per sample it takes the
total-variation distance of the two probability vectors, ``0.5 * sum(|p - q|)`` (0: the same
prediction, 1: disjoint), and whether the predicted class flipped; samples are ranked flips
first, then by that distance. Slices and classes are ranked by the share of their samples
whose prediction flipped, then by the mean distance, next to the accuracy (recall for a
class) before and after and, when the gate's table is passed, the change's 95 % interval and
the gate's status. Rare classes are called out by a dataset-relative rule: a class is rare
when its support is below ``rare_fraction`` (default one half) of the median support of the
classes — support being the training rows per class when given, else the evaluated rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, SequenceOf, invalid_parameter, validate_call
from datacentric.slices.gate import GateResult

__all__ = ["ForgottenReport", "forgotten", "slice_masks"]

_OWNER = "forgotten"
SAMPLE_COLUMNS = (
    "rank", "sample_id", "label", "before", "p_before", "after", "p_after",
    "p_label_before", "p_label_after", "tv", "flipped", "effect",
)  # fmt: skip


@dataclass
class ForgottenReport:
    """What :func:`forgotten` returns: three ranked tables and the rare-class rule.

    Attributes
    ----------
    samples : polars.DataFrame
        Every row, ranked (``rank`` 1 = changed most): ``rank, sample_id, label, before,
        p_before`` (the uncompressed model's class and its probability), ``after, p_after``
        (the compressed model's), ``p_label_before, p_label_after`` (probability of the true
        class), ``tv`` (total-variation distance), ``flipped``, ``effect`` (``now wrong``,
        ``now right``, ``other wrong`` or ``same``) and the metadata columns given.
    slices : polars.DataFrame
        ``overall`` first, then the slices ranked: ``rank, slice, n, n_flipped, flip_rate,
        mean_tv, accuracy_before, accuracy_after, change, ci_low, ci_high, gate``.
    classes : polars.DataFrame
        Classes ranked: ``rank, class, n, support, rare, n_flipped, flip_rate, mean_tv,
        recall_before, recall_after, change, ci_low, ci_high, gate`` (``n``: evaluated rows of
        that true class; ``support``: what the rare rule counted).
    rare_rule : str
        The rule in words, with its numbers.
    """

    samples: pl.DataFrame
    slices: pl.DataFrame
    classes: pl.DataFrame
    rare_rule: str

    @property
    def rare_classes(self) -> list[str]:
        """The classes the rare rule called out, in ranking order."""
        return self.classes.filter(pl.col("rare"))["class"].to_list()

    @property
    def n_flipped(self) -> int:
        """Rows whose predicted class changed."""
        return int(self.samples["flipped"].sum())

    def top(self, k: int = 20) -> pl.DataFrame:
        """The ``k`` samples whose prediction changed most (flips first; rows with ``tv`` 0
        are left out)."""
        return self.samples.filter(pl.col("tv") > 0).head(k)

    def to_dict(self, top_k: int = 20) -> dict[str, Any]:
        """JSON-able: the rule, the rare classes, the top samples and both rankings."""

        def rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
            return [
                {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                for r in frame.iter_rows(named=True)
            ]

        return {
            "rare_rule": self.rare_rule,
            "rare_classes": self.rare_classes,
            "n_flipped": self.n_flipped,
            "mean_tv": float(self.samples["tv"].to_numpy().mean()) if self.samples.height else 0.0,
            "samples": rows(self.top(top_k)),
            "slices": rows(self.slices),
            "classes": rows(self.classes),
        }


def slice_masks(frame: pl.DataFrame, slices: Sequence[Any]) -> dict[str, np.ndarray]:
    """One boolean row mask per expanded slice (``name`` and ``expr``, as
    :func:`datacentric.slices.evaluate` resolves them) over ``frame``; null counts as out."""
    if not slices:
        return {}
    masks = frame.select([s.expr.fill_null(False).alias(f"_{i}") for i, s in enumerate(slices)])
    return {s.name: masks[f"_{i}"].to_numpy() for i, s in enumerate(slices)}


def _gate_cols(gate: GateResult | None, keys: list[str]) -> dict[str, list[Any]]:
    """``change, ci_low, ci_high, gate`` of the gate's rows, in the order of ``keys``."""
    look: dict[str, dict[str, Any]] = {}
    if gate is not None:
        look = {str(r["slice"]): r for r in gate.table.iter_rows(named=True)}
    return {
        col: [look.get(k, {}).get(src) for k in keys]
        for col, src in (("ci_low", "ci_low"), ("ci_high", "ci_high"), ("gate", "status"))
    }


def _ranked(frame: pl.DataFrame, key: str, keep_first: str | None = None) -> pl.DataFrame:
    """Sort by flip rate, then mean distance (both descending, empty groups last), then
    name; number the rows from 1 (``keep_first`` stays on top, unranked)."""
    body = frame.filter(pl.col(key) != keep_first) if keep_first else frame
    body = body.sort(
        ["flip_rate", "mean_tv", key], descending=[True, True, False], nulls_last=True
    ).with_row_index("rank", offset=1)
    body = body.with_columns(pl.col("rank").cast(pl.Int64))
    if keep_first is None:
        return body
    head = frame.filter(pl.col(key) == keep_first).with_columns(
        pl.lit(None, pl.Int64).alias("rank")
    )
    return pl.concat([head.select(body.columns), body])


def _group(
    mask: np.ndarray, flipped: np.ndarray, tv: np.ndarray, ok_b: np.ndarray, ok_a: np.ndarray
) -> dict[str, Any]:
    n = int(mask.sum())
    if n == 0:
        return {"n": 0, "n_flipped": 0, "flip_rate": None, "mean_tv": None,
                "before": None, "after": None, "change": None}  # fmt: skip
    b, a = float(ok_b[mask].mean()), float(ok_a[mask].mean())
    return {
        "n": n,
        "n_flipped": int(flipped[mask].sum()),
        "flip_rate": float(flipped[mask].mean()),
        "mean_tv": float(tv[mask].mean()),
        "before": b,
        "after": a,
        "change": a - b,
    }


def _probs(name: str, value: Any, n: int | None, k: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0,))
    ok = (
        arr.ndim == 2
        and arr.shape[1] == k
        and (n is None or arr.shape[0] == n)
        and bool(np.isfinite(arr).all())
        and bool(((arr >= -1e-6) & (arr <= 1 + 1e-6)).all())
        and bool(np.allclose(arr.sum(axis=1), 1.0, atol=1e-3))
    )
    if not ok:
        rows = "N" if n is None else str(n)
        raise invalid_parameter(
            _OWNER,
            name,
            value,
            f"an ({rows}, {k}) array of class probabilities (finite, in [0, 1], rows summing to 1)",
            fix=f"Pass softmax outputs in the order of labels and classes (received shape "
            f"{arr.shape}).",
        )
    return arr


@validate_call(
    {
        "labels": [SequenceOf(str)],
        "classes": [SequenceOf(str)],
        "sample_ids": [SequenceOf(str), None],
        "slices": [dict, None],
        "metadata": [pl.DataFrame, None],
        "class_support": [dict, None],
        "rare_fraction": [Interval(Real, 0, 1, closed="right")],
        "slice_gate": [GateResult, None],
        "class_gate": [GateResult, None],
    }
)
def forgotten(
    labels: Sequence[str],
    before: np.ndarray,
    after: np.ndarray,
    classes: Sequence[str],
    *,
    sample_ids: Sequence[str] | None = None,
    slices: Mapping[str, np.ndarray] | None = None,
    metadata: pl.DataFrame | None = None,
    class_support: Mapping[str, int] | None = None,
    rare_fraction: float = 0.5,
    slice_gate: GateResult | None = None,
    class_gate: GateResult | None = None,
) -> ForgottenReport:
    """Rank the samples, slices and classes by how much compression changed their
    predictions.

    Parameters
    ----------
    labels : sequence of str
        The true class of each row (``N`` rows).
    before, after : array (N, K)
        Class probabilities of the uncompressed and the compressed model, rows in the order
        of ``labels``, columns in the order of ``classes``.
    classes : sequence of str
        The ``K`` class names.
    sample_ids : sequence of str, optional
        Row ids (default ``"0"``, ``"1"``, ...).
    slices : dict of str to bool array (N,), optional
        Slice name → row mask (:func:`slice_masks` builds it from expanded slices). An
        ``overall`` row is always added.
    metadata : polars.DataFrame, optional
        ``N`` rows of columns to carry into ``samples`` (e.g. the slice features).
    class_support : dict of str to int, optional
        Rows per class for the rare rule, e.g. the training rows; default: the rows of
        ``labels``.
    rare_fraction : float in (0, 1]
        A class is rare when its support is below ``rare_fraction`` × the median support.
    slice_gate, class_gate : GateResult, optional
        The export gate's results (slice accuracy; per-class recall): their intervals and
        statuses are joined to the slice and class rankings.

    Returns
    -------
    ForgottenReport

    Raises
    ------
    InvalidParameterError
        Probabilities of the wrong shape or not probabilities, a label outside ``classes``,
        masks or metadata of another length, a negative support.

    Examples
    --------
    >>> before = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.0, 1.0]])
    >>> after = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.25, 0.75]])
    >>> rep = forgotten(["a", "a", "b", "b"], before, after, ["a", "b"],
    ...                 slices={"site=x": np.array([True, True, False, False])})
    >>> rep.samples[["sample_id", "before", "after", "tv", "effect"]].head(2).rows()
    [('1', 'a', 'b', 0.4, 'now wrong'), ('3', 'b', 'b', 0.25, 'same')]
    >>> rep.slices[["slice", "n_flipped", "flip_rate"]].rows()
    [('overall', 1, 0.25), ('site=x', 1, 0.5)]
    >>> rep.classes[["class", "flip_rate", "recall_before", "recall_after"]].rows()
    [('a', 0.5, 1.0, 0.5), ('b', 0.0, 1.0, 1.0)]
    """
    classes = [str(c) for c in classes]
    k, n = len(classes), len(labels)
    if k == 0 or len(set(classes)) != k:
        raise invalid_parameter(
            _OWNER, "classes", classes, "a non-empty list of distinct class names",
            fix="Pass the model's ordered classes.",
        )  # fmt: skip
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(lab) for lab in labels} - set(index))
    if unknown:
        raise invalid_parameter(
            _OWNER, "labels", unknown[:5], f"class names among {classes!r}",
            fix="Pass the true class names of the rows (unlabeled rows left out).",
        )  # fmt: skip
    p_b = _probs("before", before, n, k)
    p_a = _probs("after", after, n, k)
    ids = [str(i) for i in range(n)] if sample_ids is None else [str(s) for s in sample_ids]
    for name, size in (
        ("sample_ids", len(ids)),
        ("metadata", metadata.height if metadata is not None else n),
    ):
        if size != n:
            raise invalid_parameter(
                _OWNER, name, f"{size} rows", f"one entry per label ({n})",
                fix="Pass the rows in the order of labels.",
            )  # fmt: skip
    masks: dict[str, np.ndarray] = {}
    for s, m in (slices or {}).items():
        arr = np.asarray(m)
        if arr.shape != (n,) or arr.dtype != bool:
            raise invalid_parameter(
                _OWNER, "slices", f"{s!r}: {arr.dtype} array of shape {arr.shape}",
                f"a dict of slice name to a boolean row mask of shape ({n},)",
                fix="Build the masks with slice_masks(frame, slices).",
            )  # fmt: skip
        masks[str(s)] = arr
    y = np.array([index[str(lab)] for lab in labels], dtype=np.int64)
    pred_b, pred_a = p_b.argmax(axis=1), p_a.argmax(axis=1)
    rows = np.arange(n)
    tv = 0.5 * np.abs(p_a - p_b).sum(axis=1)
    flipped = pred_b != pred_a
    ok_b, ok_a = pred_b == y, pred_a == y
    effect = np.where(
        ~flipped, "same", np.where(ok_b, "now wrong", np.where(ok_a, "now right", "other wrong"))
    )
    samples = pl.DataFrame(
        {
            "sample_id": pl.Series(ids, dtype=pl.Utf8),
            "label": [classes[i] for i in y],
            "before": [classes[i] for i in pred_b],
            "p_before": p_b[rows, pred_b],
            "after": [classes[i] for i in pred_a],
            "p_after": p_a[rows, pred_a],
            "p_label_before": p_b[rows, y],
            "p_label_after": p_a[rows, y],
            "tv": tv,
            "flipped": flipped,
            "effect": effect.tolist(),
        }
    )
    if metadata is not None:
        extra = metadata.drop([c for c in metadata.columns if c in samples.columns])
        samples = pl.concat([samples, extra], how="horizontal")
    samples = (
        samples.sort(["flipped", "tv", "sample_id"], descending=[True, True, False])
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int64))
    )
    return ForgottenReport(
        samples=samples,
        slices=_slices(masks, flipped, tv, ok_b, ok_a, slice_gate, n),
        classes=_classes(
            classes, y, flipped, tv, ok_b, ok_a, class_support, rare_fraction, class_gate
        ),
        rare_rule=_rule(classes, y, class_support, rare_fraction),
    )


def _slices(
    masks: dict[str, np.ndarray],
    flipped: np.ndarray,
    tv: np.ndarray,
    ok_b: np.ndarray,
    ok_a: np.ndarray,
    gate: GateResult | None,
    n: int,
) -> pl.DataFrame:
    names = ["overall", *[s for s in masks if s != "overall"]]
    groups = [_group(masks.get(s, np.ones(n, dtype=bool)), flipped, tv, ok_b, ok_a) for s in names]
    frame = pl.DataFrame(
        {
            "slice": names,
            "n": [g["n"] for g in groups],
            **_group_columns(groups, "accuracy"),
            **_gate_series(gate, names),
        }
    )
    return _ranked(frame, "slice", keep_first="overall")


def _group_columns(groups: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The columns of :func:`_group`'s figures (after ``n``): flips, mean distance, and the
    ``metric`` (accuracy of a slice, recall of a class) before, after and its change."""
    return {
        "n_flipped": [g["n_flipped"] for g in groups],
        **{
            name: pl.Series([g[key] for g in groups], dtype=pl.Float64)
            for name, key in (
                ("flip_rate", "flip_rate"),
                ("mean_tv", "mean_tv"),
                (f"{metric}_before", "before"),
                (f"{metric}_after", "after"),
                ("change", "change"),
            )
        },
    }


def _gate_series(gate: GateResult | None, keys: list[str]) -> dict[str, pl.Series]:
    cols = _gate_cols(gate, keys)
    return {
        "ci_low": pl.Series(cols["ci_low"], dtype=pl.Float64),
        "ci_high": pl.Series(cols["ci_high"], dtype=pl.Float64),
        "gate": pl.Series(cols["gate"], dtype=pl.Utf8),
    }


def _support(
    classes: list[str], y: np.ndarray, class_support: Mapping[str, int] | None
) -> np.ndarray:
    if class_support is None:
        return np.bincount(y, minlength=len(classes))
    bad = {c: v for c, v in class_support.items() if not isinstance(v, Integral) or v < 0}
    if bad:
        raise invalid_parameter(
            _OWNER, "class_support", bad, "a dict of class name to a row count >= 0",
            fix="Pass the training rows per class (classes left out count 0).",
        )  # fmt: skip
    return np.array([int(class_support.get(c, 0)) for c in classes], dtype=np.int64)


def _classes(
    classes: list[str],
    y: np.ndarray,
    flipped: np.ndarray,
    tv: np.ndarray,
    ok_b: np.ndarray,
    ok_a: np.ndarray,
    class_support: Mapping[str, int] | None,
    rare_fraction: float,
    gate: GateResult | None,
) -> pl.DataFrame:
    support = _support(classes, y, class_support)
    threshold = rare_fraction * float(np.median(support))
    groups = [_group(y == i, flipped, tv, ok_b, ok_a) for i in range(len(classes))]
    frame = pl.DataFrame(
        {
            "class": classes,
            "n": [g["n"] for g in groups],
            "support": support.astype(np.int64),
            "rare": support < threshold,
            **_group_columns(groups, "recall"),
            **_gate_series(gate, classes),
        }
    )
    return _ranked(frame, "class")


def _rule(
    classes: list[str], y: np.ndarray, class_support: Mapping[str, int] | None, fraction: float
) -> str:
    support = _support(classes, y, class_support)
    median = float(np.median(support))
    what = "training rows" if class_support is not None else "evaluated rows"
    return (
        f"rare: fewer {what} than {fraction:g} × the median class's "
        f"({median:g}), i.e. below {fraction * median:g}"
    )
