"""The ``datacentric`` command line. One module per verb group; ``main`` is the entry point."""

from __future__ import annotations

import os

import typer

from datacentric.cli._common import new_app
from datacentric.cli.data import register as _register_data
from datacentric.cli.export import register as _register_export
from datacentric.cli.guide import register as _register_guide
from datacentric.cli.init import register as _register_init
from datacentric.cli.loop import register as _register_loop
from datacentric.cli.monitor import app as _monitor_app
from datacentric.cli.review import app as _review_app
from datacentric.cli.scan import register as _register_scan
from datacentric.cli.slices import app as _slices_app

__all__ = ["app", "main"]

app = new_app(
    "datacentric: find what is wrong with your data, fix it, retrain the same model, "
    "and prove that no slice got worse."
)
_register_init(app)
_register_data(app)
_register_scan(app)
_register_loop(app)
_register_export(app)
_register_guide(app)
app.add_typer(_slices_app, name="slices")
app.add_typer(_review_app, name="review")
app.add_typer(_monitor_app, name="monitor")


def _print_version(value: bool) -> None:
    if value:
        from datacentric import __version__

        typer.echo(f"datacentric {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the datacentric version and exit.",
    ),
) -> None:
    """datacentric: find what is wrong with your data, fix it, retrain the same model, and
    prove that no slice got worse."""


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
