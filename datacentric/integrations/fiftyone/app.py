"""Serve the FiftyOne App on the loopback interface, opened on a saved view."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

from datacentric.integrations.fiftyone._env import FiftyOneError, import_fiftyone
from datacentric.integrations.fiftyone.views import WORST_ISSUES_VIEW

__all__ = ["AppSession", "free_port", "launch_app"]


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now.

    Examples
    --------
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@dataclass
class AppSession:
    """A running App: its ``url`` (the dataset, opened on the saved view), the FiftyOne
    ``session``, and ``close()``.

    Use it as a context manager to close the App on exit.
    """

    url: str
    port: int
    dataset: str
    view: str | None
    session: Any

    def close(self) -> None:
        """Stop serving the App."""
        self.session.close()

    def wait(self) -> None:
        """Block until the App is closed or the process is interrupted (Ctrl-C)."""
        self.session.wait(-1)

    def __enter__(self) -> AppSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def launch_app(
    name: str,
    *,
    view: str | None = WORST_ISSUES_VIEW,
    address: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 60.0,
) -> AppSession:
    """Serve the App for the FiftyOne dataset ``name`` on ``address`` (loopback by default).

    Parameters
    ----------
    name : str
        A dataset pushed with :func:`~datacentric.integrations.fiftyone.to_fiftyone`.
    view : str or None
        Saved view to open (default ``worst-issues``); ``None`` for the whole dataset.
    address : str
        Interface to bind; keep the loopback default unless you mean to share the App.
    port : int, optional
        Default: a free port.
    timeout : float
        Seconds to wait for the server to answer.

    Returns
    -------
    AppSession
        ``url`` opens the App in a browser; ``close()`` stops it.
    """
    fo = import_fiftyone()
    if not fo.dataset_exists(name):
        raise FiftyOneError(
            f"no FiftyOne dataset named {name!r}; received name={name!r}, existing: "
            f"{fo.list_datasets()}. Push it first with to_fiftyone() or `datacentric review "
            "fiftyone DIR`."
        )
    fds = fo.load_dataset(name)
    opened = None
    if view is not None:
        if view not in fds.list_saved_views():
            raise FiftyOneError(
                f"FiftyOne dataset {name!r} has no saved view {view!r}; it has "
                f"{fds.list_saved_views()}. Pass one of them or view=None."
            )
        opened = fds.load_saved_view(view)
    port = port or free_port(address)
    session = fo.launch_app(fds, view=opened, remote=True, address=address, port=port, auto=False)
    _wait_http(f"http://{address}:{port}/", timeout)
    url = f"http://{address}:{port}/datasets/{quote(name, safe='')}"
    if view is not None:
        url += f"?view={quote(view, safe='')}"
    return AppSession(url, port, name, view, session)


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.25)
    raise FiftyOneError(
        f"the FiftyOne App did not answer at {url} within {timeout:.0f} s ({last})."
    )
