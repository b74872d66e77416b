"""Run a snippet of Python in a child process and measure its peak resident memory.

The hostile-input tests use this for the bombs: whatever the input does to memory happens in
the child, and the test asserts on the child's peak RSS (``VmHWM``), so a regression fails the
test instead of taking the test run down with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

__all__ = ["GIB", "ChildResult", "run_child"]

GIB = 1024**3

_EPILOGUE = """
def _dc_peak_rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return -1
import atexit as _dc_atexit
_dc_atexit.register(lambda: print(f"\\n__PEAK_RSS__={_dc_peak_rss()}", flush=True))
"""


@dataclass(frozen=True)
class ChildResult:
    """Exit status, output and peak resident memory (bytes) of one child process."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss: int

    @property
    def last_error_line(self) -> str:
        """The last non-empty stderr line (where a traceback ends)."""
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else ""


def run_child(code: str, *, timeout: float = 120.0, env: dict[str, str] | None = None) -> ChildResult:
    """Run ``code`` with this interpreter; return its status, output and peak RSS.

    ``code`` may raise: the peak is still reported (printed at exit). Environment
    variables in ``env`` are added to the current environment.
    """
    full_env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", **(env or {})}
    program = _EPILOGUE + "\n" + textwrap.dedent(code)
    proc = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )
    peak = -1
    out_lines = []
    for line in proc.stdout.splitlines():
        if line.startswith("__PEAK_RSS__="):
            peak = int(line.split("=", 1)[1])
        else:
            out_lines.append(line)
    return ChildResult(proc.returncode, "\n".join(out_lines), proc.stderr, peak)
