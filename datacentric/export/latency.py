"""CPU latency of a model: p50/p95 over repeats, warm-up runs excluded."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["measure", "measure_many", "onnx_runner", "torch_runner"]


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
    one = measure_many({"model": run}, x, batch_sizes=batch_sizes, repeats=repeats, warmup=warmup)
    return one["model"]


def measure_many(
    runners: dict[str, Callable[[np.ndarray], Any]],
    x: np.ndarray,
    *,
    batch_sizes: tuple[int, ...] = (1, 64),
    repeats: int = 20,
    warmup: int = 3,
) -> dict[str, dict[str, float]]:
    """:func:`measure` for several models at once, interleaved so they share the same load.

    Each timed round calls every runner once, in an order rotated from round to round, so a
    burst of load from another process slows all models alike instead of the one that
    happened to be measured at that moment. Ratios between models (the export's speed-up vs
    torch) are then much steadier on a shared machine.

    Returns
    -------
    dict
        ``{name: {"p50@B": ms, "p95@B": ms, ...}}``.

    Examples
    --------
    >>> out = measure_many({"a": lambda b: b.sum(), "b": lambda b: b.max()}, np.ones((2, 3)),
    ...                    batch_sizes=(1,), repeats=3)
    >>> sorted(out), sorted(out["a"])
    (['a', 'b'], ['p50@1', 'p95@1'])
    """
    names = list(runners)
    out: dict[str, dict[str, float]] = {n: {} for n in names}
    for b in batch_sizes:
        reps = int(np.ceil(b / len(x)))
        batch = np.ascontiguousarray(np.concatenate([x] * reps)[:b])
        for name in names:
            for _ in range(warmup):
                runners[name](batch)
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(repeats):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                t0 = time.perf_counter()
                runners[name](batch)
                times[name].append((time.perf_counter() - t0) * 1000.0)
        for name in names:
            out[name][f"p50@{b}"] = float(np.percentile(times[name], 50))
            out[name][f"p95@{b}"] = float(np.percentile(times[name], 95))
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
