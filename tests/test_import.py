"""`import datacentric` stays light: no torch, fiftyone or label_studio_sdk."""

from __future__ import annotations

import subprocess
import sys

import datacentric


def test_import_does_not_pull_heavy_dependencies() -> None:
    code = (
        "import sys, datacentric, datacentric.issues, datacentric.train, datacentric.cli,"
        " datacentric.slices, datacentric.report, datacentric.loop, datacentric.export,"
        " datacentric.monitor, datacentric.integrations.labelstudio,"
        " datacentric.integrations.fiftyone, datacentric.integrations.guide\n"
        "heavy = [m for m in ('torch', 'torchvision', 'fiftyone', 'label_studio_sdk',"
        " 'onnxruntime', 'onnx', 'albumentations', 'duckdb') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_api_is_declared() -> None:
    for name in datacentric.__all__:
        assert getattr(datacentric, name) is not None
    assert issubclass(datacentric.exceptions.InvalidDatasetError, ValueError)
    assert issubclass(datacentric.exceptions.InvalidDatasetError, datacentric.DatacentricError)


def test_missing_optional_dependency_names_the_extra() -> None:
    from datacentric._deps import import_optional
    from datacentric.exceptions import MissingDependencyError

    try:
        import_optional("surely_not_installed_pkg", extra="fiftyone", purpose="the App")
    except MissingDependencyError as exc:
        assert "pip install 'datacentric[fiftyone]'" in str(exc)
        assert "the App" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected MissingDependencyError")
