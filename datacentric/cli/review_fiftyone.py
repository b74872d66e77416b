"""``datacentric review`` verbs for fiftyone (being built)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the fiftyone verbs to the ``review`` group."""
