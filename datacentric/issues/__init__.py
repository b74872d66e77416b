"""Issue finders, the registry, and ``scan``.

Importing this package registers the built-in finders, one module each.
"""

from datacentric.issues import (  # noqa: F401  (imported to register the finders)
    annotator_disagreement,
    exact_duplicate,
    image_quality,
    imbalance,
    integrity,
    label,
    label_inconsistency,
    leakage,
    near_duplicate,
    outlier,
)
from datacentric.issues.annotator_disagreement import AnnotatorDisagreementFinder
from datacentric.issues.base import ISSUE_SCHEMA, IssueFinder, issue_table
from datacentric.issues.context import ScanContext
from datacentric.issues.exact_duplicate import ExactDuplicateFinder
from datacentric.issues.image_quality import ImageQualityFinder
from datacentric.issues.imbalance import ImbalanceFinder
from datacentric.issues.integrity import IntegrityFinder
from datacentric.issues.label import LabelFinder
from datacentric.issues.label_inconsistency import LabelInconsistencyFinder
from datacentric.issues.leakage import LeakageFinder
from datacentric.issues.near_duplicate import NearDuplicateFinder
from datacentric.issues.outlier import OutlierFinder
from datacentric.issues.registry import REGISTRY, FinderRegistry, register_finder
from datacentric.issues.result import ScanResult
from datacentric.issues.scan import scan

__all__ = [
    "ISSUE_SCHEMA",
    "REGISTRY",
    "AnnotatorDisagreementFinder",
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
    "ScanContext",
    "ScanResult",
    "issue_table",
    "register_finder",
    "scan",
]
