"""The network of :class:`~datacentric.train.CenterNetRecipe`: layers, targets, loss, decoding.

An anchor-free detector ("Objects as Points", Zhou et al. 2019) on a small CNN: every object
is the peak of a per-class heatmap at its centre, with its width, height and sub-cell
offset regressed at that cell. Training targets are built in numpy (:func:`encode_targets`);
the loss (:func:`centernet_loss`) and decoding (:func:`decode`) are torch. torch is imported
inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "STRIDE",
    "build_net",
    "centernet_loss",
    "decode",
    "encode_targets",
    "forward",
    "pooled",
]

#: Input pixels per output cell (the heads run at 1/4 of the input resolution).
STRIDE = 4
_PRIOR = 0.05  # initial heatmap probability (the bias of its last layer): a stable start
_SIZE_WEIGHT = 1.0  # weight of the L1 loss on log sizes
_OFFSET_WEIGHT = 1.0  # weight of the L1 loss on the centre offsets


def build_net(in_channels: int, width: int, n_classes: int) -> torch.nn.ModuleDict:
    """The network as a ``ModuleDict`` (run it with :func:`forward`).

    A small encoder-decoder: ``3x3 conv → BatchNorm → ReLU`` blocks at strides
    2, 4 and 8 (``width``, ``2*width``, ``4*width`` channels; the last with a dilated
    convolution, a receptive field of 75 input pixels), the stride-8 map upsampled and added
    to the stride-4 one, then one more block. ``heat`` and ``box`` are ``3x3 conv → ReLU →
    1x1 conv`` heads; ``box`` gives (log width, log height, x offset, y offset) in cells.
    """
    from torch import nn

    w1, w2, w3 = width, 2 * width, 4 * width

    def block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
        conv = nn.Conv2d(
            cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        return [conv, nn.BatchNorm2d(cout), nn.ReLU()]

    def head(cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(), nn.Conv2d(w2, cout, 1))

    heat = head(n_classes)
    last = heat[-1]
    assert isinstance(last, nn.Conv2d) and last.bias is not None
    nn.init.constant_(last.bias, -math.log((1 - _PRIOR) / _PRIOR))
    return nn.ModuleDict(
        {
            "stem": nn.Sequential(*block(in_channels, w1, 2), *block(w1, w1)),
            "down4": nn.Sequential(*block(w1, w2, 2), *block(w2, w2)),
            "down8": nn.Sequential(*block(w2, w3, 2), *block(w3, w3), *block(w3, w3, dilation=2)),
            "lateral": nn.Conv2d(w3, w2, 1, bias=False),
            "fuse": nn.Sequential(*block(w2, w2)),
            "heat": heat,
            "box": head(4),
        }
    )


def forward(
    net: torch.nn.ModuleDict, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(heatmap logits, box regressions, stride-8 features)`` of a normalised batch."""
    from torch.nn import functional

    c4 = net["down4"](net["stem"](x))
    c8 = net["down8"](c4)
    up = functional.interpolate(net["lateral"](c8), size=c4.shape[-2:], mode="nearest")
    f = net["fuse"](c4 + up)
    return net["heat"](f), net["box"](f), c8


def pooled(c8: torch.Tensor) -> torch.Tensor:
    """The image embedding: mean and max of the stride-8 features, side by side."""
    import torch

    return torch.cat([c8.mean(dim=(2, 3)), c8.amax(dim=(2, 3))], dim=1)


