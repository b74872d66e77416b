"""Plain-text formatting shared below the report layer (e.g. by a result's Markdown)."""

from __future__ import annotations

__all__ = ["format_bytes"]


def format_bytes(n: int) -> str:
    """A file size in KiB below 1 MiB, else in MiB.

    Examples
    --------
    >>> format_bytes(103_424), format_bytes(45 * 1024 * 1024)
    ('101.0 KiB', '45.00 MiB')
    """
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"
