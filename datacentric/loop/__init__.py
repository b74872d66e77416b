"""The data loop with the model fixed: scan → fix → retrain → evaluate by slice → compare."""

from datacentric.loop.box_policy import BoxFixPolicy, fix_boxes
from datacentric.loop.iteration import IterationResult, run_iteration, run_loop
from datacentric.loop.log import ExperimentLog, LoopReview
from datacentric.loop.policy import FixPolicy, FixResult, fix
from datacentric.loop.review_queue import queue_summary, rank_review_queue

__all__ = [
    "BoxFixPolicy",
    "ExperimentLog",
    "FixPolicy",
    "FixResult",
    "IterationResult",
    "LoopReview",
    "fix",
    "fix_boxes",
    "queue_summary",
    "rank_review_queue",
    "run_iteration",
    "run_loop",
]
