"""Export a fitted torch recipe's network to ONNX and verify it with onnxruntime.

The exported graph takes ``input``: float32 ``(batch, C, H, W)`` images that are already
scaled to [0, 1] and normalised with the recipe's per-channel mean and std (see
:func:`normalised_inputs`), and returns ``logits``: float32 ``(batch, n_classes)``, the
class scores before softmax. Logits (not probabilities) are exported so that static int8
quantization does not quantize a softmax output into coarse steps; apply a softmax to get
the probabilities (:func:`softmax`). The batch axis is dynamic.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from datacentric.exceptions import ExportVerificationError, InvalidParameterError

if TYPE_CHECKING:
    import onnxruntime
    import torch

    from datacentric.dataset import Dataset

__all__ = [
    "FittedNet",
    "export_onnx",
    "fitted_net",
    "normalised_inputs",
    "onnx_logits",
    "open_session",
    "softmax",
    "verify_onnx",
]

OPSET = 17
INPUT, OUTPUT = "input", "logits"


@dataclass
class FittedNet:
    """What export needs from a fitted recipe: the network and how to feed it."""

    net: Any  # torch.nn.ModuleDict(features=..., head=...)
    mean: np.ndarray
    std: np.ndarray
    classes: list[str]
    image_size: int
    mode: str
    num_threads: int


def fitted_net(recipe: Any) -> FittedNet:
    """Read the fitted network and normalisation from a torch recipe.

    Raises
    ------
    InvalidParameterError
        When the recipe is not a fitted torch recipe (``SmallCNNRecipe``, ``ResNetRecipe``).
    """
    net = getattr(recipe, "_net", None)
    mean, std = getattr(recipe, "_mean", None), getattr(recipe, "_std", None)
    if net is None or mean is None or std is None:
        title = type(recipe).__name__
        raise InvalidParameterError(
            f"export: the recipe {title} is not fitted (no trained network); received an "
            f"unfitted {title}. Call recipe.fit(ds.split('train')) or {title}.load(path) first."
        )
    return FittedNet(
        net=net,
        mean=np.asarray(mean, dtype=np.float32),
        std=np.asarray(std, dtype=np.float32),
        classes=list(getattr(recipe, "classes_", None) or []),
        image_size=int(recipe.image_size),
        mode=str(getattr(recipe, "_mode", "RGB")),
        num_threads=int(getattr(recipe, "num_threads", 1)),
    )


def normalised_inputs(
    fn: FittedNet, ds: Dataset, sample_ids: list[str] | None = None
) -> np.ndarray:
    """Images of ``ds`` as the network's input: float32 NCHW, scaled and normalised.

    The same transform the recipe applies in ``predict``.
    """
    size = (fn.image_size, fn.image_size)
    batch = ds.load_images(sample_ids, size=size, mode=fn.mode)
    if batch.shape[0] == 0:
        c = 1 if fn.mode == "L" else 3
        return np.zeros((0, c, *size), dtype=np.float32)
    x = (batch.astype(np.float32) / 255.0 - fn.mean) / fn.std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64.

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _logits_module(net: Any) -> torch.nn.Module:
    import torch

    class _Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.inner["head"](self.inner["features"](x))
            return out

    return _Logits(net).eval()


def torch_logits(net: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The network's logits for input ``x`` (float32 NCHW), with torch eager on CPU."""
    import torch

    mod = _logits_module(net)
    outs: list[np.ndarray] = []
    with torch.inference_mode():
        for s in range(0, len(x), batch_size):
            outs.append(mod(torch.from_numpy(x[s : s + batch_size])).float().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def export_onnx(net: Any, path: str | Path, example: np.ndarray) -> Path:
    """Write the network (input -> logits) to ``path`` as ONNX with a dynamic batch axis.

    Uses the TorchScript-based exporter (``dynamo=False``), which needs no extra package.

    Parameters
    ----------
    net : torch.nn.ModuleDict
        ``features`` and ``head``, as a torch recipe holds it.
    path : path
        Output file.
    example : numpy.ndarray
        A float32 NCHW batch (>= 1 row) to trace with.
    """
    import torch

    if example.ndim != 4 or len(example) == 0:
        raise InvalidParameterError(
            f"export_onnx: example must be a non-empty float32 (N, C, H, W) batch, received "
            f"shape {example.shape}."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mod = _logits_module(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            mod,
            (torch.from_numpy(np.ascontiguousarray(example[:2])),),
            str(path),
            dynamo=False,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
            opset_version=OPSET,
        )
    return path


def open_session(path: str | Path, threads: int = 1) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def onnx_logits(
    session: onnxruntime.InferenceSession, x: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Logits of an exported model for input ``x`` (float32 NCHW)."""
    outs = [
        np.asarray(session.run([OUTPUT], {INPUT: x[s : s + batch_size]})[0])
        for s in range(0, len(x), batch_size)
    ]
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def verify_onnx(
    path: str | Path, net: Any, x: np.ndarray, *, atol: float = 1e-4, threads: int = 1
) -> float:
    """Compare the ONNX model's probabilities with torch's on ``x``; return the max abs diff.

    Raises
    ------
    ExportVerificationError
        When the largest difference of the softmax probabilities exceeds ``atol``.
    """
    ref = softmax(torch_logits(net, x))
    got = softmax(onnx_logits(open_session(path, threads), x))
    diff = float(np.abs(ref - got).max()) if ref.size else 0.0
    if not diff <= atol:
        raise ExportVerificationError(
            f"export: the ONNX model {str(path)!r} does not match torch: the largest absolute "
            f"difference of the class probabilities on {len(x)} sample(s) is {diff:.3g}, more "
            f"than the tolerance {atol:g}. Check the network for ops the exporter does not "
            "support, or raise the tolerance.",
            max_abs_diff=diff,
            tolerance=atol,
        )
    return diff
