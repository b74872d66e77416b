"""``datacentric monitor ...``: production monitoring by slice (being built)."""

from __future__ import annotations

from datacentric.cli._common import new_app

__all__ = ["app"]

app = new_app("Production monitoring by slice: ingest batches, drift, alerts, dashboard.")
