"""Manifest schema: the reserved columns and the checks every manifest passes."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from datacentric.exceptions import (
    DuplicateSampleIdError,
    EmptyDatasetError,
    SchemaError,
    UnknownLabelError,
    format_items,
)

__all__ = [
    "ANNOTATOR",
    "CORE_COLUMNS",
    "IMAGE",
    "LABEL",
    "RESERVED_COLUMNS",
    "SAMPLE_ID",
    "SPLIT",
    "VALID_SPLITS",
    "check_classes",
    "check_required_columns",
    "normalize_manifest",
]

SAMPLE_ID = "sample_id"
IMAGE = "image"
LABEL = "label"
SPLIT = "split"
ANNOTATOR = "annotator"
CORE_COLUMNS = (SAMPLE_ID, IMAGE, LABEL, SPLIT)
RESERVED_COLUMNS = (*CORE_COLUMNS, ANNOTATOR)
VALID_SPLITS = ("train", "val", "test")


def check_classes(classes: Sequence[str]) -> list[str]:
    """Validate an ordered list of class names and return it as a list of str.

    Examples
    --------
    >>> check_classes(["cat", "dog"])
    ['cat', 'dog']
    >>> check_classes(["cat", "cat"])
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: classes must be unique, ...
    """
    if isinstance(classes, str):
        raise SchemaError(
            f"classes must be a list of class names, received the string {classes!r}. "
            f"Pass e.g. classes=[{classes!r}, ...]."
        )
    out = [str(c) for c in classes]
    if not out:
        raise SchemaError("classes is empty. Pass the ordered list of class names.")
    seen: set[str] = set()
    dup = [c for c in out if c in seen or seen.add(c)]  # type: ignore[func-returns-value]
    if dup:
        raise SchemaError(
            f"classes must be unique, received duplicates {format_items(dup)} in {out!r}. "
            "Remove the repeated names."
        )
    return out


def check_required_columns(manifest: pl.DataFrame, source: str = "manifest") -> None:
    """Raise :class:`SchemaError` naming ``source`` if ``sample_id``, ``image`` or ``label`` is
    missing.

    Examples
    --------
    >>> check_required_columns(pl.DataFrame({"id": [1]}), "m.csv")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.SchemaError: m.csv is missing required column(s) ...
    """
    missing = [c for c in (SAMPLE_ID, IMAGE, LABEL) if c not in manifest.columns]
    if missing:
        shown = [c if len(c) <= 40 else c[:37] + "..." for c in manifest.columns[:20]]
        more = f" and {len(manifest.columns) - 20} more" if len(manifest.columns) > 20 else ""
        raise SchemaError(
            f"{source} is missing required column(s) {missing}; received columns "
            f"{shown}{more}. A manifest needs sample_id, image and label "
            "(label may be empty for unlabeled rows); split and metadata columns are optional."
        )


def _row_indices(mask: pl.Series) -> list[int]:
    return [int(i) for i in mask.arg_true().to_list()]


def normalize_manifest(
    manifest: pl.DataFrame, classes: Sequence[str], *, source: str = "manifest"
) -> pl.DataFrame:
    """Check a manifest against the data model and cast the core columns to Utf8.

    Raises a clear error naming the offending rows for: missing core columns, an empty
    manifest, null or duplicate ``sample_id``, labels outside ``classes``, and splits
    other than train/val/test. A missing ``split`` column is added as ``"train"``.

    Parameters
    ----------
    manifest : polars.DataFrame
        The manifest to check.
    classes : sequence of str
        The ordered classes; non-null labels must be among them.
    source : str
        Where the manifest came from, used in error messages (a file path, say).

    Returns
    -------
    polars.DataFrame
        The manifest with ``sample_id, image, label, split`` first, all Utf8.

    Examples
    --------
    >>> import polars as pl
    >>> m = pl.DataFrame({"sample_id": [1, 2], "image": ["a.png", "b.png"], "label": ["x", None]})
    >>> normalize_manifest(m, ["x", "y"]).columns
    ['sample_id', 'image', 'label', 'split']
    """
    check_required_columns(manifest, source)
    if manifest.height == 0:
        raise EmptyDatasetError(
            f"{source} has no rows. A dataset needs at least one sample; check the path "
            "or the filter that produced it."
        )
    if SPLIT not in manifest.columns:
        manifest = manifest.with_columns(pl.lit("train").alias(SPLIT))
    cast = [pl.col(c).cast(pl.Utf8) for c in CORE_COLUMNS]
    if ANNOTATOR in manifest.columns:
        cast.append(pl.col(ANNOTATOR).cast(pl.Utf8))
    try:
        manifest = manifest.with_columns(cast)
    except pl.exceptions.PolarsError as exc:  # nested (list/struct) or binary columns
        types = {c: str(manifest.schema[c]) for c in CORE_COLUMNS if c in manifest.columns}
        raise SchemaError(
            f"{source}: the core columns must hold text or numbers, received types {types} "
            f"({' '.join(str(exc).split()[:12])}). Write sample_id, image, label and split as "
            "plain text columns."
        ) from exc
    rest = [c for c in manifest.columns if c not in CORE_COLUMNS]
    manifest = manifest.select([*CORE_COLUMNS, *rest])

    for col in (SAMPLE_ID, IMAGE, SPLIT):
        nulls = manifest[col].is_null()
        if nulls.any():
            rows = _row_indices(nulls)
            raise SchemaError(
                f"{source}: column {col!r} is empty in {len(rows)} row(s) (rows "
                f"{format_items(rows)}). Every sample needs a {col}; fill them or remove "
                "those rows."
            )
    dup_mask = manifest[SAMPLE_ID].is_duplicated()
    if dup_mask.any():
        dups = manifest.filter(dup_mask)[SAMPLE_ID].unique(maintain_order=True).to_list()
        rows = _row_indices(dup_mask)
        raise DuplicateSampleIdError(
            f"{source}: sample_id must be unique, received {len(dups)} duplicated id(s) "
            f"{format_items(dups)} in rows {format_items(rows)}. Give each sample its own id "
            "(e.g. the relative image path).",
            rows=dups,
        )
    bad_label = manifest[LABEL].is_not_null() & ~manifest[LABEL].is_in(list(classes))
    if bad_label.any():
        labels = manifest.filter(bad_label)[LABEL].unique(maintain_order=True).to_list()
        ids = manifest.filter(bad_label)[SAMPLE_ID].to_list()
        raise UnknownLabelError(
            f"{source}: {len(ids)} row(s) have labels not among the classes: labels "
            f"{format_items(labels)} in samples {format_items(ids)}. Valid classes are "
            f"{list(classes)!r}. Fix the labels, or pass classes= including them.",
            rows=ids,
        )
    bad_split = ~manifest[SPLIT].is_in(list(VALID_SPLITS))
    if bad_split.any():
        vals = manifest.filter(bad_split)[SPLIT].unique(maintain_order=True).to_list()
        ids = manifest.filter(bad_split)[SAMPLE_ID].to_list()
        raise SchemaError(
            f"{source}: split must be one of {list(VALID_SPLITS)}, received "
            f"{format_items(vals)} in samples {format_items(ids)}. Rename those splits."
        )
    return manifest
