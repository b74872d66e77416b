"""Bundled demo data: real handwritten digits with seeded, documented problems.

See :func:`load_demo` and ``docs/demo-data.md``.
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

__all__ = [
    "DEMO_CLASSES",
    "DEMO_INJECTIONS",
    "GROUND_TRUTH_FILE",
    "DemoInjections",
    "dark_score",
    "load_demo",
    "load_ground_truth",
]
