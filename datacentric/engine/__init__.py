"""Execution layer: run one task function per unit of work on local cores or a Ray cluster."""

from __future__ import annotations

from datacentric.engine.base import Engine, TaskResources

__all__ = ["Engine", "TaskResources"]
