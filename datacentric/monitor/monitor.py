"""The :class:`Monitor`: ingest production batches, record late labels, read statistics."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, ClassVar

import numpy as np
import polars as pl

from datacentric._validation import (
    NonEmptyString,
    SequenceOf,
    check_params,
    invalid_parameter,
    param_defaults,
)
from datacentric.exceptions import (
    DuplicateSampleIdError,
    InvalidParameterError,
    SchemaError,
    format_items,
)
from datacentric.monitor.alerts import ALERTS_SCHEMA, evaluate_alerts
from datacentric.monitor.batch import (
    CRASH_ENV,
    IN_WINDOWS,
    BatchConflictError,
    IngestResult,
    _Background,
    _Clock,
    _crash_hook,
    _window_param,
)
from datacentric.monitor.boxes import (
    box_rows,
    boxes_digest,
    check_image_sizes,
    read_boxes,
)
from datacentric.monitor.config import MonitorConfig, load_config
from datacentric.monitor.hist import histograms
from datacentric.monitor.profile import (
    IMAGE_METRICS,
    N_BINS,
    SCORE_THRESHOLD,
    ReferenceProfile,
    build_profile,
    derive_columns,
    slices_of,
)
from datacentric.monitor.schema import (
    CONFIDENCE,
    EXTRA_COLUMNS,
    LABEL,
    PREDICTION,
    SAMPLE_ID,
    TIMESTAMP,
    read_frame,
    validate_batch,
    validate_labels,
)
from datacentric.monitor.store import MonitorStore, MonitorStoreError
from datacentric.monitor.windows import STATS_SCHEMA, window_stats
from datacentric.slices.spec import SliceSpec, load_slices

__all__ = ["CRASH_ENV", "BatchConflictError", "IngestResult", "Monitor"]

logger = logging.getLogger(__name__)


#: A predicted-box table: a frame, a mapping of columns or a Parquet path (or none).
_BOXES: list[Any] = [pl.DataFrame, Mapping, str, PurePath, None]
#: ``Monitor.ingest``'s arguments: constraints and defaults.
_INGEST: tuple[dict[str, list[Any]], dict[str, Any]] = (
    {
        "batch": [pl.DataFrame, str, PurePath],
        "batch_id": [NonEmptyString(), None],
        "boxes": _BOXES,
    },
    {"batch_id": None, "boxes": None},
)


class Monitor:
    """Production monitoring by slice, kept in an embedded DuckDB store.

    The first time a store is opened it needs the ``reference`` (labelled rows like the
    production ones: the test split with the model's predictions), the ``slices`` and the
    alert ``config``; the store keeps their profile, so later opens need only the path.

    Parameters
    ----------
    store : str or pathlib.Path
        The DuckDB file (``":memory:"`` for a throw-away store).
    reference : polars.DataFrame or path, optional
        ``prediction``, ``confidence``, metadata and input metric columns, ``label`` for the
        performance estimate, ``embedding`` optionally. Needed for a new store; given for an
        existing one it must be the same data.
    slices : path, YAML text or sequence of SliceSpec, optional
        The slices to monitor (format of ``docs/slices-yaml.md``); ``overall`` is added.
    config : path, mapping or MonitorConfig, optional
        Window length and alert thresholds (``docs/monitor.md``). Given for an existing store,
        it replaces the stored one and every window's alerts are re-evaluated.
    metrics : sequence of str, optional
        Columns to watch (default: numeric columns, ``confidence`` and ``prediction``).
    n_bins : int
        Bins per continuous metric: reference quantiles, plus as many equal-width steps.
    image_root : path, optional
        Where relative ``image`` paths are resolved when image metrics are computed.
    extra_columns : {"error", "drop"}
        Batch columns the reference does not have: an error, or dropped (logged).
    store_rows : bool
        Keep every production row in the store (default). ``False`` keeps only batches,
        histograms, statistics and alerts (about twice as fast, a fraction of the disk); then
        sample ids are checked for duplicates within a batch only, and labels cannot be
        recorded (``record_labels``, or a batch's ``label`` column, is refused). Fixed when
        the store is created.
    reference_boxes : polars.DataFrame, mapping or path, optional
        A detector's predicted boxes for the reference rows (``sample_id, label, x, y, w, h,
        score`` in pixels, matched by ``sample_id``; the reference then needs ``sample_id``
        and the image ``width``/``height`` or ``image`` paths). Makes this a detection
        monitor: ``box_count``, ``box_area``, ``box_confidence`` and ``box_class`` are
        watched (see :mod:`datacentric.monitor.boxes`), every batch is ingested with its
        ``boxes=``, and ``prediction``/``confidence`` become optional.
    score_threshold : float, optional
        The score from which a predicted box counts, in [0, 1] (default 0.5); fixed when the
        store is created.

    Examples
    --------
    >>> import datetime as dt, numpy as np, polars as pl
    >>> rng = np.random.default_rng(0)
    >>> def rows(n, shift=0.0):
    ...     return pl.DataFrame({"camera": rng.choice(["a", "b"], n),
    ...         "brightness": rng.normal(0.5, 0.1, n) - shift,
    ...         "prediction": rng.choice(["cat", "dog"], n), "confidence": rng.uniform(.5, 1, n)})
    >>> ref = rows(4000).with_columns(label=pl.col("prediction"))
    >>> mon = Monitor(":memory:", reference=ref, slices="[{by: camera}]")
    >>> batch = rows(3000).with_columns(
    ...     sample_id=pl.int_range(3000).cast(pl.String), timestamp=dt.datetime(2024, 5, 1),
    ...     brightness=pl.when(pl.col("camera") == "b").then(pl.col("brightness") - 0.1)
    ...     .otherwise(pl.col("brightness")))
    >>> result = mon.ingest(batch, batch_id="day-1")
    >>> result.status, result.alerts[["slice", "metric", "statistic"]].rows()
    ('ingested', [('camera=b', 'brightness', 'wasserstein'),
                  ('overall', 'brightness', 'wasserstein')])
    >>> mon.ingest(batch, batch_id="day-1").status  # the same batch again adds nothing
    'skipped'
    """

    #: What each ``__init__`` parameter accepts, checked in one place when it is called.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "store": [str, PurePath],
        "reference": [pl.DataFrame, str, PurePath, None],
        "slices": [str, PurePath, SequenceOf(SliceSpec), None],
        "config": [str, PurePath, Mapping, MonitorConfig, None],
        "metrics": [SequenceOf(str), None],
        "n_bins": N_BINS,
        "image_root": [str, PurePath, None],
        "extra_columns": EXTRA_COLUMNS,
        "store_rows": ["boolean"],
        "reference_boxes": _BOXES,
        "score_threshold": [*SCORE_THRESHOLD, None],
    }

    def __init__(
        self,
        store: str | Path = "monitor.duckdb",
        reference: pl.DataFrame | str | Path | None = None,
        slices: str | Path | Sequence[SliceSpec] | None = None,
        config: str | Path | Mapping[str, Any] | MonitorConfig | None = None,
        *,
        metrics: Sequence[str] | None = None,
        n_bins: int = 32,
        image_root: str | Path | None = None,
        extra_columns: str = "error",
        store_rows: bool = True,
        reference_boxes: pl.DataFrame | Mapping[str, Any] | str | Path | None = None,
        score_threshold: float | None = None,
    ) -> None:
        params = {
            "store": store,
            "reference": reference,
            "slices": slices,
            "config": config,
            "metrics": metrics,
            "n_bins": n_bins,
            "image_root": image_root,
            "extra_columns": extra_columns,
            "store_rows": store_rows,
            "reference_boxes": reference_boxes,
            "score_threshold": score_threshold,
        }
        check_params("Monitor", params, self._parameter_constraints, param_defaults(Monitor))
        if reference_boxes is not None and reference is None:
            raise invalid_parameter(
                "Monitor",
                "reference_boxes",
                reference_boxes,
                "given with reference=",
                fix="The boxes are the detector's output on the reference rows: pass "
                "reference= too, or leave reference_boxes out.",
            )
        new_file = str(store) != ":memory:" and not Path(store).exists()
        if reference is None and new_file:
            raise _needs_reference(store)  # before the store file is created
        self._store = MonitorStore(store)
        self.image_root = image_root
        self.extra_columns = extra_columns
        try:
            self._open(store, reference, slices, config, metrics, n_bins, image_root, store_rows,
                       reference_boxes, score_threshold)  # fmt: skip
        except BaseException:
            self._store.close()
            if new_file:  # a failed first open leaves no store file behind
                for leftover in (Path(store), Path(f"{store}.wal")):
                    leftover.unlink(missing_ok=True)
            raise

    def _open(
        self,
        store: str | Path,
        reference: pl.DataFrame | str | Path | None,
        slices: str | Path | Sequence[SliceSpec] | None,
        config: str | Path | Mapping[str, Any] | MonitorConfig | None,
        metrics: Sequence[str] | None,
        n_bins: int,
        image_root: str | Path | None,
        store_rows: bool,
        reference_boxes: Any = None,
        score_threshold: float | None = None,
    ) -> None:
        """Create the store's profile from ``reference``, or read it back and check the
        arguments against it."""
        threshold = 0.5 if score_threshold is None else score_threshold
        stored = self._store.get_meta("profile")
        specs = _specs(slices)
        if stored is None:
            if reference is None:
                raise _needs_reference(store)
            self.config = load_config(config)  # a bad config fails before the reference is read
            self.profile = build_profile(
                read_frame(reference, "reference"), specs or [], metrics=metrics,
                n_bins=n_bins, image_root=image_root, boxes=reference_boxes,
                score_threshold=threshold,
            )  # fmt: skip
            self.store_rows = bool(store_rows)
            with self._store.transaction():
                self._store.set_meta("profile", self.profile.to_json())
                self._store.set_meta("config", json.dumps(self.config.to_dict()))
                self._store.set_meta("store_rows", json.dumps(self.store_rows))
            return
        with _stored_entry(store, "store_rows"):
            self.store_rows = json.loads(self._store.get_meta("store_rows") or "true")
            if not isinstance(self.store_rows, bool):
                raise TypeError(f"expected true or false, found {self.store_rows!r}")
        with _stored_entry(store, "profile"):
            self.profile = ReferenceProfile.from_json(stored)
        with _stored_entry(store, "config"):
            self.config = MonitorConfig.from_dict(
                json.loads(self._store.get_meta("config") or "{}"), source="the stored config"
            )
        stored_threshold = self.profile.score_threshold
        if score_threshold is not None and score_threshold != stored_threshold:
            now = (
                "monitors no predicted boxes"
                if stored_threshold is None
                else f"counts boxes from score {stored_threshold}"
            )
            raise MonitorStoreError(
                f"the monitor store {str(store)!r} {now}; score_threshold={score_threshold} "
                "cannot be applied to it. Leave score_threshold out, or start a new store."
            )
        if reference is not None and (reference_boxes is None) != (stored_threshold is None):
            has = "monitors" if stored_threshold is not None else "does not monitor"
            raise MonitorStoreError(
                f"the monitor store {str(store)!r} {has} predicted boxes; reference= was given "
                f"{'without' if reference_boxes is None else 'with'} reference_boxes=. Open "
                "it without reference=, or pass the reference it was created with."
            )
        if reference is not None:
            other = build_profile(
                read_frame(reference, "reference"), specs if specs is not None else
                self.profile.specs, metrics=metrics or [m.name for m in self.profile.metrics],
                n_bins=n_bins, image_root=image_root, boxes=reference_boxes,
                score_threshold=threshold if stored_threshold is None else stored_threshold,
            )  # fmt: skip
            if other.fingerprint != self.profile.fingerprint:
                raise MonitorStoreError(
                    f"the monitor store {str(store)!r} was created with another reference. "
                    "Open it without reference=, or start a new store for the new reference."
                )
        if specs is not None and [s.definition for s in specs] != [
            s.definition for s in self.profile.specs
        ]:
            raise MonitorStoreError(
                f"the monitor store {str(store)!r} monitors other slices "
                f"({[s.name for s in self.profile.specs]}). Open it without slices=, or start "
                "a new store."
            )
        if config is not None:
            new = load_config(config)
            if new.window != self.config.window:
                raise MonitorStoreError(
                    f"the store's windows are {self.config.window!r}; a config with window "
                    f"{new.window!r} cannot be applied to it. Keep the window or use a new store."
                )
            if new != self.config:
                with self._store.transaction():
                    self.config = new
                    self._store.set_meta("config", json.dumps(new.to_dict()))
                    self._recompute(self._windows())

    # ------------------------------------------------------------------ writing
    def ingest(
        self,
        batch: pl.DataFrame | str | Path,
        *,
        batch_id: str | None = None,
        boxes: pl.DataFrame | Mapping[str, Any] | str | Path | None = None,
    ) -> IngestResult:
        """Add one batch of production rows, in one transaction.

        Parameters
        ----------
        batch : polars.DataFrame or path
            Rows with ``sample_id``, ``timestamp``, the reference's columns, and optionally
            ``label`` (recorded) and ``embedding``; ``image`` paths stand in for missing
            image metrics. A ``.parquet`` or ``.csv`` path is read.
        batch_id : str, optional
            Default: ``"batch-"`` + a hash of the content. A batch id already in the store
            with the same content is skipped (idempotent); with other content it is an error.
        boxes : polars.DataFrame, mapping or path, optional
            The detector's predicted boxes for the batch's rows (``sample_id, label, x, y,
            w, h, score``): required by a monitor created with ``reference_boxes``, refused
            by one without. An image without a row has no box (``box_count`` 0); a batch
            without any box passes an empty table. Part of the batch's content (its hash).

        Returns
        -------
        IngestResult

        Raises
        ------
        InvalidParameterError
            ``batch`` is not a DataFrame or a path, or ``batch_id`` an empty string or not a
            string (the file itself is then read: a missing or unreadable one is named).
        SchemaError
            Missing, extra or wrongly typed columns; null ids or timestamps; bad confidences.
        DuplicateSampleIdError
            A sample id twice in the batch, or already ingested with another batch.
        InvalidAnnotationError
            A box of a sample that is not in the batch, a NaN, infinite, zero or negative
            size, a score outside [0, 1].
        LimitExceededError
            More than 1,000 boxes per row of the batch, or on one image.
        BatchConflictError
            ``batch_id`` is in the store with different content.

        Notes
        -----
        Rows land in the window of their own timestamp: late or out-of-order rows update
        (and may raise alerts in) past windows, whose statistics are recomputed.
        """
        check_params(
            "Monitor.ingest", {"batch": batch, "batch_id": batch_id, "boxes": boxes}, *_INGEST
        )
        clock = _Clock()
        source = str(batch) if isinstance(batch, (str, Path)) else "DataFrame"
        frame = validate_batch(
            read_frame(batch),
            self.profile.expected,
            computable=IMAGE_METRICS,
            extra_columns=self.extra_columns,
        )
        frame = derive_columns(
            frame, expected=list(self.profile.expected), centroid=self.profile.centroid,
            image_root=self.image_root,
        )  # fmt: skip
        if (
            not self.store_rows
            and LABEL in frame.columns
            and frame[LABEL].null_count() < frame.height
        ):
            raise SchemaError(
                "batch has labels, but this monitor store keeps no rows (store_rows=False), so "
                "they cannot be kept. Drop the 'label' column, or use a store that keeps rows."
            )
        if LABEL in frame.columns and PREDICTION not in self.profile.expected:
            raise SchemaError(
                "batch has a 'label' column, but this monitor has no 'prediction' to compare "
                "labels with (its reference had none). Drop the 'label' column."
            )
        box_digest, derived = self._boxes(frame, boxes)
        per_box = None
        if derived is not None:
            frame, per_box = derived
        clock.lap("validate")
        digest = hashlib.blake2b(digest_size=16)
        digest.update(json.dumps(frame.columns).encode())
        digest.update(frame.hash_rows(seed=7).to_numpy().tobytes())
        digest.update(box_digest)
        content_hash = digest.hexdigest()
        if batch_id is None:
            batch_id = f"batch-{content_hash[:16]}"
        frame = frame.with_columns(
            pl.col(TIMESTAMP).dt.truncate(self.config.window).alias("window_start")
        )
        clock.lap("hash")
        store = self._store
        with store.transaction():
            known = store.query("SELECT content_hash FROM batches WHERE batch_id = ?", [batch_id])
            if known.height:
                if known["content_hash"][0] != content_hash:
                    raise BatchConflictError(
                        f"batch_id {batch_id!r} is already in the store with different content."
                        " Give the new batch its own batch_id (or leave it out to use a hash "
                        "of the content)."
                    )
                logger.info("monitor: batch %s already ingested; nothing added", batch_id)
                return IngestResult(batch_id, "skipped", frame.height, seconds=clock.total())
            writer, row_laps = None, _Clock()
            if self.store_rows:
                # the rows are staged, checked for known ids and inserted on a second thread
                # (Parquet writing and DuckDB release the GIL) while this one bins; the
                # connection is used by that thread alone until it is joined
                writer = _Background(self._store_rows, frame, batch_id, row_laps)
            try:
                slices = slices_of(self.profile.specs, frame)
                calibrated = None
                if self.profile.calibrator is not None:
                    conf = frame[CONFIDENCE].fill_null(np.nan).to_numpy()
                    calibrated = self.profile.calibrator.apply(conf)
                items = None
                if per_box is not None:  # each box is counted in its image's window and slices
                    items = (per_box, per_box["row"].to_numpy(), self.profile.box_metrics)
                h = histograms(
                    frame, [(s.name, s.expr) for s in slices], self.profile.row_metrics,
                    pl.col("window_start"), calibrated, items,
                )  # fmt: skip
                clock.lap("histograms")
            finally:
                if writer is not None:
                    writer.join()
            clock.lap("rows_insert_wait")
            ts = frame[TIMESTAMP]
            store.con.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [batch_id, content_hash, frame.height, _now(), ts.min(), ts.max(),
                 len(h.windows), source],
            )  # fmt: skip
            if LABEL in frame.columns:
                self._insert_labels(frame.select(SAMPLE_ID, LABEL).drop_nulls(LABEL))
            tag = pl.lit(batch_id).alias("batch_id")
            store.insert_frame("hist", h.hist_frame().with_columns(tag))
            store.insert_frame("perf", h.perf_frame().with_columns(tag))
            _crash_hook("after_rows")
            alerts = self._recompute(h.windows)
            clock.lap("statistics")
            _crash_hook("before_commit")
        clock.lap("commit")
        timings = {**clock.laps, **{f"rows_{k}": v for k, v in row_laps.laps.items()}}
        return IngestResult(
            batch_id, "ingested", frame.height, list(h.windows), alerts, clock.total(), timings
        )

    def _boxes(
        self, frame: pl.DataFrame, boxes: Any
    ) -> tuple[bytes, tuple[pl.DataFrame, pl.DataFrame] | None]:
        """Check the batch's boxes against the profile; their digest, and the rows with
        ``box_count`` and the kept boxes (None for a monitor without boxes)."""
        threshold = self.profile.score_threshold
        if threshold is None:
            if boxes is not None:
                raise SchemaError(
                    "boxes were passed, but this monitor's reference had no predicted boxes, "
                    "so there is nothing to compare them with. Start a store with "
                    "reference_boxes=, or leave boxes out."
                )
            return b"", None
        if boxes is None:
            raise SchemaError(
                "this monitor watches a detector's boxes (its reference had predicted boxes); "
                "the batch came without boxes=. Pass the batch's predicted boxes (an empty "
                "table when no image has one)."
            )
        check_image_sizes(frame, "batch")
        table = read_boxes(boxes, frame)
        return boxes_digest(table), box_rows(frame, table, threshold)

    def _store_rows(self, frame: pl.DataFrame, batch_id: str, clock: _Clock) -> None:
        """Stage the batch's rows, refuse ids already in the store, insert (in a thread)."""
        store = self._store
        rows = frame.drop(LABEL, strict=False).with_columns(pl.lit(batch_id).alias("batch_id"))
        src = store.register_frame("rows", rows)
        clock.lap("stage")
        if store.has_table("rows"):
            self._check_new_ids(src, batch_id)
        else:
            store.con.execute(f"CREATE TABLE rows AS SELECT * FROM {src} LIMIT 0")
        clock.lap("duplicate_check")
        store.con.execute(f"INSERT INTO rows BY NAME SELECT * FROM {src}")
        clock.lap("insert")

    def _check_new_ids(self, src: str, batch_id: str) -> None:
        known = f"FROM rows WHERE sample_id IN (SELECT sample_id FROM {src})"
        dup = self._store.query(f"SELECT sample_id, batch_id {known} LIMIT 10")
        if dup.height:
            n = int(self._store.query(f"SELECT count(*) AS n {known}")["n"][0])
            ids = dup["sample_id"].to_list()
            other = format_items(dup["batch_id"].unique().sort().to_list())
            raise DuplicateSampleIdError(
                f"batch {batch_id!r} has {n} sample_id(s) already ingested with other "
                f"batches: {format_items(ids, total=n)} (in {other}). "
                "Nothing was added. Drop those rows, or give them new sample ids.",
                rows=ids,
            )

    def record_labels(self, labels: pl.DataFrame | str | Path) -> int:
        """Record ground-truth labels that arrived after their rows were ingested.

        ``labels`` has ``sample_id`` and ``label``; a label recorded again replaces the old
        one. The windows of those rows get their accuracy (and alerts) recomputed.

        Returns
        -------
        int
            The number of labels recorded.

        Raises
        ------
        SchemaError
            Missing columns, labels that are not text (a float column), null labels, or
            sample ids that were never ingested (named).
        """
        frame = validate_labels(read_frame(labels, "labels", "Monitor.record_labels"))
        store = self._store
        if PREDICTION not in self.profile.expected:
            raise SchemaError(
                "this monitor has no per-row 'prediction' (its reference had none, e.g. a "
                "detector's boxes), so labels have nothing to be compared with. Nothing was "
                "recorded."
            )
        if not self.store_rows:
            raise MonitorStoreError(
                f"the monitor store {store.path!r} keeps no rows (created with "
                "store_rows=False), so later labels cannot be matched to predictions. Put the "
                "labels in the batch's 'label' column, or use a store that keeps rows."
            )
        if not store.has_table("rows"):
            raise SchemaError("no batch was ingested yet, so there are no rows to label.")
        with store.transaction():
            src = store.register_frame("labels", frame)
            never = f"FROM {src} WHERE sample_id NOT IN (SELECT sample_id FROM rows)"
            unknown = store.query(f"SELECT sample_id {never} LIMIT 10")
            if unknown.height:
                n = int(store.query(f"SELECT count(*) AS n {never}")["n"][0])
                raise SchemaError(
                    f"labels name {n} sample_id(s) that were never ingested: "
                    f"{format_items(unknown['sample_id'].to_list(), total=n)}. Ingest their rows "
                    "first, or drop those labels. Nothing was recorded."
                )
            self._insert_labels(frame)
            windows = store.query(
                f"SELECT DISTINCT window_start FROM rows WHERE sample_id IN "
                f"(SELECT sample_id FROM {src}) ORDER BY 1"
            )["window_start"].to_list()
            self._recompute(windows)
        return frame.height

    def _insert_labels(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        src = self._store.register_frame("lab", frame)
        self._store.con.execute(
            f"INSERT OR REPLACE INTO labels SELECT sample_id, label, ? FROM {src}", [_now()]
        )

    def _windows(self) -> list[dt.datetime]:
        return self._store.query("SELECT DISTINCT window_start FROM perf ORDER BY 1")[
            "window_start"
        ].to_list()

    def _recompute(self, windows: Sequence[dt.datetime]) -> pl.DataFrame:
        """Recompute the statistics and alerts of ``windows`` (inside the caller's
        transaction) and return the alerts."""
        store, times = self._store, [_window_param(windows)]
        hist = store.query_frame(
            "SELECT window_start, slice, metric, bin, sum(count)::BIGINT AS count, "
            f"sum(sum) AS sum FROM hist WHERE {IN_WINDOWS} GROUP BY ALL",
            times,
        )
        perf = store.query_frame(
            "SELECT window_start, slice, sum(n)::BIGINT AS n, sum(n_scored)::BIGINT AS n_scored, "
            f"sum(expected_correct) AS expected_correct FROM perf WHERE {IN_WINDOWS} "
            "GROUP BY ALL ORDER BY window_start, slice",
            times,
        )
        stats = window_stats(hist, perf, self._label_accuracy(times), self.profile)
        alerts = evaluate_alerts(stats, self.config)
        store.con.execute(f"DELETE FROM window_stats WHERE {IN_WINDOWS}", times)
        store.con.execute(f"DELETE FROM alerts WHERE {IN_WINDOWS}", times)
        store.insert_frame("window_stats", stats)
        store.insert_frame("alerts", alerts)
        return alerts

    def _label_accuracy(self, times: list[Any]) -> pl.DataFrame | None:
        if not self.store_rows or not self._store.query("SELECT 1 FROM labels LIMIT 1").height:
            return None
        frame = self._store.query_frame(
            "SELECT r.*, l.label AS __label FROM rows r JOIN labels l USING (sample_id) "
            f"WHERE r.{IN_WINDOWS}",
            times,
        )
        if frame.height == 0:
            return None
        correct = (pl.col(PREDICTION) == pl.col("__label")).fill_null(False)
        parts = [
            frame.filter(s.expr)
            .group_by("window_start")
            .agg(pl.len().alias("n_labelled"), correct.sum().alias("n_correct"))
            .with_columns(pl.lit(s.name).alias("slice"))
            for s in slices_of(self.profile.specs, frame)
        ]
        return pl.concat(parts).cast({"n_labelled": pl.Int64, "n_correct": pl.Int64})

    # ------------------------------------------------------------------ reading
    def window_stats(
        self, *, slice: str | None = None, metric: str | None = None, headline_only: bool = False
    ) -> pl.DataFrame:
        """Statistics per window and slice (columns of ``STATS_SCHEMA`` and ``computed_at``).

        ``headline_only`` keeps the deciding drift statistic of each metric and the
        performance rows.
        """
        where, params = ["TRUE"], []
        for column, value in (("slice", slice), ("metric", metric)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(str(value))
        if headline_only:
            where.append("(headline OR metric IN ('performance', 'rows'))")
        out = self._store.query_frame(  # through Parquet: fast for long histories
            f"SELECT * FROM window_stats WHERE {' AND '.join(where)} "
            "ORDER BY window_start, slice, metric, statistic",
            params,
        )
        return out if out.height else pl.DataFrame(schema=STATS_SCHEMA)

    def alerts(self, *, severity: str | None = None) -> pl.DataFrame:
        """Current alerts, by window and slice (``severity``: ``warning`` or ``critical``)."""
        sql = "SELECT * FROM alerts" + (" WHERE severity = ?" if severity else "")
        out = self._store.query(
            sql + " ORDER BY window_start, slice, metric", [severity] if severity else []
        )
        return (
            out
            if out.height
            else pl.DataFrame(schema={**ALERTS_SCHEMA, "raised_at": pl.Datetime("us")})
        )

    def batches(self) -> pl.DataFrame:
        """The ingested batches, oldest first."""
        return self._store.query("SELECT * FROM batches ORDER BY ingested_at, batch_id")

    def status(self) -> dict[str, Any]:
        """A summary: batches, rows, labels, windows, slices, metrics and alerts.

        Examples
        --------
        >>> import polars as pl
        >>> ref = pl.DataFrame({"x": [0.1, 0.2, 0.3], "prediction": ["a", "b", "a"],
        ...                     "confidence": [0.9, 0.8, 0.7]})
        >>> Monitor(":memory:", reference=ref).status()["n_batches"]
        0
        """
        s = self._store
        n_rows = int(s.query("SELECT coalesce(sum(n_rows), 0) AS n FROM batches")["n"][0])
        win = s.query("SELECT min(window_start) AS a, max(window_start) AS b, "
                      "count(DISTINCT window_start) AS k FROM perf")  # fmt: skip
        sev = dict(s.query("SELECT severity, count(*) FROM alerts GROUP BY 1").rows())
        return {
            "store": s.path,
            "schema_version": int(s.get_meta("schema_version") or 0),
            "window": self.config.window,
            "n_batches": int(s.query("SELECT count(*) AS n FROM batches")["n"][0]),
            "n_rows": n_rows,
            "n_labels": int(s.query("SELECT count(*) AS n FROM labels")["n"][0]),
            "n_windows": int(win["k"][0] or 0),
            "first_window": win["a"][0],
            "last_window": win["b"][0],
            "reference_rows": self.profile.n_rows,
            "metrics": {m.name: m.kind for m in self.profile.metrics},
            "slices": [spec.name for spec in self.profile.specs],
            "box_score_threshold": self.profile.score_threshold,
            "n_alerts": int(sum(sev.values())),
            "alerts_by_severity": {k: int(v) for k, v in sorted(sev.items())},
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything a report needs, JSON-able: status, config, alerts, headline stats."""

        def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
            return json.loads(frame.write_json()) if frame.height else []

        status = self.status()
        for k in ("first_window", "last_window"):
            status[k] = None if status[k] is None else status[k].isoformat()
        return {
            "status": status,
            "config": self.config.to_dict(),
            "alerts": records(self.alerts().drop("raised_at")),
            "window_stats": records(self.window_stats(headline_only=True).drop("computed_at")),
        }

    def report(self, path: str | Path) -> Path:
        """Write the dashboard: ``.html`` (self-contained, plots per slice), ``.md`` or
        ``.json``, by the suffix of ``path``; return the path. See
        :func:`datacentric.report.write`."""
        from datacentric.report import write

        return write(self, path)

    def close(self) -> None:
        """Close the store."""
        self._store.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Monitor(store={self._store.path!r}, metrics={len(self.profile.metrics)}, "
            f"slices={[s.name for s in self.profile.specs]}, window={self.config.window!r})"
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _specs(slices: str | Path | Sequence[SliceSpec] | None) -> list[SliceSpec] | None:
    """The slices to monitor (``slices`` is checked by ``Monitor``'s declaration)."""
    if slices is None:
        return None
    if isinstance(slices, (str, PurePath)):
        return load_slices(slices)
    return list(slices)


def _needs_reference(store: str | Path) -> InvalidParameterError:
    """The error for a new store opened without a reference (checked against the store, so
    here rather than in the constraints; same form)."""
    return invalid_parameter(
        "Monitor",
        "reference",
        None,
        "a polars DataFrame or a path when the store is new",
        fix=f"The monitor store {str(store)!r} is new, so it needs a reference: "
        "pass reference=<labelled rows like the production ones> (and slices=, config=).",
    )


@contextlib.contextmanager
def _stored_entry(store: str | Path, key: str) -> Iterator[None]:
    """Read back a JSON entry of the store's ``meta`` table: a damaged one (edited by hand,
    written by another program) is a :class:`MonitorStoreError` naming the entry."""
    try:
        yield
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise MonitorStoreError(
            f"the monitor store {str(store)!r} has a damaged {key!r} entry in its meta table "
            f"({type(exc).__name__}: {reason}). It was not written by this datacentric; start "
            "a new store from the reference."
        ) from None
