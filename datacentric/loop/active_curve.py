"""Learning curves of the selection strategies: how many labels each needs, the model fixed.

:func:`simulate_active_learning` replays labeling on data whose labels are known: it starts
from a small random labeled seed set of a pool, and in each round trains the fixed recipe on
the labels so far, scores it on a fixed test set, and lets a strategy of
:func:`~datacentric.loop.select.select_unlabeled` choose the next batch from the pool (the
"annotator" reveals the pool's known label). Every strategy starts a seed from the same
seed set and trains with the same training seed, so the curves are paired.

:class:`ActiveLearningCurves` holds the accuracy of every (strategy, seed, round), with the
test rows each model got right, and answers the question that decides a labeling budget:
how many labels does a strategy need to reach the accuracy that random selection reaches
with all its labels (:meth:`ActiveLearningCurves.labels_to_match`), with a bootstrap
interval over seeds and test images.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from datacentric._io import atomic_write_text
from datacentric._validation import Interval, SequenceOf, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError, SchemaError
from datacentric.loop.select import STRATEGIES, select_unlabeled

if TYPE_CHECKING:
    from datacentric.train import ModelRecipe

__all__ = ["ActiveLearningCurves", "simulate_active_learning"]

log = logging.getLogger(__name__)


def _t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (the mean itself when n < 2)."""
    from scipy import stats

    m = float(values.mean())
    if values.size < 2:
        return m, m
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1)) * float(
        values.std(ddof=1) / math.sqrt(values.size)
    )
    return m - half, m + half


def _crossing(n: np.ndarray, acc: np.ndarray, target: float) -> float | None:
    """The first number of labels at which the curve reaches ``target`` (linear between
    points); ``None`` when it never does."""
    hit = np.flatnonzero(acc >= target - 1e-12)
    if hit.size == 0:
        return None
    j = int(hit[0])
    if j == 0:
        return float(n[0])
    a0, a1 = float(acc[j - 1]), float(acc[j])
    frac = (target - a0) / (a1 - a0) if a1 > a0 else 1.0
    return float(n[j - 1] + frac * (n[j] - n[j - 1]))


