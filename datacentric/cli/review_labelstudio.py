"""``datacentric review`` verbs for labelstudio (being built)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the labelstudio verbs to the ``review`` group."""
