"""Issue finders, the registry, and ``scan``.

Importing this package registers the built-in finders, one module each.
"""

from datacentric.issues import (  # noqa: F401  (imported to register the finders)
    annotator_disagreement,
    badly_located_box,
    box_geometry,
    duplicate_box,
    exact_duplicate,
    image_quality,
    imbalance,
    integrity,
    label,
    label_inconsistency,
    leakage,
    near_duplicate,
    outlier,
    overlooked_box,
    swapped_box,
)
from datacentric.issues.annotator_disagreement import AnnotatorDisagreementFinder
from datacentric.issues.badly_located_box import BadlyLocatedBoxFinder
from datacentric.issues.base import ISSUE_SCHEMA, IssueFinder, issue_table
from datacentric.issues.box_geometry import BoxGeometryFinder
from datacentric.issues.boxes import box_iou
from datacentric.issues.context import ScanContext
from datacentric.issues.duplicate_box import DuplicateBoxFinder
from datacentric.issues.exact_duplicate import ExactDuplicateFinder
from datacentric.issues.image_quality import ImageQualityFinder
from datacentric.issues.imbalance import ImbalanceFinder
from datacentric.issues.integrity import IntegrityFinder
from datacentric.issues.label import LabelFinder
from datacentric.issues.label_inconsistency import LabelInconsistencyFinder
from datacentric.issues.leakage import LeakageFinder
from datacentric.issues.near_duplicate import NearDuplicateFinder
from datacentric.issues.outlier import OutlierFinder
from datacentric.issues.overlooked_box import OverlookedBoxFinder
from datacentric.issues.registry import REGISTRY, FinderRegistry, register_finder
from datacentric.issues.result import ScanResult
from datacentric.issues.scan import scan
from datacentric.issues.swapped_box import SwappedBoxFinder

__all__ = [
    "ISSUE_SCHEMA",
    "REGISTRY",
    "AnnotatorDisagreementFinder",
    "BadlyLocatedBoxFinder",
    "BoxGeometryFinder",
    "DuplicateBoxFinder",
    "ExactDuplicateFinder",
    "FinderRegistry",
    "ImageQualityFinder",
    "ImbalanceFinder",
    "IntegrityFinder",
    "IssueFinder",
    "LabelFinder",
    "LabelInconsistencyFinder",
    "LeakageFinder",
    "NearDuplicateFinder",
    "OutlierFinder",
    "OverlookedBoxFinder",
    "ScanContext",
    "ScanResult",
    "SwappedBoxFinder",
    "box_iou",
    "issue_table",
    "register_finder",
    "scan",
]
