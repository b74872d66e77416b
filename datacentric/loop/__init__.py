"""The data loop with the model fixed: scan → fix → retrain → evaluate by slice → compare."""

from datacentric.loop.iteration import IterationResult, run_iteration, run_loop
from datacentric.loop.log import ExperimentLog
from datacentric.loop.policy import FixPolicy, FixResult, fix
from datacentric.loop.review_queue import queue_summary, rank_review_queue

__all__ = [
    "ExperimentLog",
    "FixPolicy",
    "FixResult",
    "IterationResult",
    "fix",
    "queue_summary",
    "rank_review_queue",
    "run_iteration",
    "run_loop",
]
