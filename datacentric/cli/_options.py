"""Options shared by several verbs, declared once so each flag has one meaning everywhere.

Short flags, CLI-wide: ``-o`` ``--out`` (a file or folder written), ``-s`` ``--slices`` (slice
YAML), ``-p`` ``--predictions`` (a predictions file), ``-m`` ``--message`` (a commit message),
``-n`` ``--limit`` (at most N items), ``-i`` ``--iterations``, ``-c`` ``--config``, ``-r``
``--reference``. A dataset version is ``--rev`` (an int, ``HEAD`` or ``HEAD~N``); the program's
own version is ``datacentric --version``. ``--json`` is always a path to write JSON to; a verb
that can print JSON instead of a table takes ``--format json``.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["REV", "slices_option"]

#: The dataset version a verb reads (default HEAD).
REV: Any = typer.Option(
    None, "--rev", help="Dataset version to read: an int, HEAD or HEAD~N (default HEAD)."
)


def slices_option(help_text: str = "YAML slice definitions.") -> Any:
    """``-s/--slices PATH``: a slice YAML file (docs/slices-yaml.md)."""
    return typer.Option(None, "--slices", "-s", help=help_text)

