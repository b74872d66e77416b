"""Quantization-aware training (QAT) of a fitted torch recipe, for the ``qat-int8`` target.

The flow (torch.ao fake-quantization modules on a BatchNorm-folded copy; eager, no FX
conversion or ``torch.quantize_per_tensor`` tensors, which torch deprecates):

1. Copy the fitted network and fold every BatchNorm into the convolution or linear layer
   before it (``torch.fx.experimental.optimization.fuse``), as the ONNX export does.
2. Wrap every ``Conv2d`` and ``Linear`` — except a first convolution over 1-4 input
   channels, which the static target keeps in float (see
   :func:`~datacentric.export.quantize.float_input_convs`) — with
   ``torch.ao.quantization.FakeQuantize``: weights per output channel, symmetric int8
   [-127, 127] (min-max); the layer's input and output per tensor, asymmetric int8
   (moving-average min-max). That is the scheme of the static target (onnxruntime QDQ, int8
   activations and weights), so the weights learn to live with the rounding they will get.
3. Fine-tune for a few epochs with the recipe's own training loop (AdamW, one-cycle schedule,
   its augmentation and batch size) at 1 % of its learning rate (``lr_scale``: the usual
   advice for QAT fine-tuning, e.g. NVIDIA's TensorRT QAT guide); the
   observers are frozen for the last epoch, so the ranges stop moving while the weights settle.
   The objective (``objective="match_float"``, the default) is the float model's own
   predictions on the same augmented batch — ``KL(p_float || p_fake_quant)`` — so the
   quantized network learns to reproduce the model it replaces rather than to fit the labels
   again (labels may be noisy, and refitting them moves predictions the gate then counts as
   changes). ``objective="labels"`` is plain cross-entropy on the labels.
4. The fine-tuned float network is exported to ONNX and quantized with the static target's
   quantizer on the same calibration sample (:func:`quantize_static_model`): int8 QDQ.
5. That int8 model is checked against the fake-quant torch model on the evaluation inputs
   (share of equal predicted classes, largest probability difference), reported with the
   artefact.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import numpy as np

from datacentric._validation import Interval, validate_call
from datacentric.exceptions import InvalidDatasetError, InvalidParameterError

if TYPE_CHECKING:
    import torch

    from datacentric.dataset import Dataset

__all__ = ["QATModel", "fake_quant_network", "fine_tune_qat", "float_network"]

#: Fine-tuning epochs and the share of the recipe's learning rate they use.
QAT_EPOCHS = 3
QAT_LR_SCALE = 0.01
OBJECTIVES = ("match_float", "labels")


@dataclass
class QATModel:
    """The result of :func:`fine_tune_qat`.

    Attributes
    ----------
    fake_quant : torch.nn.ModuleDict
        ``features``/``head`` with fake-quantization (eval mode, observers frozen).
    float : torch.nn.ModuleDict
        The same fine-tuned weights without fake-quantization: what is exported.
    epochs, lr : int, float
        What the fine-tuning ran.
    n_train : int
        Labeled training rows.
    n_quantized : int
        Layers trained with fake-quantization.
    objective : str
        ``"match_float"`` or ``"labels"``.
    """

    fake_quant: Any
    float: Any
    epochs: int
    lr: float
    n_train: int
    n_quantized: int
    objective: str = "match_float"


class _MatchFloat:
    """QAT's default objective: ``KL(p_float || p_fake_quant)`` on the same input batch."""

    def __init__(self, net: Any) -> None:
        self.net = net

    def loss(self, logits: torch.Tensor, target: torch.Tensor, rows: Any, x: torch.Tensor) -> Any:
        import torch
        from torch.nn import functional

        with torch.no_grad():
            reference = functional.softmax(self.net["head"](self.net["features"](x)), dim=1)
        return functional.kl_div(
            functional.log_softmax(logits, dim=1), reference, reduction="batchmean"
        )


