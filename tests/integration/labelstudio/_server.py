"""A real Label Studio server for the tests: its own venv, a loopback port, a temp data dir.

``label-studio init`` (database migrations, ~30-50 s) runs once per session into a template
data dir with a known legacy API token; every server start copies the template (~3-5 s).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "TOKEN", "LabelStudioServer", "free_port", "ls_binary"]

REPO = Path(__file__).resolve().parents[3]
ADMIN_EMAIL = "admin@datacentric.invalid"
ADMIN_PASSWORD = "admin-password-1"
TOKEN = "dc0test0token0" + "a1b2c3d4e5f6a7b8c9d0e1f2a3b4"  # 40 characters
_SCRUB = ("HOST", "PORT", "USERNAME", "PASSWORD", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")


def ls_binary() -> str:
    """The Label Studio server executable (``$DATACENTRIC_LABEL_STUDIO_BIN`` or .ls-venv)."""
    path = os.environ.get("DATACENTRIC_LABEL_STUDIO_BIN") or str(
        REPO / ".ls-venv" / "bin" / "label-studio"
    )
    if not Path(path).is_file():
        raise RuntimeError(
            f"the Label Studio server is not installed at {path}; `make servers` installs it "
            "into .ls-venv (or set DATACENTRIC_LABEL_STUDIO_BIN)."
        )
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path, document_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=ADMIN_EMAIL,
        LABEL_STUDIO_PASSWORD=ADMIN_PASSWORD,
        LABEL_STUDIO_USER_TOKEN=TOKEN,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(document_root),
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LATEST_VERSION_CHECK="false",
    )
    return env


def init_template(template: Path, document_root: Path) -> Path:
    """Run ``label-studio init`` once into ``template`` (admin user, legacy token)."""
    template.mkdir(parents=True, exist_ok=True)
    log = template.parent / "init.log"
    with log.open("w") as out:
        proc = subprocess.run(
            [
                ls_binary(),
                "init",
                "--data-dir",
                str(template),
                "--username",
                ADMIN_EMAIL,
                "--password",
                ADMIN_PASSWORD,
                "--user-token",
                TOKEN,
                "--enable-legacy-api-token",
                "--no-browser",
                "-q",
            ],
            env=_env(template, document_root),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
            cwd=template.parent,
        )
    if proc.returncode != 0 or not (template / "label_studio.sqlite3").is_file():
        raise RuntimeError(
            f"label-studio init failed ({proc.returncode}):\n{log.read_text()[-3000:]}"
        )
    return template


class LabelStudioServer:
    """One server process on a data dir copied from the template; start/stop/kill/restart."""

    def __init__(self, template: Path, data_dir: Path, document_root: Path) -> None:
        if not data_dir.exists():
            shutil.copytree(template, data_dir)
        self.data_dir = data_dir
        self.document_root = document_root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> LabelStudioServer:
        """Start the server and wait until ``GET /health`` says UP."""
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                ls_binary(),
                "start",
                "--no-browser",
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=_env(self.data_dir, self.document_root),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir.parent,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Label Studio exited ({self.proc.returncode}):\n{self.logs()}")
            try:
                r = httpx.get(f"{self.url}/health", timeout=2.0)
                if r.status_code == 200 and r.json().get("status") == "UP":
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"Label Studio did not come up in {timeout:.0f}s:\n{self.logs()}")

    def stop(self) -> None:
        """Terminate the server (kill after 10 s) and wait for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        """Kill the server at once (a crash, for outage tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def logs(self, tail: int = 4000) -> str:
        """The end of the server log."""
        if not self.log_path.is_file():
            return ""
        return self.log_path.read_text(errors="replace")[-tail:]
