"""Render a :class:`~datacentric.issues.result.ScanResult` as HTML or Markdown."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import polars as pl

from datacentric._validation import invalid_parameter
from datacentric.dataset import Dataset
from datacentric.report.boxes import BoxFigures, is_box_row
from datacentric.report.charts import bar_chart_svg
from datacentric.report.html import (
    GalleryItem,
    Markup,
    Table,
    format_value,
    heat_table,
    render,
    severity_badge,
    table,
    thumbnail_img,
)
from datacentric.report.markdown import markdown_header, markdown_table, md_text

if TYPE_CHECKING:
    from datacentric.issues.result import ScanResult

__all__ = ["describe_issue_type", "render_scan_html", "render_scan_markdown"]

_BASE = ("sample_id", "issue_type", "is_issue", "severity", "suggested_label", "detail")
_MAX_SLICE_VALUES = 20

# Sub-types some finders report under their own names (the registry describes the finders).
_EXPLAIN = {
    "dark": "Very dark image: little brightness even in its brightest pixels.",
    "bright": "Washed-out image: very bright even in its darkest pixels.",
    "blurry": "Blurry image: little fine detail (low Laplacian variance).",
    "low_information": "Low-information image: nearly uniform, little entropy.",
    "odd_size": "Image size far from the dataset's typical size.",
    "odd_aspect_ratio": "Aspect ratio far from the dataset's typical one.",
    "grayscale": "Grayscale image in a colour dataset.",
    "missing_label": "The sample has no label.",
    "unreadable_image": "The image file is missing or cannot be decoded.",
    "null_metadata": "Some metadata (slice) values are empty.",
    "underperforming_slice": "Belongs to a slice where the model does clearly worse.",
}


def describe_issue_type(issue_type: str) -> str:
    """One sentence saying what an issue type means (the finder's own description when
    it is registered).

    Examples
    --------
    >>> describe_issue_type("near_duplicate")
    'Nearly identical to another sample.'
    >>> describe_issue_type("my_custom_check")
    'Flagged by the my_custom_check finder.'
    """
    from datacentric.issues.registry import REGISTRY

    text = getattr(REGISTRY.get(issue_type), "description", "") if issue_type in REGISTRY else ""
    return str(text) or _EXPLAIN.get(issue_type, f"Flagged by the {issue_type} finder.")


def _anchor(issue_type: str) -> str:
    return "issue-" + re.sub(r"[^a-z0-9_-]+", "-", issue_type.lower())


def _title(issue_type: str) -> str:
    return issue_type.replace("_", " ").capitalize()


def _class_counts(
    result: ScanResult, dataset: Dataset | None = None
) -> tuple[dict[str, int], list[str], str]:
    """Per class: the imbalance finder's counts when it ran; else the labels of the samples
    (the boxes of a detection dataset, when it is given)."""
    stats = result.statistics.get("imbalance") or {}
    counts = stats.get("class_counts")
    if counts:
        where = stats.get("counted_split")
        rare = [*stats.get("rare_classes", []), *stats.get("empty_classes", [])]
        return {str(k): int(v) for k, v in counts.items()}, rare, f"split: {where or 'all'}"
    boxes = dataset.annotations if dataset is not None else None
    vc = (boxes if boxes is not None else result.samples)["label"].value_counts()
    seen = {str(k): int(v) for k, v in vc.iter_rows() if k is not None}
    ordered = {c: seen.get(c, 0) for c in result.classes}
    ordered.update({k: v for k, v in seen.items() if k not in ordered})
    nonzero = sorted(v for v in ordered.values() if v > 0)
    median = nonzero[len(nonzero) // 2] if nonzero else 0
    rare = [k for k, v in ordered.items() if v < 0.5 * median]
    return ordered, rare, "all boxes" if boxes is not None else "all samples"


def _overview(result: ScanResult) -> tuple[pl.DataFrame, dict[str, Any], dict[str, str]]:
    by_type = result.summary()["by_type"]
    flagged_ids = result.issues.filter(pl.col("is_issue"))["sample_id"].unique()
    n = result.samples.height or int(result.meta.get("n_samples") or 0)
    n_types = int((by_type["n_flagged"] > 0).sum()) if by_type.height else 0
    label_row = by_type.filter(pl.col("issue_type") == "label")
    if label_row.height:
        label_errors: Any = int(label_row["n_flagged"][0])
        label_hint = f"{label_row['rate'][0]:.1%} of examined"
    else:
        label_errors = None
        label_hint = "skipped" if "label" in result.skipped else "not run"
    cards = {
        "Samples scanned": n,
        "Samples with any issue": flagged_ids.len(),
        "Issue types found": n_types,
        "Label errors": label_errors,
    }
    hints = {
        "Samples with any issue": f"{flagged_ids.len() / n:.1%} of samples" if n else "",
        "Issue types found": f"of {by_type.height} examined",
        "Label errors": label_hint,
    }
    return by_type, cards, hints


def _slice_blocks(
    result: ScanResult, by_type: pl.DataFrame
) -> list[tuple[str, pl.DataFrame, list[str], int]]:
    """Per metadata column: a frame value, n, <rate per flagged issue type>."""
    by_slice = result.summary()["by_slice"]
    types = [t for t, k in by_type.select("issue_type", "n_flagged").rows() if k]
    blocks = []
    for col in by_slice["column"].unique(maintain_order=True).to_list():
        part = by_slice.filter(pl.col("column") == col, pl.col("issue_type").is_in(types))
        sizes = (
            result.samples.group_by(pl.col(col).cast(pl.Utf8).alias("value"))
            .agg(pl.len().alias("n"))
            .sort("n", "value", descending=[True, False], nulls_last=True)
        )
        n_values = sizes.height
        if (
            n_values < 2
            or part.height == 0
            or (n_values > _MAX_SLICE_VALUES and n_values > 0.5 * result.samples.height)
        ):
            continue  # a constant column, an identifier or a continuous value
        hidden = max(sizes.height - _MAX_SLICE_VALUES, 0)
        wide = part.pivot(on="issue_type", index="value", values="rate")
        frame = sizes.head(_MAX_SLICE_VALUES).join(wide, on="value", how="left")
        present = [t for t in types if t in frame.columns]
        frame = frame.with_columns(pl.col("value").fill_null("(missing)"))
        blocks.append((col, frame.select("value", "n", *present), present, hidden))
    return blocks


#: Columns a box card shows in its figure or caption, not again in its grey line.
_BOX_SHOWN = frozenset(
    {
        "annotation_id",
        "prediction_id",
        "duplicate_of",
        "box_score",
        "iou",
        "suggested_x",
        "suggested_y",
        "suggested_w",
        "suggested_h",
    }
)


def _extra_fields(
    row: dict[str, Any], sample_cols: set[str], skip: frozenset[str] = frozenset()
) -> str:
    bits = [
        f"{k}: {format_value(v)}"
        for k, v in row.items()
        if k not in _BASE
        and k not in sample_cols
        and k not in skip
        and v is not None
        and format_value(v) != ""
    ]
    return " · ".join(bits[:4])


def _thumb(figures: BoxFigures, sample_id: str, cache: dict[str, Markup]) -> Markup:
    if sample_id not in cache:
        arr = figures.any_image(sample_id)
        cache[sample_id] = (
            Markup()
            if arr is None
            else Markup(thumbnail_img(arr, 96, alt=sample_id, title=sample_id))
        )
    return cache[sample_id]


def _box_caption(row: dict[str, Any]) -> str:
    """``box b3 · ObjectLab score 0.003``: the box and the finder's own score."""
    if row.get("annotation_id") is not None:
        name = f"box {row['annotation_id']}"
    else:
        name = f"predicted box {row.get('prediction_id')}"
    if row.get("box_score") is not None:
        return f"{name} · ObjectLab score {format_value(row['box_score'])}"
    if row.get("iou") is not None and row.get("duplicate_of") is not None:
        return f"{name} · IoU {format_value(row['iou'])} with box {row['duplicate_of']}"
    return name


