"""Where tasks run: in this process, on every local core, or on a Ray cluster.

One task function per unit of work (a cross-validation fold, a shard of images) runs
unchanged on every engine; results come back in input order and, because every seed
travels inside the task's item, are bit-identical across engines and worker counts.

>>> from datacentric.engine import get_engine
>>> with get_engine("sequential") as eng:
...     eng.map(abs, [-1, 2, -3])
[1, 2, 3]

This package is generic plumbing (the bottom layers only: it never imports the training or
issue code; tasks are passed in as functions).
"""

from __future__ import annotations

from datacentric.engine.base import ENGINES, Engine, TaskResources, get_engine
from datacentric.engine.local import LocalEngine
from datacentric.engine.sequential import SequentialEngine

__all__ = ["ENGINES", "Engine", "LocalEngine", "SequentialEngine", "TaskResources", "get_engine"]
