"""A thin, safe wrapper over the Label Studio SDK 2.x client (``LabelStudio``).

Everything the integration asks of the server goes through :meth:`LabelStudioClient.call`, which

- retries a call whose connection could not be established (the request never reached the
  server, so a retry cannot duplicate anything) and, for read-only calls, also 502/503/504
  answers and broken connections, with exponential backoff;
- turns every failure into :class:`LabelStudioError` naming what was asked, of which server,
  and what the server said — with the API token replaced by ``***`` wherever it could appear
  (messages, ``repr``, logs). The token is never stored in an exception or logged.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from numbers import Integral, Real
from typing import Any, TypeVar

from datacentric._deps import import_optional
from datacentric._validation import Interval, check_params, invalid_parameter
from datacentric.exceptions import InvalidParameterError, LabelStudioError, ServerUnavailableError

__all__ = [
    "ENV_TOKEN",
    "ENV_URL",
    "LabelStudioClient",
    "LabelStudioError",
    "ServerUnavailableError",
    "redact",
]

log = logging.getLogger("datacentric.labelstudio")
T = TypeVar("T")

ENV_URL = "LABEL_STUDIO_URL"
"""Environment variable read for the server URL when none is passed."""
ENV_TOKEN = "LABEL_STUDIO_API_KEY"
"""Environment variable read for the API token when none is passed."""
_RETRY_STATUS = {502, 503, 504}


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``.

    Examples
    --------
    >>> redact("Authorization: Token abc123", "abc123")
    'Authorization: Token ***'
    >>> redact("nothing here", None)
    'nothing here'
    """
    if not secret:
        return text
    return text.replace(secret, "***")


#: What ``LabelStudioClient``'s parameters accept (``token`` is checked apart: never shown).
_CLIENT_CONSTRAINTS: dict[str, list[Any]] = {
    "url": [str, None],
    "retries": [Interval(Integral, 0, None, closed="left")],
    "backoff": [Interval(Real, 0, None, closed="left")],
    "timeout": [Interval(Real, 0, None, closed="neither")],
}


