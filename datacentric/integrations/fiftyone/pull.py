"""`from_fiftyone`: reviewer tags and label edits → a new dataset version with lineage.

Reviewers work in the FiftyOne App with three kinds of sample tags and one kind of edit:

* ``confirmed_issue`` — the flag is right (recorded as a ``review`` lineage row);
* ``not_an_issue`` — the flag is wrong (recorded as a ``review`` lineage row);
* ``relabel:<class>`` — the label should be ``<class>`` (a relabel with lineage);
* an edited ``ground_truth`` label (e.g. ``sample.ground_truth.label = "7"`` in Python or
  an annotation run) — a relabel with lineage. A ``relabel:`` tag wins over an edit.

Pulling is idempotent: a relabel that an earlier pull from FiftyOne already recorded (same
sample and label), or a verdict equal to the sample's latest recorded one, is not applied
again.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import polars as pl

from datacentric.dataset import Dataset
from datacentric.exceptions import InvalidParameterError, format_items
from datacentric.integrations.fiftyone._env import FiftyOneError, import_fiftyone
from datacentric.integrations.fiftyone.push import INFO_KEY, default_name
from datacentric.integrations.fiftyone.records import (
    CONFIRMED,
    ISSUE_TAG_PREFIX,
    NOT_AN_ISSUE,
    RELABEL_TAG_PREFIX,
)
from datacentric.integrations.review.apply import AppliedReview, apply_review

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
) -> PullResult:
    """Pull reviewer tags and label edits from FiftyOne into a new dataset version.

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

    Returns
    -------
    PullResult
    """
    t0 = time.perf_counter()
    if not isinstance(ds, Dataset):
        ds = Dataset.open(ds, check_images="none")
    if ds.root is None or ds.version is None:
        raise InvalidParameterError(
            "from_fiftyone: the dataset has no version store, so the review cannot become a "
            "new version with lineage; open a versioned dataset directory (Dataset.open)."
        )
    fo = import_fiftyone()
    name = name or default_name(ds)
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
    if info.get("root") and Path(info["root"]).resolve() != Path(ds.root).resolve():
        log.warning(
            "FiftyOne dataset %s was pushed from %s, pulling into %s", name, info["root"], ds.root
        )
    decisions = review_decisions(
        fds.values("sample_id"),
        fds.values("tags"),
        fds.values("ground_truth.label"),
        fds.values("dc_label"),
        list(ds.classes),
    )
    source = SOURCE_PREFIX + (reviewer or name)
    return apply_review(
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
