"""Child-process workers for the crash and race tests of the versioned store.

Run as ``python _store_worker.py MODE ROOT [ARGS...]``:

- ``race ROOT WORKER N``: commit N relabels of this worker's own samples, retrying on
  CommitConflictError, so two workers race for HEAD.
- ``loop ROOT``: commit relabels forever (the parent kills it at a random moment).
- ``hang ROOT POINT SIGNAL_FILE``: commit once but stop at POINT (``manifest``: half of
  the manifest written; ``rename``: version directory renamed, HEAD not yet moved;
  ``head``: the new HEAD temp file written, not yet renamed), touching SIGNAL_FILE and
  sleeping there until killed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import polars as pl

from datacentric.dataset import Dataset
from datacentric.exceptions import CommitConflictError


def _hang(signal_file: str) -> None:
    Path(signal_file).write_text("ready")
    while True:
        time.sleep(1)


def race(root: str, worker: str, n: int) -> None:
    done = 0
    while done < n:
        ds = Dataset.open(root, check_images="none")
        sid = f"w{worker}_{done}"
        ds.relabel([sid], ["b"], reason=f"worker {worker} edit {done}", source=f"worker{worker}")
        try:
            ds.commit(f"worker {worker} commit {done}")
        except CommitConflictError:
            continue
        done += 1


def loop(root: str) -> None:
    i = 0
    while True:
        ds = Dataset.open(root, check_images="none")
        labels = ds.manifest["label"].to_list()
        ids = ds.sample_ids[:5000]
        new = ["a" if lab == "b" else "b" for lab in labels[:5000]]
        ds.relabel(ids, new, reason=f"flip {i}", source="loop")
        ds.commit(f"flip {i}")
        i += 1


def hang(root: str, point: str, signal_file: str) -> None:
    ds = Dataset.open(root, check_images="none")
    ds.relabel([ds.sample_ids[0]], ["b"], reason="crash test", source="test")
    if point == "manifest":
        orig = pl.DataFrame.write_parquet

        def partial(self: pl.DataFrame, file: object, *a: object, **k: object) -> None:
            if str(file).endswith("manifest.parquet"):
                orig(self, file, *a, **k)  # type: ignore[arg-type]
                size = os.path.getsize(file)  # type: ignore[arg-type]
                with open(file, "r+b") as f:  # type: ignore[arg-type]
                    f.truncate(size // 2)
                _hang(signal_file)
            orig(self, file, *a, **k)  # type: ignore[arg-type]

        pl.DataFrame.write_parquet = partial  # type: ignore[method-assign]
    elif point == "rename":
        import datacentric.dataset.store as store

        def stop_before_head(self: object, number: int) -> None:
            _hang(signal_file)

        store.VersionStore._write_head = stop_before_head  # type: ignore[method-assign,assignment]
    elif point == "head":
        import datacentric.dataset.store as store

        real_replace = os.replace

        def stop_replace(src: object, dst: object) -> None:
            if str(dst).endswith("HEAD"):
                _hang(signal_file)
            real_replace(src, dst)  # type: ignore[arg-type]

        store.os.replace = stop_replace  # type: ignore[assignment]
    ds.commit("this commit is killed")


if __name__ == "__main__":
    mode, root_arg, *rest = sys.argv[1:]
    if mode == "race":
        race(root_arg, rest[0], int(rest[1]))
    elif mode == "loop":
        loop(root_arg)
    elif mode == "hang":
        hang(root_arg, rest[0], rest[1])
    else:
        raise SystemExit(f"unknown mode {mode}")
