"""Options shared by several verbs, declared once so each flag has one meaning everywhere.

Short flags, CLI-wide: ``-o`` ``--out`` (a file or folder written), ``-s`` ``--slices`` (slice
YAML), ``-p`` ``--predictions`` (a predictions file), ``-m`` ``--message`` (a commit message),
``-n`` ``--limit`` (at most N items), ``-i`` ``--iterations``, ``-c`` ``--config``, ``-r``
``--reference``. A dataset version is ``--rev`` (an int, ``HEAD`` or ``HEAD~N``); the program's
own version is ``datacentric --version``. ``--json`` is always a path to write JSON to; a verb
that can print JSON instead of a table takes ``--format json``. Where work runs: ``--engine``,
``--workers``, ``--address`` (:func:`engine_kwargs`; no short flags).
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = [
    "ADDRESS",
    "CACHE",
    "ENGINE",
    "REV",
    "WORKERS",
    "engine_kwargs",
    "slices_option",
]

#: The dataset version a verb reads (default HEAD).
REV: Any = typer.Option(
    None, "--rev", help="Dataset version to read: an int, HEAD or HEAD~N (default HEAD)."
)


def slices_option(help_text: str = "YAML slice definitions.") -> Any:
    """``-s/--slices PATH``: a slice YAML file (docs/slices-yaml.md)."""
    return typer.Option(None, "--slices", "-s", help=help_text)


#: Where the cross-validation folds run (datacentric.engine.get_engine).
ENGINE: Any = typer.Option(
    None,
    "--engine",
    help="Where the cross-validation folds run: local (default: every core of this machine, "
    "in worker processes), sequential (one after another, in this process) or ray (a Ray "
    "cluster; pip install 'datacentric[ray]'). Same results on every engine. scan also "
    "searches the kNN graph of more than 200,000 embeddings given as a .npy on it.",
)
#: Parallel tasks; a string so a bad value gets the one-line error, not a usage screen.
WORKERS: Any = typer.Option(
    None, "--workers", help="Parallel folds (default: every core; an integer >= 1)."
)
#: The Ray cluster.
ADDRESS: Any = typer.Option(
    None,
    "--address",
    help="The Ray cluster to join, HOST:PORT (with --engine ray; default: start a local Ray).",
)
#: Reuse the cross-validation folds cached by an earlier (maybe interrupted) run.
CACHE: Any = typer.Option(
    True,
    "--cache/--no-cache",
    help="Reuse the cross-validation folds an earlier run of the same data, recipe, folds and "
    "seed cached under <dataset>/.datacentric/cache/cv (delete that folder to clear it).",
)


def engine_kwargs(
    verb: str, engine: str | None, workers: str | None, address: str | None
) -> dict[str, Any]:
    """``engine``, ``workers``, ``address`` for the library, checked before any work.

    Raises :class:`~datacentric.exceptions.InvalidParameterError` (one line) for an unknown
    engine, a ``--workers`` that is not an integer from 1 to 1024 (``0``, ``-1``, ``nan``,
    ``2.5`` ...), or ``--address`` without ``--engine ray``.
    """
    from datacentric._validation import Options, invalid_parameter
    from datacentric.cli._common import check_option
    from datacentric.engine import ENGINES, get_engine
    from datacentric.engine.base import MAX_LOCAL_WORKERS, ray_engine_class

    owner = f"datacentric {verb}"
    if engine is not None:
        check_option(verb, "--engine", engine, Options(str, ENGINES), default="local")
    n: int | None = None
    if workers is not None:
        text = workers.strip()
        if not (text.isdigit() and 1 <= int(text) <= MAX_LOCAL_WORKERS):
            raise invalid_parameter(
                owner,
                "--workers",
                workers,
                f"an integer from 1 to {MAX_LOCAL_WORKERS}",
                fix="Pass e.g. --workers 2, or leave it out to use every core.",
            )
        n = int(text)
    if address is not None and engine != "ray":
        raise invalid_parameter(
            owner,
            "--address",
            address,
            "given only with --engine ray (it names a Ray cluster)",
            fix="Add --engine ray, or leave --address out to run on this machine.",
        )
    if engine == "ray":
        ray_engine_class()  # Ray installed? (the cluster is joined when the folds start)
    else:
        get_engine(engine, workers=n)
    return {"engine": engine, "workers": n, "address": address}
