"""`TorchRecipe`: what the torch model recipes share, from the fit loop to save and load.

Training, determinism, normalisation, augmentation, prediction and persistence live here
once; each recipe adds its hyper-parameters and network. torch and albumentations are
imported inside the functions that use them, so importing this module stays cheap.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from numbers import Integral, Real
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from datacentric._validation import (
    Constraint,
    Interval,
    check_params,
    invalid_parameter,
    validate_params,
)
from datacentric.config import get_config
from datacentric.engine.spare import map_on_spare_core
from datacentric.exceptions import (
    InvalidDatasetError,
    InvalidParameterError,
    ParameterLimitError,
    SchemaError,
    format_items,
)
from datacentric.train import data
from datacentric.train._recipe_file import (
    check_classes,
    check_file_params,
    check_state_dict,
    check_vector,
    describe,
    read_torch_file,
)
from datacentric.train.recipe import Predictions

if TYPE_CHECKING:
    import torch

    from datacentric.dataset import Dataset
    from datacentric.train.distill import Objective, SoftTargets

__all__ = ["TorchDevice", "TorchRecipe", "resolve_device"]

_FORMAT_VERSION = 1
_STD_FLOOR = 1e-3
MAX_IMAGE_SIZE = 512  # largest image_size (side in pixels) a recipe accepts
MAX_THREADS = 256  # most CPU threads a recipe asks torch for
# Pixels per prediction batch (256 images of 64x64): larger images get smaller batches, so
# predicting costs about the same memory whatever image_size a recipe file asks for.
_PREDICT_PIXELS = 256 * 64 * 64
#: Training batches that must be left for a fit to start a helper process on a spare core
#: (its start costs a few seconds of that core: not worth it for a small fit).
SPARE_CORE_MIN_BATCHES = 200
_R = TypeVar("_R", bound="TorchRecipe")
# fit's arguments: constraints and defaults
_FIT_CONSTRAINTS: tuple[dict[str, list[Any]], dict[str, Any]] = (
    {"seed": [Interval(Integral, 0, None, closed="left")], "progress": ["boolean"]},
    {"seed": 0, "progress": False},
)


class TorchDevice(Constraint):
    """Where a recipe computes: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (N >= 0).

    ``"auto"`` is CUDA when ``torch.cuda.is_available()``, else the CPU; it is resolved
    each time the recipe trains or predicts (see :func:`resolve_device`), so a recipe saved
    on a GPU machine runs on the CPU of one without.

    Examples
    --------
    >>> c = TorchDevice()
    >>> [c.is_satisfied_by(v) for v in ("auto", "cpu", "cuda", "cuda:1", "gpu", "cuda:-1")]
    [True, True, True, True, False, False]
    """

    _FORM = re.compile(r"auto|cpu|cuda(:\d{1,4})?")

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, str) and self._FORM.fullmatch(value) is not None

    def __str__(self) -> str:
        return "one of 'auto', 'cpu', 'cuda' or 'cuda:N' (N a GPU index)"

    def invalid_values(self) -> list[object]:
        return ["gpu", "cuda:-1", "CPU", 0]


_DEVICE_CONSTRAINTS: dict[str, list[Any]] = {"device": [TorchDevice()]}


def resolve_device(owner: str, device: str) -> torch.device:
    """The torch device ``device`` names: ``"auto"`` → ``cuda`` if available, else ``cpu``.

    Raises
    ------
    InvalidParameterError
        When ``device`` names CUDA (or a GPU index) this machine does not have.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        have = (
            f"{count} CUDA device(s)"
            if count
            else "no CUDA device (torch.cuda.is_available() is False)"
        )
        raise invalid_parameter(
            owner,
            "device",
            device,
            f"a device this machine has ({have})",
            fix="Pass device='auto' (CUDA when available, else the CPU) or device='cpu'; for a "
            "loaded recipe, recipe.device = 'auto' or load(path, device='auto').",
        )
    return torch.device("cuda", index)


class _HybridLoad:
    """``load`` callable on the class (a new recipe) or on an instance (into it)."""

    def __get__(self, obj: _R | None, owner: type[_R]) -> Callable[..., _R]:
        def load(path: str | Path, *, device: str | None = None) -> _R:
            return owner._load(path, into=obj, device=device)

        load.__doc__ = owner._load.__doc__
        return load


