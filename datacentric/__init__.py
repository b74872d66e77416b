"""datacentric: data-centric machine learning with the model held fixed.

Find label errors, slice errors, duplicates, leakage and more; send what needs a human
to annotators and reviewers; retrain the same model on the fixed data; export a
compressed model and prove no slice got worse; monitor production by slice.

This module imports nothing heavy: torch, fiftyone and label_studio_sdk are imported
only inside the functions that need them.

Examples
--------
>>> import tempfile
>>> import datacentric as dc
>>> ds = dc.load_demo(tempfile.mkdtemp())
>>> ds.version
1
>>> dc.Monitor.__name__, dc.compress.__name__
('Monitor', 'compress')
"""

from __future__ import annotations

from typing import Any

from datacentric import exceptions
from datacentric.config import config_context, get_config, set_config
from datacentric.dataset import Dataset, VersionStore, diff_manifests
from datacentric.exceptions import DatacentricError
from datacentric.issues import IssueFinder, ScanResult, register_finder, scan

__version__ = "0.1.0"

# Imported on first use: each of these pulls in more (duckdb, onnx, the recipes).
_LAZY = {
    "load_demo": "datacentric.datasets",
    "load_detection_demo": "datacentric.datasets",
    "evaluate": "datacentric.slices",
    "run_loop": "datacentric.loop",
    "compress": "datacentric.export",
    "Monitor": "datacentric.monitor",
}


def __getattr__(name: str) -> Any:
    """Resolve the few public names whose modules are imported on first use."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'datacentric' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "DatacentricError",
    "Dataset",
    "IssueFinder",
    "Monitor",
    "ScanResult",
    "VersionStore",
    "__version__",
    "compress",
    "config_context",
    "diff_manifests",
    "evaluate",
    "exceptions",
    "get_config",
    "load_demo",
    "load_detection_demo",
    "register_finder",
    "run_loop",
    "scan",
    "set_config",
]
