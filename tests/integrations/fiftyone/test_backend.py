"""The FiftyOne review backend without a database: what it pushes, and which write path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datacentric import Dataset
from datacentric.exceptions import InvalidParameterError, SchemaError
from datacentric.integrations.fiftyone import _raw
from datacentric.integrations.fiftyone.backend import as_scan
from datacentric.issues import ScanResult, scan


@pytest.fixture
def ds(tmp_path: Path) -> Dataset:
    imgs = np.random.default_rng(0).integers(0, 255, (6, 8, 8), dtype=np.uint8)
    imgs[4] = imgs[1]
    out = Dataset.from_arrays(imgs, [0, 1] * 3, ["cat", "dog"]).to_folder(tmp_path / "d")
    out.commit("initial")
    return out


def test_raw_writes_only_on_the_exact_pinned_versions() -> None:
    assert sorted(_raw.RAW_WRITE_VERSIONS) == ["1.22.1"]
    for version in ("1.22.1rc1", "1.22.2", "1.22", "1.23.0", "2.0.0", ""):
        assert not _raw.raw_writes(version), version
    assert _raw.raw_writes("1.22.1")


def test_items_become_the_scan_to_push(ds: Dataset) -> None:
    result = scan(ds, finders=["exact_duplicate"], cross_validate=False)
    assert as_scan(ds, result) is result
    queue = result.flagged().select("sample_id", "issue_type", "severity", "detail")
    wrapped = as_scan(ds, queue)
    assert wrapped.flagged()["sample_id"].sort().to_list() == ["1", "4"]
    assert wrapped.issues["is_issue"].all() and wrapped.classes == ["cat", "dog"]
    assert wrapped.samples["sample_id"].to_list() == ds.sample_ids
    with pytest.raises(SchemaError, match=r"lack the column\(s\) \['severity'\]"):
        as_scan(ds, pl.DataFrame({"sample_id": ["1"], "issue_type": ["dark"]}))


def test_no_items_means_the_scan_in_the_dataset_folder(ds: Dataset) -> None:
    assert ds.root is not None
    with pytest.raises(InvalidParameterError, match=r"no .*scan\.parquet\. Run `datacentric scan"):
        as_scan(ds, None)
    scan(ds, finders=["exact_duplicate"], cross_validate=False).save(ds.root / "scan.parquet")
    loaded = as_scan(ds, None)
    assert isinstance(loaded, ScanResult) and loaded.flagged().height == 2


def test_backend_refuses_before_importing_fiftyone(ds: Dataset) -> None:
    code = (
        "import sys\nfrom datacentric.integrations import review\n"
        "try:\n"
        f"    review.push({str(ds.root)!r}, backend='fiftyone')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, 'fiftyone' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["InvalidParameterError", "False"]
