"""`SmallCNNRecipe`: the default model recipe, a small CNN trained from scratch on CPU.

The network and hyper-parameters are defined here; training, prediction and persistence come
from :class:`~datacentric.train._torch_recipe.TorchRecipe`. torch and albumentations are
imported inside the methods that use them, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
from numbers import Integral
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from datacentric._validation import Interval, Options
from datacentric.train._torch_recipe import MAX_IMAGE_SIZE, SettingLimit, TorchRecipe

if TYPE_CHECKING:
    import torch

__all__ = ["SmallCNNRecipe"]

logger = logging.getLogger(__name__)

_POOLED = 4  # side of the average-pooled feature map; keeps the digit layout


class SmallCNNRecipe(TorchRecipe):
    """A small convolutional network, trained from scratch with AdamW and cross-entropy.

    Architecture: three blocks of ``3x3 conv → BatchNorm → ReLU`` with ``width``,
    ``2*width`` and ``4*width`` channels (the first with stride 2, max-pooling after the
    second), average pooling to a 4x4 map (global pooling would lose where the strokes
    are, which is what tells digits apart), a ``Linear → ReLU`` embedding layer of
    ``embedding_dim`` features (the :attr:`Predictions.embeddings`) and a linear
    classifier (about 90k parameters with the defaults). Images are decoded batch by
    batch as ``ds.iter_batches(size=(image_size, image_size), mode=channels)`` does (never
    the whole set at once: memory is bounded by the batch size), scaled to [0, 1] and
    normalised per channel with the exact mean and standard deviation of the training
    images (stored with the model). Training uses a one-cycle learning-rate schedule and, with
    ``augment``, light albumentations augmentation (shifts of a few pixels, small
    rotations and scaling, brightness/contrast; no flips, which would change digits).

    Training is seeded and deterministic on CPU: the same data, parameters and ``seed``
    give identical predictions (``torch.use_deterministic_algorithms`` and the thread
    count are set for the duration of :meth:`fit` and :meth:`predict`, then restored).

    A class of ``ds.classes`` without any labeled row is allowed: it is logged as a
    warning and the model simply learns to give it a low probability.

    Parameters
    ----------
    image_size : int
        Side of the square input, in pixels (8 to 512).
    channels : {"RGB", "L"}
        Colour or grayscale input.
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
    embedding_dim : int
        Size of the embedding (penultimate) layer (at most the ``max_recipe_width``
        setting, 1024 by default).
    num_threads : int
        CPU threads torch uses while training and predicting (at most 256). The default,
        1, is the robust choice for a model this small: on an idle 2-core machine 2
        threads are about 30% faster, but when other processes compete for the cores
        torch's OpenMP threads wait on each other and training can get 10-30 times
        slower (unless the environment sets ``OMP_WAIT_POLICY=PASSIVE`` before torch is
        imported).
    width : int
        Channels of the first convolution block (the next two have 2x and 4x); at most
        the ``max_recipe_width`` setting (1024 by default, see :mod:`datacentric.config`),
        so that a recipe file cannot ask for gigabytes of weights.
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where to train and predict: ``"auto"`` (default) is CUDA when
        ``torch.cuda.is_available()``, else the CPU, resolved each time the recipe runs (a
        recipe saved on a GPU machine loads and runs on one without). Predictions always
        come back as float64 numpy arrays. On the CPU results are bit-for-bit
        reproducible; on CUDA they match the CPU's within a tolerance (some CUDA kernels
        are not deterministic).

    Examples
    --------
    >>> recipe = SmallCNNRecipe(epochs=3)
    >>> recipe
    SmallCNNRecipe(epochs=3)
    >>> recipe.clone().get_params()["epochs"], recipe.is_fitted
    (3, False)
    """

    name: str = "small_cnn"
    _title = "SmallCNNRecipe"
    _logger = logger
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **TorchRecipe._parameter_constraints,
        "image_size": [Interval(Integral, 8, MAX_IMAGE_SIZE)],
        "channels": [Options(str, ("RGB", "L"))],
        "embedding_dim": [SettingLimit(1, "max_recipe_width")],
        "width": [SettingLimit(1, "max_recipe_width")],
    }
    channels: Literal["RGB", "L"]
    embedding_dim: int
    width: int

    def __init__(
        self,
        image_size: int = 32,
        channels: Literal["RGB", "L"] = "RGB",
        epochs: int = 12,
        batch_size: int = 64,
        lr: float = 5e-3,
        weight_decay: float = 5e-4,
        augment: bool = True,
        embedding_dim: int = 64,
        num_threads: int = 1,
        width: int = 16,
        device: str = "auto",
    ) -> None:
        super().__init__(
            image_size=image_size,
            channels=channels,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            augment=augment,
            embedding_dim=embedding_dim,
            num_threads=num_threads,
            device=device,
            width=width,
        )

    @property
    def _in_channels(self) -> int:
        return 3 if self.channels == "RGB" else 1

    @property
    def _mode(self) -> str:
        return self.channels

    @property
    def _embedding_size(self) -> int:
        return self.embedding_dim

    def _make_net(self, n_classes: int, init: Any = None) -> torch.nn.ModuleDict:
        return _build_net(self._in_channels, self.width, self.embedding_dim, n_classes)


def _build_net(
    in_channels: int, width: int, embedding_dim: int, n_classes: int
) -> torch.nn.ModuleDict:
    """``ModuleDict(features=conv blocks → pooled embedding, head=linear classifier)``."""
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
        conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        return [conv, nn.BatchNorm2d(cout), nn.ReLU()]

    w1, w2, w3 = width, 2 * width, 4 * width
    features = nn.Sequential(
        *block(in_channels, w1, stride=2),
        *block(w1, w2),
        nn.MaxPool2d(2),
        *block(w2, w3),
        nn.AdaptiveAvgPool2d(_POOLED),
        nn.Flatten(),
        nn.Linear(w3 * _POOLED * _POOLED, embedding_dim),
        nn.ReLU(),
    )
    return nn.ModuleDict({"features": features, "head": nn.Linear(embedding_dim, n_classes)})
