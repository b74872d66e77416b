"""`from_fiftyone`: reviewer tags and label edits → a new dataset version with lineage.

Reviewers work in the FiftyOne App with three kinds of sample tags and one kind of edit:

* ``confirmed_issue`` — the flag is right (recorded as a ``review`` lineage row);
* ``not_an_issue`` — the flag is wrong (recorded as a ``review`` lineage row);
* ``relabel:<class>`` — the label should be ``<class>`` (a relabel with lineage);
* an edited ``ground_truth`` label (e.g. ``sample.ground_truth.label = "7"`` in Python or
  an annotation run) — a relabel with lineage. A ``relabel:`` tag wins over an edit.

On a detection dataset the edits are box edits (:mod:`.box_pull`): a box moved, resized,
relabelled, deleted or added in the ``ground_truth`` Detections, and label tags on boxes
(``reviewed:wrong``, ``relabel:<class>``), each with lineage naming its ``annotation_id``;
the sample tags ``confirmed_issue``/``not_an_issue`` work as for classification.

Pulling is idempotent: a relabel that an earlier pull from FiftyOne already recorded (same
sample and label), or a verdict equal to the sample's latest recorded one, is not applied
again.

Pulling is incremental: each pull remembers where it ended (:mod:`.cursor`: FiftyOne's
``last_modified_at`` of the samples read) and the next one reads only the samples written
since — a pull with nothing new reads a few dozen bytes per changed sample instead of every
sample. ``full=True`` reads every sample again (lineage still skips what was applied).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, format_items
from datacentric.integrations.fiftyone._env import FiftyOneError, import_fiftyone
from datacentric.integrations.fiftyone.cursor import PullCursor, load_cursor, next_cursor
from datacentric.integrations.fiftyone.push import INFO_KEY
from datacentric.integrations.fiftyone.records import (
    CONFIRMED,
    ISSUE_TAG_PREFIX,
    NOT_AN_ISSUE,
    RELABEL_TAG_PREFIX,
)
from datacentric.integrations.review.apply import (
    REVIEW_FIELD,
    AppliedReview,
    applied_before,
    apply_review,
)

__all__ = ["SOURCE_PREFIX", "PullResult", "from_fiftyone", "review_decisions"]

log = logging.getLogger(__name__)

SOURCE_PREFIX = "fiftyone:"


PullResult = AppliedReview
"""What :func:`from_fiftyone` brought back: an
:class:`~datacentric.integrations.review.apply.AppliedReview` with ``backend="fiftyone"``,
``target`` the FiftyOne dataset name and ``source`` ``fiftyone:<reviewer or dataset name>``."""


def review_decisions(
    sample_ids: list[str],
    tags: list[list[str]],
    gt_labels: list[str | None],
    pushed_labels: list[str | None],
    classes: list[str],
) -> pl.DataFrame:
    """Turn FiftyOne tags and label edits into one decision row per reviewed sample.

    Returns ``sample_id, verdict, relabel, how, issues`` (``verdict`` is
    ``confirmed_issue``/``not_an_issue`` or null; ``relabel`` the new label or null).

    Raises
    ------
    InvalidParameterError
        When a sample has both verdicts, several ``relabel:`` tags, or a ``relabel:`` tag
        naming an unknown class — nothing is applied then.

    Examples
    --------
    >>> review_decisions(
    ...     ["a", "b", "c", "d"],
    ...     [["issue:label", "relabel:dog"], ["issue:dark", "not_an_issue"], [], []],
    ...     ["cat", "cat", "dog", "cat"], ["cat", "cat", "cat", "cat"], ["cat", "dog"],
    ... ).rows()  # doctest: +NORMALIZE_WHITESPACE
    [('a', None, 'dog', 'tag', 'label'), ('b', 'not_an_issue', None, None, 'dark'),
     ('c', None, 'dog', 'edit', '')]
    """
    rows = []
    both, multi, unknown = [], [], []
    for sid, tg, gt, pushed in zip(sample_ids, tags, gt_labels, pushed_labels, strict=True):
        tg = tg or []
        verdicts = [t for t in (CONFIRMED, NOT_AN_ISSUE) if t in tg]
        relabels = sorted(
            {t[len(RELABEL_TAG_PREFIX) :] for t in tg if t.startswith(RELABEL_TAG_PREFIX)}
        )
        issues = ",".join(
            sorted(t[len(ISSUE_TAG_PREFIX) :] for t in tg if t.startswith(ISSUE_TAG_PREFIX))
        )
        if len(verdicts) > 1:
            both.append(sid)
        if len(relabels) > 1:
            multi.append(sid)
        unknown += [f"{sid}: relabel:{c}" for c in relabels if c not in classes]
        new, how = None, None
        if relabels:
            new, how = relabels[0], "tag"
        elif gt != pushed and gt is not None:
            new, how = gt, "edit"
        if verdicts or new is not None:
            rows.append((sid, verdicts[0] if verdicts else None, new, how, issues))
    problems = []
    if both:
        problems.append(f"both {CONFIRMED!r} and {NOT_AN_ISSUE!r} on {format_items(both)}")
    if multi:
        problems.append(f"several relabel: tags on {format_items(multi)}")
    if unknown:
        problems.append(f"relabel: tags naming unknown classes ({format_items(unknown)})")
    if problems:
        raise InvalidParameterError(
            "FiftyOne review tags contradict each other: " + "; ".join(problems) + ". Valid "
            f"relabel tags are {[RELABEL_TAG_PREFIX + c for c in classes]}. Fix the tags in the "
            "App and pull again; nothing was applied."
        )
    schema = {
        "sample_id": pl.Utf8,
        "verdict": pl.Utf8,
        "relabel": pl.Utf8,
        "how": pl.Utf8,
        "issues": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def from_fiftyone(
    ds: Dataset | str | Path,
    name: str | None = None,
    *,
    reviewer: str | None = None,
    commit: bool = True,
    message: str | None = None,
    full: bool = False,
) -> PullResult:
    """Pull reviewer tags and label edits from FiftyOne into a new dataset version.

    Only the samples written in FiftyOne since the last pull into this dataset directory
    are read (see :mod:`~datacentric.integrations.fiftyone.cursor`); the cursor moves on
    once the new version is committed (or when there was nothing new), so an interrupted
    pull is read again by the next one, and lineage keeps anything from being applied twice.

    Parameters
    ----------
    ds : Dataset or path
        The versioned dataset that was pushed (a path opens its HEAD).
    name : str, optional
        FiftyOne dataset name (default ``datacentric-<folder name>``, as for the push).
    reviewer : str, optional
        Who reviewed; lineage ``source`` is ``fiftyone:<reviewer>`` (default: the FiftyOne
        dataset name).
    commit : bool
        Commit the changes as a new version (otherwise they stay pending on ``ds``).
    message : str, optional
        Commit message.
    full : bool
        Read every sample, not only those written since the last pull (the cursor is
        still moved on afterwards).

    Returns
    -------
    PullResult
        ``n_read`` says how many samples were read back, ``incremental`` whether only the
        samples written since the last pull were.
    """
    t0 = time.perf_counter()
    # A path is opened only once there is something to apply: a pull with nothing new
    # reads the store's HEAD and FiftyOne's stamps, not the manifest and its image paths.
    where = ds if isinstance(ds, Dataset) else _head(Path(ds))
    if where.root is None or where.version is None:
        raise InvalidParameterError(
            "from_fiftyone: the dataset has no version store, so the review cannot become a "
            "new version with lineage; open a versioned dataset directory (Dataset.open)."
        )
    root, version = Path(where.root), where.version
    fo = import_fiftyone()
    name = name or f"datacentric-{root.name}"
    if not fo.dataset_exists(name):
        raise FiftyOneError(
            f"no FiftyOne dataset named {name!r} to pull from; existing: {fo.list_datasets()}. "
            "Push first (to_fiftyone / `datacentric review fiftyone DIR`) or pass name=."
        )
    fds = fo.load_dataset(name)
    if "dc_label" not in fds.get_field_schema():
        raise FiftyOneError(
            f"FiftyOne dataset {name!r} was not pushed by datacentric (it has no dc_label "
            "field); pass the name of a dataset made with to_fiftyone."
        )
    info = fds.info.get(INFO_KEY, {})
    if info.get("root") and Path(info["root"]).resolve() != root.resolve():
        log.warning(
            "FiftyOne dataset %s was pushed from %s, pulling into %s", name, info["root"], root
        )
    source = SOURCE_PREFIX + (reviewer or name)
    identity = f"{name}@{fds.created_at.isoformat()}"
    cursor = None if full else load_cursor(root, name, identity, version)
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    detection = where.task == "detection"
    fields = ["sample_id", "tags"] + (
        [f"ground_truth.detections.{f}" for f in _BOX_FIELDS]
        if detection
        else ["ground_truth.label", "dc_label"]
    )
    cols, ids, stamps = _read(fds, fields, cursor)
    if not cols[0]:
        result = _nothing(name, source, detection)
    else:
        if not isinstance(ds, Dataset):
            ds = Dataset.open(root, check_images="none")
        if detection:
            result = _pull_boxes(ds, fds, cols, info, source, commit, message, t0)
        else:
            sids, tags, gt, pushed = cols
            decisions = review_decisions(sids, tags, gt, pushed, list(ds.classes))
            result = apply_review(
                ds,
                decisions,
                backend="fiftyone",
                target=name,
                source=source,
                source_prefix=SOURCE_PREFIX,
                relabel_reason=_relabel_reason,
                verdict_reason=_verdict_reason,
                commit=commit,
                message=message,
                default_message=lambda n_relabels, n_verdicts: (
                    f"FiftyOne review ({name}): {n_relabels} relabels, {n_verdicts} verdicts"
                ),
                meta={"fiftyone": {"dataset": name, "source": source}},
                started=t0,
            )
        version = ds.version if ds.version is not None else version
    if commit:  # the version is committed (or there was nothing new): move the cursor on
        nxt = next_cursor(cursor, name, identity, started, ids, stamps, version)
        nxt.save(root)
    return dataclasses.replace(
        result,
        n_read=len(cols[0]),
        incremental=cursor is not None,
        seconds=time.perf_counter() - t0,
    )


_BOX_FIELDS = ("id", "annotation_id", "label", "bounding_box", "tags")


@dataclasses.dataclass(frozen=True)
class _Head:
    """Where a dataset directory stands, without reading its manifest."""

    root: Path
    version: int | None
    task: str


def _head(root: Path) -> _Head:
    from datacentric.dataset.store import VersionStore

    store = VersionStore(root)
    head = store.head() if store.exists() else None
    if head is None:
        Dataset.open(root, check_images="none")  # the store's own one-line error
    task = store.info(head).task if head is not None else "classification"
    return _Head(root, head, task)


def _nothing(name: str, source: str, detection: bool) -> PullResult:
    """The result of a pull that read no sample."""
    utf8 = pl.Utf8
    return PullResult(
        backend="fiftyone",
        target=name,
        version=None,
        applied=0,
        already_applied=0,
        seconds=0.0,
        relabels=pl.DataFrame(schema={"sample_id": utf8, "old": utf8, "new": utf8, "how": utf8}),
        verdicts=pl.DataFrame(schema={"sample_id": utf8, "verdict": utf8, "issues": utf8}),
        source=source,
        box_edits=pl.DataFrame(
            schema={c: utf8 for c in ("annotation_id", "sample_id", "field", "old", "new")}
        )
        if detection
        else None,
    )


def _read(
    fds: Any, fields: list[str], cursor: PullCursor | None
) -> tuple[list[list[Any]], list[str], list[Any]]:
    """The values of ``fields`` of the samples to pull, and the FiftyOne ids and
    ``last_modified_at`` of every sample written after the cursor (every sample without one).
    """
    if cursor is None:
        ids, stamps, *cols = fds.values(["id", "last_modified_at", *fields])
        return cols, ids, stamps
    from fiftyone import ViewField as F

    changed = fds.match(F("last_modified_at") > cursor.at)
    ids, stamps = changed.values(["id", "last_modified_at"])
    keep = cursor.unseen(ids, stamps)
    if not keep:
        return [[] for _ in fields], ids, stamps
    view = changed if len(keep) == len(ids) else fds.select([ids[i] for i in keep], ordered=True)
    return list(view.values(fields)), ids, stamps


def _reviewed_boxes(ds: Dataset) -> set[tuple[str, str]]:
    """``(annotation_id, tag)`` of every box tag earlier FiftyOne pulls recorded."""
    out: set[tuple[str, str]] = set()
    for version in sorted(ds.history()["version"].to_list()):
        ch = ds.changes(version)
        if "annotation_id" not in ch.columns:
            continue
        ch = ch.filter(
            pl.col("source").str.starts_with(SOURCE_PREFIX)
            & (pl.col("field") == REVIEW_FIELD)
            & pl.col("annotation_id").is_not_null()
        )
        out.update(ch.select("annotation_id", "new").iter_rows())
    return out


def _pull_boxes(
    ds: Dataset,
    fds: Any,
    cols: list[list[Any]],
    info: dict[str, Any],
    source: str,
    commit: bool,
    message: str | None,
    t0: float,
) -> PullResult:
    """:func:`from_fiftyone` of a detection dataset: box edits and sample verdicts."""
    from datacentric.integrations.fiftyone.box_pull import FoBox, plan_box_edits
    from datacentric.integrations.fiftyone.boxes import image_sizes

    sids, stags, *per = cols
    known = set(ds.sample_ids)
    missing = [
        s
        for s, ids, tg in zip(sids, per[0], stags, strict=True)
        if s not in known and (ids or any(not t.startswith(ISSUE_TAG_PREFIX) for t in tg or []))
    ]
    ours = [i for i, s in enumerate(sids) if s in known]
    decisions = review_decisions(
        [sids[i] for i in ours],
        [stags[i] for i in ours],
        [None] * len(ours),
        [None] * len(ours),
        list(ds.classes),
    )
    if decisions["relabel"].is_not_null().any():
        bad = decisions.filter(pl.col("relabel").is_not_null())["sample_id"].to_list()
        raise InvalidParameterError(
            f"FiftyOne sample tags relabel:<class> on {format_items(bad)}: a detection "
            "dataset has no sample label. Tag the box (label tag relabel:<class>) or edit its "
            "label in the App, then pull again; nothing was applied."
        )
    fo_boxes = [
        FoBox(sids[i], str(lid), aid, lab, bb, list(tg or []))
        for i in ours
        for lid, aid, lab, bb, tg in zip(*(p[i] or [] for p in per), strict=True)
    ]
    current = ds.annotations
    assert current is not None  # a detection dataset
    pushed = current
    version = info.get("version")
    if isinstance(version, int) and version != ds.version:
        pushed_ds = Dataset.open(Path(ds.root or "."), version, check_images="none")
        if pushed_ds.annotations is not None:
            pushed = pushed_ds.annotations
    rows = [sids[i] for i in ours]
    pushed = pushed.filter(pl.col("sample_id").is_in(rows))
    current = current.filter(pl.col("sample_id").is_in(rows))
    with_boxes = {b.sample_id for b in fo_boxes}
    sizes_frame = image_sizes(ds, with_boxes).filter(pl.col("sample_id").is_in(list(with_boxes)))
    sizes = {
        s: (int(w), int(h))
        for s, w, h in sizes_frame.select("sample_id", "width", "height").rows()
        if w is not None and h is not None
    }
    unsized = sorted(with_boxes - set(sizes))
    if unsized:
        raise InvalidParameterError(
            f"from_fiftyone: the image size of {format_items(unsized)} cannot be read, so their "
            "relative FiftyOne boxes cannot become pixels; fix the images and pull again. "
            "Nothing was applied."
        )
    plan = plan_box_edits(fo_boxes, pushed, current, sizes, ds.classes, _reviewed_boxes(ds))
    before = ds.pending_changes.height
    why = "in FiftyOne"
    if plan.removes:
        ds.remove_boxes(plan.removes, reason=f"box deleted {why}", source=source)
    if plan.relabels:
        ds.relabel_boxes(
            [r[0] for r in plan.relabels],
            [r[1] for r in plan.relabels],
            reason=[
                f"reviewer tag {RELABEL_TAG_PREFIX}{r[1]} {why}"
                if r[2] == "tag"
                else f"box relabelled to {r[1]!r} {why}"
                for r in plan.relabels
            ],
            source=source,
        )
    if plan.moves:
        ds.move_boxes(
            [m[0] for m in plan.moves],
            [m[1] for m in plan.moves],
            reason=f"box moved/resized {why}",
            source=source,
        )
    stamps: dict[str, str] = {}
    reviews = list(plan.reviews)
    if plan.adds:
        numeric = ds.annotations["annotation_id"].str.to_integer(strict=False).drop_nulls()  # type: ignore[index]
        start = int(numeric.max() or 0) + 1 if numeric.len() else 1  # type: ignore[arg-type]
        new_ids = [str(start + k) for k in range(len(plan.adds))]
        ds.add_boxes(
            {
                "annotation_id": new_ids,
                "sample_id": [a[1] for a in plan.adds],
                "label": [a[2] for a in plan.adds],
                **{c: [a[3][k] for a in plan.adds] for k, c in enumerate("xywh")},
            },
            reason=f"box added {why}",
            source=source,
        )
        stamps = {a[0]: aid for a, aid in zip(plan.adds, new_ids, strict=True)}
        reviews += [
            (aid, t)
            for a, aid in zip(plan.adds, new_ids, strict=True)
            for t in a[4]
            if not t.startswith(RELABEL_TAG_PREFIX)
        ]
    if reviews:
        ds.annotate_boxes(
            [r[0] for r in reviews],
            REVIEW_FIELD,
            [r[1] for r in reviews],
            reason=[f"reviewer tag {r[1]!r} on the box {why}" for r in reviews],
            source=source,
        )
    verdict_rows = []
    last_verdict = applied_before(ds, SOURCE_PREFIX)[1]
    already = plan.already
    for sid, verdict, _, _, issues in decisions.iter_rows():
        if verdict is None:
            continue
        if last_verdict.get(sid) == verdict:
            already += 1
        else:
            verdict_rows.append((sid, verdict, issues))
    if verdict_rows:
        ds.annotate(
            [r[0] for r in verdict_rows],
            REVIEW_FIELD,
            [r[1] for r in verdict_rows],
            old=[r[2] or None for r in verdict_rows],
            reason=[_verdict_reason(r[1], r[2]) for r in verdict_rows],
            source=source,
        )
    pending = ds.pending_changes[before:]
    box_rows = pending.filter(pl.col("annotation_id").is_not_null()).select(
        "annotation_id", "sample_id", "field", "old", "new"
    )
    new_version = None
    if commit and pending.height:
        new_version = ds.commit(
            message
            or f"FiftyOne review ({fds.name}): {box_rows.height} box edits, "
            f"{len(verdict_rows)} verdicts",
            meta={"fiftyone": {"dataset": fds.name, "source": source}},
        )
        if stamps:  # the added boxes now have ids: a later pull must not add them again
            fds.set_label_values("ground_truth.detections.annotation_id", stamps)
    if plan.skipped:
        log.warning("FiftyOne boxes left alone: %s", "; ".join(plan.skipped))
    return PullResult(
        backend="fiftyone",
        target=fds.name,
        version=new_version,
        applied=box_rows.height + len(verdict_rows),
        already_applied=already,
        seconds=time.perf_counter() - t0,
        relabels=pl.DataFrame(
            schema={"sample_id": pl.Utf8, "old": pl.Utf8, "new": pl.Utf8, "how": pl.Utf8}
        ),
        verdicts=pl.DataFrame(
            verdict_rows,
            schema={"sample_id": pl.Utf8, "verdict": pl.Utf8, "issues": pl.Utf8},
            orient="row",
        ),
        not_in_dataset=missing,
        source=source,
        box_edits=box_rows,
        skipped=plan.skipped,
    )


def _relabel_reason(how: str, new: str, issues: str) -> str:
    flagged = f" (flagged: {issues})" if issues else ""
    if how == "tag":
        return f"reviewer tag {RELABEL_TAG_PREFIX}{new} in FiftyOne{flagged}"
    return f"label edited to {new!r} in FiftyOne{flagged}"


def _verdict_reason(verdict: str, issues: str) -> str:
    what = issues or "no flagged issue"
    if verdict == CONFIRMED:
        return f"reviewer confirmed the flagged issue(s) in FiftyOne: {what}"
    return f"reviewer marked the flagged issue(s) as not an issue in FiftyOne: {what}"
