"""Box annotations of detection datasets: the table, its checks, and image sizes.

A detection dataset carries one polars table of boxes per version, beside its manifest:

==================  =========  ==========================================================
column              type       meaning
==================  =========  ==========================================================
``annotation_id``   Utf8       unique and stable across versions (edits keep it)
``sample_id``       Utf8       the image the box is on (a manifest ``sample_id``)
``label``           Utf8       the box's class (one of the dataset's classes)
``x, y, w, h``      Float64    left, top, width, height in pixels of the image
``annotator``       Utf8       optional: who drew it
``score``           Float64    optional: a detector's confidence (predicted boxes)
others              any        kept as they are (COCO's ``area`` and ``iscrowd``, say)
==================  =========  ==========================================================

Two kinds of problems, one function (:func:`annotation_problems`) that finds both and
returns the bad rows with a reason:

*load errors* make a table unusable by anything downstream and are refused when a dataset
is built, opened, edited or imported (:class:`~datacentric.exceptions.InvalidAnnotationError`,
one line naming the annotation ids): a missing value in a required column, a duplicate
``annotation_id``, a non-finite coordinate (or one whose edge or area overflows to
infinity), a width or height that is zero or negative, a label outside the classes, a
``sample_id`` not in the manifest.

*geometry problems* need the image: a box reaching outside its image. Real exports have
them (COCO boxes that overhang the border by half a pixel), so they are not refused; the
``integrity`` finder reports them. Image sizes come from the image headers (never decoded).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from datacentric.dataset._schema import IMAGE, LABEL, SAMPLE_ID
from datacentric.dataset.images import ARRAY_PREFIX, PathResolver, read_image_size
from datacentric.exceptions import InvalidAnnotationError, SchemaError, format_items

__all__ = [
    "ANNOTATION_COLUMNS",
    "ANNOTATION_ID",
    "BOX_COLUMNS",
    "LOAD_PROBLEMS",
    "TASKS",
    "annotation_problems",
    "check_annotations",
    "empty_annotations",
    "image_sizes",
    "normalize_annotations",
]

ANNOTATION_ID = "annotation_id"
BOX_COLUMNS = ("x", "y", "w", "h")
ANNOTATION_COLUMNS = (ANNOTATION_ID, SAMPLE_ID, LABEL, *BOX_COLUMNS)
TASKS = ("classification", "detection")
_OPTIONAL: dict[str, type[pl.DataType]] = {"annotator": pl.Utf8, "score": pl.Float64}

#: Problems refused when a dataset is built, opened or edited, in the order they are checked.
LOAD_PROBLEMS = (
    "missing_value",
    "duplicate_id",
    "non_finite",
    "non_positive_size",
    "unknown_class",
    "unknown_sample",
)
_FIX = {
    "missing_value": "every box needs an annotation_id, sample_id, label and x, y, w, h",
    "duplicate_id": "give each box its own annotation_id",
    "non_finite": "coordinates must be finite numbers of pixels",
    "non_positive_size": "a box needs a width and height above 0; remove or redraw it",
    "unknown_class": "use one of the classes, or pass classes= including it",
    "unknown_sample": "a box must be on an image of the manifest",
}
PROBLEM_SCHEMA = {
    ANNOTATION_ID: pl.Utf8,
    SAMPLE_ID: pl.Utf8,
    "row": pl.Int64,
    "problem": pl.Utf8,
    "reason": pl.Utf8,
}


def empty_annotations() -> pl.DataFrame:
    """An empty box table with the required columns.

    Examples
    --------
    >>> empty_annotations().columns
    ['annotation_id', 'sample_id', 'label', 'x', 'y', 'w', 'h']
    """
    schema = {c: pl.Utf8 for c in (ANNOTATION_ID, SAMPLE_ID, LABEL)}
    return pl.DataFrame(schema={**schema, **dict.fromkeys(BOX_COLUMNS, pl.Float64)})


def _cast(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    missing = [c for c in ANNOTATION_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{source}: the annotations lack column(s) {missing}; received columns "
            f"{format_items(frame.columns)}. A box table needs annotation_id, sample_id, label, "
            "x, y, w, h (pixels)."
        )
    types: dict[str, type[pl.DataType]] = {c: pl.Utf8 for c in (ANNOTATION_ID, SAMPLE_ID, LABEL)}
    types.update(dict.fromkeys(BOX_COLUMNS, pl.Float64))
    types.update({c: t for c, t in _OPTIONAL.items() if c in frame.columns})
    try:
        frame = frame.with_columns(pl.col(c).cast(t) for c, t in types.items())
    except pl.exceptions.PolarsError as exc:
        got = {c: str(frame.schema[c]) for c in types}
        raise SchemaError(
            f"{source}: the annotation columns have the wrong types {got} "
            f"({' '.join(str(exc).split()[:12])}). Ids and labels are text, x, y, w, h numbers."
        ) from exc
    rest = [c for c in frame.columns if c not in ANNOTATION_COLUMNS]
    return frame.select([*ANNOTATION_COLUMNS, *rest])


def annotation_problems(
    annotations: pl.DataFrame,
    classes: Sequence[str],
    sample_ids: Sequence[str] | pl.Series,
    sizes: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every bad box and why: the load errors, and boxes outside their image when ``sizes``.

    Reusable by the ``integrity`` finder: it returns rows, it raises nothing.

    Parameters
    ----------
    annotations : polars.DataFrame
        A box table with the required columns (types already as documented).
    classes : sequence of str
        The dataset's classes.
    sample_ids : sequence of str
        The manifest's sample ids.
    sizes : polars.DataFrame, optional
        ``sample_id, width, height`` (see :func:`image_sizes`); with it, boxes reaching
        outside their image are reported (problem ``outside_image``). A null size skips
        its boxes (an unreadable image is the image finders' to report).

    Returns
    -------
    polars.DataFrame
        ``annotation_id, sample_id, row, problem, reason``; ``problem`` is one of
        :data:`LOAD_PROBLEMS` or ``outside_image``; a box with several problems has a row
        for each.

    Examples
    --------
    >>> boxes = pl.DataFrame({"annotation_id": ["1", "2"], "sample_id": ["a", "a"],
    ...     "label": ["cat", "cat"], "x": [0.0, 5.0], "y": [0.0, 5.0], "w": [4.0, 0.0],
    ...     "h": [4.0, 2.0]})
    >>> annotation_problems(boxes, ["cat"], ["a"])["reason"].to_list()
    ['w x h = 0.0 x 2.0']
    >>> sizes = pl.DataFrame({"sample_id": ["a"], "width": [3], "height": [10]})
    >>> annotation_problems(boxes, ["cat"], ["a"], sizes)["problem"].to_list()
    ['outside_image', 'non_positive_size']
    """
    a = annotations.select(ANNOTATION_COLUMNS).with_row_index("row")  # extra columns stay out
    box = [pl.col(c) for c in BOX_COLUMNS]
    fmt = pl.format("{} x {}", pl.col("w"), pl.col("h"))
    required_null = pl.any_horizontal(pl.col(c).is_null() for c in ANNOTATION_COLUMNS)
    x, y, w, h = box
    # an overflowing right/bottom edge or area is as unusable as an infinite coordinate
    finite = pl.all_horizontal(
        *(c.is_finite() for c in box), (x + w).is_finite(), (y + h).is_finite(),
        (w * h).is_finite(),
    )  # fmt: skip
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        (
            "missing_value",
            required_null,
            pl.lit("empty ")
            + pl.concat_str(
                [pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in ANNOTATION_COLUMNS],
                separator=", ",
                ignore_nulls=True,
            ),
        ),
        (
            "duplicate_id",
            pl.col(ANNOTATION_ID).is_duplicated() & pl.col(ANNOTATION_ID).is_not_null(),
            pl.lit("annotation_id used by more than one box"),
        ),
        (
            "non_finite",
            ~required_null & ~finite,
            pl.format("x, y, w, h = {}, {}, {}, {}", *box),
        ),
        (
            "non_positive_size",
            ~required_null & finite & ((pl.col("w") <= 0) | (pl.col("h") <= 0)),
            pl.lit("w x h = ") + fmt,
        ),
        (
            "unknown_class",
            pl.col(LABEL).is_not_null() & ~pl.col(LABEL).is_in(list(classes)),
            pl.format("label '{}' is not a class", pl.col(LABEL)),
        ),
        (
            "unknown_sample",
            pl.col(SAMPLE_ID).is_not_null()
            & ~pl.col(SAMPLE_ID).is_in(pl.Series(list(sample_ids), dtype=pl.Utf8).implode()),
            pl.lit("sample_id is not in the manifest"),
        ),
    ]
    parts = [
        a.filter(mask.fill_null(False)).select(
            ANNOTATION_ID, SAMPLE_ID, "row", pl.lit(name).alias("problem"), reason.alias("reason")
        )
        for name, mask, reason in checks
    ]
    if sizes is not None:
        joined = a.join(
            sizes.select(SAMPLE_ID, "width", "height"), on=SAMPLE_ID, how="inner"
        ).filter(
            pl.col("width").is_not_null()
            & pl.col("height").is_not_null()
            & finite
            & ~required_null
            & (pl.col("w") > 0)
            & (pl.col("h") > 0)
        )
        outside = (
            (pl.col("x") < 0)
            | (pl.col("y") < 0)
            | (pl.col("x") + pl.col("w") > pl.col("width"))
            | (pl.col("y") + pl.col("h") > pl.col("height"))
        )
        parts.append(
            joined.filter(outside).select(
                ANNOTATION_ID,
                SAMPLE_ID,
                "row",
                pl.lit("outside_image").alias("problem"),
                pl.format(
                    "box x, y, w, h = {}, {}, {}, {} reaches outside the {} x {} image",
                    *box,
                    pl.col("width"),
                    pl.col("height"),
                ).alias("reason"),
            )
        )
    out = pl.concat([p.cast(PROBLEM_SCHEMA) for p in parts])  # type: ignore[arg-type]
    return out.sort("row", maintain_order=True)