def encode_targets(
    boxes: list[np.ndarray], labels: list[np.ndarray], n_classes: int, side: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training targets of a batch at stride :data:`STRIDE` on a ``side`` x ``side`` input.

    Parameters
    ----------
    boxes : list of (M_i, 4) float arrays
        ``x, y, w, h`` of each image's boxes, in input pixels.
    labels : list of (M_i,) int arrays
        Class indices.

    Returns
    -------
    heat : (N, K, S, S) float32
        Per-class heatmaps: an elliptical Gaussian per object (standard deviations of a
        sixth of its size in cells, at least 0.5), 1 at its centre cell (the maximum where
        objects of a class overlap).
    box : (N, 4, S, S) float32
        Log width and height in cells, and the centre's offset within its cell, at centres.
    mask : (N, S, S) float32
        1 at the object centres (the cells the regression is trained on).

    Examples
    --------
    >>> heat, box, mask = encode_targets([np.array([[8.0, 8.0, 8.0, 4.0]])], [np.array([1])],
    ...                                  2, 32)
    >>> heat.shape, float(heat[0, 1, 2, 3]), float(mask.sum())
    ((1, 2, 8, 8), 1.0, 1.0)
    >>> [round(float(v), 3) for v in box[0, :, 2, 3]]   # log 2, log 1, offsets 0 and 0.5
    [0.693, 0.0, 0.0, 0.5]
    """
    s = side // STRIDE
    n = len(boxes)
    heat = np.zeros((n, n_classes, s, s), np.float32)
    box = np.zeros((n, 4, s, s), np.float32)
    mask = np.zeros((n, s, s), np.float32)
    grid = np.arange(s, dtype=np.float32)
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        for (x, y, w, h), k in zip(b.tolist(), lab.tolist(), strict=True):
            cx, cy = (x + w / 2) / STRIDE, (y + h / 2) / STRIDE
            ix, iy = min(max(int(cx), 0), s - 1), min(max(int(cy), 0), s - 1)
            sx, sy = max(w / STRIDE / 6, 0.5), max(h / STRIDE / 6, 0.5)
            gx = np.exp(-((grid - ix) ** 2) / (2 * sx * sx))
            gy = np.exp(-((grid - iy) ** 2) / (2 * sy * sy))
            np.maximum(heat[i, k], gy[:, None] * gx[None, :], out=heat[i, k])
            box[i, :, iy, ix] = (
                math.log(max(w, 1e-3) / STRIDE),
                math.log(max(h, 1e-3) / STRIDE),
                cx - ix,
                cy - iy,
            )
            mask[i, iy, ix] = 1.0
    return heat, box, mask


def centernet_loss(
    heat_logits: torch.Tensor,
    box_pred: torch.Tensor,
    heat: torch.Tensor,
    box: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on the heatmaps plus L1 on the regressions at
    the centres, each normalised by the number of objects in the batch."""
    import torch
    from torch.nn import functional

    n_obj = mask.sum().clamp(min=1.0)
    p = torch.sigmoid(heat_logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1.0).float()
    log_p = functional.logsigmoid(heat_logits)
    log_1p = functional.logsigmoid(-heat_logits)
    pos_loss = -(pos * (1 - p) ** 2 * log_p).sum()
    neg_loss = -((1 - pos) * (1 - heat) ** 4 * p**2 * log_1p).sum()
    m = mask.unsqueeze(1)
    l1 = (torch.abs(box_pred - box) * m).sum(dim=(0, 2, 3))
    reg = _SIZE_WEIGHT * (l1[0] + l1[1]) + _OFFSET_WEIGHT * (l1[2] + l1[3])
    return (pos_loss + neg_loss + reg) / n_obj


def decode(
    heat_logits: torch.Tensor,
    box_pred: torch.Tensor,
    max_boxes: int,
    min_score: float,
    scale: float = 1.0,
    shift: float = 0.0,
) -> list[np.ndarray]:
    """Boxes of a batch: per image a (B, 6) float64 array ``x, y, w, h, score, class``.

    Peaks are the cells that are the maximum of their 3x3 neighbourhood in their class's
    heatmap (CenterNet's max-pooling in place of non-maximum suppression); the ``max_boxes``
    highest with a raw heatmap value ``sigmoid(logit)`` ≥ ``min_score`` are kept, highest
    first. Their score is ``sigmoid(scale * logit + shift)`` (Platt scaling; ``scale=1,
    shift=0``: the raw heatmap): monotone, so the calibration changes the scores only, never
    which boxes are kept or their order (nor mAP). Coordinates are in input pixels.
    """
    import torch
    from torch.nn import functional

    logits = heat_logits.float()
    heat = torch.sigmoid(logits)
    peaks = heat * (functional.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    n, _, s, t = heat.shape
    flat = peaks.reshape(n, -1)
    top = min(max_boxes, flat.shape[1])
    scores, index = torch.topk(flat, top, dim=1)
    cls = torch.div(index, s * t, rounding_mode="floor")
    cell = index % (s * t)
    iy = torch.div(cell, t, rounding_mode="floor")
    ix = cell % t
    reg = box_pred.float().reshape(n, 4, s * t)
    g = reg.gather(2, cell.unsqueeze(1).expand(n, 4, top))
    w = torch.exp(g[:, 0].clamp(max=10.0)) * STRIDE
    h = torch.exp(g[:, 1].clamp(max=10.0)) * STRIDE
    cx = (ix.float() + g[:, 2]) * STRIDE
    cy = (iy.float() + g[:, 3]) * STRIDE
    calibrated = torch.sigmoid(logits.reshape(n, -1).gather(1, index) * scale + shift)
    out = torch.stack([cx - w / 2, cy - h / 2, w, h, calibrated, cls.float()], dim=2)
    arr = out.cpu().double().numpy()
    kept = (scores >= min_score).cpu().numpy()
    return [a[k] for a, k in zip(arr, kept, strict=True)]
