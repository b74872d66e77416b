"""Fix policies for boxes: what a scan of a detection dataset may change on its own.

``fix_boxes(ds, scan, policy)`` is the detection twin of :func:`~datacentric.loop.fix`.
It applies the automatic box edits — confident class swaps relabelled, confident
overlooked objects added, confident bad locations replaced by the predicted box, duplicate
boxes removed (near-exact ones, and those where the detector confidently sees one object) —
each with lineage per ``annotation_id`` (reason, finder, score), commits them as one new
version, and returns the review queue: every other flagged image, one row each, ranked by
the expected value of a look and cut at the review budget (the rest deferred).

"Confident" means the same as for a class label: the finder flags the box and the
detector's box that suggests the fix has a confidence of at least ``min_detector_score``
(0.9 by default, like ``FixPolicy.relabel_min_confidence``). The loop's scan counts a
predicted box as a confident object from that same confidence
(:meth:`BoxFixPolicy.scan_finders`), so "confident" is one number. The evaluation splits
are never edited by a model.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options, SequenceOf, validate_params
from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError
from datacentric.issues.base import IssueFinder
from datacentric.issues.boxes import box_iou, xyxy
from datacentric.issues.result import ScanResult
from datacentric.loop.policy import FixResult
from datacentric.loop.review_queue import Budget, effective_budget, queue_summary, rank_review_queue

if TYPE_CHECKING:
    from datacentric.slices import SliceMetrics

__all__ = ["BOX_EDIT_SCHEMA", "BoxFixPolicy", "fix_boxes"]

#: The ``edits`` table of a box fix: one row per box edit.
BOX_EDIT_SCHEMA: dict[str, Any] = {
    "sample_id": pl.Utf8,
    "annotation_id": pl.Utf8,
    "action": pl.Utf8,
    "old": pl.Utf8,
    "new": pl.Utf8,
    "reason": pl.Utf8,
    "source": pl.Utf8,
    "score": pl.Float64,
}
_BOX = ("x", "y", "w", "h")
_SUGGESTED = [f"suggested_{c}" for c in _BOX]


@dataclass(frozen=True)
class BoxFixPolicy:
    """What :func:`fix_boxes` may do without a person.

    Parameters
    ----------
    min_detector_score : float in [0, 1]
        Fix a flagged box automatically when the detector's box suggesting the fix has at
        least this confidence (default 0.9); below, it is queued for review.
    relabel_swapped, add_overlooked, move_badly_located : bool
        Which of the three ObjectLab fixes may be automatic (default all).
    remove_duplicates_min_iou : float in (0, 1] or None
        Remove a flagged duplicate box when it overlaps the box it repeats at least this
        much (default 0.9: the same object drawn twice). A flagged duplicate that overlaps
        less is removed when the detector sees one object there with the same confidence
        as any other fix: its box on the kept box scores at least ``min_detector_score``
        and no other predicted box on the copy scores above ``1 - min_detector_score``
        (the finder's ``suggested_score`` and ``rival_score``); others are queued.
        ``None``: never remove.
    fix_splits : tuple of str
        Splits whose boxes may be changed automatically (default train only).
    max_fix_fraction : float in [0, 1]
        At most this share of a split's boxes changed in one iteration (default 0.25; the
        most confident kept): beyond it the detector, not the data, is the likelier culprit.
    review_budget : int >= 0, "all" or None
        Images in the review queue, best first (``None``: ``min(300, 5 %)`` of the images).

    Examples
    --------
    >>> BoxFixPolicy(min_detector_score=0.95).add_overlooked
    True
    >>> BoxFixPolicy(max_fix_fraction=2)
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: BoxFixPolicy: parameter max_fix_fraction ...
    """

    min_detector_score: float = 0.9
    relabel_swapped: bool = True
    add_overlooked: bool = True
    move_badly_located: bool = True
    remove_duplicates_min_iou: float | None = 0.9
    fix_splits: tuple[str, ...] = ("train",)
    max_fix_fraction: float = 0.25
    review_budget: Budget = None

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "min_detector_score": [Interval(Real, 0, 1, closed="both")],
        "relabel_swapped": ["boolean"],
        "add_overlooked": ["boolean"],
        "move_badly_located": ["boolean"],
        "remove_duplicates_min_iou": [Interval(Real, 0, 1, closed="right"), None],
        "fix_splits": [SequenceOf(str)],
        "max_fix_fraction": [Interval(Real, 0, 1, closed="both")],
        "review_budget": [Interval(Integral, 0, None, closed="left"), Options(str, ("all",)), None],
    }

    def __post_init__(self) -> None:
        validate_params(self)

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain values (for the experiment log)."""
        return asdict(self)

    def scan_finders(self) -> list[IssueFinder]:
        """The finders of the loop's scan: every registered finder with its defaults, the
        overlooked and swapped box finders counting a predicted box as a confident object
        from ``min_detector_score`` (their ``confident_score``; cleanlab's 0.95 is their
        default).

        The loop's scan calibrates the detector's scores to the probability that a box is
        right, so the fix bar and the finders' notion of "confident" are one number: with
        0.95 the finders would never show the policy an object the detector finds with
        probability 0.9 to 0.95, which the policy would fix.

        Examples
        --------
        >>> [(f.name, f.confident_score) for f in BoxFixPolicy().scan_finders()
        ...  if hasattr(f, "confident_score")]
        [('overlooked_box', 0.9), ('swapped_box', 0.9)]
        """
        from datacentric.issues import REGISTRY
        from datacentric.issues._objectlab import ConfidentObjectLabFinder

        bar = self.min_detector_score
        out: list[IssueFinder] = []
        for name in REGISTRY.names():
            cls = REGISTRY.get(name)
            confident = issubclass(cls, ConfidentObjectLabFinder) and 0.0 < bar < 1.0
            out.append(cls(confident_score=bar) if confident else cls())  # type: ignore[call-arg]
        return out

    def passes_bar(self, finder: str, columns: Collection[str]) -> pl.Expr:
        """Which rows of ``finder``'s flagged table (with these ``columns``) are confident
        enough to fix without a person, as a polars expression (null counts as no).

        A swapped, badly located or overlooked box: its ``suggested_score`` is at least
        ``min_detector_score``. A duplicate box: it overlaps the box it repeats at least
        ``remove_duplicates_min_iou``, or the detector sees one object there
        (``suggested_score`` ≥ the bar and ``rival_score`` ≤ 1 − the bar). The split
        (``fix_splits``), the switches and the cap (``max_fix_fraction``) apply after.

        Examples
        --------
        >>> f = pl.DataFrame({"iou": [0.95, 0.6, 0.6], "suggested_score": [0.5, 0.97, 0.97],
        ...                   "rival_score": [0.9, 0.02, 0.3]})
        >>> f.select(BoxFixPolicy().passes_bar("duplicate_box", f.columns))["iou"].to_list()
        [True, True, False]
        """
        bar = self.min_detector_score
        has = set(columns)
        if finder != "duplicate_box":
            ok = pl.col("suggested_score") >= bar if "suggested_score" in has else pl.lit(False)
            return ok.fill_null(False)
        if self.remove_duplicates_min_iou is None:
            return pl.lit(False)
        one_object = (
            (pl.col("suggested_score") >= bar) & (pl.col("rival_score") <= 1.0 - bar)
            if {"suggested_score", "rival_score"} <= has
            else pl.lit(False)
        )
        return ((pl.col("iou") >= self.remove_duplicates_min_iou) | one_object).fill_null(False)