@dataclass(frozen=True)
class ActiveLearningCurves:
    """Accuracy against labels for each selection strategy, over seeds.

    Attributes
    ----------
    points : polars.DataFrame
        One row per (strategy, seed, round): ``strategy, seed, round, n_labels, accuracy,
        seconds`` (training and selection time of the round).
    correct : numpy.ndarray of bool, shape (strategies, seeds, rounds + 1, n_test)
        Which test rows each model got right (for paired bootstrap intervals); axes in the
        order of ``meta["strategies"]`` and ``meta["seeds"]``.
    meta : dict
        The settings (recipe, initial, batch, rounds, pool and test sizes).

    Examples
    --------
    >>> pts = pl.DataFrame({"strategy": ["random"] * 2 + ["margin"] * 2, "seed": [0] * 4,
    ...                     "round": [0, 1] * 2, "n_labels": [10, 20] * 2,
    ...                     "accuracy": [0.5, 0.7, 0.5, 0.9], "seconds": [1.0] * 4})
    >>> correct = np.array([[[[1, 0, 0, 1], [1, 1, 0, 1]]], [[[1, 0, 0, 1], [1, 1, 1, 1]]]], bool)
    >>> curves = ActiveLearningCurves(pts, correct, {"strategies": ["random", "margin"],
    ...                               "seeds": [0]})
    >>> curves.labels_to_match().select("strategy", "labels", "share").rows()
    [('margin', 15.0, 0.75), ('random', 20.0, 1.0)]
    """

    points: pl.DataFrame
    correct: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def strategies(self) -> list[str]:
        """The strategies, in the order of :attr:`correct`'s first axis."""
        return list(self.meta["strategies"])

    def summary(self, level: float = 0.95) -> pl.DataFrame:
        """Mean accuracy per (strategy, n_labels) over seeds, with a t interval (clipped
        to [0, 1]).

        Columns ``strategy, round, n_labels, accuracy, ci_low, ci_high, n_seeds``.
        """
        rows = []
        for (strategy, rnd), g in self.points.group_by(["strategy", "round"], maintain_order=True):
            acc = g["accuracy"].to_numpy()
            low, high = _t_interval(acc, level)
            low, high = max(low, 0.0), min(high, 1.0)  # an accuracy stays in [0, 1]
            rows.append(
                {
                    "strategy": strategy,
                    "round": rnd,
                    "n_labels": int(g["n_labels"].mean()),  # type: ignore[arg-type]
                    "accuracy": float(acc.mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "n_seeds": int(acc.size),
                }
            )
        return pl.DataFrame(rows).sort(["strategy", "round"])

    def labels_to_match(
        self, reference: str = "random", *, n_boot: int = 1000, seed: int = 0
    ) -> pl.DataFrame:
        """Labels each strategy needs to reach the accuracy ``reference`` reaches with all
        its labels (its last round), on the curves averaged over seeds.

        ``labels`` is where a strategy's mean curve first reaches that accuracy (linear
        between rounds; null when it never does), ``share`` that over the reference's final
        number of labels. ``share_low``/``share_high``: a 95 % percentile interval from a
        paired two-level bootstrap (seeds with replacement, then test rows with
        replacement, the same draws for every strategy); a draw in which the strategy never
        reaches the target counts as a share above 1 (``max_share``) so that it widens the
        interval instead of being dropped. ``per_seed``: each seed's own share.
        """
        names = self.strategies
        if reference not in names:
            raise InvalidParameterError(
                f"labels_to_match: reference {reference!r} is not among the strategies "
                f"{names}; pass one of them."
            )
        ref = names.index(reference)
        n = np.asarray(
            self.points.filter(pl.col("strategy") == reference)
            .group_by("round")
            .agg(pl.col("n_labels").first())
            .sort("round")["n_labels"],
            dtype=np.float64,
        )
        acc = self.correct.mean(axis=-1)  # strategies x seeds x rounds
        max_share = 1.5
        rng = np.random.default_rng(seed)
        n_seeds, n_test = self.correct.shape[1], self.correct.shape[-1]
        draws = np.empty((n_boot, len(names)))
        for b in range(n_boot):
            s = rng.integers(0, n_seeds, n_seeds)
            i = rng.integers(0, n_test, n_test)
            curves = self.correct[:, s][..., i].mean(axis=-1).mean(axis=1)
            target = curves[ref, -1]
            for k in range(len(names)):
                hit = _crossing(n, curves[k], target)
                draws[b, k] = max_share if hit is None else hit / n[-1]
        mean_curves = acc.mean(axis=1)
        target = float(mean_curves[ref, -1])
        rows = []
        for k, name in enumerate(names):
            hit = _crossing(n, mean_curves[k], target)
            per_seed = []
            for j in range(n_seeds):
                h = _crossing(n, acc[k, j], float(acc[ref, j, -1]))
                per_seed.append(None if h is None else round(h / n[-1], 4))
            rows.append(
                {
                    "strategy": name,
                    "target_accuracy": target,
                    "labels": hit,
                    "share": None if hit is None else hit / n[-1],
                    "share_low": float(np.percentile(draws[:, k], 2.5)),
                    "share_high": float(np.percentile(draws[:, k], 97.5)),
                    "per_seed": per_seed,
                    "final_accuracy": float(mean_curves[k, -1]),
                }
            )
        return pl.DataFrame(
            rows, schema_overrides={"labels": pl.Float64, "share": pl.Float64}
        ).sort(["share", "strategy"], nulls_last=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``meta``, the ``summary`` rows, the ``labels_to_match`` rows, the raw
        ``points`` and ``correct`` (bit-packed, hex), everything :meth:`load` needs."""
        bits = np.packbits(self.correct.astype(bool).ravel())
        return {
            "meta": self.meta,
            "summary": self.summary().to_dicts(),
            "labels_to_match": self.labels_to_match().to_dicts(),
            "points": self.points.to_dicts(),
            "correct": {"shape": list(self.correct.shape), "packed_hex": bits.tobytes().hex()},
        }

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON; read it back with :meth:`load`."""
        return atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ActiveLearningCurves:
        """Read curves written by :meth:`save` (or the ``results/active.json`` of
        ``bench_active``).

        Raises
        ------
        SchemaError
            The file is not such a JSON document; the message names it.
        """
        try:
            doc = json.loads(Path(path).read_text())
            shape = tuple(int(v) for v in doc["correct"]["shape"])
            bits = np.frombuffer(bytes.fromhex(doc["correct"]["packed_hex"]), dtype=np.uint8)
            correct = np.unpackbits(bits)[: int(np.prod(shape))].reshape(shape).astype(bool)
            points = pl.DataFrame(doc["points"])
            meta = dict(doc.get("meta") or doc["settings"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SchemaError(
                f"{str(path)!r} is not learning curves written by ActiveLearningCurves.save "
                f"({type(exc).__name__}: {exc}). Write it again with simulate_active_learning()."
            ) from None
        return cls(points, correct, meta)


@validate_call(
    {
        "strategies": [SequenceOf(str)],
        "initial": [Interval(Integral, 1, None, closed="left")],
        "batch": [Interval(Integral, 1, None, closed="left")],
        "rounds": [Interval(Integral, 1, None, closed="left")],
        "seeds": [SequenceOf(int)],
        "on_round": ["callable", None],
    }
)
def simulate_active_learning(
    pool: Dataset,
    test: Dataset,
    recipe: ModelRecipe,
    *,
    strategies: Sequence[str] = STRATEGIES,
    initial: int = 50,
    batch: int = 50,
    rounds: int = 10,
    seeds: Sequence[int] = (0, 1, 2),
    on_round: Callable[[str, int, int, float], None] | None = None,
) -> ActiveLearningCurves:
    """Replay labeling rounds on ``pool`` (labels known) with each strategy; score on ``test``.

    Parameters
    ----------
    pool : Dataset
        The rows that can be labeled, every one with its true label (the simulated
        annotator's answer); hidden until a strategy chooses the row.
    test : Dataset
        Fixed, labeled rows every model is scored on (accuracy).
    recipe : ModelRecipe
        The fixed recipe; a fresh clone is trained each round, with training seed = seed.
    strategies : sequence of str
        Among :data:`~datacentric.loop.select.STRATEGIES`; include ``"random"`` to compare.
    initial : int
        Size of the random labeled seed set (the same for every strategy of a seed).
    batch : int
        Labels added per round.
    rounds : int
        Selection rounds; the last model is trained on ``initial + rounds * batch`` labels.
    seeds : sequence of int
        One full replay per seed (the seed set, the training and the strategies' seeds).
    on_round : callable, optional
        Called as ``on_round(strategy, seed, n_labels, accuracy)`` after each trained model.

    Returns
    -------
    ActiveLearningCurves

    Raises
    ------
    InvalidDatasetError
        A pool or test row without a label, or a pool too small for the rounds.
    InvalidParameterError
        An unknown strategy, or a bad ``initial``, ``batch``, ``rounds`` or ``seeds``.
    """
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown or not strategies:
        raise InvalidParameterError(
            f"simulate_active_learning: strategies must be among {list(STRATEGIES)}; received "
            f"{list(strategies)}. Pass e.g. strategies=['random', 'margin']."
        )
    for name, d in (("pool", pool), ("test", test)):
        blank = d.manifest["label"].null_count()
        if blank:
            raise InvalidDatasetError(
                f"simulate_active_learning: {blank} {name} row(s) have no label; every {name} "
                "row needs its true label (the simulated annotator reveals it). Drop them or "
                "label them first."
            )
    need = initial + rounds * batch
    if need > len(pool):
        raise InvalidDatasetError(
            f"simulate_active_learning: initial + rounds x batch = {need} labels, but the pool "
            f"has {len(pool)} rows. Use fewer rounds or a smaller batch."
        )
    ids = pool.sample_ids
    test_y = test.label_indices()
    names = list(strategies)
    correct = np.zeros((len(names), len(seeds), rounds + 1, len(test)), dtype=bool)
    rows: list[dict[str, Any]] = []

    def view(labeled: set[str]) -> Dataset:
        """The pool as an annotation team sees it: the labels so far, the rest hidden."""
        hidden = [s for s in ids if s not in labeled]
        out = pool.filter(pl.lit(True))  # a view: the pool itself is never edited
        return out.relabel(hidden, None, reason="hidden by the simulation", source="simulation")

    def train(labeled: set[str], seed: int) -> ModelRecipe:
        return recipe.clone().fit(view(labeled).filter(pl.col("label").is_not_null()), seed=seed)

    for j, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        start = {ids[i] for i in rng.choice(len(ids), initial, replace=False)}
        t0 = time.perf_counter()
        model0 = train(start, seed)
        ok0 = model0.predict(test).predicted_indices() == test_y
        pool_preds0 = model0.predict(pool)
        secs0 = time.perf_counter() - t0
        for k, strategy in enumerate(names):
            labeled, model, ok, preds, secs = set(start), model0, ok0, pool_preds0, secs0
            for rnd in range(rounds + 1):
                correct[k, j, rnd] = ok
                acc = float(ok.mean())
                rows.append(
                    {
                        "strategy": strategy,
                        "seed": seed,
                        "round": rnd,
                        "n_labels": len(labeled),
                        "accuracy": acc,
                        "seconds": secs,
                    }
                )
                if on_round is not None:
                    on_round(strategy, seed, len(labeled), acc)
                if rnd == rounds:
                    break
                t0 = time.perf_counter()
                chosen = select_unlabeled(
                    view(labeled),
                    preds,
                    strategy=strategy,  # type: ignore[arg-type]
                    budget=batch,
                    seed=seed + rnd,
                )
                labeled |= set(chosen["sample_id"].to_list())
                model = train(labeled, seed)
                ok = model.predict(test).predicted_indices() == test_y
                preds = model.predict(pool) if rnd + 1 < rounds else preds
                secs = time.perf_counter() - t0
    meta = {
        "strategies": names,
        "seeds": list(seeds),
        "initial": initial,
        "batch": batch,
        "rounds": rounds,
        "pool": len(pool),
        "test": len(test),
        "recipe": type(recipe).__name__,
        "recipe_params": {k: v for k, v in recipe.get_params().items() if _plain(v)},
    }
    return ActiveLearningCurves(pl.DataFrame(rows), correct, meta)


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))
