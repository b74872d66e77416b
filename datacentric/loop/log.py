"""The experiment log under ``<root>/.datacentric/experiments/``: one folder per iteration."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._io import atomic_write, atomic_write_text, os_errors_as
from datacentric._read import check_fields, parse_json, read_parquet
from datacentric.dataset.store import STORE_DIR
from datacentric.exceptions import SchemaError, StoreError

__all__ = [
    "MODEL_FILE",
    "SCAN_BOXES_FILE",
    "SCAN_PREDICTIONS_FILE",
    "ExperimentLog",
    "LoopReview",
]

#: The model trained at an iteration (``recipe.save``), in the iteration's folder.
MODEL_FILE = "model.pt"
#: The out-of-sample predictions the iteration's scan used (``Predictions.save``).
SCAN_PREDICTIONS_FILE = "scan_predictions.npz"
#: A detection scan's out-of-sample predicted boxes (Parquet).
SCAN_BOXES_FILE = "scan_predicted_boxes.parquet"

_WHAT = "a record of the data loop's experiment log"
_FIX = (
    "The log is written by `datacentric loop`; restore it from a backup, or delete the "
    "damaged line and the iteration folders after it."
)
# the fields the CLI and the reports read, with their JSON kinds
_RECORD_FIELDS = {
    "iteration": "int",
    "version": "int|null",
    "version_before": "int|null",
    "accuracy": "number",
    "accuracy_ci": "list",
    "worst_slice": "str|null",
    "worst_slice_accuracy": "number|null",
    "counts": "dict|null",
    "issues_flagged": "dict|null",
    "regressed_slices": "list|null",
    "eval_split": "str|null",
    "model": "str|null",
    "review_queue": "dict|null",
}
# what the review budget covered (loop.review_queue.queue_summary), field -> allowed types
_QUEUE_FIELDS: dict[str, tuple[type, ...]] = {
    "queued": (int,),
    "candidates": (int,),
    "deferred": (int,),
    "budget": (int, str),
    "expected_errors": (int, float),
    "expected_errors_queued": (int, float),
    "coverage": (int, float),
}
_REQUIRED = ("iteration", "version", "accuracy", "accuracy_ci", "worst_slice_accuracy")


def _check_record(record: Any, log: Path, n: int) -> dict[str, Any]:
    """One line of the log, checked (SchemaError naming ``log line n``)."""
    src = f"{log} line {n}"
    rec = check_fields(record, _RECORD_FIELDS, src, what=_WHAT, fix=_FIX, required=_REQUIRED)
    ci = rec["accuracy_ci"]
    problem = None
    if rec["iteration"] < 0:
        problem = f"field 'iteration' is {rec['iteration']}, expected an integer >= 0"
    elif len(ci) != 2 or not all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in ci
    ):
        problem = "field 'accuracy_ci' is not a list of two numbers"
    elif not all(
        isinstance(v, int) and not isinstance(v, bool)
        for key in ("counts", "issues_flagged")
        for v in (rec.get(key) or {}).values()
    ):
        problem = "fields 'counts' and 'issues_flagged' must map names to integers"
    elif rec.get("review_queue") is not None and not all(
        isinstance(rec["review_queue"].get(k), kinds)
        and not isinstance(rec["review_queue"][k], bool)
        for k, kinds in _QUEUE_FIELDS.items()
    ):
        problem = (
            "field 'review_queue' must map "
            + ", ".join(f"'{k}'" for k in _QUEUE_FIELDS)
            + " to numbers ('budget': a number or 'all')"
        )
    elif not all(isinstance(v, str) for v in rec.get("regressed_slices") or []):
        problem = "field 'regressed_slices' must list slice names"
    elif rec.get("model") is not None:
        model = Path(rec["model"])
        if model.is_absolute() or ".." in model.parts or not model.parts:
            problem = f"field 'model' is {rec['model']!r}, not a path inside the experiments folder"
    if problem is not None:
        raise SchemaError(f"{src}: {problem} (in {_WHAT}). {_FIX}")
    return rec


def _drop_torn_tail(log: Path) -> None:
    """End ``log`` with a newline: cut off a last line that is not JSON (a killed append)."""
    if not log.is_file():
        return
    with log.open("rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return
        start = data.rfind(b"\n") + 1
        try:
            json.loads(data[start:])
        except (ValueError, RecursionError):
            fh.truncate(start)
        else:
            fh.write(b"\n")


@dataclass(frozen=True)
class LoopReview:
    """What the latest loop iteration left to review (:meth:`ExperimentLog.latest_review`).

    Attributes
    ----------
    iteration : int
        The iteration that scanned.
    version : int or None
        The dataset version after its fixes.
    scan : Path
        Its scan (``ScanResult.load``).
    queue : Path or None
        Its review queue, bounded and ranked as the loop made it (``review.parquet``).
    predictions : Path or None
        The scan's out-of-sample predictions (``Predictions.load``); ``None`` for loops
        recorded before they were kept.
    predicted_boxes : Path or None
        A detection scan's out-of-sample predicted boxes.
    """

    iteration: int
    version: int | None
    scan: Path
    queue: Path | None = None
    predictions: Path | None = None
    predicted_boxes: Path | None = None

    def describe(self) -> str:
        """One line saying what was picked.

        Examples
        --------
        >>> LoopReview(2, 5, Path("x/scan.parquet"), Path("x/review.parquet")).describe()
        'loop iteration 2 (dataset version 5): scan x/scan.parquet, review queue x/review.parquet, no predictions recorded'
        """  # noqa: E501
        parts = [f"scan {self.scan}"]
        if self.queue is not None:
            parts.append(f"review queue {self.queue}")
        if self.predictions is not None:
            parts.append(f"predictions {self.predictions}")
        elif self.predicted_boxes is not None:
            parts.append(f"predicted boxes {self.predicted_boxes}")
        else:
            parts.append("no predictions recorded")
        return f"loop iteration {self.iteration} (dataset version {self.version}): " + ", ".join(
            parts
        )


class ExperimentLog:
    """Iterations of the data loop, each with its metrics, scan, edits and review queue.

    Layout::

        .datacentric/experiments/
          log.jsonl                  one JSON line per iteration (summary)
          iter_000/metrics.json      SliceMetrics of the model trained at that iteration
                   scan.parquet      (iterations >= 1) the scan that drove the fixes
                                     (ScanResult.save; + scan.samples.parquet)
                   predictions.parquet       the first seed's predictions on the eval split
                   seed_predictions.parquet  every seed's (``seed`` column first)
                   seed_summary.parquet      mean accuracy over the seeds per slice
                   verdict.parquet   (iterations >= 1) verdict per slice vs the previous one
                   edits.parquet     automatic edits
                   review.parquet    the review queue
                   scan_predictions.npz  the scan's out-of-sample predictions
                                     (Predictions.save; scan_predicted_boxes.parquet
                                     on a detection dataset)
                   record.json       the full record (config, versions, timings, ...)
                   model.pt          the model of the first seed (recipe.save); the
                                     other seeds' models are not kept

    Examples
    --------
    >>> import tempfile
    >>> log = ExperimentLog(tempfile.mkdtemp())
    >>> log.records()
    []
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / STORE_DIR / "experiments"

    def iteration_dir(self, iteration: int) -> Path:
        """Folder of one iteration."""
        return self.path / f"iter_{iteration:03d}"

    def records(self) -> list[dict[str, Any]]:
        """Every recorded iteration, oldest first.

        A last line cut short (the process was killed while appending it: no newline, not
        JSON) is an iteration that was never committed: it is skipped (and removed by the
        next :meth:`write`).

        Raises
        ------
        SchemaError
            When a line is not JSON, or not a record of the loop (fields of the wrong
            type, a model path outside the experiments folder): ``log.jsonl line N``.
        """
        log = self.path / "log.jsonl"
        if not log.is_file():
            return []
        try:
            with os_errors_as(log, "read"):
                raw = log.read_bytes()
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SchemaError(
                f"{log}: not UTF-8 text (byte {exc.start}), so not the experiment log. {_FIX}"
            ) from None
        lines = text.split("\n")
        torn = lines.pop()  # "" when the file ends with a newline, as every commit leaves it
        out = [
            _check_record(parse_json(line, f"{log} line {n}", what=_WHAT, fix=_FIX), log, n)
            for n, line in enumerate(lines, 1)
            if line.strip()
        ]
        if torn.strip():
            try:
                json.loads(torn)
            except (json.JSONDecodeError, RecursionError):
                return out  # an append cut short: never committed
            out.append(_check_record(json.loads(torn), log, len(lines) + 1))
        return out

    def last(self) -> dict[str, Any] | None:
        """The latest record, if any."""
        recs = self.records()
        return recs[-1] if recs else None

    def last_kept(self) -> dict[str, Any] | None:
        """The latest record that is not a rejected slice intervention (what the next
        iteration is judged against; :mod:`datacentric.loop.intervene`)."""
        for rec in reversed(self.records()):
            iv = rec.get("intervention")
            if not isinstance(iv, dict) or iv.get("kept", True):
                return rec
        return None

    def next_iteration(self) -> int:
        """The number the next iteration gets (0 for the first, the baseline)."""
        last = self.last()
        return 0 if last is None else int(last["iteration"]) + 1

    def write(self, record: dict[str, Any], frames: dict[str, pl.DataFrame], metrics: Any) -> Path:
        """Write an iteration's files, then append its summary line (the commit point)."""
        folder = self.iteration_dir(int(record["iteration"]))
        with os_errors_as(folder, "write the experiment log folder"):
            folder.mkdir(parents=True, exist_ok=True)
        metrics.save(folder / "metrics.json")
        for name, frame in frames.items():
            atomic_write(folder / f"{name}.parquet", frame.write_parquet)
        atomic_write_text(folder / "record.json", json.dumps(record, indent=1, default=str))
        log = self.path / "log.jsonl"
        _drop_torn_tail(log)
        with os_errors_as(log, "append to the experiment log"), log.open("ab") as f:
            start = f.tell()
            try:
                f.write((json.dumps(record, default=str) + "\n").encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            except BaseException:  # no half line: the log stays readable
                with contextlib.suppress(OSError):
                    f.truncate(start)
                raise
        return folder

    def model_path(self, iteration: int | None = None) -> Path | None:
        """The saved model of an iteration (default: the latest one that saved a model)."""
        recs = self.records()
        if iteration is not None:
            recs = [r for r in recs if int(r["iteration"]) == iteration]
        for r in reversed(recs):
            if r.get("model") and (self.path / r["model"]).is_file():
                return self.path / r["model"]  # checked: a relative path inside self.path
        return None

    def latest_review(self) -> LoopReview | None:
        """The scan, review queue and predictions of the latest iteration that scanned
        (slice interventions and the baseline do not), or ``None`` when none did.

        Examples
        --------
        >>> import tempfile
        >>> ExperimentLog(tempfile.mkdtemp()).latest_review() is None
        True
        """
        for rec in reversed(self.records()):
            folder = self.iteration_dir(int(rec["iteration"]))
            scan = folder / "scan.parquet"
            if not scan.is_file():
                continue

            def have(name: str, folder: Path = folder) -> Path | None:
                path = folder / name
                return path if path.is_file() else None

            return LoopReview(
                iteration=int(rec["iteration"]),
                version=rec.get("version"),
                scan=scan,
                queue=have("review.parquet"),
                predictions=have(SCAN_PREDICTIONS_FILE),
                predicted_boxes=have(SCAN_BOXES_FILE),
            )
        return None

    def metrics(self, iteration: int) -> Any:
        """The SliceMetrics recorded for an iteration."""
        from datacentric.slices import SliceMetrics

        return SliceMetrics.load(self.iteration_dir(iteration) / "metrics.json")

    def frame(self, iteration: int, name: str) -> pl.DataFrame:
        """A table recorded for an iteration (scan, edits, review)."""
        path = self.iteration_dir(iteration) / f"{name}.parquet"
        if not path.is_file():
            raise StoreError(f"iteration {iteration} has no {name} table ({path}).")
        return read_parquet(
            path, what=f"the {name} table of a data-loop iteration", fix=_FIX, columns=None
        )

    def seed_predictions(self, iteration: int) -> pl.DataFrame:
        """The run table of an iteration: ``seed, sample_id, label, pred, ...`` for every
        training seed (:func:`datacentric.slices.seed_verdict` compares two of them).

        An iteration recorded before the loop trained several seeds has only
        ``predictions``: it is read as one run of its recorded ``seed``.
        """
        if (self.iteration_dir(iteration) / "seed_predictions.parquet").is_file():
            return self.frame(iteration, "seed_predictions")
        rec = next((r for r in self.records() if int(r["iteration"]) == iteration), {})
        seed = rec.get("seed") if isinstance(rec.get("seed"), int) else 0
        preds = self.frame(iteration, "predictions")
        return preds.select(pl.lit(seed, dtype=pl.Int64).alias("seed"), pl.all())

    def verdict(
        self, before: int | None = None, after: int | None = None, **kwargs: Any
    ) -> pl.DataFrame:
        """The verdict per slice of iteration ``after`` (default: the latest, a rejected
        slice intervention skipped) against
        ``before`` (default: the baseline): :func:`datacentric.slices.seed_verdict` of their
        seed predictions, on the slices ``after`` was evaluated on
        (:func:`~datacentric.slices.detection_seed_verdict` of mAP@0.5 on a detection dataset).

        Keyword arguments go to :func:`~datacentric.slices.seed_verdict` (``level``,
        ``n_boot``, ``min_effect``, ``seed``; ``min_n`` defaults to the evaluation's).
        """
        from datacentric.slices import load_slices, seed_verdict, slices_to_yaml

        recs = self.records()
        if not recs:
            raise StoreError(f"no loop iterations are recorded under {self.path}.")
        b = int(recs[0]["iteration"]) if before is None else before
        a = int((self.last_kept() or recs[-1])["iteration"]) if after is None else after
        meta = self.metrics(a).meta
        defs = list((meta.get("slices") or {}).values())
        slices = load_slices(slices_to_yaml(defs)) if defs else []
        kwargs.setdefault("min_n", int(meta.get("min_n") or 0))
        runs_b, runs_a = self.seed_predictions(b), self.seed_predictions(a)
        if meta.get("task") == "detection":  # predicted boxes: mAP@0.5 over seeds × images
            from datacentric.dataset import Dataset
            from datacentric.loop.detection import DETECTION_METRIC, LOOP_N_BOOT, runs_by_seed
            from datacentric.slices import detection_seed_verdict

            rec = next((r for r in recs if int(r["iteration"]) == a), {})
            kwargs.setdefault("metric", DETECTION_METRIC)
            kwargs.setdefault("n_boot", LOOP_N_BOOT)
            return detection_seed_verdict(
                Dataset.open(self.root), runs_by_seed(runs_b), runs_by_seed(runs_a), slices,
                split=rec.get("eval_split") or "test", **kwargs,
            )  # fmt: skip
        return seed_verdict(runs_b, runs_a, slices, **kwargs)

    def report(self, path: str | Path, *, top: int = 12) -> Path:
        """Render every recorded iteration: ``.html`` (self-contained: learning curve, slices,
        fixes, confusion matrices, review queue) or ``.md`` by the suffix of ``path``, with
        ``top`` rows of the edits and the queue; see :func:`datacentric.report.write`."""
        from datacentric.report import write

        return write(self, path, top=top)

    def __repr__(self) -> str:
        return f"ExperimentLog({str(self.root)!r})"
