"""Hostile predicted boxes for ``datacentric monitor ingest --boxes / --reference-boxes /
--score-threshold``: each is refused with one ``Error:`` line and nothing of the batch is
stored; the well-formed fixture ingests (exit 0)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from tests.hostile.cases import CliCase
from tests.monitor._data import detection_rows

_BASE = ("monitor", "ingest", "{batch}", "--store", "{out}/m.duckdb", "-r", "{ref}",
         "--reference-boxes", "{ref_boxes}")  # fmt: skip
INGEST = {"monitor-ingest-boxes": (*_BASE, "--boxes", "{boxes}")}


def _set(frame: pl.DataFrame, column: str, row: int, value: object) -> pl.DataFrame:
    values = frame[column].to_list()
    values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))


def _build(
    edit: Callable[[pl.DataFrame], pl.DataFrame] = lambda b: b,
    edit_ref: Callable[[pl.DataFrame], pl.DataFrame] = lambda b: b,
):  # type: ignore[no-untyped-def]
    def build(tmp: Path) -> Mapping[str, str]:
        tmp.mkdir(parents=True, exist_ok=True)
        ref, ref_boxes = detection_rows(200, seed=0)
        batch, boxes = detection_rows(40, seed=1, id_prefix="p")
        ref.drop("timestamp").write_parquet(tmp / "ref.parquet")
        edit_ref(ref_boxes).write_parquet(tmp / "ref_boxes.parquet")
        batch.write_parquet(tmp / "batch.parquet")
        edit(boxes).write_parquet(tmp / "boxes.parquet")
        return {name: str(tmp / f"{name}.parquet")
                for name in ("ref", "ref_boxes", "batch", "boxes")}  # fmt: skip

    return build


CASES: list[CliCase] = [
    CliCase(name="monitor-boxes-good", build=_build(), argvs=INGEST, default="ok"),
    CliCase(
        name="monitor-boxes-unknown-sample",
        build=_build(lambda b: _set(b, "sample_id", 1, "ghost")),
        argvs=INGEST,
        match="{boxes}: 1 annotation(s) with problem unknown_sample",
    ),
    CliCase(
        name="monitor-boxes-negative-size",
        build=_build(lambda b: _set(b, "w", 0, -3.0)),
        argvs=INGEST,
        match="non_positive_size",
    ),
    CliCase(
        name="monitor-boxes-score-1.5",
        build=_build(lambda b: _set(b, "score", 0, 1.5)),
        argvs=INGEST,
        match="score that is not a number in [0, 1]",
    ),
    CliCase(
        name="monitor-boxes-row-bomb",
        build=_build(lambda b: pl.concat([b] * 501)),
        argvs=INGEST,
        match="40,080 boxes for 40 row(s), more than 1,000 per image",
    ),
    CliCase(
        name="monitor-reference-boxes-nan",
        build=_build(edit_ref=lambda b: _set(b, "h", 3, float("nan"))),
        argvs=INGEST,
        match="{ref_boxes}: 1 annotation(s) with problem non_finite",
    ),
    CliCase(
        name="monitor-boxes-options",
        build=_build(),
        argvs={
            "score-threshold-2": (*INGEST["monitor-ingest-boxes"], "--score-threshold", "2"),
            "score-threshold-nan": (*INGEST["monitor-ingest-boxes"], "--score-threshold", "nan"),
            "boxes-missing-file": (*_BASE, "--boxes", "{out}/none.parquet"),
            "boxes-twice": (*INGEST["monitor-ingest-boxes"], "--boxes", "{boxes}"),
            "no-boxes": _BASE,
        },
    ),
]
