"""Edits of a dataset's working copy — relabel, remove, add — each recording lineage rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from datacentric._validation import check_params
from datacentric.dataset._schema import IMAGE, LABEL, SAMPLE_ID, normalize_manifest
from datacentric.dataset.images import CHECK_IMAGES, CheckImages, check_image_paths
from datacentric.dataset.lineage import changes_frame, empty_changes
from datacentric.exceptions import (
    InvalidDatasetError,
    InvalidParameterError,
    SchemaError,
    StoreError,
    UnknownLabelError,
    format_items,
)

__all__ = ["EditsMixin"]

T = TypeVar("T", bound="EditsMixin")


class EditsMixin:
    """The editing half of :class:`~datacentric.dataset.Dataset` (see its docstring)."""

    classes: list[str]
    root: Path | None
    _manifest: pl.DataFrame
    _pending: list[pl.DataFrame]
    _annotations: pl.DataFrame | None

    def __len__(self) -> int:  # pragma: no cover - Dataset defines it
        return self._manifest.height

    def _lookup(self, sample_ids: Sequence[str], what: str) -> pl.DataFrame:
        ids = pl.Series(SAMPLE_ID, [str(s) for s in sample_ids], dtype=pl.Utf8)
        dup = ids.filter(ids.is_duplicated()).unique(maintain_order=True).to_list()
        if dup:
            raise InvalidParameterError(
                f"{what}: each sample may appear once per call, received duplicated id(s) "
                f"{format_items(dup)}. Deduplicate the list."
            )
        known = ids.is_in(self._manifest[SAMPLE_ID].implode())
        if not known.all():
            unknown = ids.filter(~known).to_list()
            raise InvalidDatasetError(
                f"{what}: {len(unknown)} sample_id(s) are not in the dataset: "
                f"{format_items(unknown)}. Check the ids (ds.sample_ids lists them).",
                rows=unknown,
            )
        return ids.to_frame()

    def relabel(
        self: T,
        sample_ids: Sequence[str],
        labels: Sequence[str | None] | str | None,
        *,
        reason: str | Sequence[str],
        source: str | Sequence[str] = "manual",
        iteration: int | None = None,
    ) -> T:
        """Change labels; record a lineage row per sample whose label actually changes.

        Parameters
        ----------
        sample_ids : sequence of str
            Samples to relabel.
        labels : str, None, or sequence
            New label(s): one for all, or one per sample; ``None`` unlabels.
        reason, source : str or sequence of str
            Why (e.g. ``"label error, self-confidence 0.02"``) and who (a finder name or an
            annotator id); one for all or one per sample.
        iteration : int, optional
            The loop iteration making the change.

        Returns
        -------
        Dataset
            ``self``, for chaining.
        """
        if self._annotations is not None:
            raise SchemaError(
                "relabel: this is a detection dataset; its classes are on the boxes and the "
                "manifest label stays empty. Use relabel_boxes(annotation_ids, labels, ...)."
            )
        ids = self._lookup(sample_ids, "relabel")
        n = ids.height
        new = [labels] * n if labels is None or isinstance(labels, str) else list(labels)
        if len(new) != n:
            raise InvalidParameterError(
                f"relabel: got {n} sample ids but {len(new)} labels; pass one label per id or one "
                "label for all."
            )
        bad = sorted({str(x) for x in new if x is not None and x not in self.classes})
        if bad:
            raise UnknownLabelError(
                f"relabel: label(s) {format_items(bad)} are not among the classes "
                f"{self.classes!r}. Use one of them (or None to unlabel).",
                rows=bad,
            )
        edits = ids.with_columns(
            pl.Series("_new", new, dtype=pl.Utf8),
            *_per_row("_reason", reason, n),
            *_per_row("_source", source, n),
        )
        cur = self._manifest.select(SAMPLE_ID, LABEL)
        edits = edits.join(cur, on=SAMPLE_ID, how="left", maintain_order="left").filter(
            pl.col(LABEL).ne_missing(pl.col("_new"))
        )
        if edits.height == 0:
            return self
        upd = edits.select(SAMPLE_ID, pl.col("_new"))
        self._manifest = (
            self._manifest.join(upd, on=SAMPLE_ID, how="left", maintain_order="left")
            .with_columns(
                pl.when(pl.col(SAMPLE_ID).is_in(upd[SAMPLE_ID].implode()))
                .then(pl.col("_new"))
                .otherwise(pl.col(LABEL))
                .alias(LABEL)
            )
            .drop("_new")
        )
        self._pending.append(
            changes_frame(
                edits[SAMPLE_ID],
                LABEL,
                edits[LABEL],
                edits["_new"],
                reason=edits["_reason"].to_list(),
                source=edits["_source"].to_list(),
                iteration=iteration,
            )
        )
        return self

    def remove(
        self: T,
        sample_ids: Sequence[str],
        *,
        reason: str | Sequence[str],
        source: str | Sequence[str] = "manual",
        iteration: int | None = None,
    ) -> T:
        """Remove samples; lineage rows have ``field="sample"``, ``old`` the image path.

        In a detection dataset the samples' boxes go with them, each with its own lineage
        row (``field="box"``, see :meth:`remove_boxes`).
        """
        ids = self._lookup(sample_ids, "remove")
        if ids.height == len(self):
            raise InvalidParameterError(
                f"remove: this would remove all {len(self)} samples and leave an empty dataset."
            )
        n = ids.height
        reasons = [reason] * n if isinstance(reason, str) else [str(r) for r in reason]
        sources = [source] * n if isinstance(source, str) else [str(x) for x in source]
        if len(reasons) != n or len(sources) != n:
            raise InvalidParameterError(
                f"remove: got {n} sample ids but {len(reasons)} reasons and {len(sources)} "
                "sources; pass one reason/source for all or one per id. Nothing was removed."
            )
        gone = ids.join(
            self._manifest.select(SAMPLE_ID, IMAGE), on=SAMPLE_ID, how="left", maintain_order="left"
        )
        if self._annotations is not None:
            boxes = self._annotations.filter(pl.col(SAMPLE_ID).is_in(ids[SAMPLE_ID].implode()))
            if boxes.height:
                by_sample = dict(zip(ids[SAMPLE_ID].to_list(), reasons, strict=True))
                by_source = dict(zip(ids[SAMPLE_ID].to_list(), sources, strict=True))
                self.remove_boxes(  # type: ignore[attr-defined]
                    boxes["annotation_id"].to_list(),
                    reason=[by_sample[s] for s in boxes[SAMPLE_ID].to_list()],
                    source=[by_source[s] for s in boxes[SAMPLE_ID].to_list()],
                    iteration=iteration,
                )
        self._manifest = self._manifest.filter(~pl.col(SAMPLE_ID).is_in(ids[SAMPLE_ID].implode()))
        self._pending.append(
            changes_frame(
                gone[SAMPLE_ID],
                "sample",
                gone[IMAGE],
                [None] * n,
                reason=reasons,
                source=sources,
                iteration=iteration,
            )
        )
        return self

    def add(
        self: T,
        rows: pl.DataFrame | Mapping[str, Sequence[Any]],
        *,
        reason: str,
        source: str = "manual",
        iteration: int | None = None,
        check_images: CheckImages = "exists",
    ) -> T:
        """Append samples (a manifest fragment whose images are under ``root``)."""
        check_params("Dataset.add", {"check_images": check_images}, {"check_images": CHECK_IMAGES})
        if self.root is None:
            raise StoreError(
                "add: this dataset lives in memory; save it with ds.to_folder(DIR) first, then "
                "add rows whose image paths are relative to DIR."
            )
        frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(dict(rows))
        frame = normalize_manifest(frame, self.classes, source="add")
        if self._annotations is not None and frame[LABEL].is_not_null().any():
            raise SchemaError(
                "add: this is a detection dataset; new samples come without a label (their "
                "classes go on boxes). Leave label empty, then add_boxes(...)."
            )
        clash = frame.filter(pl.col(SAMPLE_ID).is_in(self._manifest[SAMPLE_ID].implode()))[
            SAMPLE_ID
        ].to_list()
        if clash:
            raise InvalidDatasetError(
                f"add: {len(clash)} sample_id(s) already exist: {format_items(clash)}. Use "
                "relabel() to change them or give the new samples new ids.",
                rows=clash,
            )
        check_image_paths(
            self.root, frame[SAMPLE_ID].to_list(), frame[IMAGE].to_list(), check_images
        )
        self._manifest = pl.concat([self._manifest, frame], how="diagonal_relaxed")
        n = frame.height
        self._pending.append(
            changes_frame(
                frame[SAMPLE_ID],
                "sample",
                [None] * n,
                frame[IMAGE],
                reason=reason,
                source=source,
                iteration=iteration,
            )
        )
        return self

    def annotate(
        self: T,
        sample_ids: Sequence[str],
        field: str,
        values: Sequence[str | None] | str,
        *,
        old: Sequence[str | None] | str | None = None,
        reason: str | Sequence[str],
        source: str | Sequence[str] = "manual",
        iteration: int | None = None,
    ) -> T:
        """Record a decision about samples that changes no manifest column (lineage only).

        For review verdicts and similar facts: a reviewer confirmed an issue, or said a flag
        was wrong. The rows are committed with the next :meth:`commit`, like any edit, and
        show up in :meth:`lineage` and :meth:`changes`.

        Parameters
        ----------
        field : str
            The lineage ``field`` (e.g. ``"review"``); not a manifest column, so that a
            lineage reader never mistakes it for a change of the data.
        values, old : str or sequence
            The ``new`` and ``old`` values, one for all or one per sample.

        Examples
        --------
        >>> import numpy as np
        >>> from datacentric import Dataset
        >>> ds = Dataset.from_arrays(np.zeros((2, 2, 2)), [0, 1], ["a", "b"])
        >>> ds = ds.annotate(["0"], "review", "confirmed_issue", reason="looked at it")
        >>> ds.pending_changes.select("sample_id", "field", "new").row(0)
        ('0', 'review', 'confirmed_issue')
        """
        ids = self._lookup(sample_ids, "annotate")
        if field in self._manifest.columns:
            raise InvalidParameterError(
                f"annotate: field {field!r} is a manifest column; annotate records decisions "
                "that change no column. Use relabel() to change labels, or another field name."
            )
        n = ids.height
        new = [values] * n if isinstance(values, str) else list(values)
        before = [old] * n if old is None or isinstance(old, str) else list(old)
        if len(new) != n or len(before) != n:
            raise InvalidParameterError(
                f"annotate: got {n} sample ids, {len(new)} values and {len(before)} old values; "
                "pass one for all or one per id. Nothing was recorded."
            )
        reasons = _per_row("_reason", reason, n)[0].to_list()
        sources = _per_row("_source", source, n)[0].to_list()
        self._pending.append(
            changes_frame(
                ids[SAMPLE_ID],
                field,
                before,
                new,
                reason=reasons,
                source=sources,
                iteration=iteration,
            )
        )
        return self

    @property
    def pending_changes(self) -> pl.DataFrame:
        """Lineage rows of the edits not yet committed."""
        return pl.concat(self._pending) if self._pending else empty_changes()


def _per_row(name: str, value: str | Sequence[str], n: int) -> list[pl.Series]:
    values = [value] * n if isinstance(value, str) else [str(v) for v in value]
    if len(values) != n:
        raise InvalidParameterError(
            f"{name.strip('_')}: expected 1 or {n} values, got {len(values)}."
        )
    return [pl.Series(name, values, dtype=pl.Utf8)]