def _fmt(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.1f}" for v in values) + "]"


def _described(box: dict[str, Any]) -> str:
    """A removed box for the edits table: its class and ``[x, y, w, h]``."""
    return f"{box['label']} {_fmt(box[k] for k in _BOX)}"


_CANDIDATE_SCHEMA: dict[str, Any] = {
    "sample_id": pl.Utf8,
    "annotation_id": pl.Utf8,
    "action": pl.Utf8,
    "new": pl.Utf8,
    "box": pl.List(pl.Float64),
    "prediction_id": pl.Utf8,
    "source": pl.Utf8,
    "score": pl.Float64,
    "confidence": pl.Float64,
    "reason": pl.Utf8,
}
#: finder → (action, policy switch, what the lineage reason starts with)
_FIXES = {
    "swapped_box": ("relabel", "relabel_swapped", "swapped class"),
    "badly_located_box": ("move", "move_badly_located", "badly located"),
    "overlooked_box": ("add", "add_overlooked", "overlooked object"),
}


def _candidates(scan: ScanResult, policy: BoxFixPolicy, split_of: dict[str, str]) -> pl.DataFrame:
    """The automatic fixes the policy allows: one row per edit, most confident first."""
    in_splits = (
        pl.col("sample_id").replace_strict(split_of, default=None).is_in(list(policy.fix_splits))
    )
    rows: list[dict[str, Any]] = []
    for finder, (action, switch, why) in _FIXES.items():
        if not getattr(policy, switch) or finder not in scan.issue_types:
            continue
        f = scan.flagged(finder)
        f = f.filter(in_splits & policy.passes_bar(finder, f.columns))
        for r in f.iter_rows(named=True):
            box = [r[c] for c in _SUGGESTED] if action != "relabel" else None
            if (action == "relabel" and r["suggested_label"] is None) or (
                action != "relabel" and None in box  # type: ignore[operator]
            ):
                continue
            rows.append(
                {
                    "sample_id": r["sample_id"],
                    "annotation_id": r["annotation_id"],
                    "action": action,
                    "new": r["suggested_label"] if action != "move" else None,
                    "box": box,
                    "prediction_id": r.get("prediction_id") if action == "add" else None,
                    "source": finder,
                    "score": r["severity"],
                    "confidence": r["suggested_score"],
                    "reason": f"{why}: {r['detail']}",
                }
            )
    if policy.remove_duplicates_min_iou is not None and "duplicate_box" in scan.issue_types:
        f = scan.flagged("duplicate_box")
        f = f.filter(in_splits & policy.passes_bar("duplicate_box", f.columns))
        for r in f.iter_rows(named=True):
            near_exact = r["iou"] >= policy.remove_duplicates_min_iou
            rows.append(
                {
                    "sample_id": r["sample_id"],
                    "annotation_id": r["annotation_id"],
                    "action": "remove",
                    "source": "duplicate_box",
                    "score": r["severity"],
                    "confidence": r["iou"] if near_exact else r["suggested_score"],
                    "reason": f"duplicate box: {r['detail']}"
                    + (
                        ""
                        if near_exact
                        else f" The detector sees one object here (confidence "
                        f"{r['suggested_score']:.2f}; best other box on it "
                        f"{r['rival_score']:.2f})."
                    ),
                }
            )
    return pl.DataFrame(rows, schema=_CANDIDATE_SCHEMA).sort(
        ["confidence", "score"], descending=True, maintain_order=True
    )


