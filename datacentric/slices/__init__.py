"""Slices: definitions in YAML, metrics by slice with intervals, discovery, comparison and
the CI gate.

Examples
--------
>>> import numpy as np, polars as pl
>>> from datacentric import Dataset
>>> ds = Dataset.from_arrays(np.zeros((4, 2, 2)), ["a", "b", "a", "b"], ["a", "b"],
...                          metadata={"site": ["x", "x", "y", "y"]})
>>> preds = pl.DataFrame({"sample_id": ["0", "1", "2", "3"], "pred": ["a", "b", "b", "b"]})
>>> evaluate(ds, preds, "slices: [{by: site}]", split=None, min_n=1).metric("accuracy")[
...     ["slice", "value"]].rows()
[('site=y', 0.5), ('overall', 0.75), ('site=x', 1.0)]
"""

from datacentric.slices.clusters import error_clusters
from datacentric.slices.compare import compare
from datacentric.slices.detection import detection_metrics, evaluate_detection
from datacentric.slices.detection_verdict import detection_seed_summary, detection_seed_verdict
from datacentric.slices.discover import DiscoveryResult, discover, discover_dataset
from datacentric.slices.evaluate import evaluate, prediction_frame
from datacentric.slices.gate import GateResult, check
from datacentric.slices.metrics import METRICS_SCHEMA, evaluate_frame
from datacentric.slices.result import SliceMetrics
from datacentric.slices.seeds import paired_bootstrap, seed_runs, seed_summary, seed_verdict
from datacentric.slices.sliceline import sliceline
from datacentric.slices.spec import (
    Slice,
    SliceSpec,
    expand_slices,
    load_slices,
    save_slices,
    slices_to_yaml,
)

__all__ = [
    "METRICS_SCHEMA",
    "DiscoveryResult",
    "GateResult",
    "Slice",
    "SliceMetrics",
    "SliceSpec",
    "check",
    "compare",
    "detection_metrics",
    "detection_seed_summary",
    "detection_seed_verdict",
    "discover",
    "discover_dataset",
    "error_clusters",
    "evaluate",
    "evaluate_detection",
    "evaluate_frame",
    "expand_slices",
    "load_slices",
    "paired_bootstrap",
    "prediction_frame",
    "save_slices",
    "seed_runs",
    "seed_summary",
    "seed_verdict",
    "sliceline",
    "slices_to_yaml",
]
