"""Keeping images that cannot be read out of training and prediction, with a count.

A dataset is data-quality input: some of its images will be missing, truncated, corrupt,
larger than ``max_image_pixels`` or (swapped since loading) outside the dataset root. The
steps that train or predict on a whole dataset (a scan's cross-validation, each loop
iteration, ``datacentric export``) first find those images with one streaming pass
(:meth:`Dataset.unreadable_images`) and leave them out, saying how many; the integrity
finder reports each one as an ``unreadable_image`` issue. Lower-level calls
(``recipe.fit``, ``load_images``) raise on a bad image instead, naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import polars as pl

from datacentric.dataset._schema import SAMPLE_ID
from datacentric.dataset.core import Dataset
from datacentric.exceptions import format_items

__all__ = ["exclude_unreadable", "excluded_line"]

log = logging.getLogger(__name__)


def excluded_line(excluded: pl.DataFrame) -> str:
    """One line saying how many images were left out and which (``sample (kind)``).

    Examples
    --------
    >>> import polars as pl
    >>> excluded_line(pl.DataFrame({"sample_id": ["s1", "s7"], "image": ["a", "b"],
    ...                             "reason": ["truncated: ...", "too large: ..."]}))
    "2 images excluded (unreadable/too large): 's1 (truncated)', 's7 (too large)'."
    """
    n = excluded.height
    named = [
        f"{sid} ({str(reason).split(':', 1)[0]})"
        for sid, reason in excluded.select(SAMPLE_ID, "reason").rows()
    ]
    noun = "image" if n == 1 else "images"
    return f"{n} {noun} excluded (unreadable/too large): {format_items(named)}."


def exclude_unreadable(
    ds: Dataset,
    unreadable: pl.DataFrame | None = None,
    *,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> tuple[Dataset, pl.DataFrame]:
    """``(ds without the samples whose image cannot be used, those samples)``.

    Parameters
    ----------
    ds : Dataset
    unreadable : polars.DataFrame, optional
        ``sample_id, image, reason`` when already known (e.g. from a scan's image
        statistics); default: :meth:`Dataset.unreadable_images` (one streaming pass).
        Ids not in ``ds`` are ignored.
    progress : bool
        Progress bar for the pass.
    say : callable, optional
        Called with :func:`excluded_line` when some are excluded; by default that line is
        logged as a warning instead.

    Returns
    -------
    (Dataset, polars.DataFrame)
        ``ds`` itself when nothing is excluded, else a view (``ds.filter``) of the usable
        rows; and the excluded rows (``sample_id, image, reason``).

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset.from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 0], ["a"])
    >>> kept, excluded = exclude_unreadable(ds)
    >>> kept is ds, excluded.height
    (True, 0)
    """
    bad = ds.unreadable_images(progress=progress) if unreadable is None else unreadable
    bad = bad.filter(pl.col(SAMPLE_ID).is_in(ds.manifest[SAMPLE_ID].implode()))
    if bad.height == 0:
        return ds, bad
    line = excluded_line(bad)
    if say is None:
        log.warning("%s", line)
    else:
        log.info("%s", line)
        say(line)
    return ds.filter(~pl.col(SAMPLE_ID).is_in(bad[SAMPLE_ID].implode())), bad
