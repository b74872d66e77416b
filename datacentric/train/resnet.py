"""`ResNet18Recipe`: torchvision's ResNet-18, from random init or from a local weights file.

Nothing is ever downloaded: the network is built with ``resnet18(weights=None)`` and
pretrained weights, when wanted, are read from a file the user already has. torch,
torchvision and albumentations are imported inside the methods that use them, so importing
this module stays cheap. The training loop, determinism, normalisation, augmentation and
persistence are :class:`~datacentric.train._torch_recipe.TorchRecipe`'s, shared with
:class:`~datacentric.train.SmallCNNRecipe`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from numbers import Integral
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from datacentric._validation import Interval, invalid_parameter
from datacentric.train._recipe_file import check_state_dict, read_torch_file
from datacentric.train._torch_recipe import MAX_IMAGE_SIZE, TorchRecipe

if TYPE_CHECKING:
    import torch

__all__ = ["ResNet18Recipe"]

logger = logging.getLogger(__name__)

_EMBEDDING_DIM = 512  # ResNet-18's globally pooled penultimate features
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class ResNet18Recipe(TorchRecipe):
    """torchvision's ResNet-18 image classifier, fine-tuned with AdamW and cross-entropy.

    The network is ``torchvision.models.resnet18(weights=None)``: **no download ever
    happens**. With ``weights=None`` it starts from a seeded random initialisation; with
    ``weights`` the path of a local ``state_dict`` file (for instance ImageNet weights saved
    with ``torch.save(resnet18(weights="DEFAULT").state_dict(), path)`` on a machine with
    network access), the backbone is loaded from it with ``torch.load(path,
    weights_only=True)`` and must match ResNet-18 exactly; the file's ``fc`` layer, if any,
    is ignored and replaced by a new linear classifier for ``ds.classes``. The embeddings
    (:attr:`Predictions.embeddings`) are the 512 globally average-pooled features that feed
    that classifier.

    Images are decoded batch by batch (never the whole set at once) as
    ``ds.iter_batches(size=(image_size, image_size), mode="RGB")`` does, scaled to [0, 1]
    and normalised per channel: with the ImageNet mean and standard deviation when
    ``weights`` are given (what pretrained weights expect), otherwise with the exact
    statistics of the training images (stored with the model). Training uses a
    one-cycle learning-rate schedule and, with ``augment``, the light augmentation of
    :class:`~datacentric.train.SmallCNNRecipe` (small shifts, rotations, scaling,
    brightness/contrast; no flips).

    Training is seeded and deterministic on CPU: the same data, parameters, weights file and
    ``seed`` give identical predictions (``torch.use_deterministic_algorithms`` and the
    thread count are set for the duration of :meth:`fit` and :meth:`predict`, then
    restored); ``seed`` initialises the classifier, and the backbone without ``weights``.
    A class without labeled rows is logged as a warning. :meth:`save` writes every weight,
    so :meth:`load` does not need the original ``weights`` file any more (:meth:`clone` of
    the loaded recipe does).

    Parameters
    ----------
    image_size : int
        Side of the square input, in pixels (16 to 512). ResNet-18 downsamples 32 times, so
        the last feature map is 2x2 at the default 64.
    epochs : int
        Passes over the training rows.
    batch_size : int
        Training mini-batch size.
    lr : float
        Peak learning rate of the one-cycle schedule.
    weight_decay : float
        AdamW (decoupled) weight decay.
    augment : bool
        Apply random augmentation to training batches.
    weights : str or Path, optional
        Path of a local ResNet-18 ``state_dict`` file to start from; ``None`` (default) for
        random initialisation. Never a torchvision weights name: nothing is downloaded.
    freeze_backbone : bool
        Train only the final classifier: the backbone's parameters and BatchNorm
        statistics stay as initialised (a linear probe; useful with ``weights``).
    num_threads : int
        CPU threads torch uses while training and predicting (see
        :class:`~datacentric.train.SmallCNNRecipe` for why 1 is the robust default).
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where to train and predict (see :class:`~datacentric.train.SmallCNNRecipe`).

    Raises
    ------
    InvalidParameterError
        When a hyper-parameter is invalid, or ``weights`` names a file that does not exist
        (in :meth:`fit` too, when the file has disappeared since the recipe was made).
    SchemaError
        In :meth:`fit`, when the ``weights`` file is not a ResNet-18 ``state_dict``.

    Examples
    --------
    >>> recipe = ResNet18Recipe(epochs=3)
    >>> recipe
    ResNet18Recipe(epochs=3)
    >>> recipe.name, recipe.clone().get_params()["weights"], recipe.is_fitted
    ('resnet18', None, False)
    """

    name: str = "resnet18"
    _title = "ResNet18Recipe"
    _logger = logger
    _repeat_single_row = True  # BatchNorm needs two values per channel on the 1x1 final map
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **TorchRecipe._parameter_constraints,
        "image_size": [Interval(Integral, 16, MAX_IMAGE_SIZE)],
        "weights": [str, PurePath, None],
        "freeze_backbone": ["boolean"],
    }
    weights: str | None
    freeze_backbone: bool

    def __init__(
        self,
        image_size: int = 64,
        epochs: int = 8,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        augment: bool = True,
        weights: str | Path | None = None,
        freeze_backbone: bool = False,
        num_threads: int = 1,
        device: str = "auto",
    ) -> None:
        super().__init__(
            image_size=image_size,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            augment=augment,
            weights=weights,
            freeze_backbone=freeze_backbone,
            num_threads=num_threads,
            device=device,
        )
        if self.weights is not None:
            _check_weights_path(self.weights)

    @property
    def _embedding_size(self) -> int:
        return _EMBEDDING_DIM

    @property
    def _frozen_backbone(self) -> bool:
        return self.freeze_backbone

    def _init_state(self) -> dict[str, torch.Tensor] | None:
        return None if self.weights is None else _read_weights(self.weights)

    def _fixed_normalisation(self, init: Any) -> tuple[np.ndarray, np.ndarray] | None:
        # pretrained weights expect ImageNet statistics
        return None if init is None else (_IMAGENET_MEAN, _IMAGENET_STD)

    def _make_net(
        self, n_classes: int, init: Mapping[str, torch.Tensor] | None = None
    ) -> torch.nn.ModuleDict:
        return _build_net(n_classes, init)

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> ResNet18Recipe:
        # validate without the weights file, which may be gone: the saved file holds all
        # weights (clone() of the loaded recipe does need it)
        fresh = cls(**{**params, "weights": None})
        fresh.weights = params["weights"]
        return fresh


def _check_weights_path(weights: str) -> None:
    """The weights file must exist (checked when the recipe is made and again in ``fit``)."""
    if not Path(weights).is_file():
        raise invalid_parameter(
            "ResNet18Recipe",
            "weights",
            weights,
            "the path of an existing local ResNet-18 state_dict file, or None",
            fix="Nothing is downloaded: save the weights with torch.save(model.state_dict(), "
            "path) where they are available and pass that path, or use weights=None for "
            "random init.",
        )


def _read_weights(weights: str) -> dict[str, torch.Tensor]:
    """The backbone tensors of a ResNet-18 ``state_dict`` file (its ``fc.*`` dropped).

    The file is checked (see :mod:`datacentric.train._recipe_file`) against the backbone
    built on the ``meta`` device: names, shapes, dtypes, finite values.
    """
    import torch

    _check_weights_path(weights)
    who = "ResNet18Recipe"
    fix = (
        "Pass the state_dict of a torchvision resnet18 (its fc layer may have any number of "
        "classes; it is replaced), saved with torch.save(model.state_dict(), path)."
    )
    state = read_torch_file(weights, who, "a weights file", fix)
    if isinstance(state, Mapping):
        state = {k: v for k, v in state.items() if not (isinstance(k, str) and k.startswith("fc."))}
    with torch.device("meta"):
        expected = _backbone().state_dict()
    return check_state_dict(
        who, weights, state, expected, fix, network="torchvision's resnet18 backbone"
    )


def _backbone() -> torch.nn.Module:
    """torchvision's ResNet-18 without its classifier (``fc`` is the identity)."""
    from torch import nn
    from torchvision.models import resnet18

    backbone = resnet18(weights=None)
    backbone.fc = nn.Identity()
    return backbone


def _build_net(
    n_classes: int, backbone_state: Mapping[str, torch.Tensor] | None = None
) -> torch.nn.ModuleDict:
    """``ModuleDict(features=ResNet-18 up to global pooling, head=linear classifier)``.

    ``backbone_state`` (checked by :func:`_read_weights`) is loaded strictly into the backbone.
    """
    from torch import nn

    backbone = _backbone()
    if backbone_state is not None:
        backbone.load_state_dict(backbone_state, strict=True)
    return nn.ModuleDict({"features": backbone, "head": nn.Linear(_EMBEDDING_DIM, n_classes)})