def _box_labels(row: dict[str, Any], figures: BoxFigures) -> tuple[Any, Any, str]:
    """``old``, ``new`` and the text for a missing ``old`` of a box card."""
    given = figures.given(row.get("annotation_id"))
    old = None if given is None else given[0]
    new = row.get("suggested_label")
    if row.get("annotation_id") is None:
        missing = "no box"
    elif given is None:
        missing = "class not known"
    else:
        missing = "unlabeled"
    return old, (new if new is not None and new != old else None), missing


def _gallery_item(
    row: dict[str, Any], sample_cols: set[str], figures: BoxFigures, cache: dict[str, Markup]
) -> GalleryItem:
    sid = str(row["sample_id"])
    badge = Markup(severity_badge(row["severity"]))
    detail = row.get("detail") or ""
    if is_box_row(row):
        old, new, missing = _box_labels(row, figures)
        return GalleryItem(
            sample_id=sid,
            badge=badge,
            detail=detail,
            old=old,
            new=new,
            prefix="class" if old is not None else None,
            missing=missing,
            figure=Markup(figures.figure(row)),
            caption=_box_caption(row),
            extra=_extra_fields(row, sample_cols, _BOX_SHOWN),
        )
    suggested = row.get("suggested_label")
    return GalleryItem(
        sample_id=sid,
        badge=badge,
        detail=detail,
        old=row.get("label"),
        new=suggested if suggested not in (None, row.get("label")) else None,
        thumb=_thumb(figures, sid, cache),
        extra=_extra_fields(row, sample_cols),
    )