def _without_conflicts(c: pl.DataFrame, boxes: pl.DataFrame) -> pl.DataFrame:
    """Drop the edits that would fight another one: any other edit of a box being removed,
    and an added box overlapping (IoU > 0.5) a box of its class already given or added."""
    removed = set(c.filter(pl.col("action") == "remove")["annotation_id"].to_list())
    edits_removed = pl.col("annotation_id").is_in(list(removed)).fill_null(False)
    c = c.filter((pl.col("action") == "remove") | ~edits_removed)
    adds = c.filter(pl.col("action") == "add")
    if not adds.height:
        return c
    keep = []
    taken: dict[tuple[str, str], list[list[float]]] = {}
    for (sid, lab), g in boxes.filter(~pl.col("annotation_id").is_in(list(removed))).group_by(
        "sample_id", "label"
    ):
        taken[(str(sid), str(lab))] = xyxy(g).tolist()
    for r in adds.iter_rows(named=True):
        x, y, w, h = r["box"]
        new = [x, y, x + w, y + h]
        have = taken.setdefault((r["sample_id"], r["new"]), [])
        if have and box_iou(np.array([new]), np.array(have)).max() > 0.5:
            keep.append(False)
            continue
        have.append(new)
        keep.append(True)
    added = adds.filter(pl.Series(keep, dtype=pl.Boolean))
    return pl.concat([c.filter(pl.col("action") != "add"), added])


