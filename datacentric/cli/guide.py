"""``datacentric guide DIR``: draft an annotation guide from the data.

The draft lists the classes (definitions to write), the class pairs the model confuses most
and the near-duplicates labelled differently, as ambiguous cases to decide. The scan comes
from ``--scan`` or, by default, the last scan the loop recorded for ``DIR``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from datacentric._io import ensure_writable, os_errors_as
from datacentric.cli._common import console, err_console, esc, user_errors

__all__ = ["register"]


def _last_scan(directory: Path) -> Path | None:
    from datacentric.loop.log import ExperimentLog

    found = sorted(ExperimentLog(directory).path.glob("iter_*/scan.parquet"))
    return found[-1] if found else None


def guide_cmd(
    directory: Path = typer.Argument(..., help="A versioned dataset directory."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the guide here (Markdown); default: print it."
    ),
    scan: Path | None = typer.Option(
        None, "--scan", help="A saved scan (scan.parquet); default: the loop's last scan."
    ),
    title: str | None = typer.Option(None, help="Guide title."),
    top: int = typer.Option(5, help="At most this many ambiguous cases of each kind."),
    copy_images: bool = typer.Option(
        True,
        "--copy-images/--no-copy-images",
        help="Copy the example images next to the guide (<name>_images/) so it stands alone.",
    ),
    overwrite: bool = typer.Option(False, help="Replace an existing --out file."),
) -> None:
    """Draft an annotation guide: classes, most-confused pairs, inconsistent near-duplicates."""
    from datacentric.dataset import Dataset
    from datacentric.exceptions import InvalidParameterError
    from datacentric.integrations.guide import draft_guide
    from datacentric.issues import ScanResult

    if out is not None and out.exists() and not overwrite:
        raise InvalidParameterError(
            f"{out} exists; pass --overwrite to replace it or choose another --out."
        )
    if out is not None:
        ensure_writable(out, "--out")
    ds = Dataset.open(directory)
    scan_path = scan or _last_scan(directory)
    result = ScanResult.load(scan_path) if scan_path is not None else None
    if result is None:
        err_console.print(
            "[yellow]No scan found[/] (run `datacentric scan DIR --out scan.parquet` or "
            "`datacentric loop DIR`): the draft lists the classes only."
        )
    guide = draft_guide(
        ds, result, title=title, top=top, relative_to=out.parent if out is not None else None
    )
    if out is None:
        console.print(guide.to_markdown(), markup=False, highlight=False, soft_wrap=True)
        return
    if copy_images:
        folder = out.with_name(f"{out.stem}_images")
        with os_errors_as(folder, "copy the example images to"):
            folder.mkdir(parents=True, exist_ok=True)
            for case in guide.ambiguous:
                copied = []
                for rel in case.images:
                    src = (out.parent / rel).resolve()
                    shutil.copy2(src, folder / src.name)
                    copied.append(f"{folder.name}/{src.name}")
                case.images = copied
    guide.save(out)
    console.print(
        f"Guide: [bold]{esc(out)}[/] ({len(guide.classes)} classes, {len(guide.ambiguous)} "
        f"ambiguous cases{'' if result is not None else ', no scan'}). Fill in the TODOs."
    )


def register(app: typer.Typer) -> None:
    """Add the ``guide`` verb to the top-level app."""
    app.command("guide")(user_errors(guide_cmd))
