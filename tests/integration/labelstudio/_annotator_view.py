"""Log in to Label Studio in headless Chromium and capture a task as an annotator sees it.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so no websocket client is
needed. Run as a script to regenerate the documentation screenshot::

    .venv/bin/python -m tests.integration.labelstudio._annotator_view \
        docs/img/labelstudio-annotator.png
    .venv/bin/python -m tests.integration.labelstudio._annotator_view \
        --boxes docs/img/labelstudio-boxes.png
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.integration._chromium import HEADLESS_FLAGS, chromium_binary

__all__ = ["Browser", "capture_box_task", "capture_task"]


class Browser:
    """A headless Chromium with one page, driven over a DevTools pipe."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="dc-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child: fd 3 = commands in, fd 4 = replies out
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)  # above 4: no clobbering
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [
                chromium_binary(),
                *HEADLESS_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            pass_fds=(3, 4, to_chrome_r, from_chrome_w),
            preexec_fn=wire,  # only dup/dup2 before exec
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next = 0
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.send("Page.enable", session=True)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def send(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its reply (events in between are dropped)."""
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value."""
        res = self.send(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        return res.get("result", {}).get("value")

    def goto(self, url: str, settle: float = 1.0) -> None:
        """Navigate and wait until the document is complete (plus ``settle`` seconds)."""
        self.send("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if self.evaluate("document.readyState") == "complete":
                break
        time.sleep(settle)

    def wait_for(self, js_condition: str, timeout: float = 60.0) -> bool:
        """Poll a JavaScript condition until it is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(f"Boolean({js_condition})"):
                return True
            time.sleep(0.5)
        return False

    def screenshot(self, out: str | Path) -> Path:
        """Write a PNG of the page."""
        data = self.send("Page.captureScreenshot", session=True, format="png")["data"]
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        """Quit Chromium."""
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()


def login(browser: Browser, url: str, email: str, password: str) -> None:
    """Log in through the real login form; wait until the server has accepted it."""
    for _ in range(3):
        browser.goto(f"{url}/user/login/")
        browser.evaluate(
            f"document.querySelector('input[name=email]').value = {json.dumps(email)};"
            f"document.querySelector('input[name=password]').value = {json.dumps(password)};"
            "document.querySelector('form').submit(); true"
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:  # the page may be between documents
                if browser.evaluate("!location.pathname.startsWith('/user/login')"):
                    time.sleep(1.0)
                    return
            except RuntimeError:
                continue
    raise RuntimeError(f"could not log in to {url} as {email}")


def capture_task(
    url: str, email: str, password: str, project_id: int, task_id: int, out: str | Path
) -> dict[str, Any]:
    """Log in as ``email`` and screenshot task ``task_id`` in the labeling view.

    Returns what the page showed: ``text`` (visible text), ``choices`` (the class labels of
    the radio choices) and ``images`` (natural sizes of the loaded task images).
    """
    browser = Browser()
    try:
        login(browser, url, email, password)
        browser.goto(f"{url}/projects/{project_id}/data?task={task_id}", settle=1.0)
        browser.wait_for("document.querySelectorAll('input[type=radio]').length > 0")
        browser.wait_for(
            "Array.from(document.images).some(i => i.complete && i.naturalWidth > 0 "
            "&& i.src.includes('local-files'))",
            timeout=30,
        )
        time.sleep(1.5)
        seen = browser.evaluate(
            "({text: document.body.innerText,"
            " choices: Array.from(document.querySelectorAll('input[type=radio]'))"
            "   .map(r => (r.closest('label') || r.parentElement).innerText.trim()),"
            " images: Array.from(document.images).filter(i => i.src.includes('local-files'))"
            "   .map(i => [i.naturalWidth, i.naturalHeight])})"
        )
        browser.screenshot(out)
        return dict(seen or {})
    finally:
        browser.close()


def capture_box_task(
    url: str,
    email: str,
    password: str,
    project_id: int,
    task_id: int,
    out: str | Path,
    *,
    submit: bool = False,
) -> dict[str, Any]:
    """Log in as ``email`` and screenshot the box task ``task_id`` in the labeling view.

    Returns ``text`` (visible text), ``labels`` (the label buttons shown) and ``images``
    (natural sizes of the loaded task images). With ``submit``, then press **Submit** as the
    annotator would without changing anything (``submitted``: whether the button was found).
    """
    browser = Browser()
    try:
        login(browser, url, email, password)
        browser.goto(f"{url}/projects/{project_id}/data?task={task_id}", settle=1.0)
        browser.wait_for("document.querySelectorAll('canvas').length > 0")
        browser.wait_for(
            "Array.from(document.images).some(i => i.complete && i.naturalWidth > 0 "
            "&& i.src.includes('local-files'))",
            timeout=30,
        )
        time.sleep(2.5)
        seen = browser.evaluate(
            "({text: document.body.innerText,"
            " labels: Array.from(document.querySelectorAll('[class*=label_]'))"
            "   .map(e => e.innerText.trim()).filter(t => t),"
            " images: Array.from(document.images).filter(i => i.src.includes('local-files'))"
            "   .map(i => [i.naturalWidth, i.naturalHeight])})"
        )
        browser.screenshot(out)
        seen = dict(seen or {})
        if submit:
            seen["submitted"] = browser.evaluate(
                "(() => { const b = Array.from(document.querySelectorAll('button'))"
                "  .find(x => x.innerText.trim() === 'Submit');"
                " if (!b) return false; b.click(); return true; })()"
            )
            time.sleep(3.0)
        return seen
    finally:
        browser.close()


def main(out: str) -> None:  # pragma: no cover - regenerates the documentation screenshot
    """Start a server, push the demo's worst flagged samples, annotate none, screenshot one."""
    from datacentric.dataset import Dataset
    from datacentric.datasets import load_demo
    from datacentric.integrations.labelstudio import LabelStudioClient, push_review
    from datacentric.issues import scan
    from tests.integration.labelstudio._server import (
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        LabelStudioServer,
        init_template,
    )
    from tests.integration.labelstudio.conftest import simulated_predictions

    with tempfile.TemporaryDirectory(prefix="dc-ls-shot-") as tmp:
        root = Path(tmp)
        (root / "docroot").mkdir()
        init_template(root / "template", root / "docroot")
        server = LabelStudioServer(root / "template", root / "server", root / "docroot").start()
        try:
            demo = root / "docroot" / "digits"
            load_demo(demo)
            preds = simulated_predictions(demo)
            result = scan(
                Dataset.open(demo), predictions=preds, finders=["label"], cross_validate=False
            )
            client = LabelStudioClient(server.url, server.token)
            repo = Path(__file__).resolve().parents[3]
            pushed = push_review(
                demo,
                result,
                project="Digits review",
                client=client,
                predictions=preds,
                model_version="simulated",
                guide=repo / "annotation_guides" / "digits.md",
                document_root=root / "docroot",
                limit=50,
            )
            first = min(pushed.task_ids.values())
            seen = capture_task(
                server.url, ADMIN_EMAIL, ADMIN_PASSWORD, pushed.project_id, first, out
            )
            print(json.dumps({k: seen.get(k) for k in ("choices", "images")}))
        finally:
            server.stop()


def push_box_demo(url: str, token: str, docroot: Path) -> tuple[int, int]:  # pragma: no cover
    """Push the detection demo's 20 worst images (with a simulated detector's boxes) to
    ``url``; return the project id and the task of the first image with swapped and
    overlooked boxes."""
    import polars as pl

    from datacentric.dataset import Dataset
    from datacentric.datasets import load_detection_demo, load_detection_ground_truth
    from datacentric.integrations.labelstudio import LabelStudioClient, push_review
    from datacentric.issues import scan
    from datacentric.testing import noisy_predicted_boxes

    demo = docroot / "digit-boxes"
    load_detection_demo(demo, overwrite=True)
    ds = Dataset.open(demo)
    truth = load_detection_ground_truth(demo).boxes.filter(pl.col("problem") != "duplicate")
    pred = noisy_predicted_boxes(
        truth.select("sample_id", pl.col("true_label").alias("label"),
                     *(pl.col(f"true_{c}").alias(c) for c in "xywh")),
        classes=ds.classes,
    )  # fmt: skip
    finders = ["badly_located_box", "swapped_box", "overlooked_box", "duplicate_box"]
    result = scan(ds, predicted_boxes=pred, finders=finders)
    repo = Path(__file__).resolve().parents[3]
    pushed = push_review(
        ds,
        result,
        project="Digit boxes review",
        client=LabelStudioClient(url, token),
        predicted_boxes=pred,
        model_version="simulated",
        guide=repo / "annotation_guides" / "digits.md",
        document_root=docroot,
        limit=20,
    )
    flagged = result.flagged()
    kinds = flagged.group_by("sample_id").agg(pl.col("issue_type").unique())
    both = {s for s, k in kinds.rows() if {"swapped_box", "overlooked_box"} <= set(k)} & set(
        pushed.task_ids
    )
    sid = min(both or pushed.task_ids, key=lambda s: pushed.task_ids[s])
    return pushed.project_id, pushed.task_ids[sid]


def main_boxes(out: str) -> None:  # pragma: no cover - regenerates the documentation screenshot
    """Start a server, push detection demo images with boxes, screenshot one."""
    from tests.integration.labelstudio._server import (
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        LabelStudioServer,
        init_template,
    )

    with tempfile.TemporaryDirectory(prefix="dc-ls-shot-") as tmp:
        root = Path(tmp)
        (root / "docroot").mkdir()
        init_template(root / "template", root / "docroot")
        server = LabelStudioServer(root / "template", root / "server", root / "docroot").start()
        try:
            pid, tid = push_box_demo(server.url, server.token, root / "docroot")
            seen = capture_box_task(server.url, ADMIN_EMAIL, ADMIN_PASSWORD, pid, tid, out)
            print(json.dumps({k: seen.get(k) for k in ("images",)}))
        finally:
            server.stop()


if __name__ == "__main__":  # pragma: no cover
    args = sys.argv[1:]
    if args[:1] == ["--boxes"]:
        main_boxes(args[1] if len(args) > 1 else "docs/img/labelstudio-boxes.png")
    else:
        main(args[0] if args else "docs/img/labelstudio-annotator.png")