def _wrapper(inner: Any) -> torch.nn.Module:
    """``inner`` (a Conv2d or Linear) with fake-quantized weights, input and output."""
    import torch
    from torch.ao.quantization import (
        FakeQuantize,
        MovingAverageMinMaxObserver,
        PerChannelMinMaxObserver,
    )
    from torch.nn import functional

    def activation() -> torch.nn.Module:
        return FakeQuantize(
            observer=MovingAverageMinMaxObserver,
            quant_min=-128,
            quant_max=127,
            dtype=torch.qint8,
            qscheme=torch.per_tensor_affine,
        )

    class FakeQuantized(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner
            self.input_fq = activation()
            self.weight_fq = FakeQuantize(
                observer=PerChannelMinMaxObserver,
                quant_min=-127,
                quant_max=127,
                dtype=torch.qint8,
                qscheme=torch.per_channel_symmetric,
                ch_axis=0,
            )
            self.output_fq = activation()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            w = self.weight_fq(self.inner.weight)
            x = self.input_fq(x)
            if isinstance(self.inner, torch.nn.Conv2d):
                y = self.inner._conv_forward(x, w, self.inner.bias)
            else:
                y = functional.linear(x, w, self.inner.bias)
            out: torch.Tensor = self.output_fq(y)
            return out

    return FakeQuantized()


def _set(root: Any, name: str, module: Any) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def fake_quant_network(net: Any, *, float_first_conv: bool = True) -> tuple[Any, int]:
    """A BatchNorm-folded copy of ``net`` with fake-quantized Conv2d/Linear layers.

    Returns the network (train mode, observers on) and the number of wrapped layers.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.ModuleDict({
    ...     "features": torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
    ...                                     torch.nn.ReLU(), torch.nn.Flatten()),
    ...     "head": torch.nn.Linear(4 * 6 * 6, 2)}).eval()
    >>> fq, n = fake_quant_network(net)
    >>> n     # the head; the first conv reads a 1-channel image and stays in float
    1
    >>> fq["head"](fq["features"](torch.zeros(2, 1, 8, 8))).shape
    torch.Size([2, 2])
    """
    import torch
    from torch.fx.experimental.optimization import fuse

    was_training = net.training
    net.eval()
    try:
        features = fuse(net["features"])  # a folded copy (BatchNorm in eval: running stats)
    finally:
        net.train(was_training)
    out = torch.nn.ModuleDict({"features": features, "head": copy.deepcopy(net["head"])})
    first = True
    targets = []
    for name, mod in out.named_modules():
        if isinstance(mod, torch.nn.Conv2d):
            keep_float = first and float_first_conv and mod.in_channels <= 4
            first = False
            if not keep_float:
                targets.append(name)
        elif isinstance(mod, torch.nn.Linear):
            targets.append(name)
    for name in targets:
        _set(out, name, _wrapper(out.get_submodule(name)))
    return out.train(), len(targets)


def float_network(fake_quant: Any) -> Any:
    """A copy of a :func:`fake_quant_network` without its fake-quantization (same weights)."""
    out = copy.deepcopy(fake_quant)
    wrapped = [n for n, m in out.named_modules() if hasattr(m, "weight_fq")]
    for name in wrapped:
        _set(out, name, out.get_submodule(name).inner)
    return out.eval()


@validate_call(
    {
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr_scale": [Interval(Real, 0, None, closed="neither")],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "float_first_conv": ["boolean"],
        "progress": ["boolean"],
    }
)
def fine_tune_qat(
    recipe: Any,
    train_ds: Dataset,
    *,
    epochs: int = QAT_EPOCHS,
    lr_scale: float = QAT_LR_SCALE,
    seed: int = 0,
    float_first_conv: bool = True,
    objective: str = "match_float",
    progress: bool = False,
) -> QATModel:
    """Quantization-aware fine-tuning of a fitted torch recipe on ``train_ds``'s labeled rows.

    The recipe itself is not changed. See the module docstring for the flow.

    Raises
    ------
    InvalidParameterError
        When ``recipe`` is not a fitted torch recipe, or a setting is out of range.
    InvalidDatasetError
        When ``train_ds`` has no labeled row, or other classes than the recipe.
    """
    import torch
    from torch.ao.quantization import disable_observer

    from datacentric.train._torch_recipe import _on, _torch_settings, resolve_device

    if objective not in OBJECTIVES:
        raise InvalidParameterError(
            f"fine_tune_qat: parameter objective must be one of {', '.join(OBJECTIVES)}; "
            f"received {objective!r}. Pass 'match_float' (the default) or 'labels'."
        )
    from datacentric.export.onnx import fitted_net

    fitted_net(recipe)  # an unfitted or non-torch recipe: the export's one-line error

    labels = train_ds.label_indices()
    labeled = np.flatnonzero(labels >= 0)
    classes = list(getattr(recipe, "classes_", None) or [])
    if labeled.size == 0 or list(train_ds.classes) != classes:
        raise InvalidDatasetError(
            "qat-int8: quantization-aware fine-tuning needs labeled training rows with the "
            f"model's classes {classes!r}; received {len(train_ds)} rows, {labeled.size} "
            f"labeled, classes {list(train_ds.classes)!r}. Pass the training rows as calib_ds "
            "(or train_ds)."
        )
    fq, n_quantized = fake_quant_network(recipe._net, float_first_conv=float_first_conv)
    ids = train_ds.sample_ids
    images = recipe._images(train_ds, [ids[i] for i in labeled])
    lr = float(recipe.lr) * float(lr_scale)
    dev = resolve_device(recipe._title, recipe.device)

    def on_epoch(k: int) -> None:
        if epochs > 1 and k == epochs - 1:
            fq.apply(disable_observer)

    rng = np.random.default_rng(seed)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    reference = recipe._net
    target = _MatchFloat(reference) if objective == "match_float" else None
    with (
        _torch_settings(recipe.num_threads, dev),
        torch.random.fork_rng(devices=devices),
        _on(reference, dev),
    ):
        torch.manual_seed(seed)
        reference.eval()
        recipe._train_net(
            fq,
            images,
            labels[labeled],
            (recipe._mean, recipe._std),
            rng=rng,
            epochs=epochs,
            lr=lr,
            device=dev,
            progress=progress,
            soft=target,
            on_epoch=on_epoch,
        )
    fq.apply(disable_observer)
    fq.eval()
    return QATModel(
        fake_quant=fq,
        float=float_network(fq),
        epochs=epochs,
        lr=lr,
        n_train=int(labeled.size),
        n_quantized=n_quantized,
        objective=objective,
    )
