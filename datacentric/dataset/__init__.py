"""Datasets: the manifest, loaders, edits with lineage, and the versioned store."""

from datacentric.dataset.annotations import ANNOTATION_COLUMNS, annotation_problems
from datacentric.dataset.core import Dataset
from datacentric.dataset.diff import diff_manifests
from datacentric.dataset.lineage import CHANGES_SCHEMA
from datacentric.dataset.predicted_boxes import (
    PREDICTED_BOX_COLUMNS,
    check_predicted_boxes,
    read_predicted_boxes,
)
from datacentric.dataset.store import VersionInfo, VersionStore

__all__ = [
    "ANNOTATION_COLUMNS",
    "CHANGES_SCHEMA",
    "PREDICTED_BOX_COLUMNS",
    "Dataset",
    "VersionInfo",
    "VersionStore",
    "annotation_problems",
    "check_predicted_boxes",
    "diff_manifests",
    "read_predicted_boxes",
]