class LabelStudioClient:
    """Connection to one Label Studio server.

    Parameters
    ----------
    url : str, optional
        Base URL, e.g. ``http://127.0.0.1:8080``; default ``$LABEL_STUDIO_URL``.
    token : str, optional
        API token (legacy token or personal access token); default ``$LABEL_STUDIO_API_KEY``.
        Never logged, never put in an error message or ``repr``.
    retries : int
        Extra attempts of a call that failed to connect (and of read-only calls that got
        502/503/504 or lost the connection).
    backoff : float
        Seconds before the first retry; doubled each time.
    timeout : float
        Seconds per HTTP request.

    Examples
    --------
    >>> c = LabelStudioClient("http://127.0.0.1:9", token="s3cret-token")
    >>> "s3cret" in repr(c)
    False
    >>> LabelStudioClient("http://127.0.0.1:9", token="")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.InvalidParameterError: no Label Studio API token: ...
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 120.0,
    ) -> None:
        check_params(
            "LabelStudioClient",
            {"url": url, "retries": retries, "backoff": backoff, "timeout": timeout},
            _CLIENT_CONSTRAINTS,
            {"url": None, "retries": 3, "backoff": 0.5, "timeout": 120.0},
        )  # never the token: a message must not show it
        url = url or os.environ.get(ENV_URL)
        if not url:
            raise InvalidParameterError(
                f"no Label Studio URL: pass url= (CLI --url) or set ${ENV_URL}, e.g. "
                "http://localhost:8080."
            )
        if not url.startswith(("http://", "https://")):  # from url= or the environment
            raise invalid_parameter(
                "LabelStudioClient",
                "url",
                url,
                f"an http:// or https:// URL (from url= or ${ENV_URL})",
                fix="Pass the server's address, e.g. url='http://localhost:8080'.",
            )
        token = token if token is not None else os.environ.get(ENV_TOKEN)
        if not token:
            raise InvalidParameterError(
                f"no Label Studio API token: pass token= (CLI --token) or set ${ENV_TOKEN}. Find "
                "it in Label Studio under Account & Settings > Access Token."
            )
        self.url = url.rstrip("/")
        self._token = token
        self.retries = retries
        self.backoff = float(backoff)
        self.timeout = float(timeout)
        self._sdk_client: Any = None

    def __repr__(self) -> str:
        return f"LabelStudioClient(url={self.url!r}, token='***')"

    @property
    def sdk(self) -> Any:
        """The underlying ``label_studio_sdk.LabelStudio`` client (created on first use)."""
        if self._sdk_client is None:
            sdk = import_optional("label_studio_sdk", extra="labelstudio", purpose="Label Studio")
            self._sdk_client = sdk.LabelStudio(
                base_url=self.url, api_key=self._token, timeout=self.timeout, max_retries=0
            )
        return self._sdk_client

    # ------------------------------------------------------------------ calls
    def _describe(self, exc: BaseException) -> tuple[str, int | None, bool, bool]:
        """(message, status, connect failure, retryable for reads)."""
        import httpx

        status = getattr(exc, "status_code", None)
        if isinstance(exc, httpx.ConnectError):
            return f"cannot connect ({exc})", None, True, True
        if isinstance(exc, httpx.TransportError):
            return f"connection failed ({type(exc).__name__}: {exc})", None, False, True
        if status is not None:
            body = getattr(exc, "body", None)
            if isinstance(body, dict):
                body = body.get("detail") or body.get("validation_errors") or body
            text = json.dumps(body, default=str)[:500] if body is not None else ""
            return f"HTTP {status}: {text}", int(status), False, int(status) in _RETRY_STATUS
        return f"{type(exc).__name__}: {exc}", None, False, False

    def call(self, what: str, fn: Callable[..., T], *args: Any, read: bool = False, **kw: Any) -> T:
        """Run ``fn(*args, **kw)`` (an SDK method) with retries; raise :class:`LabelStudioError`.

        Parameters
        ----------
        what : str
            What is being asked, for the message (e.g. ``"import 500 tasks into project 3"``).
        read : bool
            The call changes nothing on the server, so it may be retried after any
            transient failure (not only a refused connection).
        """
        attempt = 0
        while True:
            try:
                return fn(*args, **kw)
            except Exception as exc:  # every failure is re-raised as LabelStudioError
                msg, status, connect, transient = self._describe(exc)
                msg = redact(msg, self._token)
                retry = connect or (read and transient)
                if retry and attempt < self.retries:
                    wait = self.backoff * 2**attempt
                    attempt += 1
                    log.warning(
                        "Label Studio %s: %s; retry %d/%d in %.1fs",
                        what,
                        msg,
                        attempt,
                        self.retries,
                        wait,
                    )
                    time.sleep(wait)
                    continue
                cls = ServerUnavailableError if status is None and retry else LabelStudioError
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise cls(
                    f"Label Studio at {self.url}: {what} failed{tries}: {msg}.", status
                ) from None

    # ------------------------------------------------------------------ helpers
    def whoami(self) -> dict[str, Any]:
        """The user the token belongs to (``id``, ``email``, ...); checks URL and token."""
        user = self.call("check the API token (whoami)", self.sdk.users.whoami, read=True)
        return dict(user.dict()) if hasattr(user, "dict") else dict(user)

    def server_time(self) -> datetime | None:
        """The server's clock, to the second: the HTTP ``Date`` of ``GET /health`` (which
        needs no token), or ``None`` when the server sends no readable one."""
        import httpx

        resp = self.call(
            "read the server clock (GET /health)",
            httpx.get,
            f"{self.url}/health",
            timeout=self.timeout,
            read=True,
        )
        try:
            when = parsedate_to_datetime(str(resp.headers.get("date") or ""))
        except (TypeError, ValueError, IndexError):
            return None
        return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)

    def users(self) -> dict[int, str]:
        """User id → email (or username) of every user of the organization."""
        out: dict[int, str] = {}
        for u in self.call("list users", self.sdk.users.list, read=True):
            out[int(u.id)] = str(u.email or u.username or u.id)
        return out

    def find_project(self, title: str) -> int | None:
        """Id of the project titled ``title`` (the newest if several), or None."""
        found: list[int] = []
        pager = self.call(
            f"list projects titled {title!r}",
            self.sdk.projects.list,
            read=True,
            title=title,
            page_size=100,
        )
        for p in self.call("page through projects", lambda: list(pager), read=True):
            if p.title == title:
                found.append(int(p.id))
        return max(found) if found else None

    def iter_tasks(
        self,
        project: int,
        *,
        query: dict[str, Any] | None = None,
        fields: str = "task_only",
        include: str | None = None,
        page_size: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Every task of ``project`` (optionally filtered with a Data Manager query), page by page.

        Each page is fetched with retries; the tasks are yielded as plain dicts. ``include``
        (e.g. ``"id,data"``) asks the server for those fields only, which is ~3x faster.
        """
        page = 1
        q = json.dumps(query) if query else None
        while True:
            try:
                pager = self.call(
                    f"list tasks of project {project} (page {page})",
                    self.sdk.tasks.list,
                    read=True,
                    project=project,
                    query=q,
                    fields=fields,
                    include=include,
                    page=page,
                    page_size=page_size,
                )
            except LabelStudioError as exc:
                if exc.status_code == 404 and page > 1:  # past the last page
                    return
                raise
            items = list(pager.items or [])
            for t in items:
                yield dict(t.dict()) if hasattr(t, "dict") else dict(t)
            if not items or not pager.has_next:
                return
            page += 1
