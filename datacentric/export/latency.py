"""CPU latency of a model: p50/p95 over repeats, warm-up runs excluded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["measure", "onnx_runner", "torch_runner"]


def measure(
    run: Callable[[np.ndarray], Any],
    x: np.ndarray,
    *,
    batch_sizes: tuple[int, ...] = (1, 64),
    repeats: int = 20,
    warmup: int = 3,
) -> dict[str, float]:
    """Milliseconds per call of ``run(batch)``: ``p50@B`` and ``p95@B`` for each batch size.

    The batch of size B is the first B rows of ``x`` (tiled when ``x`` has fewer rows). The
    first ``warmup`` calls are not timed.

    Examples
    --------
    >>> sorted(measure(lambda b: b.sum(), np.ones((2, 3)), batch_sizes=(1,), repeats=3))
    ['p50@1', 'p95@1']
    """
    out: dict[str, float] = {}
    for b in batch_sizes:
        reps = int(np.ceil(b / len(x)))
        batch = np.ascontiguousarray(np.concatenate([x] * reps)[:b])
        for _ in range(warmup):
            run(batch)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(batch)
            times.append((time.perf_counter() - t0) * 1000.0)
        out[f"p50@{b}"] = float(np.percentile(times, 50))
        out[f"p95@{b}"] = float(np.percentile(times, 95))
    return out


def onnx_runner(session: Any) -> Callable[[np.ndarray], Any]:
    """``run(batch)`` for an onnxruntime session of an exported model."""
    from datacentric.export.onnx import INPUT, OUTPUT

    return lambda batch: session.run([OUTPUT], {INPUT: batch})


def torch_runner(net: Any, threads: int = 1) -> Callable[[np.ndarray], Any]:
    """``run(batch)`` for the torch network in eager mode (inference mode, ``threads``)."""
    import torch

    def run(batch: np.ndarray) -> Any:
        prev = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                return net["head"](net["features"](torch.from_numpy(batch)))
        finally:
            torch.set_num_threads(prev)

    return run
