"""The result types every review backend returns: what a push sent, what a pull applied.

A backend returns a subclass that adds its own fields (a Label Studio push adds the project
id and task ids, a FiftyOne push the saved views, ...); code written against the shared
fields works with every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PullResult", "PushResult"]


@dataclass(frozen=True, kw_only=True)
class PushResult:
    """What a push to a review backend did.

    Attributes
    ----------
    backend : str
        The backend's registry name (``labelstudio``, ``fiftyone``, ...).
    target : str
        Where the items went: a Label Studio project title, a FiftyOne dataset name, ...
    url : str or None
        Where reviewers open it, when the backend has an address for it.
    n_items : int
        Items (samples) asked for.
    created, updated, unchanged : int
        Items created on the backend by this push, rewritten because their content changed,
        and already there as they are (nothing written).
    seconds : float
        Wall time of the push.

    Examples
    --------
    >>> r = PushResult(backend="memory", target="t", n_items=3, created=2, updated=0,
    ...                unchanged=1, seconds=0.1)
    >>> r.created + r.updated + r.unchanged == r.n_items
    True
    """

    backend: str
    target: str
    url: str | None = None
    n_items: int
    created: int
    updated: int
    unchanged: int
    seconds: float


@dataclass(frozen=True, kw_only=True)
class PullResult:
    """What a pull from a review backend brought back.

    Attributes
    ----------
    backend : str
        The backend's registry name.
    target : str
        Where the decisions came from (project title, dataset name, ...).
    version : int or None
        The dataset version committed by the pull; ``None`` when nothing changed (or the
        changes were left pending with ``commit=False``).
    applied : int
        Decisions applied to the dataset now (relabels and recorded verdicts).
    already_applied : int
        Decisions an earlier pull already applied (skipped, never applied twice).
    seconds : float
        Wall time of the pull.

    Examples
    --------
    >>> PullResult(backend="memory", target="t", version=None, applied=0, already_applied=4,
    ...            seconds=0.0).version is None
    True
    """

    backend: str
    target: str
    version: int | None
    applied: int
    already_applied: int
    seconds: float
