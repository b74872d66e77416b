"""Shared CLI plumbing: one console, and user errors as one clear line (no traceback)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from datacentric.exceptions import DatacentricError

__all__ = ["console", "err_console", "new_app", "user_errors"]

console = Console()
if not console.is_terminal and "COLUMNS" not in os.environ:
    console.width = 120  # logs and CI: rich would otherwise wrap tables at 80 columns
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn :class:`DatacentricError` into one red line on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DatacentricError as exc:
            err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def new_app(help_text: str) -> typer.Typer:
    """A Typer app (or sub-app) with no completion noise and plain tracebacks."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
