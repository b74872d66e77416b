"""`ResNet18Recipe`: torchvision's ResNet-18, from random init or from a local weights file.

Nothing is ever downloaded: the network is built with ``resnet18(weights=None)`` and
pretrained weights, when wanted, are read from a file the user already has. torch,
torchvision and albumentations are imported inside the methods that use them, so importing
this module stays cheap. The training loop, determinism, normalisation, augmentation and
persistence follow :class:`~datacentric.train.SmallCNNRecipe` and share its helpers.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datacentric.exceptions import (
    InvalidDatasetError,
    InvalidParameterError,
    SchemaError,
    format_items,
)
from datacentric.train.recipe import Predictions
from datacentric.train.small_cnn import (
    SmallCNNRecipe,
    _check_int,
    _epoch_bar,
    _to_tensor,
    _torch_settings,
)

if TYPE_CHECKING:
    import torch

    from datacentric.dataset import Dataset

__all__ = ["ResNet18Recipe"]

logger = logging.getLogger(__name__)

_FORMAT = "datacentric.ResNet18Recipe"
_FORMAT_VERSION = 1
_STD_FLOOR = 1e-3
_EMBEDDING_DIM = 512  # ResNet-18's globally pooled penultimate features
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class _HybridLoad:
    """``load`` callable on the class (a new recipe) or on an instance (into it)."""

    def __get__(
        self, obj: ResNet18Recipe | None, owner: type[ResNet18Recipe]
    ) -> Callable[[str | Path], ResNet18Recipe]:
        def load(path: str | Path) -> ResNet18Recipe:
            return owner._load(path, into=obj)

        load.__doc__ = ResNet18Recipe._load.__doc__
        return load


class ResNet18Recipe:
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

    Images are loaded with ``ds.load_images(size=(image_size, image_size), mode="RGB")``,
    scaled to [0, 1] and normalised per channel: with the ImageNet mean and standard
    deviation when ``weights`` are given (what pretrained weights expect), otherwise with
    the statistics of the training images (stored with the model). Training uses a
    one-cycle learning-rate schedule and, with ``augment``, the light augmentation of
    :class:`~datacentric.train.SmallCNNRecipe` (small shifts, rotations, scaling,
    brightness/contrast; no flips).

    Training is seeded and deterministic on CPU: the same data, parameters, weights file and
    ``seed`` give identical predictions (``torch.use_deterministic_algorithms`` and the
    thread count are set for the duration of :meth:`fit` and :meth:`predict`, then
    restored). A class without labeled rows is logged as a warning.

    Parameters
    ----------
    image_size : int
        Side of the square input, in pixels (>= 16). ResNet-18 downsamples 32 times, so
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

    Raises
    ------
    InvalidParameterError
        When a hyper-parameter is invalid, or ``weights`` names a file that does not exist.

    Examples
    --------
    >>> recipe = ResNet18Recipe(epochs=3)
    >>> recipe
    ResNet18Recipe(epochs=3)
    >>> recipe.name, recipe.clone().get_params()["weights"], recipe.is_fitted
    ('resnet18', None, False)
    """

    name: str = "resnet18"
    load = _HybridLoad()

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
    ) -> None:
        with _as_resnet_error():
            _check_int("image_size", image_size, 16)
            _check_int("epochs", epochs, 1)
            _check_int("batch_size", batch_size, 1)
            _check_int("num_threads", num_threads, 1)
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise InvalidParameterError(
                f"ResNet18Recipe: lr must be a positive number, received {lr!r}."
            )
        if not (
            isinstance(weight_decay, (int, float))
            and math.isfinite(weight_decay)
            and weight_decay >= 0
        ):
            raise InvalidParameterError(
                f"ResNet18Recipe: weight_decay must be a number >= 0, received {weight_decay!r}."
            )
        if weights is not None:
            _check_weights_path(weights)
        self.image_size = int(image_size)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.augment = bool(augment)
        self.weights: str | None = None if weights is None else str(weights)
        self.freeze_backbone = bool(freeze_backbone)
        self.num_threads = int(num_threads)
        # fitted state
        self.classes_: list[str] | None = None
        self._net: torch.nn.ModuleDict | None = None
        self._mean: np.ndarray | None = None
        self._std: np.ndarray | None = None

    # ------------------------------------------------------------------ params
    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as constructor keyword arguments (``weights`` as a str)."""
        return {
            "image_size": self.image_size,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "augment": self.augment,
            "weights": self.weights,
            "freeze_backbone": self.freeze_backbone,
            "num_threads": self.num_threads,
        }

    def clone(self) -> ResNet18Recipe:
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
    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> ResNet18Recipe:
        """Train on every labeled row of ``ds`` (whatever its split); return ``self``.

        Parameters
        ----------
        ds : Dataset
            Training data; filter it first to choose rows, e.g. ``ds.split("train")``.
        seed : int
            Seeds weight initialisation (the classifier, and the backbone without
            ``weights``), shuffling and augmentation.
        progress : bool
            Show a progress bar over epochs.

        Raises
        ------
        InvalidDatasetError
            When ``ds`` has no labeled row.
        InvalidParameterError
            When the ``weights`` file has disappeared since the recipe was made.
        SchemaError
            When the ``weights`` file is not a ResNet-18 ``state_dict``.
        """
        import torch

        labels_all = ds.label_indices()
        labeled = np.flatnonzero(labels_all >= 0)
        if labeled.size == 0:
            raise InvalidDatasetError(
                f"ResNet18Recipe.fit: the dataset has no labeled rows (received {len(ds)} rows, "
                "all unlabeled). Label some samples, or fit on a dataset that has labels."
            )
        classes = list(ds.classes)
        y = labels_all[labeled]
        counts = np.bincount(y, minlength=len(classes))
        absent = [classes[i] for i in np.flatnonzero(counts == 0)]
        if absent:
            logger.warning(
                "ResNet18Recipe.fit: %d class(es) have no labeled row: %s. Training goes on; "
                "the model will give them a low probability.",
                len(absent),
                format_items(absent),
            )
        backbone_state = None if self.weights is None else _read_weights(self.weights)
        ids = ds.sample_ids
        size = (self.image_size, self.image_size)
        images = ds.load_images([ids[i] for i in labeled], size=size, mode="RGB")
        if backbone_state is not None:
            mean, std = _IMAGENET_MEAN, _IMAGENET_STD
        else:
            scaled = images.astype(np.float32) / 255.0
            mean = scaled.mean(axis=(0, 1, 2))
            std = np.maximum(scaled.std(axis=(0, 1, 2)), _STD_FLOOR)
            del scaled

        rng = np.random.default_rng(seed)
        augment = SmallCNNRecipe._augmenter(int(rng.integers(2**31 - 1))) if self.augment else None
        n = len(y)
        steps_per_epoch = math.ceil(n / self.batch_size)
        y_t = torch.from_numpy(y)
        with _torch_settings(self.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _build_net(len(classes), backbone_state, self.weights)
            net = net.to(memory_format=torch.channels_last)
            if self.freeze_backbone:
                net["features"].requires_grad_(False)
            trainable = [p for p in net.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(trainable, lr=self.lr, weight_decay=self.weight_decay)
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=self.lr, epochs=self.epochs, steps_per_epoch=steps_per_epoch
            )
            net.train()
            if self.freeze_backbone:
                net["features"].eval()  # keep the BatchNorm statistics too
            with _epoch_bar(self.epochs, progress) as advance:
                for _ in range(self.epochs):
                    order = rng.permutation(n)
                    total = 0.0
                    for start in range(0, n, self.batch_size):
                        rows = order[start : start + self.batch_size]
                        if len(rows) == 1:
                            # BatchNorm needs two values per channel on the 1x1 final map
                            rows = np.repeat(rows, 2)
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
            net.requires_grad_(True)
        self._net = net
        self._mean = np.asarray(mean, dtype=np.float32)
        self._std = np.asarray(std, dtype=np.float32)
        self.classes_ = classes
        return self

    # ------------------------------------------------------------------ inference
    def predict(self, ds: Dataset, *, batch_size: int = 256) -> Predictions:
        """Class probabilities and 512-d embeddings for every row of ``ds``, in manifest order.

        Raises
        ------
        InvalidParameterError
            When the recipe is not fitted yet, or ``batch_size`` < 1.
        InvalidDatasetError
            When ``ds.classes`` differ from the classes the model was trained on.
        """
        import torch

        with _as_resnet_error():
            _check_int("batch_size", batch_size, 1)
        if self._net is None or self._mean is None or self._std is None:
            raise InvalidParameterError(
                "ResNet18Recipe.predict: this recipe is not fitted yet. Call "
                "recipe.fit(dataset) first, or load trained weights with "
                "ResNet18Recipe.load(path)."
            )
        classes = self.classes_ or []
        if list(ds.classes) != classes:
            raise InvalidDatasetError(
                f"ResNet18Recipe.predict: the dataset's classes {ds.classes!r} differ from the "
                f"classes the model was trained on {classes!r}. Predict on a dataset with the "
                "same ordered classes, or retrain."
            )
        net = self._net
        probs: list[np.ndarray] = []
        embs: list[np.ndarray] = []
        size = (self.image_size, self.image_size)
        with _torch_settings(self.num_threads), torch.inference_mode():
            net.eval()
            for _, batch in ds.iter_images(batch_size, size=size, mode="RGB"):
                x = _to_tensor(batch, self._mean, self._std)
                emb = net["features"](x)
                logits = net["head"](emb)
                probs.append(torch.softmax(logits.double(), dim=1).numpy())
                embs.append(emb.numpy().astype(np.float32))
        k = len(classes)
        pred_probs = np.concatenate(probs) if probs else np.zeros((0, k))
        embeddings = np.concatenate(embs) if embs else np.zeros((0, _EMBEDDING_DIM))
        pred_probs /= pred_probs.sum(axis=1, keepdims=True)
        return Predictions(ds.sample_ids, pred_probs, embeddings, classes=classes)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write hyper-parameters, classes, normalisation and all weights with ``torch.save``.

        The file holds the trained backbone too, so :meth:`load` does not need the original
        ``weights`` file.

        Raises
        ------
        InvalidParameterError
            When the recipe is not fitted yet.
        """
        import torch

        if self._net is None or self._mean is None or self._std is None:
            raise InvalidParameterError(
                "ResNet18Recipe.save: this recipe is not fitted yet; call fit() first."
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
    def _load(cls, path: str | Path, into: ResNet18Recipe | None = None) -> ResNet18Recipe:
        """Read a recipe written by :meth:`save` (``torch.load(..., weights_only=True)``).

        Called on the class, returns a new fitted recipe with the saved hyper-parameters;
        called on an instance, replaces its hyper-parameters and weights and returns it.
        The ``weights`` file the recipe was first trained from need not exist any more
        (the saved file holds all weights); :meth:`clone` of the loaded recipe does need it.

        Raises
        ------
        SchemaError
            When the file is not a saved ``ResNet18Recipe``.
        """
        import torch

        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise SchemaError(
                f"ResNet18Recipe.load: {str(path)!r} is not a saved ResNet18Recipe (expected a "
                f"file written by ResNet18Recipe.save, format {_FORMAT!r}). Check the path."
            )
        if state.get("format_version") != _FORMAT_VERSION:
            raise SchemaError(
                f"ResNet18Recipe.load: {str(path)!r} has format version "
                f"{state.get('format_version')!r}; this datacentric reads version "
                f"{_FORMAT_VERSION}. Retrain and save it again."
            )
        params = dict(state["params"])
        fresh = cls(**{**params, "weights": None})  # validates; the file may be gone
        fresh.weights = params["weights"]
        recipe = into if into is not None else fresh
        recipe.__dict__.update(fresh.get_params())
        classes = [str(c) for c in state["classes"]]
        net = _build_net(len(classes))
        net.load_state_dict(state["state_dict"])
        net = net.to(memory_format=torch.channels_last)
        net.eval()
        recipe._net = net
        recipe._mean = state["mean"].numpy().astype(np.float32)
        recipe._std = state["std"].numpy().astype(np.float32)
        recipe.classes_ = classes
        return recipe


@contextmanager
def _as_resnet_error() -> Iterator[None]:
    """Re-raise the shared ``_check_int`` errors under this recipe's name."""
    try:
        yield
    except InvalidParameterError as exc:
        message = str(exc).replace("SmallCNNRecipe", "ResNet18Recipe", 1)
        raise InvalidParameterError(message) from None


def _check_weights_path(weights: Any) -> None:
    if not isinstance(weights, (str, Path)) or not Path(weights).is_file():
        raise InvalidParameterError(
            f"ResNet18Recipe: weights must be the path of a local ResNet-18 state_dict file "
            f"or None, received {str(weights)!r}, which is not an existing file. Nothing is "
            "downloaded: save the weights with torch.save(model.state_dict(), path) where "
            "they are available and pass that path, or use weights=None for random init."
        )


def _read_weights(weights: str) -> dict[str, torch.Tensor]:
    """The backbone tensors of a ResNet-18 ``state_dict`` file (its ``fc.*`` dropped)."""
    import torch

    _check_weights_path(weights)
    try:
        state = torch.load(Path(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable or unsafe file
        raise SchemaError(
            f"ResNet18Recipe: cannot read the weights file {weights!r} with torch.load("
            f"weights_only=True): {exc}. Pass a file written by torch.save(model.state_dict())."
        ) from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise SchemaError(
            f"ResNet18Recipe: the weights file {weights!r} is not a state_dict (a mapping of "
            f"parameter names to tensors), received {type(state).__name__}. Save it with "
            "torch.save(model.state_dict(), path)."
        )
    return {str(k): v for k, v in state.items() if not str(k).startswith("fc.")}


def _build_net(
    n_classes: int,
    backbone_state: Mapping[str, torch.Tensor] | None = None,
    source: str | None = None,
) -> torch.nn.ModuleDict:
    """``ModuleDict(features=ResNet-18 up to global pooling, head=linear classifier)``.

    ``backbone_state`` (read from the file ``source``) is loaded strictly into the backbone.
    """
    from torch import nn
    from torchvision.models import resnet18

    backbone = resnet18(weights=None)
    backbone.fc = nn.Identity()
    if backbone_state is not None:
        try:
            backbone.load_state_dict(backbone_state, strict=True)
        except RuntimeError as exc:
            expected = set(backbone.state_dict())
            missing = sorted(expected - set(backbone_state))
            unexpected = sorted(set(backbone_state) - expected)
            if missing or unexpected:
                found = (
                    f"missing keys: {format_items(missing) or 'none'}; "
                    f"unexpected keys: {format_items(unexpected) or 'none'}"
                )
            else:
                found = str(exc).strip().replace("\n", " ")
            raise SchemaError(
                f"ResNet18Recipe: the weights file {source!r} does not match torchvision's "
                f"resnet18 backbone ({found}). Pass the state_dict of a torchvision resnet18 "
                "(its fc layer may have any number of classes; it is replaced)."
            ) from None
    return nn.ModuleDict({"features": backbone, "head": nn.Linear(_EMBEDDING_DIM, n_classes)})
