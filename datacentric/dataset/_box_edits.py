"""Box edits of a detection dataset's working copy — add, remove, relabel, move/resize.

Every edit records one lineage row per box, with its ``annotation_id`` (see
:mod:`datacentric.dataset.lineage`):

=================  ===========  =======================================  ======================
edit               ``field``    ``old``                                  ``new``
=================  ===========  =======================================  ======================
add_boxes          ``box``      null                                     the box (JSON)
remove_boxes       ``box``      the box (JSON)                           null
relabel_boxes      ``label``    the old class                            the new class
move_boxes         ``bbox``     ``[x, y, w, h]`` before                  ``[x, y, w, h]`` after
annotate_boxes     any (e.g.    given (default null)                     given (a decision)
                   ``review``)
=================  ===========  =======================================  ======================

The box JSON is ``{"label": ..., "x": ..., "y": ..., "w": ..., "h": ...}``. An edit that
would leave a bad box (see :func:`~datacentric.dataset.annotations.check_annotations`) is
refused as a whole and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import polars as pl

from datacentric.dataset._schema import LABEL, SAMPLE_ID
from datacentric.dataset.annotations import ANNOTATION_ID, BOX_COLUMNS, normalize_annotations
from datacentric.dataset.lineage import changes_frame
from datacentric.exceptions import (
    InvalidAnnotationError,
    InvalidParameterError,
    SchemaError,
    format_items,
)

__all__ = ["BoxEditsMixin", "box_json"]

T = TypeVar("T", bound="BoxEditsMixin")


def box_json(label: str | None, x: float, y: float, w: float, h: float) -> str:
    """The lineage text of one box.

    Examples
    --------
    >>> box_json("cat", 1.0, 2.0, 3.5, 4.0)
    '{"label": "cat", "x": 1.0, "y": 2.0, "w": 3.5, "h": 4.0}'
    """
    return json.dumps({"label": label, "x": x, "y": y, "w": w, "h": h})


def _texts(frame: pl.DataFrame) -> list[str]:
    return [box_json(*row) for row in frame.select(LABEL, *BOX_COLUMNS).rows()]


def _per_row(what: str, value: str | Sequence[str], n: int) -> list[str]:
    values = [value] * n if isinstance(value, str) else [str(v) for v in value]
    if len(values) != n:
        raise InvalidParameterError(
            f"{what}: expected 1 or {n} values, got {len(values)}. Nothing was changed."
        )
    return values


class BoxEditsMixin:
    """The box-editing half of :class:`~datacentric.dataset.Dataset` (detection only)."""

    classes: list[str]
    _manifest: pl.DataFrame
    _pending: list[pl.DataFrame]
    _annotations: pl.DataFrame | None

    def _boxes(self, what: str) -> pl.DataFrame:
        if self._annotations is None:
            raise SchemaError(
                f"{what}: this is a classification dataset and has no boxes. Box edits are for "
                "detection datasets (Dataset.from_coco, Dataset.from_yolo, task='detection')."
            )
        return self._annotations

    def _find_boxes(self, annotation_ids: Sequence[str], what: str) -> pl.DataFrame:
        """The current rows of ``annotation_ids``, in the order given."""
        boxes = self._boxes(what)
        if isinstance(annotation_ids, str):
            raise InvalidParameterError(
                f"{what}: annotation_ids must be a list of ids, received the string "
                f"{annotation_ids!r}. Pass [{annotation_ids!r}]."
            )
        ids = pl.Series(ANNOTATION_ID, [str(a) for a in annotation_ids], dtype=pl.Utf8)
        dup = ids.filter(ids.is_duplicated()).unique(maintain_order=True).to_list()
        if dup:
            raise InvalidParameterError(
                f"{what}: each box may appear once per call, received duplicated id(s) "
                f"{format_items(dup)}. Deduplicate the list."
            )
        rows = ids.to_frame().join(boxes, on=ANNOTATION_ID, how="left", maintain_order="left")
        unknown = rows.filter(pl.col(SAMPLE_ID).is_null())[ANNOTATION_ID].to_list()
        if unknown:
            raise InvalidAnnotationError(
                f"{what}: {len(unknown)} annotation_id(s) are not in the dataset: "
                f"{format_items(unknown)}. Check the ids (ds.annotations lists them).",
                rows=unknown,
            )
        return rows

    def _replace_boxes(self, new: pl.DataFrame, what: str) -> None:
        self._annotations = normalize_annotations(
            new, self.classes, self._manifest[SAMPLE_ID], source=what
        )

    def add_boxes(
        self: T,
        boxes: pl.DataFrame | Mapping[str, Sequence[Any]],
        *,
        reason: str | Sequence[str],
        source: str | Sequence[str] = "manual",
        iteration: int | None = None,
    ) -> T:
        """Add boxes: ``sample_id, label, x, y, w, h`` (pixels), optional ``annotation_id``.

        Without ``annotation_id``, new ids continue the numbering: one more than the largest
        integer id in use (``"1"``, ``"2"``, ... on a dataset without integer ids). Other
        columns (``annotator``, ``score``, extra) are kept.

        Examples
        --------
        >>> import polars as pl
        >>> from datacentric import Dataset
        >>> m = pl.DataFrame({"sample_id": ["a"], "image": ["a.png"], "label": [None]})
        >>> ds = Dataset(m, ["cat"], task="detection")
        >>> ds = ds.add_boxes({"sample_id": ["a"], "label": ["cat"], "x": [1.0], "y": [2.0],
        ...                    "w": [3.0], "h": [4.0]}, reason="missed cat")
        >>> ds.annotations.select("annotation_id", "label", "w").row(0)
        ('1', 'cat', 3.0)
        >>> ds.pending_changes.select("annotation_id", "field", "old").row(0)
        ('1', 'box', None)
        """
        current = self._boxes("add_boxes")
        frame = boxes if isinstance(boxes, pl.DataFrame) else pl.DataFrame(dict(boxes))
        if ANNOTATION_ID not in frame.columns:
            numeric = current[ANNOTATION_ID].str.to_integer(strict=False).drop_nulls()
            start = int(numeric.max() or 0) + 1 if numeric.len() else 1  # type: ignore[arg-type]
            frame = frame.with_columns(
                pl.Series(ANNOTATION_ID, [str(start + i) for i in range(frame.height)])
            )
        frame = normalize_annotations(
            frame, self.classes, self._manifest[SAMPLE_ID], source="add_boxes"
        )
        clash = frame.filter(pl.col(ANNOTATION_ID).is_in(current[ANNOTATION_ID].implode()))
        if clash.height:
            ids = clash[ANNOTATION_ID].to_list()
            raise InvalidAnnotationError(
                f"add_boxes: {len(ids)} annotation_id(s) already exist: {format_items(ids)}. "
                "Use move_boxes/relabel_boxes to change them, or give the new boxes new ids.",
                rows=ids,
            )
        n = frame.height
        reasons, sources = _per_row("reason", reason, n), _per_row("source", source, n)
        self._replace_boxes(pl.concat([current, frame], how="diagonal_relaxed"), "add_boxes")
        self._pending.append(
            changes_frame(
                frame[SAMPLE_ID],
                "box",
                [None] * n,
                _texts(frame),
                reason=reasons,
                source=sources,
                iteration=iteration,
                annotation_ids=frame[ANNOTATION_ID],
            )
        )
        return self

    def remove_boxes(
        self: T,
        annotation_ids: Sequence[str],
        *,
        reason: str | Sequence[str],
        source: str | Sequence[str] = "manual",
        iteration: int | None = None,
    ) -> T:
        """Remove boxes; a lineage row per box keeps what it was (``old``, JSON)."""
        rows = self._find_boxes(annotation_ids, "remove_boxes")
        n = rows.height
        reasons, sources = _per_row("reason", reason, n), _per_row("source", source, n)
        current = self._boxes("remove_boxes")
        self._annotations = current.filter(
            ~pl.col(ANNOTATION_ID).is_in(rows[ANNOTATION_ID].implode())
        )
        self._pending.append(
            changes_frame(
                rows[SAMPLE_ID],
                "box",
                _texts(rows),
                [None] * n,
                reason=reasons,
                source=sources,
                iteration=iteration,
                annotation_ids=rows[ANNOTATION_ID],
            )
        )
        return self

    def relabel_boxes(
        self: T,
        annotation_ids: Sequence[str],
        labels: str | Sequence[str],
        *,
        reason: str | Sequence[str],
        source: str | Sequence[str] = "manual",
        iteration: int | None = None,
    ) -> T:
        """Change boxes' classes; a lineage row (``field="label"``) per box that changes."""
        rows = self._find_boxes(annotation_ids, "relabel_boxes")
        n = rows.height
        new = _per_row("labels", labels, n)
        reasons, sources = _per_row("reason", reason, n), _per_row("source", source, n)
        edits = rows.select(ANNOTATION_ID, SAMPLE_ID, LABEL).with_columns(
            pl.Series("_new", new, dtype=pl.Utf8),
            pl.Series("_reason", reasons, dtype=pl.Utf8),
            pl.Series("_source", sources, dtype=pl.Utf8),
        )
        edits = edits.filter(pl.col(LABEL) != pl.col("_new"))
        return self._update(edits, LABEL, "relabel_boxes", iteration)

    def move_boxes(
        self: T,
        annotation_ids: Sequence[str],
        boxes: Sequence[Sequence[float]] | np.ndarray,
        *,
        reason: str | Sequence[str],
        source: str | Sequence[str] = "manual",
        iteration: int | None = None,
    ) -> T:
        """Move and/or resize boxes to new ``(x, y, w, h)`` (pixels), one per id.

        A moved box's ``area`` (COCO's, if the table has one) is cleared: it no longer
        holds, and :meth:`to_coco` writes ``w * h`` in its place.

        Examples
        --------
        >>> import polars as pl
        >>> from datacentric import Dataset
        >>> m = pl.DataFrame({"sample_id": ["a"], "image": ["a.png"], "label": [None]})
        >>> b = pl.DataFrame({"annotation_id": ["b1"], "sample_id": ["a"], "label": ["cat"],
        ...                   "x": [0.0], "y": [0.0], "w": [2.0], "h": [2.0]})
        >>> ds = Dataset(m, ["cat"], annotations=b)
        >>> ds = ds.move_boxes(["b1"], [(1, 1, 3, 3)], reason="too small")
        >>> ds.pending_changes.select("field", "old", "new").row(0)
        ('bbox', '[0.0, 0.0, 2.0, 2.0]', '[1.0, 1.0, 3.0, 3.0]')
        """
        rows = self._find_boxes(annotation_ids, "move_boxes")
        n = rows.height
        try:
            arr = np.asarray(boxes, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"move_boxes: boxes must be {n} rows of 4 numbers (x, y, w, h); could not read "
                f"them as numbers ({exc}). Nothing was changed."
            ) from None
        if arr.shape != (n, 4):
            raise InvalidParameterError(
                f"move_boxes: boxes must have shape ({n}, 4) (x, y, w, h per id), received "
                f"shape {arr.shape}. Nothing was changed."
            )
        reasons, sources = _per_row("reason", reason, n), _per_row("source", source, n)
        old = [json.dumps([float(v) for v in r]) for r in rows.select(*BOX_COLUMNS).rows()]
        new = [json.dumps([float(v) for v in r]) for r in arr.tolist()]
        edits = rows.select(ANNOTATION_ID, SAMPLE_ID).with_columns(
            pl.Series(LABEL, old, dtype=pl.Utf8),
            pl.Series("_new", new, dtype=pl.Utf8),
            pl.Series("_reason", reasons, dtype=pl.Utf8),
            pl.Series("_source", sources, dtype=pl.Utf8),
            *(pl.Series(f"_{c}", arr[:, i]) for i, c in enumerate(BOX_COLUMNS)),
        )
        edits = edits.filter(pl.col(LABEL) != pl.col("_new"))
        return self._update(edits, "bbox", "move_boxes", iteration)

    def annotate_boxes(
        self: T,
        annotation_ids: Sequence[str],
        field: str,
        values: str | Sequence[str],
        *,
        old: str | Sequence[str] | None = None,
        reason: str | Sequence[str],
        source: str | Sequence[str] = "manual",
        iteration: int | None = None,
    ) -> T:
        """Record a decision about boxes that changes no box (lineage only), e.g. a
        reviewer's ``reviewed:wrong`` tag; one row per box, committed with the next commit.

        Examples
        --------
        >>> import polars as pl
        >>> from datacentric import Dataset
        >>> m = pl.DataFrame({"sample_id": ["a"], "image": ["a.png"], "label": [None]})
        >>> b = pl.DataFrame({"annotation_id": ["b1"], "sample_id": ["a"], "label": ["cat"],
        ...                   "x": [0.0], "y": [0.0], "w": [2.0], "h": [2.0]})
        >>> ds = Dataset(m, ["cat"], annotations=b)
        >>> ds = ds.annotate_boxes(["b1"], "review", "reviewed:wrong", reason="looked at it")
        >>> ds.pending_changes.select("sample_id", "annotation_id", "field", "new").row(0)
        ('a', 'b1', 'review', 'reviewed:wrong')
        """
        rows = self._find_boxes(annotation_ids, "annotate_boxes")
        if field in (LABEL, "box", "bbox", *BOX_COLUMNS):
            raise InvalidParameterError(
                f"annotate_boxes: field {field!r} is a box edit's; annotate_boxes records "
                "decisions that change no box. Use relabel_boxes/move_boxes, or another field."
            )
        n = rows.height
        new = _per_row("values", values, n)
        olds: list[str | None] = [None] * n if old is None else list(_per_row("old", old, n))
        reasons, sources = _per_row("reason", reason, n), _per_row("source", source, n)
        self._pending.append(
            changes_frame(
                rows[SAMPLE_ID],
                field,
                olds,
                new,
                reason=reasons,
                source=sources,
                iteration=iteration,
                annotation_ids=rows[ANNOTATION_ID],
            )
        )
        return self

    def _update(self: T, edits: pl.DataFrame, field: str, what: str, iteration: int | None) -> T:
        """Apply ``edits`` (``annotation_id``, ``_new`` or ``_x..._h``) and record lineage."""
        if edits.height == 0:
            return self
        current = self._boxes(what)
        new_cols = {LABEL: "_new"} if field == LABEL else {c: f"_{c}" for c in BOX_COLUMNS}
        upd = edits.select(ANNOTATION_ID, *new_cols.values())
        joined = current.join(upd, on=ANNOTATION_ID, how="left", maintain_order="left")
        hit = pl.col(ANNOTATION_ID).is_in(upd[ANNOTATION_ID].implode())
        changed = joined.with_columns(
            pl.when(hit).then(pl.col(src)).otherwise(pl.col(dst)).alias(dst)
            for dst, src in new_cols.items()
        ).drop(list(new_cols.values()))
        if field != LABEL and "area" in changed.columns:  # COCO's area no longer holds
            changed = changed.with_columns(
                pl.when(hit).then(None).otherwise(pl.col("area")).alias("area")
            )
        self._replace_boxes(changed, what)
        self._pending.append(
            changes_frame(
                edits[SAMPLE_ID],
                field,
                edits[LABEL],
                edits["_new"],
                reason=edits["_reason"].to_list(),
                source=edits["_source"].to_list(),
                iteration=iteration,
                annotation_ids=edits[ANNOTATION_ID],
            )
        )
        return self
