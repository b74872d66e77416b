"""CLI cases of the "cliout" area: outputs that cannot be written, markup in user strings,
corrupt version-store files.

- every verb that writes, given an output path under a regular file (tests run as root, where
  ``chmod`` does not stop writes): exit 1, one line naming the path, before any long work;
- ``info``/``history``/``diff`` of a dataset whose labels, metadata and commit messages look
  like rich markup: exit 0;
- every dataset verb on a store with a corrupt ``meta.json``, ``changes.parquet`` or
  ``manifest.parquet``, or a binary ``HEAD``: exit 1, one line naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from tests.hostile.cases import DATASET_VERBS, CliCase, versioned_dataset

__all__ = ["CASES"]


def _blocked(root: Path) -> dict[str, str]:
    """A dataset, a regular file to put outputs under, and predictions/metrics to read."""
    ds_root = versioned_dataset(root / "ds")
    blocker = root / "a_regular_file"
    blocker.write_text("outputs cannot go under a file")
    from datacentric import Dataset
    from datacentric.slices import evaluate

    ds = Dataset.open(ds_root)
    preds = ds.manifest.select("sample_id", pl.col("label").alias("pred"))
    preds.write_parquet(root / "preds.parquet")
    metrics = evaluate(ds, preds, None, split=None, min_n=1)
    metrics.save(root / "metrics.json")
    return {
        "dataset": str(ds_root),
        "blocker": str(blocker),
        "preds": str(root / "preds.parquet"),
        "metrics": str(root / "metrics.json"),
    }


_BLOCKED_ARGVS: dict[str, tuple[str, ...]] = {
    "scan-out": ("scan", "{dataset}", "--out", "{blocker}/scan.parquet", "--folds", "2"),
    "scan-report": (
        "scan", "{dataset}", "--out", "{out}/scan.parquet", "--report", "{blocker}/r.html",
    ),
    "scan-predictions-out": (
        "scan", "{dataset}", "--out", "{out}/scan.parquet",
        "--predictions-out", "{blocker}/p.npz",
    ),
    "loop-report": ("loop", "{dataset}", "--iterations", "1", "--report", "{blocker}/loop.html"),
    "export-out": ("export", "{dataset}", "--out", "{blocker}/export", "--targets", "onnx-fp32"),
    "guide-out": ("guide", "{dataset}", "--out", "{blocker}/guide.md"),
    "diff-out": ("diff", "{dataset}", "1", "--out", "{blocker}/diff.csv"),
    "demo-data": ("demo-data", "{blocker}/demo"),
    "demo-data-detection": ("demo-data", "{blocker}/demo", "--task", "detection"),
    "demo-production": ("demo-production", "{dataset}", "--out", "{blocker}/prod"),
    "slices-evaluate-out": (
        "slices", "evaluate", "{dataset}", "-p", "{preds}", "--out", "{blocker}/m.json",
    ),
    "slices-evaluate-report": (
        "slices", "evaluate", "{dataset}", "-p", "{preds}", "--out", "{out}/m.json",
        "--report", "{blocker}/m.html",
    ),
    "slices-check-markdown": (
        "slices", "check", "--baseline", "{metrics}", "--current", "{metrics}",
        "--markdown", "{blocker}/gate.md",
    ),
    "slices-discover-out": (
        "slices", "discover", "{dataset}", "-p", "{preds}", "--out", "{blocker}/d.yaml",
    ),
    "slices-report-out": ("slices", "report", "{metrics}", "--out", "{blocker}/s.html"),
    "monitor-report-out": (
        "monitor", "report", "--store", "{out}/m.duckdb", "-o", "{blocker}/m.html",
    ),
}  # fmt: skip

MARKUP_CLASSES = ("[/]", "[red]x[/red]", "[bold :cat: 🐱")


def _markup(root: Path) -> dict[str, str]:
    """Labels, metadata values and commit messages that look like rich markup."""
    from datacentric import Dataset

    ds_root = versioned_dataset(root / "d[red]x[/red]", classes=MARKUP_CLASSES)
    ds = Dataset.open(ds_root)
    ds.relabel(["s000"], MARKUP_CLASSES[1], reason="[/] reason [bold")
    ds.commit("message [/] [red]y[/red] :smile: [bold")
    return {"dataset": str(ds_root)}


def _corrupt(rel: str, content: bytes) -> Callable[[Path], Mapping[str, str]]:
    def build(root: Path) -> dict[str, str]:
        ds_root = versioned_dataset(root / "ds")
        target = ds_root / ".datacentric" / rel
        target.write_bytes(content)
        return {"dataset": str(ds_root), "bad_file": str(target)}

    return build


_CORRUPT = {
    "corrupt-meta-json": ("versions/0001/meta.json", b'{"version": 1, "parent": '),
    "corrupt-meta-keys": ("versions/0001/meta.json", b'{"version": 1}'),
    "corrupt-changes": ("versions/0001/changes.parquet", b"PAR1\x00\x00garbage"),
    "corrupt-manifest": ("versions/0001/manifest.parquet", b"PAR1\x00\x00garbage"),
    "binary-head": ("HEAD", b"\x89PNG\r\n\x1a\n\x00"),
}

CASES: list[CliCase] = [
    CliCase(
        name="output-under-a-file",
        build=_blocked,
        argvs=_BLOCKED_ARGVS,
        match="{blocker}",
    ),
    CliCase(
        name="markup-in-user-strings",
        build=_markup,
        argvs={k: DATASET_VERBS[k] for k in ("info", "history", "diff")},
        default="ok",
    ),
    *[
        CliCase(name=name, build=_corrupt(rel, content), argvs=DATASET_VERBS, match="{bad_file}")
        for name, (rel, content) in _CORRUPT.items()
    ],
]