def _gallery(
    rows: pl.DataFrame,
    sample_cols: set[str],
    figures: BoxFigures,
    top: int,
    cache: dict[str, Markup],
) -> dict[str, Any]:
    """The worst ``top`` flagged ``rows`` of an issue type, for the gallery macro."""
    items = [
        _gallery_item(row, sample_cols, figures, cache)
        for row in rows.head(top).iter_rows(named=True)
    ]
    more = rows.height - min(top, rows.height)
    return {
        "samples": items,
        "more": f"… and {more:,} more flagged (worst shown first)." if more else None,
    }


def _check_dataset(owner: str, dataset: object) -> None:
    """``dataset`` is the scanned Dataset or None (checked before anything reads it)."""
    if dataset is not None and not isinstance(dataset, Dataset):
        raise invalid_parameter(
            owner,
            "dataset",
            dataset,
            "the scanned Dataset or None",
            fix="Pass dataset=Dataset.open(root), the dataset the scan ran on, or leave it out.",
        )


def _box_figures(
    owner: str, dataset: Dataset | None, shown: Iterable[pl.DataFrame], *, decode: bool = True
) -> BoxFigures:
    """The box drawer of a report, indexing only the boxes its ``shown`` rows name (and
    with ``decode``, their images decoded in one pass)."""
    _check_dataset(owner, dataset)
    shown = list(shown)
    ids: list[str] = []
    if dataset is not None and dataset.annotations is not None:
        for rows in shown:
            for col in ("annotation_id", "duplicate_of"):
                if col in rows.columns:
                    ids += rows[col].drop_nulls().cast(pl.Utf8).to_list()
    figures = BoxFigures(dataset, ids)
    if decode:  # the images of the box cards (thumbnails are decoded one by one, not kept)
        figures.prefetch(
            str(row["sample_id"])
            for rows in shown
            for row in rows.iter_rows(named=True)
            if is_box_row(row)
        )
    return figures


def _statistics(result: ScanResult) -> list[dict[str, Any]]:
    """A block per finder's statistics (but imbalance): scalar cards and record tables."""
    out = []
    for name, stats in result.statistics.items():
        if name == "imbalance" or not isinstance(stats, dict):
            continue
        scalars = {k: v for k, v in stats.items() if isinstance(v, (int, float, str, bool))}
        tables = [
            (key.replace("_", " "), table(pl.DataFrame(value, strict=False), max_rows=30))
            for key, value in stats.items()
            if isinstance(value, list) and value and all(isinstance(x, dict) for x in value)
        ]
        if scalars or tables:
            out.append(
                {
                    "name": name,
                    "title": _title(name),
                    "cards": {k.replace("_", " "): v for k, v in scalars.items()},
                    "tables": tables,
                }
            )
    return out


def _two_columns(data: dict[str, Any], key: str, value: str) -> pl.DataFrame:
    return pl.DataFrame({key: list(data), value: list(data.values())}, strict=False)


def _run_details(result: ScanResult) -> list[tuple[str, Table]]:
    params = {k: json.dumps(p, default=str) for k, p in result.params.items()}
    meta = {k: str(v) for k, v in result.meta.items()}
    parts = [
        ("Timings", _two_columns(result.timings, "step", "seconds")),
        ("Parameters", _two_columns(params, "finder", "parameters")),
        ("Scan metadata", _two_columns(meta, "key", "value")),
    ]
    return [
        (t, table(f, formats={"seconds": "{:.2f}"}, max_rows=None)) for t, f in parts if f.height
    ]


def _chips(result: ScanResult) -> list[str]:
    meta = result.meta
    chips = [f"root: {meta['root']}"] if meta.get("root") else []
    chips += [f"version {meta['version']}"] if meta.get("version") is not None else []
    chips += [
        f"{result.samples.height or meta.get('n_samples', 0):,} samples",
        f"{len(result.classes)} classes",
        f"predictions: {meta.get('predictions') or 'none'}",
    ]
    return chips + ([f"created {meta['created_at']}"] if meta.get("created_at") else [])


