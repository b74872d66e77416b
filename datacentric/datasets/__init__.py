"""Bundled demo data: real handwritten digits with seeded, documented problems.

See :func:`load_demo` (classification), :func:`load_detection_demo` (detection) and
``docs/demo-data.md``.
"""

from datacentric.datasets.demo import (
    DEMO_CLASSES,
    DEMO_INJECTIONS,
    GROUND_TRUTH_FILE,
    DemoInjections,
    dark_score,
    load_demo,
    load_ground_truth,
)
from datacentric.datasets.detection_demo import (
    BOX_PROBLEMS,
    DETECTION_DEMO_INJECTIONS,
    DETECTION_GROUND_TRUTH_FILES,
    DetectionDemoInjections,
    DetectionGroundTruth,
    load_detection_demo,
    load_detection_ground_truth,
)

__all__ = [
    "BOX_PROBLEMS",
    "DEMO_CLASSES",
    "DEMO_INJECTIONS",
    "DETECTION_DEMO_INJECTIONS",
    "DETECTION_GROUND_TRUTH_FILES",
    "GROUND_TRUTH_FILE",
    "DemoInjections",
    "DetectionDemoInjections",
    "DetectionGroundTruth",
    "dark_score",
    "load_demo",
    "load_detection_demo",
    "load_detection_ground_truth",
    "load_ground_truth",
]
