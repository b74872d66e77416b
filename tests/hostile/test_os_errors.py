"""Operating-system errors (disk full, a path under a regular file, a folder where a file
belongs, corrupt store files) are one-line errors naming the path, found before long work
starts, and never leave a half-written file or a temporary file behind.

Tests run as root in CI, where ``chmod`` does not stop writes: unwritable paths are made by
putting them under a regular file (``NotADirectoryError``), and a full disk by making
``os.replace``/a writer raise ``OSError(ENOSPC)`` inside the library.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import datacentric._io as dio
from datacentric import Dataset
from datacentric._io import atomic_write, atomic_write_text, ensure_writable
from datacentric.cli import app
from datacentric.dataset import VersionStore
from datacentric.exceptions import DatacentricError, FileAccessError, StoreError
from tests.hostile.cases import versioned_dataset

runner = CliRunner()


def _enospc(target_name: str):  # type: ignore[no-untyped-def]
    """An ``os.replace`` that fails with a full disk when the target is ``target_name``."""
    real = os.replace

    def replace(src, dst):  # type: ignore[no-untyped-def]
        if Path(dst).name == target_name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    return replace


def _one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    shown = f"exit={result.exit_code}\nstdout={result.stdout}\nstderr={result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert result.exit_code == 1, shown
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), shown
    return lines[0]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return versioned_dataset(tmp_path / "ds")


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "regular_file"
    f.write_text("not a folder")
    return f


# ---------------------------------------------------------------- the version store
def test_commit_disk_full_at_head_write(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = Dataset.open(dataset)
    ds.relabel(["s000"], "b", reason="test")
    monkeypatch.setattr(os, "replace", _enospc("HEAD"))
    with pytest.raises(FileAccessError) as info:
        ds.commit("second")
    message = str(info.value)
    assert "\n" not in message
    assert str(dataset / ".datacentric" / "HEAD") in message
    assert "No space left on device" in message and "HEAD is still version 1" in message
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    store = dataset / ".datacentric"
    assert not list(store.glob(".HEAD.*")), "the HEAD temp file was left behind"
    assert sorted(p.name for p in (store / "versions").iterdir()) == ["0001"]
    again = Dataset.open(dataset)
    assert (
        again.version == 1
        and again.manifest.filter(pl.col("sample_id") == "s000")["label"].item() == "a"
    )


def test_commit_disk_full_while_writing_the_version(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pl.DataFrame.write_parquet

    def full(self, file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(file).name == "changes.parquet":
            raise pl.exceptions.ComputeError(
                "parquet: underlying IO error: No space left on device (os error 28)"
            )
        return real(self, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    with pytest.raises(FileAccessError, match="No space left on device") as info:
        Dataset.open(dataset).commit("second")
    assert str(dataset / ".datacentric" / "versions" / "0002") in str(info.value)
    monkeypatch.undo()
    versions = dataset / ".datacentric" / "versions"
    assert [p.name for p in versions.iterdir()] == ["0001"]  # no .tmp-* left
    assert Dataset.open(dataset).version == 1


def test_stale_head_temp_files_are_cleaned_by_the_next_commit(dataset: Path) -> None:
    stale = dataset / ".datacentric" / ".HEAD.99999.123"
    stale.write_text("7\n")  # what a writer killed mid-HEAD-write leaves
    Dataset.open(dataset).commit("second")
    assert not stale.exists() and VersionStore(dataset).head() == 2


def test_lock_file_that_cannot_be_created(dataset: Path) -> None:
    lock = dataset / ".datacentric" / "lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()  # a folder where the lock file belongs (root ignores chmod)
    with pytest.raises(FileAccessError) as info:
        Dataset.open(dataset).commit("second")
    assert str(lock) in str(info.value) and "commit lock" in str(info.value)
    assert VersionStore(dataset).head() == 1


def test_store_folder_is_a_file(tmp_path: Path) -> None:
    root = versioned_dataset(tmp_path / "ds")
    ds = Dataset.from_folder(root)
    store = root / ".datacentric"
    shutil.rmtree(store)
    store.write_text("oops")
    ds.version = None
    with pytest.raises(FileAccessError) as info:
        ds.commit("first")
    assert str(store) in str(info.value)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("meta.json", b"{not json", "meta.json is corrupt"),
        ("meta.json", b'{"version": 1}', "lacks the key"),
        ("meta.json", b"\xff\xfe\x00garbage", "meta.json is corrupt"),
        ("changes.parquet", b"PAR1 garbage", "changes.parquet is corrupt"),
        ("manifest.parquet", b"PAR1 garbage", "manifest.parquet does not match the hash"),
    ],
)
def test_corrupt_version_files(dataset: Path, name: str, content: bytes, match: str) -> None:
    target = dataset / ".datacentric" / "versions" / "0001" / name
    target.write_bytes(content)
    with pytest.raises(StoreError, match=match) as info:
        Dataset.open(dataset)
    assert str(target) in str(info.value) and "\n" not in str(info.value)


def test_corrupt_manifest_without_hash_check(dataset: Path) -> None:
    target = dataset / ".datacentric" / "versions" / "0001" / "manifest.parquet"
    target.write_bytes(b"PAR1 garbage")
    with pytest.raises(StoreError, match=r"manifest\.parquet is corrupt") as info:
        VersionStore(dataset).read(1, verify=False)
    assert str(target) in str(info.value)


def test_binary_head(dataset: Path) -> None:
    head = dataset / ".datacentric" / "HEAD"
    head.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(StoreError, match="is corrupt") as info:
        Dataset.open(dataset)
    assert str(head) in str(info.value)


@pytest.mark.parametrize("verb", ["info", "history"])
def test_cli_corrupt_store_is_one_line(dataset: Path, verb: str) -> None:
    meta = dataset / ".datacentric" / "versions" / "0001" / "meta.json"
    meta.write_text('{"version": 1, "parent": null, "message": ')
    line = _one_error_line(runner.invoke(app, [verb, str(dataset)]))
    assert str(meta) in line


# ---------------------------------------------------------------- atomic writes
def test_atomic_write_disk_full_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")
    monkeypatch.setattr(os, "replace", _enospc("report.md"))
    with pytest.raises(FileAccessError) as info:
        atomic_write_text(target, "new")
    assert str(target) in str(info.value) and "No space left on device" in str(info.value)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_atomic_write_of_a_polars_frame_on_a_full_disk(tmp_path: Path) -> None:
    def full(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise pl.exceptions.ComputeError("parquet: IO error: No space left on device (os error 28)")

    with pytest.raises(FileAccessError, match="No space left on device") as info:
        atomic_write(tmp_path / "scan.parquet", full)
    assert info.value.errno == errno.ENOSPC
    assert not list(tmp_path.iterdir())


def test_atomic_write_under_a_regular_file(a_file: Path) -> None:
    with pytest.raises(FileAccessError) as info:
        atomic_write_text(a_file / "sub" / "x.json", "{}")
    assert str(a_file / "sub" / "x.json") in str(info.value)


def test_non_os_errors_pass_through(tmp_path: Path) -> None:
    def bad(tmp: Path) -> None:
        raise ValueError("not an OS error")

    with pytest.raises(ValueError, match="not an OS error"):
        atomic_write(tmp_path / "x", bad)
    assert not list(tmp_path.iterdir())


def test_no_atomic_writer_keeps_its_own_temp_scheme() -> None:
    """Every temp-file-then-rename in the package goes through ``_io.atomic_write`` (which
    cleans up) or the store (which cleans up and is tested above)."""
    root = Path(dio.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name in ("_io.py", "store.py"):
            continue
        if "os.replace(" in text or ".replace(root" in text or '+ ".tmp"' in text:
            offenders.append(str(path.relative_to(root)))
    assert offenders == []


# ---------------------------------------------------------------- early checks
@pytest.mark.parametrize("folder", [False, True])
def test_ensure_writable_under_a_file(a_file: Path, folder: bool) -> None:
    with pytest.raises(FileAccessError) as info:
        ensure_writable(a_file / "out" / "x.parquet", "--out", folder=folder)
    message = str(info.value)
    assert "--out" in message and str(a_file / "out" / "x.parquet") in message
    assert f"{a_file} is a file, not a folder" in message


def test_ensure_writable_folder_given_for_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError, match="it is a folder, not a file"):
        ensure_writable(tmp_path, "--out")
    assert ensure_writable(tmp_path, "--out", folder=True) == tmp_path


def test_ensure_writable_file_given_for_a_folder(a_file: Path) -> None:
    with pytest.raises(FileAccessError, match="exists and is a file, not a folder"):
        ensure_writable(a_file, "--out", folder=True)


def test_ensure_writable_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(dio.tempfile, "mkstemp", denied)
    with pytest.raises(FileAccessError, match="Permission denied") as info:
        ensure_writable(tmp_path / "x.html", "--report")
    assert str(tmp_path / "x.html") in str(info.value)
    monkeypatch.undo()
    assert not list(tmp_path.iterdir())  # the probe leaves nothing


def test_scan_out_under_a_file_fails_before_the_scan(
    dataset: Path, a_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datacentric.issues

    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the scan ran before its output was checked")

    monkeypatch.setattr(datacentric.issues, "scan", never)
    start = time.perf_counter()
    out = a_file / "scan.parquet"
    line = _one_error_line(runner.invoke(app, ["scan", str(dataset), "--out", str(out)]))
    assert str(out) in line and time.perf_counter() - start < 2.0


@pytest.mark.parametrize("option", ["--report", "--predictions-out"])
def test_scan_other_outputs_checked_first(
    dataset: Path, a_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    import datacentric.issues

    monkeypatch.setattr(datacentric.issues, "scan", None)  # calling it would be a TypeError
    bad = a_file / "x.html"
    argv = ["scan", str(dataset), "--out", str(tmp_path / "s.parquet"), option, str(bad)]
    assert str(bad) in _one_error_line(runner.invoke(app, argv))


def test_loop_report_checked_before_training(
    dataset: Path, a_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datacentric.loop

    monkeypatch.setattr(datacentric.loop, "run_loop", None)
    bad = a_file / "loop.html"
    argv = ["loop", str(dataset), "--report", str(bad)]
    assert str(bad) in _one_error_line(runner.invoke(app, argv))


def test_run_loop_checks_its_log_folder(tmp_path: Path) -> None:
    from datacentric.loop import run_loop

    root = versioned_dataset(tmp_path / "ds")
    experiments = root / ".datacentric" / "experiments"
    experiments.write_text("a file where the log folder belongs")
    with pytest.raises(FileAccessError) as info:
        run_loop(root, 1, folds=2)
    assert str(experiments) in str(info.value)


def test_export_out_checked_before_training(dataset: Path, a_file: Path) -> None:
    bad = a_file / "export"
    argv = ["export", str(dataset), "--out", str(bad), "--targets", "onnx-fp32"]
    start = time.perf_counter()
    assert str(bad) in _one_error_line(runner.invoke(app, argv))
    assert time.perf_counter() - start < 2.0


def test_demo_data_under_a_file(a_file: Path) -> None:
    bad = a_file / "demo"
    assert str(bad) in _one_error_line(runner.invoke(app, ["demo-data", str(bad)]))
    assert a_file.read_text() == "not a folder"


def test_load_demo_disk_full_writing_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from datacentric.datasets import load_demo

    def full(self, fp, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(FileAccessError, match="No space left on device") as info:
        load_demo(tmp_path / "demo")
    assert str(tmp_path / "demo" / "images") in str(info.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["guide", "{dataset}", "--out", "{bad}/guide.md"],
        ["diff", "{dataset}", "1", "--out", "{bad}/diff.csv"],
        ["monitor", "report", "--store", "{dataset}/m.duckdb", "-o", "{bad}/m.html"],
        ["demo-production", "{dataset}", "--out", "{bad}/prod"],
    ],
    ids=["guide", "diff", "monitor-report", "demo-production"],
)
def test_other_writing_verbs_under_a_file(dataset: Path, a_file: Path, argv: list[str]) -> None:
    args = [a.format(dataset=dataset, bad=a_file) for a in argv]
    line = _one_error_line(runner.invoke(app, args))
    assert str(a_file) in line


# ---------------------------------------------------------------- the CLI safety net
def test_cli_os_error_escaping_the_library_is_one_line(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, "Permission denied", "/some/where/file.parquet")

    monkeypatch.setattr(Dataset, "open", denied)
    line = _one_error_line(runner.invoke(app, ["history", str(dataset)]))
    assert "/some/where/file.parquet" in line and "Permission denied" in line


def test_cli_multi_line_message_is_one_line(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def bad(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StoreError("first line\nsecond [red]line[/red]\r\n  third")

    monkeypatch.setattr(Dataset, "open", bad)
    line = _one_error_line(runner.invoke(app, ["history", str(dataset)]))
    assert line == "Error: first line second [red]line[/red] third"


def test_cli_ctrl_c_exits_130_without_traceback(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(Dataset, "open", interrupted)
    result = runner.invoke(app, ["history", str(dataset)])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: interrupted")


def test_file_access_error_is_both_kinds() -> None:
    err = dio.file_access_error(OSError(errno.EACCES, "Permission denied"), "/x/y")
    assert isinstance(err, DatacentricError) and isinstance(err, OSError)
    assert str(err).startswith("cannot write /x/y: Permission denied;")


def test_cli_os_error_without_a_path_is_one_line(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Dataset, "open", full)
    line = _one_error_line(runner.invoke(app, ["history", str(dataset)]))
    assert "No space left on device" in line
