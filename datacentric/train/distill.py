"""Knowledge distillation: train a student recipe on a fitted teacher's soft predictions.

The student's loss on a training row is

    alpha * T² * KL(softmax(teacher_logits / T) || softmax(student_logits / T))
    + (1 - alpha) * cross_entropy(student_logits, label)

(Hinton et al., "Distilling the Knowledge in a Neural Network", 2015). The teacher's
probabilities are computed once on the un-augmented training images (offline distillation);
``softmax(log(p) / T)`` tempers them, which is the same as tempering the teacher's logits.
The ``T²`` factor keeps the soft term's gradients on the scale of the hard term's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from datacentric._validation import Interval, validate_call
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError

if TYPE_CHECKING:
    import torch

    from datacentric.dataset import Dataset
    from datacentric.train._torch_recipe import TorchRecipe

__all__ = ["ALPHA", "TEMPERATURE", "Objective", "SoftTargets", "distill"]

_P_FLOOR = 1e-12
#: Default softmax temperature and weight of the soft term.
TEMPERATURE, ALPHA = 4.0, 0.7


class Objective(Protocol):
    """A training loss other than cross-entropy on the labels, for the recipes' training loop.

    ``loss(logits, target, rows, x)``: the batch's logits, its labels, the batch's positions
    among the labeled training rows, and the network's (augmented, normalised) input.
    """

    def loss(
        self, logits: torch.Tensor, target: torch.Tensor, rows: np.ndarray, x: torch.Tensor
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class SoftTargets:
    """A teacher's class probabilities for the rows of a training set, and the loss they give.

    Attributes
    ----------
    probs : numpy.ndarray
        ``(n_rows, n_classes)`` teacher probabilities, rows in the training set's order.
    temperature : float
        Softmax temperature ``T`` (> 0); 1 uses the teacher's probabilities as they are.
    alpha : float
        Weight of the soft (teacher) term, in [0, 1]; 0 is plain cross-entropy.

    Examples
    --------
    >>> st = SoftTargets(np.array([[0.9, 0.1]]), temperature=2.0, alpha=0.5)
    >>> np.round(st.tempered, 3).tolist()   # 0.9**0.5 / (0.9**0.5 + 0.1**0.5)
    [[0.75, 0.25]]
    """

    probs: np.ndarray
    temperature: float = TEMPERATURE
    alpha: float = ALPHA

    @property
    def tempered(self) -> np.ndarray:
        """``softmax(log(probs) / T)`` row by row (float32)."""
        z = np.log(np.clip(np.asarray(self.probs, dtype=np.float64), _P_FLOOR, None))
        z = z / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def rows(self, probs: np.ndarray) -> SoftTargets:
        """The same settings for other rows (e.g. the labeled ones only)."""
        return replace(self, probs=probs)

    def loss(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        rows: np.ndarray,
        x: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The distillation loss of a batch: ``logits`` of the training rows ``rows``
        (``x``, the input, is not needed: the teacher's probabilities are precomputed)."""
        import torch
        from torch.nn import functional

        cached = self.__dict__.get("_tempered_t")
        if cached is None:
            cached = torch.from_numpy(self.tempered)
            object.__setattr__(self, "_tempered_t", cached)
        index = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64))
        soft = cached[index].to(logits.device)
        t = float(self.temperature)
        kd = functional.kl_div(
            functional.log_softmax(logits / t, dim=1), soft, reduction="batchmean"
        )
        ce = functional.cross_entropy(logits, target)
        return float(self.alpha) * kd * t * t + (1.0 - float(self.alpha)) * ce


@validate_call(
    {
        "temperature": [Interval(Real, 0, 100, closed="right")],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "progress": ["boolean"],
    }
)
def distill(
    student: TorchRecipe,
    teacher: TorchRecipe,
    ds: Dataset,
    *,
    temperature: float = TEMPERATURE,
    alpha: float = ALPHA,
    seed: int = 0,
    progress: bool = False,
) -> TorchRecipe:
    """Fit ``student`` on the labeled rows of ``ds`` against ``teacher``'s soft predictions.

    When the student reads images at the teacher's size and mode, it also takes the
    teacher's per-channel normalisation, so the two models have exactly the same input (a
    student is then a drop-in replacement of its teacher's exported model).

    Parameters
    ----------
    student : TorchRecipe
        An unfitted (or to be refitted) ``SmallCNNRecipe``/``ResNet18Recipe``; fitted in place.
    teacher : TorchRecipe
        A fitted torch recipe with the same classes as ``ds``.
    ds : Dataset
        The training rows (labeled rows are used, as :meth:`TorchRecipe.fit` does).
    temperature : float
        Softmax temperature ``T`` for the soft targets (0 < T <= 100).
    alpha : float
        Weight of the soft term (0: plain training on the labels; 1: teacher only).
    seed : int
        Seeds the student's initialisation, shuffling and augmentation.
    progress : bool
        Show a progress bar over epochs.

    Returns
    -------
    TorchRecipe
        ``student``, fitted.

    Raises
    ------
    InvalidParameterError
        When ``teacher`` is not fitted, or a number is out of range.
    InvalidDatasetError
        When ``ds``'s classes differ from the teacher's.

    Examples
    --------
    >>> from datacentric import Dataset
    >>> from datacentric.train import SmallCNNRecipe
    >>> rng = np.random.default_rng(0)
    >>> ds = Dataset.from_arrays(rng.integers(0, 255, (12, 8, 8), dtype=np.uint8),
    ...                          [0, 1] * 6, classes=["a", "b"])
    >>> teacher = SmallCNNRecipe(image_size=8, epochs=1, width=8).fit(ds)
    >>> student = distill(SmallCNNRecipe(image_size=8, epochs=1, width=4), teacher, ds)
    >>> student.is_fitted, bool(np.allclose(student._mean, teacher._mean))
    (True, True)
    """
    from datacentric.train._torch_recipe import TorchRecipe

    for role, value in (("student", student), ("teacher", teacher)):
        if not isinstance(value, TorchRecipe) or getattr(value, "task", None) == "detection":
            raise InvalidParameterError(
                f"distill: the {role} must be a torch classification recipe (SmallCNNRecipe, "
                f"ResNet18Recipe); received {type(value).__name__}. Pass one of those."
            )
    if not teacher.is_fitted:
        raise InvalidParameterError(
            f"distill: the teacher {type(teacher).__name__} is not fitted; received an unfitted "
            "recipe. Fit it (teacher.fit(ds)) or load it (Recipe.load(path)) first."
        )
    if list(ds.classes) != list(teacher.classes_ or []):
        raise InvalidDatasetError(
            f"distill: the dataset's classes {ds.classes!r} differ from the teacher's "
            f"{teacher.classes_!r}. Distil on data with the teacher's ordered classes."
        )
    probs = teacher.predict(ds).pred_probs
    same_input = student.image_size == teacher.image_size and student._mode == teacher._mode
    norm: Any = (teacher._mean, teacher._std) if same_input else None
    soft = SoftTargets(probs, temperature=float(temperature), alpha=float(alpha))
    return student._fit(ds, seed=seed, progress=progress, soft=soft, normalisation=norm)
