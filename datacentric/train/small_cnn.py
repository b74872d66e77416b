"""`SmallCNNRecipe`: the default model recipe, a small CNN trained from scratch on CPU.

torch and albumentations are imported inside the methods that use them, so importing this
module stays cheap.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from datacentric.exceptions import (
    InvalidDatasetError,
    InvalidParameterError,
    SchemaError,
    format_items,
)
from datacentric.train.recipe import Predictions

if TYPE_CHECKING:
    import torch

    from datacentric.dataset import Dataset

__all__ = ["SmallCNNRecipe"]

logger = logging.getLogger(__name__)

_FORMAT = "datacentric.SmallCNNRecipe"
_FORMAT_VERSION = 1
_STD_FLOOR = 1e-3
_POOLED = 4  # side of the average-pooled feature map; keeps the digit layout


class _HybridLoad:
    """``load`` callable on the class (a new recipe) or on an instance (into it)."""

    def __get__(
        self, obj: SmallCNNRecipe | None, owner: type[SmallCNNRecipe]
    ) -> Callable[[str | Path], SmallCNNRecipe]:
        def load(path: str | Path) -> SmallCNNRecipe:
            return owner._load(path, into=obj)

        load.__doc__ = SmallCNNRecipe._load.__doc__
        return load


class SmallCNNRecipe:
    """A small convolutional network, trained from scratch with AdamW and cross-entropy.

    Architecture: three blocks of ``3x3 conv → BatchNorm → ReLU`` with ``width``,
    ``2*width`` and ``4*width`` channels (the first with stride 2, max-pooling after the
    second), average pooling to a 4x4 map (global pooling would lose where the strokes
    are, which is what tells digits apart), a ``Linear → ReLU`` embedding layer of
    ``embedding_dim`` features (the :attr:`Predictions.embeddings`) and a linear
    classifier (about 90k parameters with the defaults). Images are loaded with
    ``ds.load_images(size=(image_size, image_size), mode=channels)``, scaled to [0, 1] and
    normalised per channel with the mean and standard deviation of the training images
    (stored with the model). Training uses a one-cycle learning-rate schedule and, with
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
        Side of the square input, in pixels (>= 8).
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
        Size of the embedding (penultimate) layer.
    num_threads : int
        CPU threads torch uses while training and predicting. The default, 1, is the
        robust choice for a model this small: on an idle 2-core machine 2 threads are about
        30% faster, but when other processes compete for the cores torch's OpenMP threads
        wait on each other and training can get 10-30 times slower (unless the environment
        sets ``OMP_WAIT_POLICY=PASSIVE`` before torch is imported).
    width : int
        Channels of the first convolution block (the next two have 2x and 4x).

    Examples
    --------
    >>> recipe = SmallCNNRecipe(epochs=3)
    >>> recipe
    SmallCNNRecipe(epochs=3)
    >>> recipe.clone().get_params()["epochs"], recipe.is_fitted
    (3, False)
    """

    name: str = "small_cnn"
    load = _HybridLoad()

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
    ) -> None:
        _check_int("image_size", image_size, 8)
        if channels not in ("RGB", "L"):
            raise InvalidParameterError(
                f"SmallCNNRecipe: channels must be 'RGB' or 'L', received {channels!r}."
            )
        _check_int("epochs", epochs, 1)
        _check_int("batch_size", batch_size, 1)
        _check_int("embedding_dim", embedding_dim, 1)
        _check_int("num_threads", num_threads, 1)
        _check_int("width", width, 1)
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise InvalidParameterError(
                f"SmallCNNRecipe: lr must be a positive number, received {lr!r}."
            )
        if not (
            isinstance(weight_decay, (int, float))
            and math.isfinite(weight_decay)
            and weight_decay >= 0
        ):
            raise InvalidParameterError(
                f"SmallCNNRecipe: weight_decay must be a number >= 0, received {weight_decay!r}."
            )
        self.image_size = int(image_size)
        self.channels: Literal["RGB", "L"] = channels
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.augment = bool(augment)
        self.embedding_dim = int(embedding_dim)
        self.num_threads = int(num_threads)
        self.width = int(width)
        # fitted state
        self.classes_: list[str] | None = None
        self._net: torch.nn.ModuleDict | None = None
        self._mean: np.ndarray | None = None
        self._std: np.ndarray | None = None

    # ------------------------------------------------------------------ params
    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as constructor keyword arguments."""
        return {
            "image_size": self.image_size,
            "channels": self.channels,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "augment": self.augment,
            "embedding_dim": self.embedding_dim,
            "num_threads": self.num_threads,
            "width": self.width,
        }

    def clone(self) -> SmallCNNRecipe:
        """A fresh, untrained recipe with the same hyper-parameters."""
        return type(self)(**self.get_params())

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has given this recipe weights."""
        return self._net is not None

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__).parameters
        changed = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if k not in sig or sig[k].default != v
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    # ------------------------------------------------------------------ training
    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> SmallCNNRecipe:
        """Train on every labeled row of ``ds`` (whatever its split); return ``self``.

        Parameters
        ----------
        ds : Dataset
            Training data; filter it first to choose rows, e.g. ``ds.split("train")``.
        seed : int
            Seeds weight initialisation, shuffling and augmentation.
        progress : bool
            Show a progress bar over epochs.

        Raises
        ------
        InvalidDatasetError
            When ``ds`` has no labeled row.
        """
        import torch

        labels_all = ds.label_indices()
        labeled = np.flatnonzero(labels_all >= 0)
        if labeled.size == 0:
            raise InvalidDatasetError(
                f"SmallCNNRecipe.fit: the dataset has no labeled rows (received {len(ds)} rows, "
                "all unlabeled). Label some samples, or fit on a dataset that has labels."
            )
        classes = list(ds.classes)
        y = labels_all[labeled]
        counts = np.bincount(y, minlength=len(classes))
        absent = [classes[i] for i in np.flatnonzero(counts == 0)]
        if absent:
            logger.warning(
                "SmallCNNRecipe.fit: %d class(es) have no labeled row: %s. Training goes on; "
                "the model will give them a low probability.",
                len(absent),
                format_items(absent),
            )
        ids = ds.sample_ids
        images = ds.load_images(
            [ids[i] for i in labeled], size=(self.image_size, self.image_size), mode=self.channels
        )
        scaled = images.astype(np.float32) / 255.0
        mean = scaled.mean(axis=(0, 1, 2))
        std = np.maximum(scaled.std(axis=(0, 1, 2)), _STD_FLOOR)
        del scaled

        rng = np.random.default_rng(seed)
        augment = self._augmenter(int(rng.integers(2**31 - 1))) if self.augment else None
        n = len(y)
        steps_per_epoch = math.ceil(n / self.batch_size)
        y_t = torch.from_numpy(y)
        with _torch_settings(self.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _build_net(self._in_channels, self.width, self.embedding_dim, len(classes))
            net = net.to(memory_format=torch.channels_last)
            opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=self.lr, epochs=self.epochs, steps_per_epoch=steps_per_epoch
            )
            net.train()
            with _epoch_bar(self.epochs, progress) as advance:
                for _ in range(self.epochs):
                    order = rng.permutation(n)
                    total = 0.0
                    for start in range(0, n, self.batch_size):
                        rows = order[start : start + self.batch_size]
                        batch = images[rows]
                        if augment is not None:
                            batch = np.stack([augment(image=im)["image"] for im in batch])
                        x = _to_tensor(batch, mean, std)
                        logits = net["head"](net["features"](x))
                        loss = torch.nn.functional.cross_entropy(logits, y_t[rows])
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        sched.step()
                        total += float(loss.detach()) * len(rows)
                    advance(total / n)
            net.eval()
        self._net = net
        self._mean = mean.astype(np.float32)
        self._std = std.astype(np.float32)
        self.classes_ = classes
        return self

    @property
    def _in_channels(self) -> int:
        return 3 if self.channels == "RGB" else 1

    @staticmethod
    def _augmenter(seed: int) -> Callable[..., dict[str, Any]]:
        os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
        import albumentations as album
        import cv2

        return album.Compose(
            [
                album.Affine(
                    translate_percent=(-0.08, 0.08),
                    rotate=(-10, 10),
                    scale=(0.9, 1.1),
                    border_mode=cv2.BORDER_REPLICATE,
                    p=0.8,
                ),
                album.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            ],
            seed=seed,
        )

    # ------------------------------------------------------------------ inference
    def predict(self, ds: Dataset, *, batch_size: int = 256) -> Predictions:
        """Class probabilities and embeddings for every row of ``ds``, in manifest order.

        Raises
        ------
        InvalidParameterError
            When the recipe is not fitted yet, or ``batch_size`` < 1.
        InvalidDatasetError
            When ``ds.classes`` differ from the classes the model was trained on.
        """
        import torch

        _check_int("batch_size", batch_size, 1)
        if self._net is None or self._mean is None or self._std is None:
            raise InvalidParameterError(
                "SmallCNNRecipe.predict: this recipe is not fitted yet. Call "
                "recipe.fit(dataset) first, or load trained weights with "
                "SmallCNNRecipe.load(path)."
            )
        classes = self.classes_ or []
        if list(ds.classes) != classes:
            raise InvalidDatasetError(
                f"SmallCNNRecipe.predict: the dataset's classes {ds.classes!r} differ from the "
                f"classes the model was trained on {classes!r}. Predict on a dataset with the "
                "same ordered classes, or retrain."
            )
        net = self._net
        probs: list[np.ndarray] = []
        embs: list[np.ndarray] = []
        size = (self.image_size, self.image_size)
        with _torch_settings(self.num_threads), torch.inference_mode():
            net.eval()
            for _, batch in ds.iter_images(batch_size, size=size, mode=self.channels):
                x = _to_tensor(batch, self._mean, self._std)
                emb = net["features"](x)
                logits = net["head"](emb)
                probs.append(torch.softmax(logits.double(), dim=1).numpy())
                embs.append(emb.numpy().astype(np.float32))
        k = len(classes)
        pred_probs = np.concatenate(probs) if probs else np.zeros((0, k))
        embeddings = np.concatenate(embs) if embs else np.zeros((0, self.embedding_dim))
        pred_probs /= pred_probs.sum(axis=1, keepdims=True)
        return Predictions(ds.sample_ids, pred_probs, embeddings, classes=classes)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write hyper-parameters, classes, normalisation and weights with ``torch.save``.

        Raises
        ------
        InvalidParameterError
            When the recipe is not fitted yet.
        """
        import torch

        if self._net is None or self._mean is None or self._std is None:
            raise InvalidParameterError(
                "SmallCNNRecipe.save: this recipe is not fitted yet; call fit() first."
            )
        state = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "params": self.get_params(),
            "classes": list(self.classes_ or []),
            "mean": torch.from_numpy(self._mean.copy()),
            "std": torch.from_numpy(self._std.copy()),
            "state_dict": self._net.state_dict(),
        }
        torch.save(state, Path(path))

    @classmethod
    def _load(cls, path: str | Path, into: SmallCNNRecipe | None = None) -> SmallCNNRecipe:
        """Read a recipe written by :meth:`save` (``torch.load(..., weights_only=True)``).

        Called on the class, returns a new fitted recipe with the saved hyper-parameters;
        called on an instance, replaces its hyper-parameters and weights and returns it.

        Raises
        ------
        SchemaError
            When the file is not a saved ``SmallCNNRecipe``.
        """
        import torch

        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise SchemaError(
                f"SmallCNNRecipe.load: {str(path)!r} is not a saved SmallCNNRecipe (expected a "
                f"file written by SmallCNNRecipe.save, format {_FORMAT!r}). Check the path."
            )
        if state.get("format_version") != _FORMAT_VERSION:
            raise SchemaError(
                f"SmallCNNRecipe.load: {str(path)!r} has format version "
                f"{state.get('format_version')!r}; this datacentric reads version "
                f"{_FORMAT_VERSION}. Retrain and save it again."
            )
        fresh = cls(**state["params"])
        recipe = into if into is not None else fresh
        recipe.__dict__.update(fresh.get_params())
        classes = [str(c) for c in state["classes"]]
        net = _build_net(recipe._in_channels, recipe.width, recipe.embedding_dim, len(classes))
        net.load_state_dict(state["state_dict"])
        net = net.to(memory_format=torch.channels_last)
        net.eval()
        recipe._net = net
        recipe._mean = state["mean"].numpy().astype(np.float32)
        recipe._std = state["std"].numpy().astype(np.float32)
        recipe.classes_ = classes
        return recipe


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidParameterError(
            f"SmallCNNRecipe: {name} must be an integer >= {minimum}, received {value!r}."
        )


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


def _to_tensor(batch: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) → normalised float32 (N, C, H, W) in channels-last memory."""
    import torch

    x = (batch.astype(np.float32) / 255.0 - mean) / std
    # (N, H, W, C) memory viewed as (N, C, H, W) is exactly the channels-last layout
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2)


@contextmanager
def _torch_settings(num_threads: int) -> Iterator[None]:
    """Deterministic algorithms and a fixed thread count, restored on exit."""
    import torch

    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


@contextmanager
def _epoch_bar(epochs: int, show: bool) -> Iterator[Callable[[float], None]]:
    """Yield ``advance(loss)``; a rich progress bar over epochs when ``show``."""
    if not show:
        yield lambda loss: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]training[/] {task.fields[loss]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("train", total=epochs, loss="")

        def advance(loss: float) -> None:
            bar.update(task, advance=1, loss=f"loss {loss:.3f}")

        yield advance