def render_scan_html(result: ScanResult, *, dataset: Dataset | None = None, top: int = 12) -> str:
    """A self-contained HTML report of a scan (the ``scan.html`` template).

    Parameters
    ----------
    result : ScanResult
    dataset : Dataset, optional
        When given, the worst items of each issue type are shown with thumbnails.
    top : int
        How many of the worst items to show per issue type.

    Returns
    -------
    str
        A complete HTML document: no external files, scripts or fonts.
    """
    by_type, cards, hints = _overview(result)
    counts = by_type.sort("n_flagged", "issue_type", descending=[True, False])
    found = counts.filter(pl.col("n_flagged") > 0)
    clean = counts.filter(pl.col("n_flagged") == 0)["issue_type"].to_list()
    _check_dataset("render_scan_html", dataset)
    class_counts, rare, where = _class_counts(result, dataset)
    rare_note = (
        f"Rare classes, highlighted: {', '.join(rare)}."
        if rare
        else "No class is much rarer than the others."
    )
    ratio = (result.statistics.get("imbalance") or {}).get("imbalance_ratio")
    if ratio:
        rare_note += f" Largest / smallest class: {ratio:.1f}×."
    overall = dict(by_type.select("issue_type", "rate").rows())
    slices = [
        {"column": col, "table": heat_table(frame, types, reference=overall), "hidden": hidden}
        for col, frame, types, hidden in _slice_blocks(result, by_type)
    ]
    cache: dict[str, Markup] = {}
    flagged = {t: result.flagged(t) for t in found["issue_type"].to_list()}
    figures = _box_figures("render_scan_html", dataset, [f.head(top) for f in flagged.values()])
    sample_cols = set(result.samples.columns)
    galleries = [
        {
            "title": _title(t),
            "anchor": _anchor(t),
            "intro": describe_issue_type(t),
            "n_flagged": n_flagged,
            "n_examined": n_examined,
            **_gallery(flagged[t], sample_cols, figures, top, cache),
        }
        for t, n_flagged, n_examined in found.select("issue_type", "n_flagged", "n_examined").rows()
    ]
    statistics = _statistics(result)
    skipped = (
        table(
            pl.DataFrame({"finder": list(result.skipped), "reason": list(result.skipped.values())}),
            max_rows=None,
        )
        if result.skipped
        else None
    )
    nav = {
        "overview": "Overview",
        "classes": "Classes",
        **({"slices": "Slices"} if slices else {}),
        **{g["anchor"]: g["title"] for g in galleries},
        **({"clean": "Found nothing"} if clean else {}),
        "skipped": "Skipped",
        "run": "Run details",
    }
    return render(
        "scan.html",
        title="Data scan report",
        subtitle="Issues found in the dataset, worst first.",
        chips=_chips(result),
        nav=nav,
        footer="Generated by datacentric.",
        overview={
            "cards": cards,
            "hints": hints,
            "chart": Markup(
                bar_chart_svg(
                    found["issue_type"].to_list(),
                    found["n_flagged"].to_list(),
                    title="Flagged samples per issue type",
                )
            )
            if found.height
            else None,
            "clean": clean,
            "table": table(
                counts.select("issue_type", "n_flagged", "n_examined", "rate", "mean_severity"),
                formats={"rate": "{:.1%}", "mean_severity": "{:.2f}"},
                max_rows=None,
            ),
        },
        classes={
            "note": rare_note,
            "chart": Markup(
                bar_chart_svg(
                    list(class_counts),
                    list(class_counts.values()),
                    title=f"{'Boxes' if where == 'all boxes' else 'Samples'} per class ({where})",
                    highlight=set(rare),
                )
            ),
        },
        slices=slices,
        statistics=statistics,
        galleries=galleries,
        clean=[
            {"name": t, "anchor": _anchor(t), "description": describe_issue_type(t)} for t in clean
        ],
        skipped=skipped,
        run_details=_run_details(result),
    )


