"""The versioned dataset store under ``<root>/.datacentric/``.

Layout::

    .datacentric/
      HEAD                     the current version number, e.g. "3"
      lock                     advisory lock file guarding commits
      versions/0001/manifest.parquet
                    changes.parquet    lineage rows from the parent version to this one
                    meta.json          message, parent, time, classes, counts, manifest hash

Versions are immutable. A commit writes a temporary directory, fsyncs it, renames it
into place and only then replaces ``HEAD`` atomically (write + ``os.replace``), all under
an exclusive file lock. A process killed at any point leaves ``HEAD`` on the previous,
complete version; a version directory that a crash left behind without ``HEAD`` pointing
at it is moved aside (never deleted) by the next commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl
from filelock import FileLock, Timeout

from datacentric.dataset.lineage import CHANGES_SCHEMA
from datacentric.exceptions import (
    CommitConflictError,
    NoStoreError,
    StoreError,
    VersionNotFoundError,
)

__all__ = ["STORE_DIR", "VersionInfo", "VersionStore"]

STORE_DIR = ".datacentric"
_FORMAT = 1


@dataclass(frozen=True)
class VersionInfo:
    """What ``meta.json`` says about one version."""

    version: int
    parent: int | None
    message: str
    created_at: str
    classes: list[str]
    n_samples: int
    n_changes: int
    manifest_sha256: str
    extra: dict[str, Any]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every filesystem
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class VersionStore:
    """Immutable numbered versions of a dataset's manifest, with lineage.

    Parameters
    ----------
    root : str or Path
        The dataset directory; the store lives in ``root/.datacentric``.
    lock_timeout : float
        Seconds to wait for another process's commit to finish before giving up.

    Examples
    --------
    >>> import tempfile, polars as pl
    >>> from datacentric.dataset.lineage import empty_changes
    >>> store = VersionStore(tempfile.mkdtemp())
    >>> m = pl.DataFrame(
    ...     {"sample_id": ["a"], "image": ["a.png"], "label": ["x"], "split": ["train"]}
    ... )
    >>> store.commit(m, empty_changes(), classes=["x"], message="first", base=None)
    1
    >>> store.head()
    1
    """

    def __init__(self, root: str | Path, lock_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.path = self.root / STORE_DIR
        self.lock_timeout = lock_timeout

    # ------------------------------------------------------------------ reading
    def exists(self) -> bool:
        """Whether a store with at least one version exists here."""
        return (self.path / "HEAD").is_file()

    def head(self) -> int | None:
        """The current version number, or ``None`` when nothing was committed yet."""
        head_file = self.path / "HEAD"
        if not head_file.is_file():
            return None
        text = head_file.read_text().strip()
        try:
            return int(text)
        except ValueError as exc:
            raise StoreError(
                f"{head_file} is corrupt: expected a version number, found {text[:40]!r}. "
                "Write the number of the last good version (see .datacentric/versions/) into it."
            ) from exc

    def version_dir(self, version: int) -> Path:
        """Directory of one version (it may not exist)."""
        return self.path / "versions" / f"{version:04d}"

    def _require_head(self) -> int:
        head = self.head()
        if head is None:
            raise NoStoreError(
                f"{self.root} has no committed versions (no {STORE_DIR}/HEAD). Create the first "
                "with Dataset.from_folder(DIR).commit('initial') or `datacentric demo-data DIR`."
            )
        return head

    def resolve(self, version: int | str | None) -> int:
        """Turn ``None``/``"HEAD"``/``"HEAD~1"``/an int into an existing version number."""
        head = self._require_head()
        if version is None or version == "HEAD":
            return head
        if isinstance(version, str) and version.startswith("HEAD~"):
            steps = version[5:]
            if not steps.isdigit():
                raise VersionNotFoundError(
                    f"version {version!r} is not understood; use an integer, 'HEAD' or 'HEAD~N'."
                )
            v: int | None = head
            for _ in range(int(steps)):
                v = self.info(v).parent if v is not None else None
            if v is None:
                raise VersionNotFoundError(
                    f"version {version!r} goes back past the first version; HEAD is {head}."
                )
            return v
        try:
            number = int(version)
        except (TypeError, ValueError) as exc:
            raise VersionNotFoundError(
                f"version {version!r} is not understood; use an integer, 'HEAD' or 'HEAD~N'."
            ) from exc
        if not (self.version_dir(number) / "meta.json").is_file() or number > head:
            raise VersionNotFoundError(
                f"version {number} does not exist in {self.path}; versions run from 1 to {head} "
                "(see `datacentric history DIR`)."
            )
        return number

    def info(self, version: int) -> VersionInfo:
        """Read ``meta.json`` of one version."""
        meta_file = self.version_dir(version) / "meta.json"
        if not meta_file.is_file():
            raise VersionNotFoundError(f"version {version} has no meta.json in {self.path}.")
        meta = json.loads(meta_file.read_text())
        return VersionInfo(
            version=meta["version"],
            parent=meta["parent"],
            message=meta["message"],
            created_at=meta["created_at"],
            classes=list(meta["classes"]),
            n_samples=meta["n_samples"],
            n_changes=meta["n_changes"],
            manifest_sha256=meta["manifest_sha256"],
            extra=meta.get("extra", {}),
        )

    def read(
        self, version: int | str | None = None, verify: bool = True
    ) -> tuple[pl.DataFrame, pl.DataFrame, VersionInfo]:
        """Read ``(manifest, changes, info)`` of a version (HEAD by default).

        With ``verify`` the manifest's SHA-256 is checked against ``meta.json``.
        """
        number = self.resolve(version)
        info = self.info(number)
        vdir = self.version_dir(number)
        manifest_file = vdir / "manifest.parquet"
        if verify and _sha256(manifest_file) != info.manifest_sha256:
            raise StoreError(
                f"{manifest_file} does not match the hash recorded in its meta.json: the version "
                "was modified after it was written. Versions are immutable; restore the file or "
                "open another version."
            )
        manifest = pl.read_parquet(manifest_file)
        changes = pl.read_parquet(vdir / "changes.parquet")
        return manifest, changes, info

    def history(self) -> list[VersionInfo]:
        """Versions from HEAD back to the first, newest first."""
        out: list[VersionInfo] = []
        v: int | None = self._require_head()
        while v is not None:
            info = self.info(v)
            out.append(info)
            v = info.parent
        return out

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store's exclusive commit lock."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path / "lock"), timeout=self.lock_timeout)
        try:
            with lock:
                yield
        except Timeout as exc:
            raise StoreError(
                f"could not take the commit lock {self.path / 'lock'} within "
                f"{self.lock_timeout:.0f} s: another process is committing. Retry when it is done."
            ) from exc

    def commit(
        self,
        manifest: pl.DataFrame,
        changes: pl.DataFrame,
        *,
        classes: list[str],
        message: str,
        base: int | None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Write a new immutable version whose parent is ``base`` and move HEAD to it.

        Raises :class:`CommitConflictError` when HEAD is no longer ``base`` (another
        writer committed since this data was read); nothing is written in that case.
        """
        with self.lock():
            head = self.head()
            if head != base:
                raise CommitConflictError(
                    f"HEAD of {self.root} is version {head}, but these edits were made on version "
                    f"{base}: another process committed in between, and committing now would "
                    "silently undo its changes. Re-open the dataset (Dataset.open) and re-apply "
                    "your edits, then commit."
                )
            number = (head or 0) + 1
            versions = self.path / "versions"
            versions.mkdir(parents=True, exist_ok=True)
            for stale in versions.glob(
                ".tmp-*"
            ):  # only a dead writer leaves these: we hold the lock
                shutil.rmtree(stale, ignore_errors=True)
            final = self.version_dir(number)
            if final.exists():  # left by a crash after rename, before HEAD moved
                final.rename(versions / f".orphan-{number:04d}-{uuid.uuid4().hex[:8]}")
            tmp = versions / f".tmp-{uuid.uuid4().hex}"
            tmp.mkdir()
            try:
                manifest_file = tmp / "manifest.parquet"
                manifest.write_parquet(manifest_file)
                changes.cast(CHANGES_SCHEMA).write_parquet(tmp / "changes.parquet")  # type: ignore[arg-type]
                meta = {
                    "format": _FORMAT,
                    "version": number,
                    "parent": head,
                    "message": message,
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "classes": classes,
                    "n_samples": manifest.height,
                    "n_changes": changes.height,
                    "manifest_sha256": _sha256(manifest_file),
                    "extra": extra or {},
                }
                (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
                for f in tmp.iterdir():
                    with f.open("rb") as fh:
                        os.fsync(fh.fileno())
                _fsync_dir(tmp)
                os.rename(tmp, final)
                _fsync_dir(versions)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._write_head(number)
            return number

    def _write_head(self, number: int) -> None:
        tmp = self.path / f".HEAD.{os.getpid()}.{time.monotonic_ns()}"
        with tmp.open("w") as f:
            f.write(f"{number}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / "HEAD")
        _fsync_dir(self.path)
