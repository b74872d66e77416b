"""The data loop with the model fixed: scan → fix → retrain → evaluate by slice → compare;
and what to label next (:func:`select_unlabeled`, measured by
:func:`simulate_active_learning`)."""

from datacentric.loop.active_curve import ActiveLearningCurves, simulate_active_learning
from datacentric.loop.box_policy import BoxFixPolicy, fix_boxes
from datacentric.loop.iteration import IterationResult, run_iteration, run_loop
from datacentric.loop.log import ExperimentLog, LoopReview
from datacentric.loop.policy import FixPolicy, FixResult, fix
from datacentric.loop.review_queue import queue_summary, rank_review_queue
from datacentric.loop.select import select_unlabeled

__all__ = [
    "ActiveLearningCurves",
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
    "select_unlabeled",
    "simulate_active_learning",
]
