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

__all__ = ["HEADLESS_FLAGS", "chromium_binary", "dump_dom", "screenshot"]


#: Headless, no GPU, and no background connections (this machine's closed network refuses
#: them, many at a time); a throw-away profile is added per run.
HEADLESS_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


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
    proc = _run(url, [f"--screenshot={out}"], width, height, virtual_time_ms, timeout)
    if not out.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot of {url}: {proc.stderr[-2000:]}")
    return out


def dump_dom(
    url: str,
    *,
    width: int = 1400,
    height: int = 900,
    virtual_time_ms: int = 15000,
    timeout: float = 120.0,
) -> str:
    """Render ``url`` headless and return the DOM after the page's scripts ran (HTML text).

    Use it to assert on what a single-page app rendered (elements, counts), which an HTTP
    status or the served HTML cannot show.
    """
    proc = _run(url, ["--dump-dom"], width, height, virtual_time_ms, timeout)
    if not proc.stdout.strip():
        raise RuntimeError(f"Chromium dumped no DOM for {url}: {proc.stderr[-2000:]}")
    return proc.stdout


def _run(
    url: str,
    action: list[str],
    width: int,
    height: int,
    virtual_time_ms: int,
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="dc-chromium-") as profile:
        cmd = [
            chromium_binary(),
            *HEADLESS_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={virtual_time_ms}",
            *action,
            url,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