def fix_boxes(
    ds: Dataset,
    scan: ScanResult,
    policy: BoxFixPolicy | None = None,
    *,
    iteration: int | None = None,
    commit: bool = True,
    slice_metrics: SliceMetrics | None = None,
) -> FixResult:
    """Apply a box policy's automatic edits to a detection dataset and build the review queue.

    Parameters
    ----------
    ds : Dataset
        The detection dataset that was scanned.
    scan : ScanResult
        A scan with the box finders (``swapped_box``, ``badly_located_box``,
        ``overlooked_box``, ``duplicate_box``; those missing are not applied).
    policy : BoxFixPolicy, optional
    iteration : int, optional
        Recorded in the lineage of every edit.
    commit : bool
        Commit the edits as one new version (needs a folder-backed dataset).
    slice_metrics : SliceMetrics, optional
        Slice metrics of the detector the scan judged: images of lagging slices rank higher.

    Returns
    -------
    FixResult
        ``edits`` (:data:`BOX_EDIT_SCHEMA`: ``sample_id, annotation_id, action`` —
        ``relabel``, ``move``, ``add`` or ``remove`` — ``old, new, reason, source,
        score``), ``review`` (flagged images not fully fixed, one row each, ranked, within
        the budget), ``deferred``, ``review_summary``, ``counts`` and the new ``version``.

    Examples
    --------
    >>> from datacentric.testing import make_detection_check_context
    >>> from datacentric.issues import scan
    >>> ctx = make_detection_check_context()
    >>> r = scan(ctx.dataset, predicted_boxes=ctx.predicted_boxes, cross_validate=False,
    ...          finders=["swapped_box", "badly_located_box", "overlooked_box", "duplicate_box"])
    >>> fixed = fix_boxes(ctx.dataset, r, commit=False)
    >>> fixed.edits.select("annotation_id", "action", "new").sort("action").rows()
    ... # doctest: +NORMALIZE_WHITESPACE
    [('1', 'add', 'c1'), ('b2', 'move', '[2.0, 2.0, 12.0, 12.0]'), ('b3', 'relabel', 'c2'),
     ('d0', 'remove', None)]
    >>> why = fixed.edits.filter(pl.col("action") == "remove")["reason"].item()
    >>> "IoU 0.88" in why and "The detector sees one object here" in why  # 0.88 < 0.9
    True
    """
    policy = policy or BoxFixPolicy()
    boxes = ds.annotations
    if ds.task != "detection" or boxes is None:
        raise InvalidParameterError(
            f"fix_boxes: the dataset's task is {ds.task!r}; box fixes need a detection dataset. "
            "Use datacentric.loop.fix for class labels."
        )
    unknown = set(scan.samples["sample_id"].to_list()) - set(ds.sample_ids)
    if unknown:
        raise InvalidParameterError(
            f"fix_boxes: the scan names {len(unknown)} image(s) not in this dataset (e.g. "
            f"{sorted(unknown)[:3]}); scan the dataset you are fixing."
        )
    split_of = dict(ds.manifest.select("sample_id", "split").rows())
    c = _without_conflicts(_candidates(scan, policy, split_of), boxes)
    # the cap: at most a share of each split's boxes, most confident first
    box_split = boxes.select(pl.col("sample_id").replace_strict(split_of, default=None).alias("s"))
    sizes = dict(box_split.group_by("s").len().rows())
    c = c.with_columns(pl.col("sample_id").replace_strict(split_of, default=None).alias("_split"))
    capped = [
        g.head(int(policy.max_fix_fraction * sizes.get(key[0], 0)))
        for key, g in c.group_by("_split", maintain_order=True)
    ]
    c = pl.concat(capped or [c.head(0)]).drop("_split")
    edits = _apply(ds, c, boxes, iteration)
    fixed_boxes = set(edits["annotation_id"].drop_nulls().to_list())
    added_predictions = set(c["prediction_id"].drop_nulls().to_list())
    box_types = [t for t in (*_FIXES, "duplicate_box", "box_geometry") if t in scan.issue_types]
    queue = scan.flagged(box_types or None)
    if "annotation_id" in queue.columns:
        queue = queue.filter(~pl.col("annotation_id").is_in(list(fixed_boxes)).fill_null(False))
    if "prediction_id" in queue.columns:  # an overlooked object now added needs no look
        queue = queue.filter(
            ~pl.col("prediction_id").is_in(list(added_predictions)).fill_null(False)
        )
    keep_cols = [c_ for c_ in ["sample_id", "issue_type", "severity", "suggested_label", "detail",
                               "split", *scan.samples.columns] if c_ in queue.columns]  # fmt: skip
    ranked = rank_review_queue(
        queue.select(list(dict.fromkeys(keep_cols))),
        samples=scan.samples,
        slice_metrics=slice_metrics,
        budget=policy.review_budget,
        n_samples=scan.samples.height,
    )
    summary = queue_summary(ranked, effective_budget(policy.review_budget, scan.samples.height))
    counts = {a: int((edits["action"] == a).sum()) for a in ("relabel", "move", "add", "remove")}
    version = None
    if commit and edits.height:
        version = ds.commit(
            f"iteration {iteration}: auto-fix boxes "
            + ", ".join(f"{n} {a}" for a, n in counts.items() if n)
            if iteration is not None
            else "auto-fix boxes from scan",
            meta={"policy": policy.to_dict(), "iteration": iteration},
        )
    counts |= {"queued_for_review": summary["queued"], "deferred_review": summary["deferred"]}
    return FixResult(
        ds,
        version if version is not None else ds.version,
        edits,
        ranked.filter(pl.col("status") == "queued"),
        counts,
        deferred=ranked.filter(pl.col("status") == "deferred"),
        review_summary=summary,
    )


