"""The versioned dataset store under ``<root>/.datacentric/``.

Layout::

    .datacentric/
      HEAD                     the current version number, e.g. "3"
      lock                     advisory lock file guarding commits
      versions/0001/manifest.parquet
                    changes.parquet    lineage rows from the parent version to this one
                    meta.json          message, parent, time, classes, counts, manifest hash
                    annotations.parquet  the boxes (detection datasets only)

A detection version's ``meta.json`` also holds ``task: "detection"``, ``n_annotations``,
``annotations_sha256`` and the optional ``class_ids``/``supercategories`` (COCO category ids
and supercategories, in class order); a classification version has none of these keys, so
its files are exactly what they were before detection existed.

Versions are immutable. A commit writes a temporary directory, fsyncs it, renames it
into place and only then replaces ``HEAD`` atomically (write + ``os.replace``), all under
an exclusive file lock. A process killed at any point leaves ``HEAD`` on the previous,
complete version; a version directory that a crash left behind without ``HEAD`` pointing
at it is moved aside (never deleted) by the next commit.

An operating-system error while committing (disk full, permission denied) raises a one-line
:class:`~datacentric.exceptions.FileAccessError` naming the file, removes what the commit
had written so far and leaves ``HEAD`` on the previous version. A version file that cannot
be read back (corrupt Parquet or JSON) raises :class:`~datacentric.exceptions.StoreError`
naming the file.
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

from datacentric._io import file_access_error, os_errors_as
from datacentric.dataset.lineage import BASE_CHANGES_COLUMNS, CHANGES_SCHEMA
from datacentric.exceptions import (
    CommitConflictError,
    DatacentricError,
    NoStoreError,
    StoreError,
    VersionNotFoundError,
)

__all__ = ["STORE_DIR", "VersionInfo", "VersionStore"]

STORE_DIR = ".datacentric"
_FORMAT = 1
_META_KEYS = (
    "version", "parent", "message", "created_at", "classes", "n_samples", "n_changes",
    "manifest_sha256",
)  # fmt: skip


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
    task: str = "classification"
    n_annotations: int = 0
    annotations_sha256: str | None = None
    class_ids: list[int] | None = None
    supercategories: list[str] | None = None


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
        with os_errors_as(head_file, "read"):
            raw = head_file.read_bytes()[:64]
        text = raw.decode("utf-8", errors="replace").strip()
        try:
            return int(text)
        except ValueError:
            raise StoreError(
                f"{head_file} is corrupt: expected a version number, found {text[:40]!r}. "
                "Write the number of the last good version (see .datacentric/versions/) into it."
            ) from None

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
        with os_errors_as(meta_file, "read"):
            raw = meta_file.read_bytes()
        try:
            meta = json.loads(raw.decode("utf-8"))
            missing = [k for k in _META_KEYS if k not in meta]
            if missing:
                raise ValueError(f"it lacks the key(s) {', '.join(missing)}")
            parent = meta["parent"]
            info = VersionInfo(
                version=int(meta["version"]),
                parent=None if parent is None else int(parent),
                message=str(meta["message"]),
                created_at=str(meta["created_at"]),
                classes=[str(c) for c in meta["classes"]],
                n_samples=int(meta["n_samples"]),
                n_changes=int(meta["n_changes"]),
                manifest_sha256=str(meta["manifest_sha256"]),
                extra=dict(meta.get("extra") or {}),
                **_detection_meta(meta),
            )
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise StoreError(
                f"{meta_file} is corrupt ({reason}): version {version} cannot be read. "
                "Versions are immutable; restore the file from a backup, or open another "
                "version (see `datacentric history DIR`)."
            ) from None
        if info.version != version or (info.parent is not None and info.parent >= version):
            raise StoreError(
                f"{meta_file} is corrupt: it says version {info.version} with parent "
                f"{info.parent}, but it is the meta.json of version {version}. Restore the file "
                "from a backup, or open another version."
            )
        return info

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
        if verify:
            with os_errors_as(manifest_file, "read"):
                digest = _sha256(manifest_file)
            if digest != info.manifest_sha256:
                raise StoreError(
                    f"{manifest_file} does not match the hash recorded in its meta.json: the "
                    "version was modified after it was written. Versions are immutable; restore "
                    "the file or open another version."
                )
        manifest = _read_version_file(manifest_file, number)
        changes = _read_version_file(vdir / "changes.parquet", number)
        lacking = [c for c in BASE_CHANGES_COLUMNS if c not in changes.columns]
        if lacking:
            raise StoreError(
                f"{vdir / 'changes.parquet'} is corrupt: it lacks the lineage column(s) "
                f"{', '.join(lacking)}. Restore the file from a backup, or open another version."
            )
        if "annotation_id" not in changes.columns:  # written before box edits existed
            changes = changes.with_columns(pl.lit(None, dtype=pl.Utf8).alias("annotation_id"))
        return manifest, changes, info

    def read_annotations(
        self, version: int | str | None = None, verify: bool = True
    ) -> pl.DataFrame | None:
        """The boxes of a detection version (HEAD by default); ``None`` for classification.

        With ``verify`` the file's SHA-256 is checked against ``meta.json``.
        """
        number = self.resolve(version)
        info = self.info(number)
        if info.task != "detection":
            return None
        path = self.version_dir(number) / "annotations.parquet"
        if verify and path.is_file():
            with os_errors_as(path, "read"):
                digest = _sha256(path)
            if digest != info.annotations_sha256:
                raise StoreError(
                    f"{path} does not match the hash recorded in its meta.json: the version was "
                    "modified after it was written. Versions are immutable; restore the file "
                    "or open another version."
                )
        return _read_version_file(path, number)

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
        """Hold the store's exclusive commit lock.

        Raises :class:`StoreError` when another process holds it past ``lock_timeout`` and
        :class:`~datacentric.exceptions.FileAccessError` when the lock file cannot be
        created (permissions, a read-only disk, ``.datacentric`` not a folder ...).
        """
        lock_file = self.path / "lock"
        with os_errors_as(self.path, "create the dataset store folder"):
            self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_file), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout as exc:
            raise StoreError(
                f"could not take the commit lock {lock_file} within "
                f"{self.lock_timeout:.0f} s: another process is committing. Retry when it is done."
            ) from exc
        except OSError as exc:
            raise file_access_error(exc, lock_file, "take the commit lock") from None
        try:
            yield
        finally:
            lock.release()

    def commit(
        self,
        manifest: pl.DataFrame,
        changes: pl.DataFrame,
        *,
        classes: list[str],
        message: str,
        base: int | None,
        extra: dict[str, Any] | None = None,
        annotations: pl.DataFrame | None = None,
        class_ids: list[int] | None = None,
        supercategories: list[str] | None = None,
    ) -> int:
        """Write a new immutable version whose parent is ``base`` and move HEAD to it.

        ``annotations`` (the boxes) makes it a detection version: ``annotations.parquet`` is
        written in the same temporary directory, so the boxes and the manifest appear together
        or not at all.

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
            note = (
                f"Version {number} was not committed; HEAD is still version {head}."
                if head is not None
                else "Nothing was committed."
            )
            final = self.version_dir(number)
            with os_errors_as(final, "write the dataset version", note=note):
                self._write_version(
                    final,
                    number,
                    head,
                    manifest,
                    changes,
                    classes,
                    message,
                    extra,
                    _Boxes(annotations, class_ids, supercategories),
                )
            try:
                with os_errors_as(self.path / "HEAD", "write", note=note):
                    self._write_head(number)
            except BaseException:
                shutil.rmtree(final, ignore_errors=True)  # HEAD never pointed at it
                raise
            return number

    def _write_version(
        self,
        final: Path,
        number: int,
        head: int | None,
        manifest: pl.DataFrame,
        changes: pl.DataFrame,
        classes: list[str],
        message: str,
        extra: dict[str, Any] | None,
        boxes: _Boxes,
    ) -> None:
        """Write version ``number`` to a temporary directory and rename it to ``final``."""
        versions = final.parent
        versions.mkdir(parents=True, exist_ok=True)
        # Only a dead writer leaves these (we hold the lock): half-written versions and HEAD
        # temp files.
        for stale in versions.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in self.path.glob(".HEAD.*"):
            with contextlib.suppress(OSError):
                stale.unlink()
        if final.exists():  # left by a crash after rename, before HEAD moved
            final.rename(versions / f".orphan-{number:04d}-{uuid.uuid4().hex[:8]}")
        tmp = versions / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            manifest_file = tmp / "manifest.parquet"
            manifest.write_parquet(manifest_file)
            changes.cast(CHANGES_SCHEMA).write_parquet(tmp / "changes.parquet")  # type: ignore[arg-type]
            meta: dict[str, Any] = {
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
            if boxes.annotations is not None:
                boxes_file = tmp / "annotations.parquet"
                boxes.annotations.write_parquet(boxes_file)
                meta.update(
                    task="detection",
                    n_annotations=boxes.annotations.height,
                    annotations_sha256=_sha256(boxes_file),
                    class_ids=boxes.class_ids,
                    supercategories=boxes.supercategories,
                )
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

    def _write_head(self, number: int) -> None:
        """Replace HEAD atomically; the temporary file is removed on any failure."""
        tmp = self.path / f".HEAD.{os.getpid()}.{time.monotonic_ns()}"
        try:
            with tmp.open("w") as f:
                f.write(f"{number}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path / "HEAD")
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(self.path)


@dataclass(frozen=True)
class _Boxes:
    """What a detection version writes besides the manifest (``annotations`` None: none)."""

    annotations: pl.DataFrame | None
    class_ids: list[int] | None
    supercategories: list[str] | None


def _detection_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The detection keys of a ``meta.json`` (defaults for a classification version)."""
    task = meta.get("task", "classification")
    if task == "classification":
        return {}
    if task != "detection":
        raise ValueError(f"task is {str(task)[:40]!r}, not 'classification' or 'detection'")
    class_ids = meta.get("class_ids")
    sup = meta.get("supercategories")
    for key, value in (("class_ids", class_ids), ("supercategories", sup)):
        if value is not None and not isinstance(value, list):
            raise ValueError(f"{key} is a {type(value).__name__}, not a list")
    return {
        "task": "detection",
        "n_annotations": int(meta["n_annotations"]),
        "annotations_sha256": str(meta["annotations_sha256"]),
        "class_ids": None if class_ids is None else [int(c) for c in class_ids],
        "supercategories": None if sup is None else [str(c) for c in sup],
    }


def _read_version_file(path: Path, version: int) -> pl.DataFrame:
    """Read a version's Parquet file; a missing or corrupt file is a one-line StoreError."""
    if not path.is_file():
        raise StoreError(
            f"{path} is missing: version {version} cannot be read. Versions are immutable; "
            "restore the file from a backup, or open another version."
        )
    try:
        with os_errors_as(path, "read"):
            return pl.read_parquet(path, glob=False)
    except DatacentricError:
        raise
    except Exception as exc:  # polars raises several kinds on a corrupt file
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise StoreError(
            f"{path} is corrupt ({reason}): version {version} cannot be read. Versions are "
            "immutable; restore the file from a backup, or open another version."
        ) from None