def check_annotations(
    annotations: pl.DataFrame,
    classes: Sequence[str],
    sample_ids: Sequence[str] | pl.Series,
    *,
    source: str = "annotations",
) -> None:
    """Raise :class:`InvalidAnnotationError` for the first kind of load error found.

    The one-line message names ``source`` and every offending box (``id (row N): why``).

    Examples
    --------
    >>> boxes = pl.DataFrame({"annotation_id": ["7"], "sample_id": ["zz"], "label": ["cat"],
    ...     "x": [0.0], "y": [0.0], "w": [1.0], "h": [1.0]})
    >>> check_annotations(boxes, ["cat"], ["a"], source="boxes.json")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidAnnotationError: boxes.json: 1 annotation(s) ... unknown_sample...
    """
    problems = annotation_problems(annotations, classes, sample_ids)
    if problems.height == 0:
        return
    first = next(p for p in LOAD_PROBLEMS if p in set(problems["problem"].to_list()))
    bad = problems.filter(pl.col("problem") == first)
    named = [
        f"{aid} (row {row}): {why}"
        for aid, row, why in bad.select(ANNOTATION_ID, "row", "reason").rows()
    ]
    raise InvalidAnnotationError(
        f"{source}: {bad.height} annotation(s) with problem {first}: {format_items(named)}. "
        f"Fix: {_FIX[first]}.",
        rows=bad[ANNOTATION_ID].to_list(),
    )


