"""File writes that fail cleanly: atomic writes, early checks that an output is writable, and
operating-system errors turned into one-line :class:`FileAccessError` messages naming the path.

A reader sees the old file or the new one, never half of one; a failed write leaves no
temporary file behind; and a long job checks its outputs *before* it starts
(:func:`ensure_writable`), so a typo in ``--out`` costs seconds, not the whole run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from datacentric.exceptions import DatacentricError, FileAccessError

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "ensure_writable",
    "file_access_error",
    "os_errors_as",
]

_HINTS = {
    errno.ENOSPC: "free some disk space (or choose a path on another disk) and retry",
    errno.EDQUOT: "free some of your disk quota (or choose a path on another disk) and retry",
    errno.EACCES: "check the permissions of that folder, or choose another path",
    errno.EPERM: "check the permissions of that folder, or choose another path",
    errno.EROFS: "the file system is read-only; choose a path on a writable disk",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "a folder is where a file is expected; remove it or choose another path",
    errno.ENOENT: "a folder on the path does not exist or cannot be created; check the path",
    errno.ENAMETOOLONG: "the name is too long for the file system; choose a shorter path",
    errno.EEXIST: "a file of that name is in the way; remove it or choose another path",
}


_OS_ERROR_IN_TEXT = re.compile(r"\(os error (\d+)\)")


def _as_os_error(exc: BaseException) -> OSError | None:
    """``exc`` as an OSError: itself, or one rebuilt from a library error that wraps an OS
    error in its text (polars writes raise ``ComputeError: ... (os error 28)``)."""
    if isinstance(exc, DatacentricError):
        return None
    if isinstance(exc, OSError):
        return exc
    found = _OS_ERROR_IN_TEXT.search(str(exc)) if isinstance(exc, Exception) else None
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code))


def file_access_error(
    exc: OSError, path: str | Path, action: str = "write", note: str = ""
) -> FileAccessError:
    """A one-line :class:`FileAccessError` for ``exc``, naming ``path`` and the OS's reason.

    ``action`` completes "cannot ..." (e.g. ``"write the scan"``); the reason is the
    operating system's (``No space left on device``), followed by what to do and ``note``.

    Examples
    --------
    >>> str(file_access_error(OSError(errno.ENOSPC, "No space left on device"), "/d/x.parquet"))
    'cannot write /d/x.parquet: No space left on device; free some disk space (or choose a path on another disk) and retry.'
    """  # noqa: E501
    reason = exc.strerror or str(exc) or type(exc).__name__
    other = exc.filename
    if other is not None and Path(os.fsdecode(other)).name.startswith("."):
        other = None  # our own temporary file: the target names it better
    if other is not None and os.fsdecode(other) != str(path):
        reason = f"{reason} ({os.fsdecode(other)})"
    hint = _HINTS.get(exc.errno or 0, "check the path and its permissions")
    message = " ".join(f"cannot {action} {path}: {reason}; {hint}. {note}".split())
    err = FileAccessError(message)
    err.errno = exc.errno  # callers can still test errno.ENOSPC etc. (str(err) is unchanged)
    return err


@contextlib.contextmanager
def os_errors_as(path: str | Path, action: str = "write", note: str = "") -> Iterator[None]:
    """Turn an :class:`OSError` raised inside the block into :func:`file_access_error`.

    Errors datacentric raises on purpose (already one line) pass through unchanged; so does
    anything else that is not an OS error (a library error that only wraps one, such as
    polars' ``... (os error 28)``, counts as one).

    Examples
    --------
    >>> with os_errors_as("/nowhere/x.txt", "write the report"):
    ...     raise PermissionError(errno.EACCES, "Permission denied")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.FileAccessError: cannot write the report /nowhere/x.txt: ...
    """
    try:
        yield
    except Exception as exc:
        os_exc = _as_os_error(exc)
        if os_exc is None:
            raise
        raise file_access_error(os_exc, path, action, note) from exc


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def ensure_writable(path: str | Path, what: str = "the output", *, folder: bool = False) -> Path:
    """Check, before any long work, that ``path`` can be written; return it as a Path.

    ``path`` is a file to write (``folder=False``; it may exist and be replaced) or a folder
    to create or fill (``folder=True``). The nearest existing folder on the path must be a
    folder in which a file can be created: this is tested by creating and removing an empty
    probe file, so read-only disks, full quotas of inodes, permissions and a path under a
    regular file are all caught. Nothing else is created.

    Parameters
    ----------
    path : str or Path
    what : str
        What the path is for, used in the message (e.g. ``"--out"`` or ``"the scan"``).
    folder : bool
        Whether ``path`` names a folder rather than a file.

    Raises
    ------
    FileAccessError
        One line naming ``path``, the reason and the fix.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "file.txt"
    >>> _ = f.write_text("x")
    >>> ensure_writable(f.parent / "new" / "out.parquet").name
    'out.parquet'
    >>> ensure_writable(f / "out.parquet", "--out")
    Traceback (most recent call last):
    ...
    datacentric.exceptions.FileAccessError: cannot write --out .../file.txt/out.parquet: ...
    """
    path = Path(path)
    action = f"write {what}"
    try:
        existing = _nearest_existing(path)
        if existing == path and path.is_dir() and not folder:
            raise IsADirectoryError(errno.EISDIR, "it is a folder, not a file")
        if existing == path and folder and not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "it exists and is a file, not a folder")
        if existing != path and not existing.is_dir():
            raise NotADirectoryError(
                errno.ENOTDIR, f"{existing} is a file, not a folder", str(existing)
            )
        probe_dir = existing if existing.is_dir() else existing.parent
        fd, name = tempfile.mkstemp(dir=probe_dir, prefix=".datacentric-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR and exc.strerror and exc.strerror.endswith("folder"):
            raise FileAccessError(
                f"cannot {action} {path}: {exc.strerror}; choose another path."
            ) from None
        if exc.errno == errno.EISDIR:
            raise FileAccessError(
                f"cannot {action} {path}: it is a folder, not a file; give a file name "
                "(e.g. inside that folder) instead."
            ) from None
        raise file_access_error(exc, path, action) from None
    return path


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it into place.

    The parent folder is created if needed; on any error the temporary file is removed and
    ``path`` is left as it was. An :class:`OSError` (disk full, permission denied, a parent
    that is a file ...) becomes a one-line :class:`FileAccessError` naming ``path``.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, lambda tmp: tmp.write_text("hi")).read_text()
    'hi'
    """
    path = Path(path)
    with os_errors_as(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        try:
            umask = os.umask(0)  # mkstemp makes 0600 files; give the usual 0666 & ~umask
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
