"""The embedded monitor store: one DuckDB file, schema version 1.

Tables
------
``meta(key, value)``
    ``schema_version``, ``created_at``, ``profile`` (the reference profile, JSON) and
    ``config`` (the alert config, JSON).
``batches(batch_id PRIMARY KEY, content_hash, n_rows, ingested_at, min_timestamp,
max_timestamp, n_windows, source)``
    One row per ingested batch; the unique key makes re-ingesting a batch a no-op.
``rows``
    Every production row: ``batch_id``, ``window_start`` and the batch's columns (the
    ``embedding`` is kept as ``embedding_distance`` only).
``labels(sample_id PRIMARY KEY, label, recorded_at)``
    Labels that arrived (in a batch's ``label`` column or through ``record_labels``).
``hist(batch_id, window_start, slice, metric, bin, count, sum)``
    Per batch: the histogram of every metric in every (window, slice) on the reference's bins.
``perf(batch_id, window_start, slice, n, n_scored, expected_correct)``
    Per batch: rows and summed calibrated confidence (CBPE) per (window, slice).
``window_stats(window_start, slice, metric, statistic, value, n, n_reference, reference,
headline, computed_at)``
    Statistics per window and slice, recomputed from ``hist``/``perf``/``labels`` whenever a
    batch or labels touch the window.
``alerts(window_start, slice, metric, statistic, value, threshold, severity, n, message,
raised_at)``
    The alerts of those statistics under the config (recomputed with them).

An ingest is one transaction: the batch row, its rows, histograms, recomputed statistics and
alerts are committed together or not at all.

No value is ever put into SQL text: values travel as parameters (``?``), the paths of the
temporary Parquet files that stage frames included (a ``'`` or ``[`` in ``TMPDIR`` is just a
character), and identifiers are quoted with :func:`quote_identifier`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from datacentric._io import os_errors_as
from datacentric.exceptions import FileAccessError, MonitorStoreError

__all__ = ["SCHEMA_VERSION", "MonitorStore", "MonitorStoreError", "quote_identifier"]

SCHEMA_VERSION = 1

_DDL = (
    "CREATE TABLE IF NOT EXISTS meta(key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS batches(batch_id VARCHAR PRIMARY KEY, content_hash VARCHAR,
    n_rows BIGINT, ingested_at TIMESTAMP, min_timestamp TIMESTAMP, max_timestamp TIMESTAMP,
    n_windows INTEGER, source VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS labels(sample_id VARCHAR PRIMARY KEY, label VARCHAR,
    recorded_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS hist(batch_id VARCHAR, window_start TIMESTAMP, slice VARCHAR,
    metric VARCHAR, bin INTEGER, count BIGINT, sum DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS perf(batch_id VARCHAR, window_start TIMESTAMP, slice VARCHAR,
    n BIGINT, n_scored BIGINT, expected_correct DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS window_stats(window_start TIMESTAMP, slice VARCHAR,
    metric VARCHAR, statistic VARCHAR, value DOUBLE, n BIGINT, n_reference BIGINT,
    reference VARCHAR, headline BOOLEAN, computed_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS alerts(window_start TIMESTAMP, slice VARCHAR, metric VARCHAR,
    statistic VARCHAR, value DOUBLE, threshold DOUBLE, severity VARCHAR, n BIGINT,
    message VARCHAR, raised_at TIMESTAMP)""",
)


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (table, column or variable name).

    Examples
    --------
    >>> quote_identifier('a"b; DROP TABLE x')
    '"a""b; DROP TABLE x"'
    """
    return '"' + str(name).replace('"', '""') + '"'


class MonitorStore:
    """A DuckDB connection with the monitor schema.

    Parameters
    ----------
    path : str or pathlib.Path
        The database file (created if missing), or ``":memory:"``.

    Examples
    --------
    >>> store = MonitorStore(":memory:")
    >>> store.get_meta("schema_version")
    '1'
    >>> store.query("SELECT count(*) AS n FROM batches")["n"].to_list()
    [0]
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self.con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise MonitorStoreError(
                f"cannot open the monitor store {self.path!r}: {exc}. If another process is "
                "ingesting into it, wait for it to finish; if the file is not a DuckDB "
                "database, pass another path."
            ) from None
        self.con.execute("SET enable_progress_bar = false")
        with os_errors_as(tempfile.gettempdir(), "create a temporary folder in"):
            self._tmp = tempfile.TemporaryDirectory(prefix="datacentric-monitor-")
        self._n_tmp = 0
        tables = {r[0] for r in self.con.execute("SHOW TABLES").fetchall()}
        if "meta" in tables:
            version = self.get_meta("schema_version")
            if version != str(SCHEMA_VERSION):
                raise MonitorStoreError(
                    f"the monitor store {self.path!r} has schema version {version!r}; this "
                    f"version of datacentric reads version {SCHEMA_VERSION}. Use a new store "
                    "file, or the datacentric version that wrote it."
                )
        elif tables:
            raise MonitorStoreError(
                f"{self.path!r} is a DuckDB database but not a monitor store (tables: "
                f"{sorted(tables)}). Pass a new file name."
            )
        else:
            with self.transaction():
                for ddl in _DDL:
                    self.con.execute(ddl)
                self.set_meta("schema_version", str(SCHEMA_VERSION))
                self.set_meta("created_at", dt.datetime.now(dt.timezone.utc).isoformat())

    def close(self) -> None:
        """Close the connection (the file stays)."""
        self.con.close()
        self._tmp.cleanup()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN`` ... ``COMMIT``; ``ROLLBACK`` on any exception.

        A DuckDB I/O error (disk full, permission denied) or a failed write of a staging file
        raises :class:`~datacentric.exceptions.FileAccessError` naming the store; nothing of
        the transaction is kept.
        """
        self.con.execute("BEGIN TRANSACTION")
        try:
            with os_errors_as(self._tmp.name, "write the monitor's staging files in"):
                yield
        except BaseException as exc:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            if isinstance(exc, duckdb.IOException):
                raise self._io_error(exc) from None
            raise
        try:
            self.con.execute("COMMIT")
        except duckdb.IOException as exc:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            raise self._io_error(exc) from None

    def _io_error(self, exc: duckdb.Error) -> FileAccessError:
        reason = " ".join(str(exc).split())[:300]
        return FileAccessError(
            f"cannot write the monitor store {self.path}: {reason}. Nothing of this change was "
            "kept; free some disk space or fix the permissions, then run it again."
        )

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table, or None."""
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace a value of the ``meta`` table."""
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def has_table(self, name: str) -> bool:
        """Whether a table exists."""
        return name in {r[0] for r in self.con.execute("SHOW TABLES").fetchall()}

    def insert_frame(self, table: str, frame: pl.DataFrame, *, create: bool = False) -> None:
        """Append ``frame`` to ``table`` by column name (through a temporary Parquet file,
        which DuckDB reads in parallel); ``create`` makes the table from the frame's schema."""
        if frame.height == 0 and not create:
            return
        self._n_tmp += 1
        tmp = Path(self._tmp.name) / f"part{self._n_tmp}.parquet"
        frame.write_parquet(tmp, compression="lz4", statistics=False)
        try:
            name = quote_identifier(table)
            if create:
                self.con.execute(
                    f"CREATE TABLE {name} AS SELECT * FROM read_parquet(?) LIMIT 0", [str(tmp)]
                )
            self.con.execute(
                f"INSERT INTO {name} BY NAME SELECT * FROM read_parquet(?)", [str(tmp)]
            )
        finally:
            tmp.unlink(missing_ok=True)

    def register_frame(self, name: str, frame: pl.DataFrame) -> str:
        """Write ``frame`` to a temporary Parquet file and return SQL that reads it.

        The SQL names a DuckDB variable that holds the file's path (set as a parameter), never
        the path itself.

        Examples
        --------
        >>> store = MonitorStore(":memory:")
        >>> src = store.register_frame("x", pl.DataFrame({"a": [1, 2]}))
        >>> store.query(f"SELECT sum(a) AS s FROM {src}").rows()
        [(3,)]
        """
        self._n_tmp += 1
        tmp = Path(self._tmp.name) / f"frame{self._n_tmp}.parquet"
        frame.write_parquet(tmp, compression="lz4", statistics=False)
        variable = f"datacentric_frame_{self._n_tmp}"
        self.con.execute(f"SET VARIABLE {quote_identifier(variable)} = ?", [str(tmp)])
        return f"read_parquet(getvariable('{variable}'))"

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Run a small query and return its result as a polars frame.

        Examples
        --------
        >>> MonitorStore(":memory:").query("SELECT 1 AS a, 'x' AS b").rows()
        [(1, 'x')]
        """
        cur = self.con.execute(sql, list(params or []))
        names = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
        if not rows:
            return pl.DataFrame({n: [] for n in names})
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)

    def query_frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """Run a query of any size and read its result through Parquet, with DuckDB's column
        types. ``params`` fill the query's ``?`` placeholders.

        Examples
        --------
        >>> MonitorStore(":memory:").query_frame("SELECT ? AS a", ["it's"]).rows()
        [("it's",)]
        """
        self._n_tmp += 1
        tmp = Path(self._tmp.name) / f"out{self._n_tmp}.parquet"
        self.con.execute(f"COPY ({sql}) TO ? (FORMAT parquet)", [*(params or []), str(tmp)])
        try:
            return pl.read_parquet(tmp, glob=False)
        finally:
            tmp.unlink(missing_ok=True)
