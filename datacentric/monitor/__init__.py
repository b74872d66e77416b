"""Production monitoring by slice: drift and performance per time window, an embedded DuckDB
store, alerts from a YAML config, and a dashboard (``docs/monitor.md``).

The public names are imported lazily, so ``import datacentric.monitor`` stays light
(DuckDB and scipy load on first use).

Examples
--------
>>> import datacentric.monitor as m
>>> m.Monitor.__name__, m.load_config(None).window
('Monitor', '1d')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datacentric.monitor.batch import BatchConflictError, IngestResult
    from datacentric.monitor.config import MonitorConfig, load_config
    from datacentric.monitor.monitor import Monitor
    from datacentric.monitor.store import MonitorStoreError

__all__ = [
    "BatchConflictError",
    "IngestResult",
    "Monitor",
    "MonitorConfig",
    "MonitorStoreError",
    "load_config",
]

_WHERE = {
    "BatchConflictError": "datacentric.monitor.batch",
    "IngestResult": "datacentric.monitor.batch",
    "Monitor": "datacentric.monitor.monitor",
    "MonitorConfig": "datacentric.monitor.config",
    "load_config": "datacentric.monitor.config",
    "MonitorStoreError": "datacentric.monitor.store",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'datacentric.monitor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
