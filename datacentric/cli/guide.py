"""``datacentric guide DIR``: draft an annotation guide from the data (being built)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``guide`` verb to the top-level app."""
