"""onnx_size_breakdown on files that are not ONNX models: one-line errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnx")

from datacentric.exceptions import FileAccessError, SchemaError
from datacentric.export.quantize import onnx_size_breakdown


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, not a model\n", b"\xff" * 64, b"\x0a\x05abc", bytes(range(256)) * 4],
    ids=["empty", "text", "ff-bytes", "truncated-field", "binary"],
)
def test_not_an_onnx_model(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(SchemaError) as exc:
        onnx_size_breakdown(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg and "not an ONNX model" in msg


def test_missing_file_and_folder(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.onnx", tmp_path):
        with pytest.raises(FileAccessError) as exc:
            onnx_size_breakdown(path)
        assert "\n" not in str(exc.value) and str(path) in str(exc.value)
