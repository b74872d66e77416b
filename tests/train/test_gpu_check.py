"""benchmarks/gpu_check.py: without CUDA it writes a JSON saying it did not run (exit 0)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check runs")
def test_without_cuda_it_says_it_did_not_run(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "gpu.json"
    assert module.main(["--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["ran"] is False and "torch.cuda.is_available() is False" in result["reason"]
    assert result["environment"]["torch"] == torch.__version__
    assert result["environment"]["cuda_runtime"] == torch.version.cuda
