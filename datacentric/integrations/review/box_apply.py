"""Apply decided box edits to a detection dataset: moves, relabels, removals, additions.

The last step of every review that decides box edits in the table of
:func:`~datacentric.integrations.labelstudio.box_decision.decide_boxes`
(:data:`~datacentric.integrations.labelstudio.box_decision.EDIT_SCHEMA`, one row per edit):
the Label Studio box pull and the simulated box reviewer
(:func:`~datacentric.integrations.review.simulate_box_review`) both end here, so a
simulated review is applied exactly as a real one. Each caller says the lineage ``reason``
and ``source`` of a row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from datacentric.dataset import Dataset

__all__ = ["BOX_EDIT_ORDER", "apply_box_edits", "box_lineage"]

BOX_EDIT_ORDER = ("move", "relabel", "remove", "add")
"""The order the kinds of edit are applied in (a box moved and relabelled is moved first)."""


def apply_box_edits(
    ds: Dataset,
    edits: pl.DataFrame,
    *,
    reason: Callable[[dict[str, Any]], str],
    source: Callable[[dict[str, Any]], str],
) -> int:
    """Apply ``edits`` to ``ds`` as pending box edits with lineage; returns how many.

    Parameters
    ----------
    ds : Dataset
        A detection dataset (its working copy is edited; nothing is committed).
    edits : polars.DataFrame
        One row per edit: ``sample_id, edit`` (``move``, ``relabel``, ``remove``, ``add``),
        ``annotation_id`` (null for ``add``), ``label, x, y, w, h`` (the box after the edit).
    reason, source : callable
        ``row -> str``: the lineage ``reason`` and ``source`` of an edit (its row as a dict).

    Returns
    -------
    int
        The number of edits applied (all of them, or an error is raised).

    Notes
    -----
    All or nothing: when one edit is refused (a box the dataset does not have, a box off
    its image, ...), ``ds`` is left as it was and the error raised.

    Examples
    --------
    >>> m = pl.DataFrame({"sample_id": ["s"], "image": ["s.png"], "label": [None]})
    >>> b = pl.DataFrame({"annotation_id": ["1"], "sample_id": ["s"], "label": ["cat"],
    ...                   "x": [0.0], "y": [0.0], "w": [10.0], "h": [10.0]})
    >>> ds = Dataset(m, ["cat", "dog"], annotations=b)
    >>> e = pl.DataFrame({"sample_id": ["s"], "edit": ["relabel"], "annotation_id": ["1"],
    ...                   "label": ["dog"], "x": [0.0], "y": [0.0], "w": [10.0], "h": [10.0]})
    >>> apply_box_edits(ds, e, reason=lambda r: "a dog", source=lambda r: "me")
    1
    >>> ds.annotations["label"].to_list(), ds.pending_changes["source"].to_list()
    (['dog'], ['me'])
    """
    saved = (ds._annotations, list(ds._pending))  # restored on failure
    try:
        return _apply(ds, edits, reason, source)
    except Exception:
        ds._annotations, ds._pending = saved
        raise


def _apply(
    ds: Dataset,
    edits: pl.DataFrame,
    reason: Callable[[dict[str, Any]], str],
    source: Callable[[dict[str, Any]], str],
) -> int:
    rows = list(edits.iter_rows(named=True))
    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in BOX_EDIT_ORDER}
    for r in rows:
        by_kind[r["edit"]].append(r)

    def reasons(rs: list[dict[str, Any]]) -> list[str]:
        return [reason(r) for r in rs]

    def sources(rs: list[dict[str, Any]]) -> list[str]:
        return [source(r) for r in rs]

    if rs := by_kind["move"]:
        ds.move_boxes(
            [r["annotation_id"] for r in rs],
            [(r["x"], r["y"], r["w"], r["h"]) for r in rs],
            reason=reasons(rs),
            source=sources(rs),
        )
    if rs := by_kind["relabel"]:
        ds.relabel_boxes(
            [r["annotation_id"] for r in rs],
            [r["label"] for r in rs],
            reason=reasons(rs),
            source=sources(rs),
        )
    if rs := by_kind["remove"]:
        ds.remove_boxes([r["annotation_id"] for r in rs], reason=reasons(rs), source=sources(rs))
    if rs := by_kind["add"]:
        ds.add_boxes(
            {
                "sample_id": [r["sample_id"] for r in rs],
                "label": [r["label"] for r in rs],
                **{c: [float(r[c]) for r in rs] for c in ("x", "y", "w", "h")},
            },
            reason=reasons(rs),
            source=sources(rs),
        )
    return len(rows)


def box_lineage(ds: Dataset, start: int = 0) -> pl.DataFrame:
    """The box lineage rows pending on ``ds`` from position ``start``: ``annotation_id,
    sample_id, field, old, new`` (``field``: ``box`` added/removed, ``bbox`` moved,
    ``label`` relabelled, ``review`` a tag) — :attr:`AppliedReview.box_edits`.

    Examples
    --------
    >>> m = pl.DataFrame({"sample_id": ["s"], "image": ["s.png"], "label": [None]})
    >>> ds = Dataset(m, ["cat"], annotations=pl.DataFrame(
    ...     {"annotation_id": ["1"], "sample_id": ["s"], "label": ["cat"], "x": [0.0],
    ...      "y": [0.0], "w": [4.0], "h": [4.0]}))
    >>> _ = ds.remove_boxes(["1"], reason="gone")
    >>> box_lineage(ds).select("annotation_id", "field", "new").rows()
    [('1', 'box', None)]
    """
    pending = ds.pending_changes[start:]
    if "annotation_id" not in pending.columns:
        pending = pending.with_columns(pl.lit(None, dtype=pl.Utf8).alias("annotation_id"))
    return pending.filter(pl.col("annotation_id").is_not_null()).select(
        "annotation_id", "sample_id", "field", "old", "new"
    )