def normalize_annotations(
    annotations: pl.DataFrame,
    classes: Sequence[str],
    sample_ids: Sequence[str] | pl.Series,
    *,
    source: str = "annotations",
) -> pl.DataFrame:
    """Cast a box table to the documented types, check it for load errors, return it.

    Examples
    --------
    >>> boxes = pl.DataFrame({"annotation_id": [1], "sample_id": ["a"], "label": ["cat"],
    ...     "x": [0], "y": [0], "w": [2], "h": [3], "iscrowd": [0]})
    >>> normalize_annotations(boxes, ["cat"], ["a"]).row(0)
    ('1', 'a', 'cat', 0.0, 0.0, 2.0, 3.0, 0)
    """
    out = _cast(annotations, source)
    check_annotations(out, classes, sample_ids, source=source)
    return out


def image_sizes(
    root: Path | None,
    manifest: pl.DataFrame,
    arrays: Sequence[object] | None = None,
) -> pl.DataFrame:
    """``sample_id, width, height, reason`` of every manifest image, from the image headers.

    Nothing is decoded: each file's header is read with PIL (inside the dataset root,
    links resolved, at most ``max_image_pixels`` pixels). An image that cannot be read has
    null sizes and the reason in ``reason``.
    """
    ids = manifest[SAMPLE_ID].to_list()
    paths = manifest[IMAGE].to_list()
    rows: list[tuple[str, int | None, int | None, str | None]] = []
    resolver = PathResolver(root) if root is not None else None
    for sid, rel in zip(ids, paths, strict=True):
        try:
            if rel.startswith(ARRAY_PREFIX) or root is None or resolver is None:
                shape = getattr((arrays or [])[int(rel[len(ARRAY_PREFIX) :])], "shape", None)
                if shape is None:
                    raise ValueError("no in-memory array")
                rows.append((sid, int(shape[1]), int(shape[0]), None))
                continue
            w, h = read_image_size(root, rel, sample_id=sid, resolver=resolver)
            rows.append((sid, w, h, None))
        except Exception as exc:  # one bad image must not stop a pass over the others
            rows.append((sid, None, None, " ".join(str(exc).split())[:300]))
    schema = {SAMPLE_ID: pl.Utf8, "width": pl.Int64, "height": pl.Int64, "reason": pl.Utf8}
    return pl.DataFrame(rows, schema=schema, orient="row")
