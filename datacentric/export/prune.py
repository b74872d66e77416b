"""L1 unstructured pruning of a network's convolution and linear weights."""

from __future__ import annotations

import copy
from numbers import Real
from typing import Any

from datacentric._validation import Interval, validate_call
from datacentric.exceptions import InvalidParameterError

__all__ = ["prune_network", "sparsity"]


def _prunable(net: Any) -> list[Any]:
    from torch import nn

    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@validate_call({"amount": [Interval(Real, 0, 1, closed="neither")]})
def prune_network(net: Any, amount: float) -> Any:
    """A copy of ``net`` with the ``amount`` fraction of smallest-magnitude weights set to 0.

    Global L1 unstructured pruning (``torch.nn.utils.prune.global_unstructured``) over every
    ``Conv2d`` and ``Linear`` weight, made permanent with ``prune.remove`` so the result is a
    plain module. Biases and BatchNorm parameters are kept. ``net`` is not modified.

    Examples
    --------
    >>> from torch import nn
    >>> pruned = prune_network(nn.Sequential(nn.Linear(10, 10)), 0.5)
    >>> round(sparsity(pruned), 2)
    0.5
    """
    import torch
    from torch.nn.utils import prune

    # pruning views weights as flat vectors: channels-last weights must be made contiguous
    out = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    modules = _prunable(out)
    if not modules:
        raise InvalidParameterError(
            "prune_network: the network has no Conv2d or Linear layer to prune."
        )
    params = [(m, "weight") for m in modules]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=float(amount))
    for m, name in params:
        prune.remove(m, name)
    out.eval()
    return out


def sparsity(net: Any) -> float:
    """Fraction of zero weights over the ``Conv2d`` and ``Linear`` weights of ``net``."""
    total = zeros = 0
    for m in _prunable(net):
        total += m.weight.numel()
        zeros += int((m.weight == 0).sum())
    return zeros / total if total else 0.0
