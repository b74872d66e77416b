"""Shared CLI plumbing: one console, user data printed literally, and user errors as one
clear line (no traceback).

Everything the CLI prints goes through rich, which reads ``[...]`` as markup and ``:name:``
as emoji codes. Every string that comes from the user (paths, labels, class and slice names,
commit messages, sample ids, issue details, alert messages ...) is passed through :func:`esc`
before it is put into a printed string or a table cell, so it is shown exactly as written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from datacentric._io import file_access_error
from datacentric.exceptions import DatacentricError

__all__ = [
    "check_option",
    "console",
    "err_console",
    "esc",
    "new_app",
    "one_line",
    "user_errors",
]

# No emoji codes: a label ":cat:" stays ":cat:" (our own strings use none).
console = Console(emoji=False)
if not console.is_terminal and "COLUMNS" not in os.environ:
    console.width = 120  # logs and CI: rich would otherwise wrap tables at 80 columns
err_console = Console(stderr=True, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C (128 + SIGINT)


def esc(value: object) -> str:
    """``value`` as text that rich prints literally, inside markup or as a table cell.

    Brackets that rich would read as markup are escaped; a trailing backslash, which would
    otherwise escape the markup that follows it, is closed with an empty style span.

    Examples
    --------
    >>> esc("[red]x[/red]")
    '\\\\[red]x\\\\[/red]'
    >>> esc(None)
    ''
    >>> from rich.console import Console
    >>> c = Console(width=80, emoji=False)
    >>> with c.capture() as cap:
    ...     c.print(f"[bold]{esc('[/] a:smile:b [bold')}[/] {esc('dir' + chr(92))}")
    >>> cap.get()
    '[/] a:smile:b [bold dir\\\\\\n'
    """
    text = "" if value is None else str(value)
    body = text.rstrip("\\")
    trailing = len(text) - len(body)
    out = escape(body)
    if trailing:
        out += "\\" * (2 * trailing) + "[bold][/bold]"
    return out


def one_line(message: str) -> str:
    """``message`` with line breaks (and runs of spaces) folded into single spaces.

    Examples
    --------
    >>> one_line("bad row:\\n  a\\r\\nb ")
    'bad row: a b'
    """
    return " ".join(message.split())


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/] {esc(one_line(message))}", soft_wrap=True)
    return typer.Exit(code)


def user_errors(fn: F) -> F:
    """Turn errors into one red line on stderr and an exit status, never a traceback.

    - :class:`DatacentricError` (bad input, with its fix): ``Error: <message>``, exit 1;
    - any other :class:`OSError` that escapes the library (disk full, permission denied, a
      parent that is a file ...): ``Error: cannot access <path>: <reason>; <fix>`` (the path
      when the error names one), exit 1;
    - ``Ctrl-C`` (:class:`KeyboardInterrupt`): ``Error: interrupted``, exit 130.

    Messages are folded onto one line.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DatacentricError as exc:
            raise _fail(str(exc) or type(exc).__name__) from None
        except OSError as exc:
            if exc.filename is not None:
                message = str(file_access_error(exc, os.fsdecode(exc.filename), "access"))
            else:
                message = (
                    f"operating-system error: {exc.strerror or exc or type(exc).__name__}. "
                    "Check the paths given, their permissions and the free disk space."
                )
            raise _fail(message) from None
        except KeyboardInterrupt:
            raise _fail(
                "interrupted (Ctrl-C). A dataset version is committed whole or not at all; "
                "run the command again to finish.",
                EXIT_INTERRUPTED,
            ) from None

    return wrapper  # type: ignore[return-value]


def check_option(
    verb: str, option: str, value: object, *constraints: object, default: object
) -> None:
    """Check one CLI option against ``datacentric._validation`` constraints, before any work.

    Typer's own ranges let NaN through (every comparison with NaN is false); this refuses it,
    infinities and out-of-range values with the one parameter-error form.
    """
    from datacentric._validation import check_params

    check_params(
        f"datacentric {verb}",
        {option: value},
        {option: list(constraints)},
        fix=f"Pass e.g. {option} {default}.",
    )


def new_app(help_text: str) -> typer.Typer:
    """A Typer app (or sub-app) with no completion noise and plain tracebacks."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