class SettingLimit(Constraint):
    """Integers from ``minimum`` up to a :mod:`datacentric.config` setting, read at check time.

    A value above the setting (and otherwise valid) raises
    :class:`~datacentric.exceptions.ParameterLimitError`, whose message says how to raise
    the limit for trusted input.

    Examples
    --------
    >>> from datacentric import config_context
    >>> c = SettingLimit(1, "max_recipe_width")
    >>> str(c), c.is_satisfied_by(1024), c.is_satisfied_by(2048)
    ('an integer in [1, 1024] (the max_recipe_width setting)', True, False)
    >>> with config_context(max_recipe_width=4096):
    ...     c.is_satisfied_by(2048)
    True
    """

    def __init__(self, minimum: int, setting: str) -> None:
        self.minimum = minimum
        self.setting = setting

    def _interval(self) -> Interval:
        return Interval(Integral, self.minimum, int(get_config()[self.setting]))

    def is_satisfied_by(self, value: object) -> bool:
        return self._interval().is_satisfied_by(value)

    def __str__(self) -> str:
        return f"{self._interval()} (the {self.setting} setting)"

    def invalid_values(self) -> list[object]:
        return self._interval().invalid_values()

    def limit_fix(self, name: str, value: object) -> str | None:
        above = Interval(Integral, self.minimum, None, closed="left").is_satisfied_by(value)
        if not above or self.is_satisfied_by(value):
            return None
        env = f"DATACENTRIC_{self.setting.upper()}"
        return (
            f"Use a smaller {name} (the limit keeps a small model file from asking for "
            f"gigabytes of weights); for a trusted recipe raise it: {env}={value} or "
            f"datacentric.set_config({self.setting}={value})."
        )


