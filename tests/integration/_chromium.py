"""Headless Chromium screenshots for the integration tests (Debian's ``chromium`` package).

The flags keep Chromium off the network (this machine's closed network refuses its background
connections) and give it a throw-away profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["chromium_binary", "screenshot"]


def chromium_binary() -> str:
    """Path of the Chromium executable (``$CHROMIUM`` or ``chromium`` on PATH)."""
    name = os.environ.get("CHROMIUM", "chromium")
    found = shutil.which(name) or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError(
            f"headless Chromium ({name!r}) is not installed; `make servers` installs it "
            "(apt-get install chromium)."
        )
    return found


def screenshot(
    url: str,
    out: str | Path,
    *,
    width: int = 1400,
    height: int = 900,
    virtual_time_ms: int = 15000,
    timeout: float = 120.0,
) -> Path:
    """Render ``url`` headless and write a PNG to ``out``; return its path.

    ``virtual_time_ms`` lets the page's scripts run (fetches, rendering) before the capture.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dc-chromium-") as profile:
        cmd = [
            chromium_binary(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={virtual_time_ms}",
            f"--screenshot={out}",
            url,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if not out.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot of {url}: {proc.stderr[-2000:]}")
    return out
