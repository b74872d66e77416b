"""Hostile fixtures for the CLI matrix: every verb that takes a kind of input, run on each.

Each area module (``paths``, ``images``, ``files``, ``numbers``, ``output`` ...) defines
``CASES: list[CliCase]``. A case builds its fixture under a temp dir and names the CLI
invocations that take it; ``tests/hostile/test_cli_matrix.py`` runs each invocation and
asserts the outcome: ``"error"`` = exit status 1 and exactly one line on stderr (``Error: ...``,
containing ``match``), never a traceback; ``"ok"`` = exit 0 (the input is handled, e.g. a bad
image reported as an issue instead of aborting the scan).

Argument templates are formatted with the placeholders ``build`` returns plus ``{out}`` (a
fresh, empty, writable folder). ``DATASET_VERBS`` are the verbs that read a versioned dataset
directory; a dataset case usually runs all of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

__all__ = [
    "DATASET_VERBS",
    "CliCase",
    "all_cases",
    "versioned_dataset",
]

# The verbs that read a versioned dataset directory, kept cheap (2 folds, 1 iteration).
DATASET_VERBS: dict[str, tuple[str, ...]] = {
    "info": ("info", "{dataset}"),
    "history": ("history", "{dataset}"),
    "diff": ("diff", "{dataset}", "1"),
    # in-process folds: the matrix checks hostile input, tests/engine checks the parallel engines
    "scan": (
        "scan", "{dataset}", "--out", "{out}/scan.parquet", "--folds", "2",
        "--engine", "sequential",
    ),
    "loop": (
        "loop", "{dataset}", "--iterations", "1", "--folds", "2", "--engine", "sequential",
        "--report", "{out}/loop.html",
    ),
    "export": ("export", "{dataset}", "--out", "{out}/export", "--targets", "onnx-fp32"),
    "guide": ("guide", "{dataset}", "--out", "{out}/guide.md"),
}


@dataclass(frozen=True)
class CliCase:
    """One hostile fixture and the CLI invocations that take it.

    Attributes
    ----------
    name : str
        Test id.
    build : callable
        ``build(tmp_dir) -> {placeholder: value}``; writes the fixture under ``tmp_dir``.
    argvs : mapping
        ``{label: argv template}``; use ``DATASET_VERBS`` for dataset fixtures.
    expect : mapping
        ``{label: "error" | "ok"}``; labels not named here expect ``default``.
    default : str
        The expected outcome of labels not in ``expect``.
    match : str
        A template the single error line must contain (e.g. ``"{bad_file}"``), formatted like
        the argv; empty to skip.
    """

    name: str
    build: Callable[[Path], Mapping[str, str]]
    argvs: Mapping[str, tuple[str, ...]]
    expect: Mapping[str, str] = field(default_factory=dict)
    default: str = "error"
    match: str = ""

    def outcome(self, label: str) -> str:
        """The expected outcome of one invocation."""
        return self.expect.get(label, self.default)


def versioned_dataset(
    root: Path, n: int = 24, classes: tuple[str, ...] = ("a", "b", "c"), seed: int = 0
) -> Path:
    """A tiny committed dataset (``n`` 8x8 RGB noise PNGs, 3 classes, train/test, a slice column).

    Cheap enough for every verb, training ones included. Returns ``root``.
    """
    from datacentric import Dataset

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        rel = f"images/{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / rel)
        rows.append(
            {
                "sample_id": f"s{i:03d}",
                "image": rel,
                "label": classes[i % len(classes)],
                "split": "test" if i % 4 == 3 else "train",
                "site": "north" if i % 2 else "south",
            }
        )
    pl.DataFrame(rows).write_csv(root / "manifest.csv")
    ds = Dataset.from_folder(root, classes=list(classes))
    ds.commit("hostile fixture base")
    return root


def all_cases() -> list[CliCase]:
    """Every ``CASES`` entry of every module in this package, in module order."""
    out: list[CliCase] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        out.extend(getattr(module, "CASES", []))
    names = [c.name for c in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:  # pragma: no cover - a test-suite mistake
        raise RuntimeError(f"hostile CLI case names repeat: {sorted(dup)}")
    return out
