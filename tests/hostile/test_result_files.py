"""Saved results read back: damaged, foreign or crafted files give one-line SchemaErrors.

Scans (Parquet + metadata), slice metrics JSON, the experiment log, export manifests and the
Label Studio journal: each reader gets files that are not that kind of file at all,
truncated, or of the right kind with fields of the wrong type; each error names the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from datacentric.exceptions import DatacentricError, SchemaError
from datacentric.export import verify_manifest
from datacentric.integrations.labelstudio import ProjectState
from datacentric.integrations.labelstudio.state import state_path
from datacentric.issues.result import ScanResult
from datacentric.loop.log import ExperimentLog
from datacentric.slices import SliceMetrics
from tests.hostile._child import GIB, run_child


def _scan() -> ScanResult:
    issues = pl.DataFrame(
        {
            "sample_id": ["s0", "s1"],
            "issue_type": ["label", "label"],
            "is_issue": [True, False],
            "severity": [0.9, 0.1],
            "suggested_label": ["b", None],
            "detail": ["looks like b", ""],
        }
    )
    samples = pl.DataFrame({"sample_id": ["s0", "s1"], "label": ["a", "b"], "split": ["t", "t"]})
    return ScanResult(issues=issues, samples=samples, classes=["a", "b"])


def _metrics_row(**over: Any) -> dict[str, Any]:
    row = {
        "slice": "overall",
        "n": 10,
        "metric": "accuracy",
        "support": 10,
        "value": 0.9,
        "ci_low": 0.6,
        "ci_high": 0.98,
        "delta_vs_overall": 0.0,
        "p_value": None,
        "low_support": False,
    }
    return row | over


def _one_line_schema_error(fn: Callable[[], object], *fragments: str) -> str:
    with pytest.raises(SchemaError) as exc:
        fn()
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


# ---------------------------------------------------------------- scans
def test_scan_round_trip(tmp_path: Path) -> None:
    _scan().save(tmp_path / "scan.parquet")
    back = ScanResult.load(tmp_path / "scan.parquet")
    assert back.classes == ["a", "b"] and back.issues.height == 2


@pytest.mark.parametrize(
    "content",
    [b"", b"sample_id,issue_type\ns0,label\n", b"PAR1" + b"\x00" * 40, b"\x89PNG\r\n\x1a\n"],
    ids=["empty", "csv", "fake_magic", "png"],
)
def test_scan_that_is_not_parquet(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "scan.parquet"
    path.write_bytes(content)
    _one_line_schema_error(lambda: ScanResult.load(path), str(path), "cannot be read as Parquet")


def test_truncated_scan(tmp_path: Path) -> None:
    path = _scan().save(tmp_path / "scan.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _one_line_schema_error(lambda: ScanResult.load(path), str(path), "truncated or damaged")


def test_truncated_samples_companion(tmp_path: Path) -> None:
    path = _scan().save(tmp_path / "scan.parquet")
    companion = tmp_path / "scan.samples.parquet"
    companion.write_bytes(companion.read_bytes()[:20])
    _one_line_schema_error(lambda: ScanResult.load(path), str(companion))


def _with_meta(path: Path, meta: str | None, frame: pl.DataFrame | None = None) -> Path:
    scan = _scan()
    scan.save(path)
    kv = None if meta is None else {"datacentric_scan": meta}
    (frame if frame is not None else scan.issues).write_parquet(path, metadata=kv)
    return path


@pytest.mark.parametrize(
    ("meta", "fragments"),
    [
        (None, ["not a datacentric scan"]),
        ('{"classes": ["a"', ["not valid JSON", "truncated"]),
        ("[1, 2]", ["holds a list, not a JSON object"]),
        ('{"format": 1}', ["lacks the field(s) 'classes'"]),
        ('{"classes": "ab"}', ["field 'classes' is 'ab', expected a list"]),
        ('{"classes": [1, 2]}', ["classes include 1, not text"]),
        ('{"classes": ["a"], "format": 9}', ["format 9"]),
        ('{"classes": ["a"], "meta": [1]}', ["field 'meta' is a list"]),
        ('{"classes": ["a"], "timings": {"scan": "slow"}}', ["'timings' holds 'slow' for 'scan'"]),
        ('{"classes": ["a"], "meta": {"root": 5}}', ["dataset root is not text"]),
        ("[" * 100_000, ["nests too deeply"]),
    ],
)
def test_scan_metadata(meta: str | None, fragments: list[str], tmp_path: Path) -> None:
    path = _with_meta(tmp_path / "scan.parquet", meta)
    _one_line_schema_error(lambda: ScanResult.load(path), str(path), *fragments)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda f: f.drop("is_issue"), "lacks the column(s) 'is_issue'"),
        (lambda f: f.with_columns(pl.col("severity").cast(pl.Utf8)), "column 'severity'"),
        (lambda f: f.with_columns(pl.col("is_issue").cast(pl.Int8)), "column 'is_issue'"),
        (lambda f: pl.DataFrame({"x": [1]}), "lacks the column(s) 'sample_id'"),
    ],
)
def test_scan_columns(
    change: Callable[[pl.DataFrame], pl.DataFrame], fragment: str, tmp_path: Path
) -> None:
    meta = json.dumps({"format": 1, "classes": ["a", "b"]})
    path = _with_meta(tmp_path / "scan.parquet", meta, change(_scan().issues))
    _one_line_schema_error(lambda: ScanResult.load(path), str(path), fragment)


def test_scan_row_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    n = 3_000_000
    issues = pl.DataFrame(
        {
            "sample_id": pl.repeat("s0", n, eager=True),
            "issue_type": pl.repeat("label", n, eager=True),
            "is_issue": pl.repeat(True, n, eager=True),
            "severity": pl.repeat(0.5, n, eager=True),
            "suggested_label": pl.repeat("b" * 200, n, eager=True),
            "detail": pl.repeat("x" * 500, n, eager=True),
        }
    )
    path = tmp_path / "scan.parquet"
    _scan().save(path)
    meta = {"datacentric_scan": json.dumps({"format": 1, "classes": ["a", "b"]})}
    issues.write_parquet(path, metadata=meta, statistics=False)
    del issues
    assert path.stat().st_size < 1_000_000
    child = run_child(
        f"""
        import json
        from datacentric.issues.result import ScanResult
        try:
            ScanResult.load({str(path)!r})
        except Exception as exc:
            print(json.dumps([type(exc).__name__, str(exc)]))
        """
    )
    assert child.returncode == 0, child.stderr
    name, message = json.loads(child.stdout.strip().splitlines()[-1])
    assert name == "SchemaError" and str(path) in message and "3,000,000 rows" in message
    assert 0 < child.peak_rss < GIB, child.peak_rss


# ---------------------------------------------------------------- slice metrics
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "not valid JSON"),
        (b'{"format": 1, "rows": [', "(the file is truncated)"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"[]", "holds a list, not a JSON object"),
        (b'{"meta": {}}', "lacks the field(s) 'rows'"),
        (b'{"rows": {"a": 1}}', "field 'rows' is a dict, expected a list"),
        (b'{"rows": [1]}', "(row 0): holds 1, not a JSON object"),
        (json.dumps({"rows": [{"slice": "x"}]}).encode(), "(row 0): lacks the field(s) 'n'"),
        (json.dumps({"rows": [_metrics_row(n="10")]}).encode(), "field 'n' is '10'"),
        (json.dumps({"rows": [_metrics_row(value=[1])]}).encode(), "field 'value' is a list"),
        (json.dumps({"rows": [_metrics_row(n=10**30)]}).encode(), "do not form a table"),
        (json.dumps({"format": 2, "rows": []}).encode(), "format 2"),
        (b"[" * 100_000, "nests too deeply"),
    ],
)
def test_slice_metrics_files(body: bytes, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_bytes(body)
    _one_line_schema_error(lambda: SliceMetrics.load(path), str(path), fragment)


def test_slice_metrics_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"format": 1, "meta": {}, "rows": [_metrics_row()]}))
    assert SliceMetrics.load(path).table.height == 1


# ---------------------------------------------------------------- experiment log
def _record(**over: Any) -> dict[str, Any]:
    rec = {
        "iteration": 0,
        "version": 1,
        "version_before": 1,
        "accuracy": 0.8,
        "accuracy_ci": [0.7, 0.9],
        "worst_slice": None,
        "worst_slice_accuracy": None,
        "counts": {},
        "issues_flagged": {},
        "regressed_slices": [],
    }
    return rec | over


_QUEUE = {
    "queued": 1,
    "candidates": 2,
    "deferred": 1,
    "budget": 1,
    "expected_errors": 1.0,
    "expected_errors_queued": 0.5,
    "coverage": 0.5,
}


def _log(tmp_path: Path, text: str) -> ExperimentLog:
    log = ExperimentLog(tmp_path)
    log.path.mkdir(parents=True)
    (log.path / "log.jsonl").write_text(text)
    return log


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        (["{not json"], "line 1: not valid JSON"),
        (["[1]"], "line 1: holds a list"),
        ([json.dumps(_record()), json.dumps({"iteration": 1})], "line 2: lacks the field(s)"),
        ([json.dumps(_record(iteration="0"))], "field 'iteration' is '0'"),
        ([json.dumps(_record(iteration=-1))], "expected an integer >= 0"),
        ([json.dumps(_record(accuracy_ci=[0.1]))], "'accuracy_ci' is not a list of two"),
        ([json.dumps(_record(issues_flagged={"label": "many"}))], "must map names to integers"),
        ([json.dumps(_record(model="../../../etc/passwd"))], "not a path inside"),
        ([json.dumps(_record(model="/etc/passwd"))], "not a path inside"),
        (
            [json.dumps(_record(review_queue=[1]))],
            "field 'review_queue' is a list, expected a dict or null",
        ),
        ([json.dumps(_record(review_queue={"queued": 3}))], "field 'review_queue' must map"),
        (
            [json.dumps(_record(review_queue={**_QUEUE, "coverage": "all of it"}))],
            "field 'review_queue' must map",
        ),
    ],
)
def test_experiment_log_lines(lines: list[str], fragment: str, tmp_path: Path) -> None:
    log = _log(tmp_path, "\n".join(lines) + "\n")
    _one_line_schema_error(log.records, str(log.path / "log.jsonl"), fragment)


def test_experiment_log_with_a_review_queue_summary_loads(tmp_path: Path) -> None:
    log = _log(tmp_path, json.dumps(_record(review_queue=_QUEUE | {"budget": "all"})) + "\n")
    assert log.records()[0]["review_queue"]["budget"] == "all"


def test_experiment_log_torn_last_line_is_skipped_and_repaired(tmp_path: Path) -> None:
    log = _log(tmp_path, json.dumps(_record()) + "\n" + json.dumps(_record(iteration=1))[:30])
    assert [r["iteration"] for r in log.records()] == [0]
    assert log.next_iteration() == 1

    class _Metrics:
        def save(self, path: Path) -> None:
            path.write_text("{}")

    log.write(_record(iteration=1), {}, _Metrics())
    assert [r["iteration"] for r in log.records()] == [0, 1]


def test_experiment_log_frame_that_is_not_parquet(tmp_path: Path) -> None:
    log = _log(tmp_path, json.dumps(_record()) + "\n")
    (log.iteration_dir(0)).mkdir()
    (log.iteration_dir(0) / "review.parquet").write_text("nope")
    _one_line_schema_error(lambda: log.frame(0, "review"), "review.parquet", "Parquet")


# ---------------------------------------------------------------- export manifest
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{", "not valid JSON"),
        ("[]", "holds a list"),
        ("{}", "lacks the field(s) 'artefacts'"),
        ('{"artefacts": [{"file": "m.onnx"}]}', "(artefact 0): lacks the field(s) 'sha256'"),
        ('{"artefacts": [{"file": 3, "sha256": "x"}]}', "field 'file' is 3"),
        ('{"artefacts": [{"file": "../../secret", "sha256": "x"}]}', "not a path inside"),
    ],
)
def test_export_manifest(body: str, fragment: str, tmp_path: Path) -> None:
    (tmp_path / "export.json").write_text(body)
    _one_line_schema_error(
        lambda: verify_manifest(tmp_path), str(tmp_path / "export.json"), fragment
    )


def test_export_manifest_missing_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(DatacentricError, match=r"has no export\.json"):
        verify_manifest(tmp_path)


# ---------------------------------------------------------------- Label Studio journal
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{broken", "not valid JSON"),
        ("[1]", "holds a list"),
        ('{"tasks": [1, 2]}', "field 'tasks' is a list"),
        ('{"tasks": {"s1": "x"}}', "field 'tasks' maps 's1' to 'x'"),
        ('{"applied": {"10": 5}}', "field 'applied' maps '10' to 5"),
        ('{"project_id": "7"}', "field 'project_id' is '7'"),
    ],
)
def test_labelstudio_journal(body: str, fragment: str, tmp_path: Path) -> None:
    path = state_path(tmp_path, "http://h:8080", "P")
    path.parent.mkdir(parents=True)
    path.write_text(body)
    msg = _one_line_schema_error(
        lambda: ProjectState.load(tmp_path, "http://h:8080", "P"), str(path), fragment
    )
    assert "Delete it" in msg