def _apply(
    ds: Dataset, c: pl.DataFrame, boxes: pl.DataFrame, iteration: int | None
) -> pl.DataFrame:
    """Make the edits on ``ds`` (one call per kind) and return them as :data:`BOX_EDIT_SCHEMA`."""
    before = {r["annotation_id"]: r for r in boxes.iter_rows(named=True)}
    out: list[dict[str, Any]] = []
    rel = c.filter(pl.col("action") == "relabel")
    if rel.height:
        ds.relabel_boxes(rel["annotation_id"].to_list(), rel["new"].to_list(),
                         reason=rel["reason"].to_list(), source=rel["source"].to_list(),
                         iteration=iteration)  # fmt: skip
        out += [
            {**r, "old": before[r["annotation_id"]]["label"]} for r in rel.iter_rows(named=True)
        ]
    mv = c.filter(pl.col("action") == "move")
    if mv.height:
        ds.move_boxes(mv["annotation_id"].to_list(), mv["box"].to_list(),
                      reason=mv["reason"].to_list(), source=mv["source"].to_list(),
                      iteration=iteration)  # fmt: skip
        out += [{**r, "old": _fmt(before[r["annotation_id"]][k] for k in _BOX),
                 "new": _fmt(r["box"])} for r in mv.iter_rows(named=True)]  # fmt: skip
    rm = c.filter(pl.col("action") == "remove")
    if rm.height:
        ds.remove_boxes(rm["annotation_id"].to_list(), reason=rm["reason"].to_list(),
                        source=rm["source"].to_list(), iteration=iteration)  # fmt: skip
        out += [{**r, "old": _described(before[r["annotation_id"]])}
                for r in rm.iter_rows(named=True)]  # fmt: skip
    add = c.filter(pl.col("action") == "add")
    if add.height:
        frame = pl.DataFrame({
            "sample_id": add["sample_id"], "label": add["new"],
            **{k: [b[i] for b in add["box"].to_list()] for i, k in enumerate(_BOX)},
        })  # fmt: skip
        n_before = ds.annotations.height if ds.annotations is not None else 0
        ds.add_boxes(frame, reason=add["reason"].to_list(), source=add["source"].to_list(),
                     iteration=iteration)  # fmt: skip
        assert ds.annotations is not None
        new_ids = ds.annotations["annotation_id"].slice(n_before).to_list()
        out += [{**r, "annotation_id": i, "old": None}
                for r, i in zip(add.iter_rows(named=True), new_ids, strict=True)]  # fmt: skip
    return pl.DataFrame(
        [{k: r.get(k) for k in BOX_EDIT_SCHEMA} for r in out], schema=BOX_EDIT_SCHEMA
    )