def _number(value: Any) -> float | None:
    """A number of a finder column as a float (None: missing or not a number)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else None


def _box_rows_markdown(shown: pl.DataFrame, figures: BoxFigures) -> list[str]:
    """The worst rows of a box finder: each row's boxes as text, its finder's score."""
    rows = list(shown.iter_rows(named=True))
    frame = pl.DataFrame(
        {
            "sample_id": [str(r["sample_id"]) for r in rows],
            "box": [
                str(r["annotation_id"])
                if r.get("annotation_id") is not None
                else f"predicted {r.get('prediction_id')}"
                for r in rows
            ],
            "boxes": [figures.text(r) for r in rows],
            "severity": [_number(r["severity"]) for r in rows],
            "score": [
                _number(r.get("box_score"))
                if r.get("box_score") is not None
                else _number(r.get("iou"))
                for r in rows
            ],
            "detail": [r.get("detail") for r in rows],
        },
        schema_overrides={"score": pl.Float64, "severity": pl.Float64, "detail": pl.Utf8},
    )
    lines = ["", markdown_table(frame, formats={"severity": "{:.2f}"}, max_rows=None)]
    named = any(r.get("annotation_id") is not None for r in rows)
    if named and not figures.has_boxes:
        lines.append(
            "\nGiven boxes are named by id only: pass dataset= (the scanned dataset) for "
            "their class and coordinates."
        )
    return lines


def render_scan_markdown(
    result: ScanResult, *, dataset: Dataset | None = None, top: int = 12
) -> str:
    """A Markdown report of a scan: summary, per-type worst items, skipped finders.

    Parameters
    ----------
    result : ScanResult
    dataset : Dataset, optional
        The scanned dataset: the rows of box finders then give the class and coordinates of
        their given box (``given [11, 11, 8, 12] class c1 → suggested [2, 2, 12, 12]``).
    top : int
        How many of the worst items to list per issue type.
    """
    by_type, cards, hints = _overview(result)
    lines = markdown_header("Data scan report", _chips(result), cards, hints)
    lines += ["", "## Summary", ""]
    lines.append(
        markdown_table(
            by_type.sort("n_flagged", "issue_type", descending=[True, False]).select(
                "issue_type", "n_flagged", "n_examined", "rate", "mean_severity"
            ),
            formats={"rate": "{:.1%}", "mean_severity": "{:.2f}"},
            max_rows=None,
        )
    )
    _check_dataset("render_scan_markdown", dataset)
    class_counts, rare, where = _class_counts(result, dataset)
    lines += ["", f"## Class distribution ({md_text(where)})", ""]
    lines.append(
        markdown_table(
            pl.DataFrame(
                {
                    "class": list(class_counts),
                    "n": list(class_counts.values()),
                    "rare": ["yes" if c in rare else "" for c in class_counts],
                }
            ),
            max_rows=None,
        )
    )
    counts = by_type.sort("n_flagged", "issue_type", descending=[True, False])
    flagged_by = {
        t: result.flagged(t) for t, n in counts.select("issue_type", "n_flagged").rows() if n
    }
    figures = _box_figures(
        "render_scan_markdown", dataset, [f.head(top) for f in flagged_by.values()], decode=False
    )
    clean = []
    for t, n_flagged, n_examined in counts.select("issue_type", "n_flagged", "n_examined").rows():
        if not n_flagged:
            clean.append(t)
            continue
        flagged = flagged_by[t]
        lines += ["", f"## {md_text(_title(t))}", "", md_text(describe_issue_type(t)), ""]
        lines.append(f"**{n_flagged:,}** flagged of {n_examined:,} examined; worst first:")
        if any(is_box_row(r) for r in flagged.head(top).iter_rows(named=True)):
            lines += _box_rows_markdown(flagged.head(top), figures)
        else:
            shown = flagged.head(top).select(
                "sample_id", "label", "suggested_label", "severity", "detail"
            )
            lines += ["", markdown_table(shown, formats={"severity": "{:.2f}"}, max_rows=None)]
        if flagged.height > top:
            lines.append(f"\n… and {flagged.height - top:,} more.")
    if clean:
        lines += ["", "## Checks that found nothing", ""]
        lines += [f"- **{md_text(t)}**: {md_text(describe_issue_type(t))}" for t in clean]
    lines += ["", "## Skipped finders", ""]
    if result.skipped:
        lines.append(
            markdown_table(
                pl.DataFrame(
                    {"finder": list(result.skipped), "reason": list(result.skipped.values())}
                ),
                max_rows=None,
            )
        )
    else:
        lines.append("None: every selected finder ran.")
    if result.timings:
        lines += ["", "## Run details", ""]
        lines.append(
            markdown_table(
                pl.DataFrame(
                    {"step": list(result.timings), "seconds": list(result.timings.values())}
                ),
                formats={"seconds": "{:.2f}"},
                max_rows=None,
            )
        )
    return "\n".join(lines) + "\n"
