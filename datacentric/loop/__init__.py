"""The data loop with the model fixed: scan → fix → retrain → evaluate by slice → compare."""

from datacentric.loop.iteration import IterationResult, run_iteration, run_loop
from datacentric.loop.log import ExperimentLog
from datacentric.loop.policy import FixPolicy, FixResult, fix

__all__ = [
    "ExperimentLog",
    "FixPolicy",
    "FixResult",
    "IterationResult",
    "fix",
    "run_iteration",
    "run_loop",
]
