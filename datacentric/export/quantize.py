"""int8 quantization with onnxruntime, and the stratified calibration sample it uses.

Calibration sample (:func:`calibration_sample`): the rows of the calibration dataset are put
in groups by (the set of slices the row belongs to, its label); groups are visited in a
seeded random order, round-robin, taking one not-yet-taken row (in a seeded random order
within the group) from each group per round, until ``size`` rows are taken or every row is.
So every slice/class combination present is represented, small groups entirely, and no
single large group (or the first rows of the manifest) dominates.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datacentric._validation import Interval, validate_call
from datacentric.dataset import Dataset
from datacentric.exceptions import CalibrationDataError

__all__ = [
    "STATIC_OP_TYPES",
    "calibration_sample",
    "float_input_convs",
    "quantize_dynamic_model",
    "quantize_static_model",
]


@validate_call(
    {
        "size": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }
)
def calibration_sample(
    ds: Dataset | None, slices: Any = None, *, size: int = 256, seed: int = 0
) -> list[str]:
    """Sample ids drawn round-robin over (slice membership, label) groups, seeded.

    Parameters
    ----------
    ds : Dataset
        The rows to draw from (labels are optional; unlabeled rows form their own group).
    slices : YAML path/text, list of Slice/SliceSpec, or None
        As for :func:`datacentric.slices.evaluate`; ``None``: one slice per value of every
        metadata column.
    size : int
        At most this many rows.
    seed : int
        Seeds the group order and the order within groups.

    Raises
    ------
    CalibrationDataError
        When ``ds`` is None or has no rows.

    Examples
    --------
    >>> ds = Dataset.from_arrays(np.zeros((6, 2, 2)), [0, 0, 0, 0, 0, 1], ["a", "b"],
    ...                          metadata={"site": ["x", "x", "x", "x", "x", "y"]})
    >>> '5' in calibration_sample(ds, size=2)  # the rare site/class is always drawn
    True
    """
    from datacentric.slices.evaluate import resolve_slices

    if ds is None or len(ds) == 0:
        got = "None" if ds is None else "a dataset with 0 rows"
        raise CalibrationDataError(
            f"compress: static int8 quantization needs calibration data; received {got}. "
            "Pass a dataset with representative rows (e.g. ds.split('train')), or drop the "
            "'onnx-int8-static' target."
        )
    frame = ds.manifest
    metadata = [c for c in ds.metadata_columns if c != "annotator"]
    resolved = resolve_slices(slices, frame, metadata)
    keys = [frame["label"].cast(pl.Utf8).fill_null("<unlabeled>").alias("_label")]
    keys += [s.mask(frame).alias(f"_s{i}") for i, s in enumerate(resolved)]
    key_frame = frame.select(pl.col("sample_id"), *keys).with_row_index("_row")
    groups = key_frame.group_by([c for c in key_frame.columns if c.startswith("_") and c != "_row"])
    rng = np.random.default_rng(seed)
    members = sorted(
        (sorted(g["_row"].to_list()) for _, g in groups),
        key=lambda rows: rows[0],  # a deterministic order before the seeded shuffle
    )
    members = [list(rng.permutation(m)) for m in members]
    order = rng.permutation(len(members))
    ids = frame["sample_id"].to_list()
    taken: list[str] = []
    depth = 0
    while len(taken) < size and any(depth < len(m) for m in members):
        for gi in order:
            if depth < len(members[gi]) and len(taken) < size:
                taken.append(ids[int(members[gi][depth])])
        depth += 1
    return taken


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs advice on the root logger at WARNING; hide it."""
    root = logging.getLogger()
    prev = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(prev)


class _Reader:
    """An onnxruntime ``CalibrationDataReader`` over batches of a float32 array."""

    def __init__(self, x: np.ndarray, batch_size: int = 32) -> None:
        self._batches = [x[s : s + batch_size] for s in range(0, len(x), batch_size)]
        self._i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        from datacentric.export.onnx import INPUT

        if self._i >= len(self._batches):
            return None
        self._i += 1
        return {INPUT: self._batches[self._i - 1]}

    def rewind(self) -> None:
        self._i = 0


def quantize_dynamic_model(src: str | Path, dst: str | Path) -> Path:
    """int8 weights, activations quantized on the fly (``onnxruntime.quantization``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst = Path(dst)
    with _quiet_root_logger():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    return dst


#: Operators quantized by the static target. Pooling by averaging stays in float: onnxruntime's
#: ``QLinearAveragePool`` took a third of the int8 model's time on the demo CNN.
STATIC_OP_TYPES: tuple[str, ...] = ("Conv", "Gemm", "MatMul", "MaxPool", "Relu", "Add")


def float_input_convs(model_path: str | Path, max_in_channels: int = 4) -> list[str]:
    """Names of the Conv nodes that read the network input with at most ``max_in_channels``.

    An int8 convolution over 1-4 input channels is slower than the float one (the int8 GEMM
    has nothing to vectorise over: 0.97 ms vs 0.22 ms for the demo CNN's first layer at batch
    64) and the first layer is the most sensitive to quantization, so the static target keeps
    it in float.
    """
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    graph = model.graph
    inputs = {i.name for i in graph.input}
    weights = {t.name: list(t.dims) for t in graph.initializer}
    names = []
    for node in graph.node:
        if node.op_type != "Conv" or not node.input or node.input[0] not in inputs:
            continue
        dims = weights.get(node.input[1]) if len(node.input) > 1 else None
        if node.name and dims is not None and len(dims) >= 2 and dims[1] <= max_in_channels:
            names.append(node.name)
    return names


def quantize_static_model(
    src: str | Path,
    dst: str | Path,
    calib_x: np.ndarray,
    *,
    per_channel: bool = True,
    float_first_conv: bool = True,
) -> Path:
    """int8 weights and activations in QDQ format, calibrated (min-max) on ``calib_x``.

    The operators in :data:`STATIC_OP_TYPES` are quantized (weights per channel, activations
    per tensor, both signed int8); average pooling and, with ``float_first_conv``, the
    convolution that reads the 1-4 channel input image stay in float (see
    :func:`float_input_convs`): on the demo CNN at batch 64 that takes the int8 model from
    0.93x to 0.62x of the float ONNX model's latency.

    Parameters
    ----------
    calib_x : numpy.ndarray
        Float32 NCHW network inputs of the calibration sample (see
        :func:`calibration_sample` and :func:`datacentric.export.onnx.normalised_inputs`).
    per_channel : bool
        Per-output-channel weight scales (more accurate, same speed).
    float_first_conv : bool
        Keep the first convolution in float.

    Raises
    ------
    CalibrationDataError
        When ``calib_x`` has no rows.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if calib_x is None or len(calib_x) == 0:
        raise CalibrationDataError(
            "quantize_static_model: the calibration batch is empty (received 0 rows). "
            "Pass representative inputs."
        )

    class Reader(_Reader, CalibrationDataReader):
        pass

    dst = Path(dst)
    exclude = float_input_convs(src) if float_first_conv else []
    with _quiet_root_logger():
        quantize_static(
            str(src),
            str(dst),
            Reader(np.ascontiguousarray(calib_x, dtype=np.float32)),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(STATIC_OP_TYPES),
            nodes_to_exclude=exclude,
            per_channel=per_channel,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return dst