def _plain(value: Any, declared: list[Any]) -> Any:
    """A validated parameter as a plain Python value (numpy scalars, paths, ints for floats),
    so :meth:`TorchRecipe.get_params` and the saved file hold plain data."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, PurePath):
        return str(value)
    real = any(isinstance(c, Interval) and c.type is Real for c in declared)
    if real and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class TorchRecipe:
    """Base of the torch recipes: ``ModuleDict(features=embeddings, head=class logits)``.

    A subclass sets ``name``, ``_title`` (its class name, for messages and the saved format),
    ``_logger``, :meth:`_make_net` and ``_embedding_size`` (other hooks are optional). It
    declares what each ``__init__`` parameter accepts in ``_parameter_constraints`` (this
    class's entries for the shared ones, plus its own; see :mod:`datacentric._validation`),
    and its ``__init__`` passes every parameter to ``super().__init__``, which stores them
    under their names, checks them against the declaration — in one place, with one message
    form — and turns them into plain Python values. :meth:`get_params` reads the attributes
    named like the parameters.
    """

    name: str
    image_size: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    augment: bool
    num_threads: int
    device: str
    _title: ClassVar[str]
    _logger: ClassVar[logging.Logger]
    _repeat_single_row: ClassVar[bool] = False  # train a one-row batch as that row twice
    #: What the shared parameters accept; a subclass adds its own (every ``__init__``
    #: parameter needs an entry: ``testing.check_parameter_constraints``).
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "augment": ["boolean"],
        "num_threads": [Interval(Integral, 1, MAX_THREADS)],
        "device": [TorchDevice()],
    }
    load = _HybridLoad()

    def __init__(self, **params: Any) -> None:
        for key, value in params.items():
            setattr(self, key, value)
        self.validate_params()
        constraints = type(self)._parameter_constraints
        for key, value in params.items():
            setattr(self, key, _plain(value, constraints.get(key, [])))
        # fitted state
        self.classes_: list[str] | None = None
        self._net: torch.nn.ModuleDict | None = None
        self._mean: np.ndarray | None = None
        self._std: np.ndarray | None = None

    def validate_params(self) -> None:
        """Check the parameters against ``_parameter_constraints``.

        Runs in ``__init__``; raises :class:`~datacentric.exceptions.InvalidParameterError`
        naming the parameter (a :class:`~datacentric.exceptions.ParameterLimitError` for a
        width above ``max_recipe_width``).
        """
        validate_params(self)

    # ------------------------------------------------------------------ hooks
    def _make_net(self, n_classes: int, init: Any = None) -> torch.nn.ModuleDict:
        """The untrained network; ``init`` is what :meth:`_init_state` returned (or None)."""
        raise NotImplementedError

    @property
    def _embedding_size(self) -> int:
        """Width of the embeddings ``features`` gives."""
        raise NotImplementedError

    @property
    def _mode(self) -> str:
        """The ``mode`` images are loaded in."""
        return "RGB"

    @property
    def _in_channels(self) -> int:
        """Channels of the network's input (3 for RGB, 1 for grayscale)."""
        return 1 if self._mode == "L" else 3

    @property
    def _frozen_backbone(self) -> bool:
        """Train only ``head`` (``features`` keeps its parameters and BatchNorm statistics)."""
        return False

    def _init_state(self) -> Any:
        """Read at the start of :meth:`fit`, before the images; passed to :meth:`_make_net`."""
        return None

    def _fixed_normalisation(self, init: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-channel (mean, std) to use instead of the training images' statistics."""
        return None

    @classmethod
    def _from_params(cls: type[_R], params: dict[str, Any]) -> _R:
        """A new recipe from saved :meth:`get_params` (validating them)."""
        return cls(**params)

    # ------------------------------------------------------------------ params
    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as constructor keyword arguments."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {k: getattr(self, k) for k in names}

    def clone(self: _R) -> _R:
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
    def fit(self: _R, ds: Dataset, *, seed: int = 0, progress: bool = False) -> _R:
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
        InvalidParameterError
            When ``seed`` is not an integer >= 0 or ``progress`` not a bool.
        InvalidDatasetError
            When ``ds`` has no labeled row.
        """
        check_params(f"{self._title}.fit", {"seed": seed, "progress": progress}, *_FIT_CONSTRAINTS)
        return self._fit(ds, seed=seed, progress=progress)

    def _fit(
        self: _R,
        ds: Dataset,
        *,
        seed: int,
        progress: bool,
        soft: SoftTargets | None = None,
        normalisation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> _R:
        """:meth:`fit`, optionally against a teacher's soft targets and a given normalisation.

        ``soft`` (rows of ``ds`` in manifest order) makes the loss the distillation loss of
        :class:`SoftTargets`; ``normalisation`` (per-channel mean, std) replaces the
        training images' statistics, so a student takes exactly its teacher's input.
        """
        import torch

        title = self._title
        labels_all = ds.label_indices()
        labeled = np.flatnonzero(labels_all >= 0)
        if labeled.size == 0:
            raise InvalidDatasetError(
                f"{title}.fit: the dataset has no labeled rows (received {len(ds)} rows, "
                "all unlabeled). Label some samples, or fit on a dataset that has labels."
            )
        classes = list(ds.classes)
        y = labels_all[labeled]
        counts = np.bincount(y, minlength=len(classes))
        absent = [classes[i] for i in np.flatnonzero(counts == 0)]
        if absent:
            self._logger.warning(
                "%s.fit: %d class(es) have no labeled row: %s. Training goes on; "
                "the model will give them a low probability.",
                title,
                len(absent),
                format_items(absent),
            )
        dev = resolve_device(title, self.device)
        init = self._init_state()
        ids = ds.sample_ids
        # decoded batch by batch (one pass for the statistics, one per epoch): memory holds
        # a few batches whatever the number of images, plus the decoded images themselves
        # when they fit in the train_cache_bytes setting (then only the first pass decodes)
        images = self._images(ds, [ids[i] for i in labeled])
        fixed = normalisation if normalisation is not None else self._fixed_normalisation(init)
        if fixed is not None:
            mean, std = fixed
        else:
            mean, std = data.channel_stats(images, std_floor=_STD_FLOOR)
        rng = np.random.default_rng(seed)
        rng_devices = [dev.index or 0] if dev.type == "cuda" else []
        teacher = None if soft is None else soft.probs[labeled]
        with _torch_settings(self.num_threads, dev), torch.random.fork_rng(devices=rng_devices):
            torch.manual_seed(seed)
            net = self._make_net(len(classes), init)  # on the CPU: the same weights anywhere
            self._train_net(
                net,
                images,
                y,
                (mean, std),
                rng=rng,
                epochs=self.epochs,
                lr=self.lr,
                device=dev,
                progress=progress,
                soft=None if soft is None or teacher is None else soft.rows(teacher),
            )
        self._net = net
        self._mean = np.asarray(mean).astype(np.float32)
        self._std = np.asarray(std).astype(np.float32)
        self.classes_ = classes
        return self

    def _images(self, ds: Dataset, ids: list[str]) -> data.ManifestImages:
        """The training images of ``ids``, decoded at this recipe's size and mode."""
        size = (self.image_size, self.image_size)
        cache = get_config()["train_cache_bytes"]
        return data.ManifestImages(ds, ids, size=size, mode=self._mode, cache_bytes=cache)

    def _train_net(
        self,
        net: Any,
        images: data.ManifestImages,
        y: np.ndarray,
        normalisation: tuple[np.ndarray, np.ndarray],
        *,
        rng: np.random.Generator,
        epochs: int,
        lr: float,
        device: torch.device,
        progress: bool,
        soft: Objective | None = None,
        on_epoch: Callable[[int], None] | None = None,
    ) -> None:
        """The training loop: AdamW, one-cycle schedule, this recipe's batch size and
        augmentation, on ``net`` in place (left in eval mode on the CPU).

        Runs inside the caller's :func:`_torch_settings` and seeded torch RNG. ``net`` is
        any module whose ``net["head"](net["features"](x))`` gives class logits (the
        recipe's own network, or a quantization-aware copy). ``on_epoch(k)`` is called
        before epoch ``k`` (0-based), e.g. to freeze quantization observers.
        """
        import torch

        mean, std = normalisation
        augment = self._augmenter(int(rng.integers(2**31 - 1))) if self.augment else None
        prepare = _PrepareBatch(augment, self._repeat_single_row)
        n = len(y)
        steps_per_epoch = math.ceil(n / self.batch_size)
        y_t = torch.from_numpy(y)
        frozen = self._frozen_backbone
        net = net.to(memory_format=torch.channels_last)
        net.to(device)
        if frozen:
            net["features"].requires_grad_(False)
        trainable = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch
        )
        net.train()
        if frozen:
            net["features"].eval()  # keep the BatchNorm statistics too
        # every epoch's order, drawn up front (the same draws, in the same order, as one per
        # epoch): the batches of all epochs are then one stream, decoded and augmented in
        # order, on a spare core of the engine when one is free (the same calls of the
        # seeded augmenter on the same images, so the same batches; see engine.spare)
        orders = [rng.permutation(n) for _ in range(epochs)]
        stream = map_on_spare_core(
            prepare,
            (b for o in orders for b in images.batches(o, batch_size=self.batch_size)),
            total=epochs * steps_per_epoch,
            min_left=SPARE_CORE_MIN_BATCHES,
        )
        with _epoch_bar(epochs, progress) as advance, closing(stream):
            for epoch, order in enumerate(orders):
                if on_epoch is not None:
                    on_epoch(epoch)
                total = 0.0
                for start in range(0, n, self.batch_size):
                    batch = next(stream)
                    rows = order[start : start + self.batch_size]
                    if self._repeat_single_row and len(rows) == 1:
                        rows = np.repeat(rows, 2)
                    x = _to_tensor(batch, mean, std).to(device)
                    logits = net["head"](net["features"](x))
                    target = y_t[rows].to(device)
                    if soft is None:
                        loss = torch.nn.functional.cross_entropy(logits, target)
                    else:
                        loss = soft.loss(logits, target, rows, x)
                    total += _step(opt, sched, loss) * len(rows)
                advance(total / n)
        net.eval()
        net.requires_grad_(True)
        net.to("cpu")  # kept on the CPU: save, export and predict start from there

    @staticmethod
    def _augmenter(seed: int) -> Callable[..., dict[str, Any]]:
        """Small shifts, rotations and scaling, brightness/contrast; no flips (digits)."""
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

        title = self._title
        check_params(
            f"{title}.predict",
            {"batch_size": batch_size},
            {"batch_size": [Interval(Integral, 1, None, closed="left")]},
            {"batch_size": 256},
        )
        batch_size = max(1, min(batch_size, _PREDICT_PIXELS // self.image_size**2))
        if self._net is None or self._mean is None or self._std is None:
            raise InvalidParameterError(
                f"{title}.predict: this recipe is not fitted yet. Call recipe.fit(dataset) "
                f"first, or load trained weights with {title}.load(path)."
            )
        classes = self.classes_ or []
        if list(ds.classes) != classes:
            raise InvalidDatasetError(
                f"{title}.predict: the dataset's classes {ds.classes!r} differ from the "
                f"classes the model was trained on {classes!r}. Predict on a dataset with the "
                "same ordered classes, or retrain."
            )
        dev = resolve_device(title, self.device)
        net = self._net
        size = (self.image_size, self.image_size)
        images = data.ManifestImages(ds, size=size, mode=self._mode)
        k, n = len(classes), len(images)
        # filled in place: nothing but the outputs grows with the number of images
        pred_probs = np.zeros((n, k))
        embeddings = np.zeros((n, self._embedding_size), np.float32 if n else np.float64)
        with _torch_settings(self.num_threads, dev), torch.inference_mode(), _on(net, dev):
            net.eval()
            start = 0
            for batch in images.batches(batch_size=batch_size):
                x = _to_tensor(batch, self._mean, self._std).to(dev)
                emb = net["features"](x)
                logits = net["head"](emb)
                stop = start + len(batch)
                pred_probs[start:stop] = torch.softmax(logits.double(), dim=1).cpu().numpy()
                embeddings[start:stop] = emb.cpu().numpy()
                start = stop
        pred_probs /= pred_probs.sum(axis=1, keepdims=True)
        return Predictions(ds.sample_ids, pred_probs, embeddings, classes=classes)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write hyper-parameters, classes, normalisation and all weights with ``torch.save``.

        The file holds every trained weight, so :meth:`load` needs nothing else.

        Raises
        ------
        InvalidParameterError
            When the recipe is not fitted yet.
        """
        import torch

        if self._net is None or self._mean is None or self._std is None:
            raise InvalidParameterError(
                f"{self._title}.save: this recipe is not fitted yet; call fit() first."
            )
        state = {
            "format": f"datacentric.{self._title}",
            "format_version": _FORMAT_VERSION,
            "params": self.get_params(),
            "classes": list(self.classes_ or []),
            "mean": torch.from_numpy(self._mean.copy()),
            "std": torch.from_numpy(self._std.copy()),
            "state_dict": self._net.state_dict(),
        }
        torch.save(state, Path(path))

    @classmethod
    def _load(
        cls: type[_R],
        path: str | Path,
        into: _R | None = None,
        state: Any = None,
        device: str | None = None,
    ) -> _R:
        """Read a recipe written by :meth:`save` (``torch.load(..., weights_only=True)``).

        Called on the class, returns a new fitted recipe with the saved hyper-parameters;
        called on an instance, replaces its hyper-parameters and weights and returns it.
        The weights are read onto the CPU whatever device saved them; ``device`` replaces
        the saved ``device`` parameter (``"auto"`` is resolved when the recipe runs, so a
        recipe saved on a GPU machine runs on one without).
        ``state``: the file's content when the caller has read it already (``path`` then only
        names it in messages). Nothing is allocated before the file's weights are known to
        match the network its parameters describe (see :mod:`._recipe_file`).

        Raises
        ------
        SchemaError
            When the file is not a recipe of this class written by ``save``: not a torch file,
            truncated, unknown or invalid parameters, weights that do not match the network.
        ParameterLimitError
            When its parameters ask for a network wider than ``max_recipe_width`` (a
            ``LimitExceededError`` and an ``InvalidParameterError``).
        """
        import torch

        title = cls._title
        who = f"{title}.load"
        fmt = f"datacentric.{title}"
        fix = f"Pass a file written by {title}.save (retrain and save it again if it is damaged)."
        if state is None:
            state = read_torch_file(path, who, f"a saved {title}", fix)
        found = state.get("format") if isinstance(state, dict) else None
        if found != fmt:
            raise SchemaError(
                f"{who}: {str(path)!r} is not a saved {title} (expected a file written "
                f"by {title}.save, format {fmt!r}, received format {describe(found)}). "
                "Check the path."
            )
        if state.get("format_version") != _FORMAT_VERSION:
            raise SchemaError(
                f"{who}: {str(path)!r} has format version "
                f"{describe(state.get('format_version'))}; this datacentric reads version "
                f"{_FORMAT_VERSION}. Retrain and save it again."
            )
        valid = list(inspect.signature(cls.__init__).parameters)[1:]
        params = check_file_params(who, path, state.get("params"), valid, fix)
        if device is not None:
            check_params(who, {"device": device}, _DEVICE_CONSTRAINTS, {"device": "auto"})
            params["device"] = device
        try:
            fresh = cls._from_params(params)
        except ParameterLimitError as exc:  # the constructor's message, naming the file
            raise ParameterLimitError(
                f"{who}: {str(path)!r}: {exc}", parameter=exc.parameter, owner=exc.owner
            ) from None
        except InvalidParameterError as exc:
            raise SchemaError(
                f"{who}: {str(path)!r} holds invalid parameters: {exc} {fix}"
            ) from None
        classes = check_classes(who, path, state.get("classes"), fix)
        with torch.device("meta"):  # shapes only: nothing allocated before the checks pass
            expected = fresh._make_net(len(classes)).state_dict()
        weights = check_state_dict(who, path, state.get("state_dict"), expected, fix)
        mean = check_vector(who, path, "mean", state.get("mean"), fresh._in_channels, fix)
        std = check_vector(who, path, "std", state.get("std"), fresh._in_channels, fix)
        recipe = into if into is not None else fresh
        recipe.__dict__.update(fresh.get_params())
        net = recipe._make_net(len(classes))
        net.load_state_dict(weights)
        net = net.to(memory_format=torch.channels_last)
        net.eval()
        recipe._net = net
        recipe._mean = mean
        recipe._std = std
        recipe.classes_ = classes
        return recipe


class _PrepareBatch:
    """A training batch as the network takes it: a one-row batch repeated when the recipe
    asks for it, then augmented image by image (picklable: it may run in a helper process
    on a spare core, with the augmenter's random state of the moment it is sent)."""

    def __init__(self, augment: Callable[..., dict[str, Any]] | None, repeat_single: bool):
        self.augment = augment
        self.repeat_single = repeat_single

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.repeat_single and len(batch) == 1:
            batch = np.repeat(batch, 2, axis=0)
        if self.augment is not None:
            batch = np.stack([self.augment(image=im)["image"] for im in batch])
        return batch


def _step(opt: Any, sched: Any, loss: torch.Tensor) -> float:
    """One optimiser step on ``loss`` (gradients cleared first, then the schedule); its value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return float(loss.detach())


def _to_tensor(batch: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) → normalised float32 (N, C, H, W) in channels-last memory."""
    import torch

    x = (batch.astype(np.float32) / 255.0 - mean) / std
    # (N, H, W, C) memory viewed as (N, C, H, W) is exactly the channels-last layout
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2)


@contextmanager
def _torch_settings(num_threads: int, device: torch.device | None = None) -> Iterator[None]:
    """Deterministic algorithms and a fixed thread count, restored on exit.

    On CUDA the deterministic algorithms are asked for with ``warn_only`` (some backward
    kernels, e.g. adaptive average pooling, have no deterministic CUDA version; those
    warnings are silenced): results on CUDA match the CPU's within a tolerance, not bit for
    bit (see ``benchmarks/gpu_check.py``).
    """
    import torch

    cuda = device is not None and device.type == "cuda"
    if cuda:  # cuBLAS is deterministic only with a fixed workspace (set before its first use)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True, warn_only=cuda)
    try:
        if not cuda:  # the warnings filters are left alone (a decoding thread uses them)
            yield
            return
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*deterministic implementation.*")
            yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


@contextmanager
def _on(net: torch.nn.Module, device: torch.device) -> Iterator[None]:
    """``net`` moved to ``device`` for the block, back on the CPU after it."""
    if device.type == "cpu":
        yield
        return
    net.to(device)
    try:
        yield
    finally:
        net.to("cpu")


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
