"""`CenterNetRecipe`: the default detector recipe, a small anchor-free CenterNet trained on CPU.

The network, targets, loss and decoding are in :mod:`datacentric.train._centernet`;
parameter checks, determinism, normalisation, save and load (with the hardening of
:mod:`datacentric.train._recipe_file`) come from
:class:`~datacentric.train._torch_recipe.TorchRecipe`. torch is imported inside the methods
that use it, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import polars as pl

from datacentric._validation import Interval, Options, check_params
from datacentric.config import get_config
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError, format_items
from datacentric.train import _centernet as cn
from datacentric.train import data
from datacentric.train._torch_recipe import (
    _FIT_CONSTRAINTS,
    _STD_FLOOR,
    SettingLimit,
    TorchRecipe,
    _epoch_bar,
    _on,
    _step,
    _to_tensor,
    _torch_settings,
    resolve_device,
)
from datacentric.train.detector import BOX_PREDICTION_SCHEMA, BoxPredictions

if TYPE_CHECKING:
    import torch

    from datacentric.dataset import Dataset

__all__ = ["CenterNetRecipe"]

logger = logging.getLogger(__name__)

_MAX_SIDE = 1024  # largest input side
_PREDICT_PIXELS = 64 * 96 * 96  # pixels per prediction batch
_SHIFT = 0.125  # largest random translation, as a fraction of the side (augment)


class CenterNetRecipe(TorchRecipe):
    """A small CenterNet ("Objects as Points"): per-class centre heatmaps, sizes and offsets.

    Architecture (:func:`datacentric.train._centernet.build_net`): a small encoder-decoder of
    ``3x3 conv → BatchNorm → ReLU`` blocks at strides 2, 4 and 8 (``width``, ``2*width``,
    ``4*width`` channels, a dilated last block: 75 input pixels of receptive field), the
    stride-8 map upsampled and added to the stride-4 one, and two heads at stride 4: a
    heatmap per class (an object is the peak at its centre) and four regressions (log width,
    log height, centre offset within the cell). About 140k parameters with the defaults.
    Training uses CenterNet's penalty-reduced focal loss on the heatmaps and L1 on the
    regressions, AdamW and a one-cycle schedule. Decoding keeps the cells that are the
    maximum of their 3x3 neighbourhood (no separate non-maximum suppression), up to
    ``max_boxes`` per image with a score of at least ``min_score``.

    Images are resized to ``image_size`` x ``image_size`` (boxes scaled with them; predicted
    boxes are scaled back to the pixels of each image), decoded batch by batch (never the
    whole set at once) and normalised per channel with the training images' statistics.
    With ``augment``, training images are translated at random by up to 1/8 of the side
    (never cutting a box; edges replicated) and their brightness and contrast jittered; no
    flips (they would change digits). The image embedding (:attr:`BoxPredictions.embeddings`,
    ``8*width`` floats) is the mean and the max of the stride-8 features.

    Seeded and deterministic on CPU (the same data, parameters and seed give the same
    boxes, bit for bit); ``device="auto"`` uses CUDA when present (results then match the
    CPU's within a tolerance).

    Parameters
    ----------
    image_size : int
        Side of the square input in pixels, a multiple of 8 from 32 to 1024.
    channels : {"RGB", "L"}
        Colour or grayscale input.
    epochs, batch_size, lr, weight_decay, augment, num_threads, device
        As for :class:`~datacentric.train.SmallCNNRecipe`.
    width : int
        Channels of the first block (the next have 2x and 4x); at most the
        ``max_recipe_width`` setting.
    max_boxes : int
        Most boxes predicted per image (1 to 1000).
    min_score : float
        Smallest raw heatmap value ``sigmoid(logit)`` of a predicted box, in [0, 1): a cut
        made before ``score_scale`` / ``score_shift``, so the calibration never changes which
        boxes are kept.
    min_steps : int
        Train for at least this many optimizer steps: more passes than ``epochs`` over a
        small dataset (600 steps of 32 images are 20 epochs of 960 images; 240 images get 75
        epochs). ``0``: exactly ``epochs``.
    score_scale, score_shift : float
        A box's score is ``sigmoid(score_scale * logit + score_shift)`` of its heatmap peak
        (Platt scaling; default ``1, 0``: the raw peak). The focal loss leaves raw peaks
        under-confident (on held-out demo scenes, boxes of raw score 0.6-0.9 were right
        98-100 % of the time, and only 0.5 % scored above 0.9), while the box finders read a
        score as a probability. No constants are built in (fitted on one dataset they would
        carry its answer to others): :func:`~datacentric.train.cross_val_predict_boxes`
        calibrates each run's out-of-sample boxes against the dataset's own boxes, and the
        data loop sets these two from its scan's calibration for the models it trains.
        The ranking of boxes (so mAP) does not depend on them.

    Examples
    --------
    >>> recipe = CenterNetRecipe(epochs=3)
    >>> recipe, recipe.task, recipe.is_fitted
    (CenterNetRecipe(epochs=3), 'detection', False)
    """

    name: str = "centernet"
    task: str = "detection"
    _title = "CenterNetRecipe"
    _logger = logger
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **TorchRecipe._parameter_constraints,
        "image_size": [Interval(Integral, 32, _MAX_SIDE)],
        "channels": [Options(str, ("RGB", "L"))],
        "width": [SettingLimit(1, "max_recipe_width")],
        "max_boxes": [Interval(Integral, 1, 1000)],
        "min_score": [Interval(Real, 0, 1, closed="left")],
        "min_steps": [Interval(Integral, 0, None, closed="left")],
        "score_scale": [Interval(Real, 0, 100, closed="right")],
        "score_shift": [Interval(Real, -100, 100)],
    }
    channels: Literal["RGB", "L"]
    width: int
    max_boxes: int
    min_score: float
    min_steps: int
    score_scale: float
    score_shift: float

    def __init__(
        self,
        image_size: int = 96,
        channels: Literal["RGB", "L"] = "RGB",
        epochs: int = 20,
        batch_size: int = 32,
        lr: float = 4e-3,
        weight_decay: float = 1e-4,
        augment: bool = True,
        width: int = 16,
        max_boxes: int = 50,
        min_score: float = 0.05,
        min_steps: int = 600,
        score_scale: float = 1.0,
        score_shift: float = 0.0,
        num_threads: int = 1,
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
            width=width,
            max_boxes=max_boxes,
            min_score=min_score,
            min_steps=min_steps,
            score_scale=score_scale,
            score_shift=score_shift,
            num_threads=num_threads,
            device=device,
        )
        if self.image_size % 8:
            raise InvalidParameterError(
                f"CenterNetRecipe: parameter image_size must be a multiple of 8, received "
                f"{self.image_size}. Pass e.g. {8 * max(4, round(self.image_size / 8))}."
            )

    @property
    def _mode(self) -> str:
        return self.channels

    @property
    def _embedding_size(self) -> int:
        return 8 * self.width

    def _make_net(self, n_classes: int, init: Any = None) -> torch.nn.ModuleDict:
        return cn.build_net(self._in_channels, self.width, n_classes)

    # ------------------------------------------------------------------ training
    def fit(self, ds: Dataset, *, seed: int = 0, progress: bool = False) -> CenterNetRecipe:
        """Train on every image of ``ds`` and its boxes, whatever the split; return ``self``.

        Images without a box are used too (as images with nothing to find).

        Raises
        ------
        InvalidParameterError
            When ``seed`` is not an integer >= 0 or ``progress`` not a bool.
        InvalidDatasetError
            When ``ds`` is not a detection dataset, has no image, or an image's size cannot
            be read.
        """
        import torch

        check_params("CenterNetRecipe.fit", {"seed": seed, "progress": progress}, *_FIT_CONSTRAINTS)
        classes = _detection_classes(ds, "fit")
        if len(ds) == 0:
            raise InvalidDatasetError(
                "CenterNetRecipe.fit: the dataset has no image (received 0 rows). Fit on a "
                "dataset with images and boxes."
            )
        side = self.image_size
        boxes, labels = _scaled_boxes(ds, side, classes)
        if not any(len(b) for b in boxes):
            logger.warning("CenterNetRecipe.fit: the dataset has no box; nothing will be found.")
        dev = resolve_device(self._title, self.device)
        images = data.ManifestImages(
            ds, size=(side, side), mode=self._mode, cache_bytes=get_config()["train_cache_bytes"]
        )
        mean, std = data.channel_stats(images, std_floor=_STD_FLOOR)
        rng = np.random.default_rng(seed)
        n = len(ds)
        steps = math.ceil(n / self.batch_size)
        epochs = max(self.epochs, math.ceil(self.min_steps / steps))
        rng_devices = [dev.index or 0] if dev.type == "cuda" else []
        with _torch_settings(self.num_threads, dev), torch.random.fork_rng(devices=rng_devices):
            torch.manual_seed(seed)
            net = self._make_net(len(classes)).to(memory_format=torch.channels_last)
            net.to(dev)
            opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=self.lr, epochs=epochs, steps_per_epoch=steps
            )
            net.train()
            with _epoch_bar(epochs, progress) as advance:
                for _ in range(epochs):
                    order = rng.permutation(n)
                    total = 0.0
                    batches = images.batches(order, batch_size=self.batch_size)
                    for start, batch in zip(range(0, n, self.batch_size), batches, strict=True):
                        rows = order[start : start + self.batch_size].tolist()
                        b = [boxes[r] for r in rows]
                        lab = [labels[r] for r in rows]
                        if self.augment:
                            batch, b = _augment(batch, b, rng)
                        targets = cn.encode_targets(b, lab, len(classes), side)
                        x = _to_tensor(batch, mean, std).to(dev)
                        heat, reg, _ = cn.forward(net, x)
                        loss = cn.centernet_loss(
                            heat, reg, *(torch.from_numpy(t).to(dev) for t in targets)
                        )
                        total += _step(opt, sched, loss) * len(rows)
                    advance(total / n)
            net.eval()
            net.to("cpu")
        self._net = net
        self._mean = np.asarray(mean, dtype=np.float32)
        self._std = np.asarray(std, dtype=np.float32)
        self.classes_ = classes
        return self

    # ------------------------------------------------------------------ inference
    def predict(  # type: ignore[override]  # boxes: the DetectorRecipe protocol
        self, ds: Dataset, *, batch_size: int = 64
    ) -> BoxPredictions:
        """Boxes (in pixels of each image) and an embedding for every image of ``ds``.

        Returns
        -------
        BoxPredictions
            ``sample_ids`` in manifest order; ``boxes`` grouped by image in that order,
            highest score first.

        Raises
        ------
        InvalidParameterError
            When the recipe is not fitted, or ``batch_size`` < 1.
        InvalidDatasetError
            When ``ds`` is not a detection dataset, its classes differ from the trained
            ones, or an image's size cannot be read.
        """
        import torch

        side, batch_size, sizes, classes = self._predict_setup(ds, batch_size, "predict")
        dev = resolve_device(self._title, self.device)
        net = self._net
        assert net is not None and self._mean is not None and self._std is not None
        images = data.ManifestImages(ds, size=(side, side), mode=self._mode)
        n = len(ds)
        emb = np.zeros((n, self._embedding_size), np.float32)
        found: list[np.ndarray] = []
        with _torch_settings(self.num_threads, dev), torch.inference_mode(), _on(net, dev):
            net.eval()
            start = 0
            for batch in images.batches(batch_size=batch_size):
                x = _to_tensor(batch, self._mean, self._std).to(dev)
                heat, reg, c8 = cn.forward(net, x)
                stop = start + len(batch)
                emb[start:stop] = cn.pooled(c8).cpu().numpy()
                platt = (self.score_scale, self.score_shift)
                found.extend(cn.decode(heat, reg, self.max_boxes, self.min_score, *platt))
                start = stop
        return BoxPredictions(
            ds.sample_ids, _to_frame(found, ds.sample_ids, sizes, side, classes), emb
        )

    def predict_with(
        self,
        ds: Dataset,
        run: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
        *,
        batch_size: int = 64,
    ) -> BoxPredictions:
        """:meth:`predict` with another runtime of the fitted network (an ONNX session).

        ``run(x)`` takes a float32 ``(N, C, H, W)`` batch, already scaled to [0, 1] and
        normalised with the recipe's mean and std, and returns the network's outputs as
        numpy arrays: heatmap logits ``(N, K, S, S)``, box regressions ``(N, 4, S, S)`` and
        the image embeddings ``(N, 8*width)``. Decoding (3x3 peaks, ``max_boxes``,
        ``min_score``) and the scaling back to each image's pixels are this recipe's own
        (:func:`datacentric.train._centernet.decode`), outside ``run``.

        Raises
        ------
        InvalidParameterError, InvalidDatasetError
            As :meth:`predict`.

        Examples
        --------
        >>> recipe = CenterNetRecipe()
        >>> recipe.predict_with(None, lambda x: (x, x, x))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        datacentric.exceptions.InvalidParameterError: CenterNetRecipe.predict_with: this ...
        """
        import torch

        side, batch_size, sizes, classes = self._predict_setup(ds, batch_size, "predict_with")
        assert self._mean is not None and self._std is not None
        images = data.ManifestImages(ds, size=(side, side), mode=self._mode)
        emb = np.zeros((len(ds), self._embedding_size), np.float32)
        found: list[np.ndarray] = []
        start = 0
        for batch in images.batches(batch_size=batch_size):
            x = np.ascontiguousarray(_to_tensor(batch, self._mean, self._std).numpy())
            heat, reg, pooled = run(x)
            emb[start : start + len(batch)] = pooled
            start += len(batch)
            found.extend(
                cn.decode(
                    torch.from_numpy(np.asarray(heat)),
                    torch.from_numpy(np.asarray(reg)),
                    self.max_boxes,
                    self.min_score,
                    self.score_scale,
                    self.score_shift,
                )
            )
        return BoxPredictions(
            ds.sample_ids, _to_frame(found, ds.sample_ids, sizes, side, classes), emb
        )

    def _predict_setup(
        self, ds: Dataset, batch_size: int, step: str
    ) -> tuple[int, int, np.ndarray, list[str]]:
        """Checks shared by the predict methods; the input side, the batch size, the image
        sizes and the classes."""
        title = f"CenterNetRecipe.{step}"
        check_params(
            title,
            {"batch_size": batch_size},
            {"batch_size": [Interval(Integral, 1, None, closed="left")]},
            {"batch_size": 64},
        )
        if self._net is None or self._mean is None or self._std is None:
            raise InvalidParameterError(
                f"{title}: this recipe is not fitted yet. Call "
                "recipe.fit(dataset) first, or load one with CenterNetRecipe.load(path)."
            )
        classes = _detection_classes(ds, step)
        if classes != self.classes_:
            raise InvalidDatasetError(
                f"{title}: the dataset's classes {classes!r} differ from the "
                f"classes the model was trained on {self.classes_!r}. Predict on a dataset with "
                "the same ordered classes, or retrain."
            )
        side = self.image_size
        batch_size = max(1, min(batch_size, _PREDICT_PIXELS // side**2))
        return side, batch_size, _image_sizes(ds, step), classes


def _detection_classes(ds: Dataset, step: str) -> list[str]:
    if ds.task != "detection":
        raise InvalidDatasetError(
            f"CenterNetRecipe.{step}: the dataset is not a detection dataset (task "
            f"{ds.task!r}); pass one with boxes (Dataset.from_coco, from_yolo, or "
            "annotations=), or use a classification recipe such as SmallCNNRecipe."
        )
    return list(ds.classes)


def _image_sizes(ds: Dataset, step: str) -> np.ndarray:
    """``(N, 2)`` width and height of every image, from the headers."""
    sizes = ds.image_sizes()
    bad = sizes.filter(pl.col("reason").is_not_null() | pl.col("width").is_null())
    if bad.height:
        raise InvalidDatasetError(
            f"CenterNetRecipe.{step}: {bad.height} image(s) have no readable size: "
            f"{format_items(bad['sample_id'].to_list())} ({bad['reason'][0]}). Fix or remove "
            "them (Dataset.unreadable_images() lists them)."
        )
    return sizes.select("width", "height").to_numpy().astype(np.float64)


def _scaled_boxes(
    ds: Dataset, side: int, classes: list[str]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per image (manifest order): its boxes ``x, y, w, h`` in input pixels, class indices."""
    sizes = _image_sizes(ds, "fit")
    ann = ds.annotations
    n = len(ds)
    boxes = [np.zeros((0, 4))] * n
    labels = [np.zeros(0, np.int64)] * n
    if ann is None or ann.height == 0:
        return boxes, labels
    pos = {s: i for i, s in enumerate(ds.sample_ids)}
    index = {c: i for i, c in enumerate(classes)}
    rows = np.array([pos[s] for s in ann["sample_id"].to_list()], dtype=np.int64)
    lab = np.array([index[c] for c in ann["label"].to_list()], dtype=np.int64)
    xywh = ann.select("x", "y", "w", "h").to_numpy().astype(np.float64)
    scale = side / sizes[rows]  # (sx, sy) per box
    xywh = xywh * np.concatenate([scale, scale], axis=1)
    order = np.argsort(rows, kind="stable")
    starts = np.searchsorted(rows[order], np.arange(n + 1))
    for i in np.unique(rows):
        sel = order[starts[i] : starts[i + 1]]
        boxes[i] = xywh[sel]
        labels[i] = lab[sel]
    return boxes, labels


def _augment(
    batch: np.ndarray, boxes: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random translation (no box cut; edges replicated) and brightness/contrast jitter."""
    n, side = batch.shape[0], batch.shape[1]
    out = np.empty_like(batch)
    moved = []
    limit = int(side * _SHIFT)
    for i in range(n):
        b = boxes[i]
        lo_x = -limit if not len(b) else max(-limit, -int(np.floor(b[:, 0].min())))
        hi_x = limit if not len(b) else min(limit, int(np.floor(side - (b[:, 0] + b[:, 2]).max())))
        lo_y = -limit if not len(b) else max(-limit, -int(np.floor(b[:, 1].min())))
        hi_y = limit if not len(b) else min(limit, int(np.floor(side - (b[:, 1] + b[:, 3]).max())))
        dx = int(rng.integers(lo_x, hi_x + 1)) if hi_x >= lo_x else 0
        dy = int(rng.integers(lo_y, hi_y + 1)) if hi_y >= lo_y else 0
        padded = np.pad(batch[i], ((limit, limit), (limit, limit), (0, 0)), mode="edge")
        out[i] = padded[limit - dy : limit - dy + side, limit - dx : limit - dx + side]
        moved.append(b + np.array([dx, dy, 0.0, 0.0]) if len(b) else b)
    gain = rng.uniform(0.8, 1.2, (n, 1, 1, 1))
    bias = rng.uniform(-20.0, 20.0, (n, 1, 1, 1))
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    jittered = (out.astype(np.float32) - mean) * gain + mean + bias
    return np.clip(jittered, 0, 255).astype(np.uint8), moved


def _to_frame(
    found: list[np.ndarray],
    sample_ids: list[str],
    sizes: np.ndarray,
    side: int,
    classes: list[str],
) -> pl.DataFrame:
    """Decoded boxes (input pixels) → the predicted-box table, in pixels of each image,
    clipped to the image (boxes left with no area are dropped)."""
    counts = [len(f) for f in found]
    if not sum(counts):
        return pl.DataFrame(schema=BOX_PREDICTION_SCHEMA)
    arr = np.concatenate(found)
    rows = np.repeat(np.arange(len(found)), counts)
    wh = sizes[rows]
    scale = wh / side
    x0 = np.clip(arr[:, 0] * scale[:, 0], 0, wh[:, 0])
    y0 = np.clip(arr[:, 1] * scale[:, 1], 0, wh[:, 1])
    x1 = np.clip((arr[:, 0] + arr[:, 2]) * scale[:, 0], 0, wh[:, 0])
    y1 = np.clip((arr[:, 1] + arr[:, 3]) * scale[:, 1], 0, wh[:, 1])
    keep = (x1 > x0) & (y1 > y0)
    ids = np.asarray(sample_ids, dtype=object)[rows]
    names = np.asarray(classes, dtype=object)[arr[:, 5].astype(np.int64)]
    return pl.DataFrame(
        {
            "sample_id": ids[keep].tolist(),
            "label": names[keep].tolist(),
            "x": x0[keep],
            "y": y0[keep],
            "w": (x1 - x0)[keep],
            "h": (y1 - y0)[keep],
            "score": np.clip(arr[keep, 4], 0.0, 1.0),
        },
        schema=BOX_PREDICTION_SCHEMA,
    )
