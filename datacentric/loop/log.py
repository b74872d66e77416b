"""The experiment log under ``<root>/.datacentric/experiments/``: one folder per iteration."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from datacentric._io import atomic_write, atomic_write_text, os_errors_as
from datacentric.dataset.store import STORE_DIR
from datacentric.exceptions import DatacentricError, StoreError

__all__ = ["MODEL_FILE", "ExperimentLog"]

#: The model trained at an iteration (``recipe.save``), in the iteration's folder.
MODEL_FILE = "model.pt"


class ExperimentLog:
    """Iterations of the data loop, each with its metrics, scan, edits and review queue.

    Layout::

        .datacentric/experiments/
          log.jsonl                  one JSON line per iteration (summary)
          iter_000/metrics.json      SliceMetrics of the model trained at that iteration
                   scan.parquet      (iterations >= 1) the scan that drove the fixes
                                     (ScanResult.save; + scan.samples.parquet)
                   edits.parquet     automatic edits
                   review.parquet    the review queue
                   record.json       the full record (config, versions, timings, ...)
                   model.pt          the model trained at that iteration (recipe.save)

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
        """Every recorded iteration, oldest first."""
        log = self.path / "log.jsonl"
        if not log.is_file():
            return []
        out = []
        with os_errors_as(log, "read"):
            text = log.read_bytes().decode("utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                    raise StoreError(f"{log} line {n} is not valid JSON: {why}.") from None
                if not isinstance(rec, dict) or "iteration" not in rec:
                    raise StoreError(
                        f"{log} line {n} is not an iteration record (a JSON object with an "
                        "'iteration'). Remove that line, or restore the file from a backup."
                    )
                out.append(rec)
        return out

    def last(self) -> dict[str, Any] | None:
        """The latest record, if any."""
        recs = self.records()
        return recs[-1] if recs else None

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
                return self.path / r["model"]
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
        try:
            with os_errors_as(path, "read"):
                return pl.read_parquet(path, glob=False)
        except DatacentricError:
            raise
        except Exception as exc:  # polars raises several kinds on a corrupt file
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise StoreError(
                f"{path} is corrupt ({reason}). Restore it, or rerun the loop."
            ) from None

    def report(self, path: str | Path, *, top: int = 12) -> Path:
        """Render every recorded iteration: ``.html`` (self-contained: learning curve, slices,
        fixes, confusion matrices, review queue) or ``.md`` by the suffix of ``path``, with
        ``top`` rows of the edits and the queue; see :func:`datacentric.report.write`."""
        from datacentric.report import write

        return write(self, path, top=top)

    def __repr__(self) -> str:
        return f"ExperimentLog({str(self.root)!r})"
