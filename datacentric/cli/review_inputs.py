"""What ``datacentric review`` reads from disk: the scan, the predictions, ``--option`` pairs,
and — after ``datacentric loop DIR`` — the loop's latest scan, predictions and review queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datacentric.exceptions import InvalidParameterError
from datacentric.integrations.fiftyone.backend import SCAN_FILE

if TYPE_CHECKING:
    from datacentric.loop.log import LoopReview

__all__ = [
    "PREDICTIONS_FILE",
    "SCAN_FILE",
    "find_scan",
    "load_predictions",
    "loop_defaults",
    "parse_options",
    "read_queue",
]

PREDICTIONS_FILE = "predictions.npz"


def find_scan(directory: Path, scan: Path | None = None) -> Path:
    """The scan to push: ``scan`` if given, else ``DIR/scan.parquet``, else a
    ``./scan.parquet`` that was made from ``DIR`` (what ``datacentric scan DIR`` writes).

    Raises
    ------
    InvalidParameterError
        When there is none; the message says to run ``datacentric scan DIR`` first.

    Examples
    --------
    >>> import tempfile
    >>> find_scan(Path(tempfile.mkdtemp()))
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: no scan found for ...
    """
    if scan is not None:
        if not scan.is_file():
            raise InvalidParameterError(
                f"--scan {scan} does not exist; pass the .parquet file written by "
                f"`datacentric scan {directory} --out FILE`."
            )
        return scan
    inside = directory / SCAN_FILE
    if inside.is_file():
        return inside
    here = Path(SCAN_FILE)
    if here.is_file() and _scanned_root(here) == directory.resolve():
        return here
    raise InvalidParameterError(
        f"no scan found for {directory} (looked for {inside} and a ./{SCAN_FILE} made from "
        f"it). Run `datacentric scan {directory} --out {inside}` first, or pass --scan FILE."
    )


def loop_defaults(directory: Path, scan: Path | None = None) -> LoopReview | None:
    """What the review verbs default to after ``datacentric loop DIR``: the latest
    iteration's scan, predictions and review queue — or ``None`` when ``--scan`` was given,
    the dataset has no loop, or ``DIR/scan.parquet`` was written after the loop's scan (a
    scan run since is the newer judgement).

    Examples
    --------
    >>> import tempfile
    >>> loop_defaults(Path(tempfile.mkdtemp())) is None
    True
    """
    if scan is not None:
        return None
    from datacentric.loop.log import ExperimentLog

    found = ExperimentLog(directory).latest_review()
    if found is None:
        return None
    inside = directory / SCAN_FILE
    if inside.is_file() and inside.stat().st_mtime > found.scan.stat().st_mtime:
        return None
    return found


def read_queue(path: Path) -> Any:
    """A loop iteration's review queue (``review.parquet``), checked as it is read."""
    from datacentric._read import read_parquet

    return read_parquet(
        path,
        what="the review queue of a data-loop iteration",
        fix="Run `datacentric loop DIR` again, or pass a scan: `--scan scan.parquet`.",
        columns={"sample_id": "string"},
    )


def _scanned_root(path: Path) -> Path | None:
    from datacentric.issues import ScanResult

    try:
        root = ScanResult.load(path).meta.get("root")
    except Exception:  # an unreadable file is simply not this dataset's scan
        return None
    return Path(root).resolve() if root else None


def load_predictions(
    directory: Path, ds: Any, path: Path | None, probs: Path | None, emb: Path | None
) -> Any:
    """``--predictions FILE.npz``, else ``DIR/predictions.npz`` when present, else
    ``--pred-probs P.npy [--embeddings E.npy]`` (manifest order), else ``None``; read and
    checked by ``Predictions.coerce`` (matched by sample id and class name; samples without
    one get none)."""
    from datacentric.train import Predictions
    from datacentric.train.coerce import coerce_embeddings

    if path is None and probs is None and (directory / PREDICTIONS_FILE).is_file():
        path = directory / PREDICTIONS_FILE
    if path is not None:
        if path.suffix != ".npz" or not path.is_file():
            raise InvalidParameterError(
                f"--predictions must be an existing .npz written by Predictions.save(), "
                f"received {path}."
            )
        return Predictions.coerce(path, ds, allow_missing=True, allow_extra=True)
    if probs is None:
        if emb is not None:
            raise InvalidParameterError("--embeddings needs --pred-probs as well.")
        return None
    if probs.suffix != ".npy":
        raise InvalidParameterError(
            f"--pred-probs must be an existing .npy file (N x K, manifest order), received "
            f"{probs}; pass a predictions .npz with --predictions."
        )
    given = Predictions.coerce(probs, ds)
    if emb is None:
        return given
    return Predictions(
        given.sample_ids, given.pred_probs, coerce_embeddings(emb, ds), classes=given.classes
    )


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``--option KEY=VALUE`` pairs → keyword arguments; a VALUE that reads as JSON (a number,
    ``true``, a list, ...) becomes that, anything else stays a string.

    Examples
    --------
    >>> parse_options(["worst_slices=3", "reviewer=alice", "brain=false"])
    {'worst_slices': 3, 'reviewer': 'alice', 'brain': False}
    >>> parse_options(["oops"])
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: --option must be KEY=VALUE; received 'oops'. ...
    """
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise InvalidParameterError(
                f"--option must be KEY=VALUE; received {pair!r}. E.g. --option worst_slices=3."
            )
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
