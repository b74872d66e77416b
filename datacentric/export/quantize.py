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
    "compact_quantized_model",
    "float_input_convs",
    "onnx_size_breakdown",
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


def quantize_dynamic_model(src: str | Path, dst: str | Path, *, compact: bool = True) -> Path:
    """int8 weights, activations quantized on the fly (``onnxruntime.quantization``).

    With ``compact`` (default) the file is then passed through
    :func:`compact_quantized_model` (same computation, fewer bytes).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst = Path(dst)
    with _quiet_root_logger():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    return compact_quantized_model(dst) if compact else dst


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
    compact: bool = True,
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
    compact : bool
        Pass the quantizer's file through :func:`compact_quantized_model` (same
        computation, fewer bytes).

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
    return compact_quantized_model(dst) if compact else dst


def _is_zero_tensor(t: Any) -> bool:
    from onnx import numpy_helper

    return not np.asarray(numpy_helper.to_array(t)).any()


def compact_quantized_model(path: str | Path) -> Path:
    """Rewrite a quantized ONNX file without what neither the computation nor a runtime needs.

    Two things the onnxruntime quantizer writes are dropped, in place:

    - ``graph.value_info``: the shapes of intermediate tensors from the quantizer's own
      shape inference (the torch exporter writes none into the fp32 file; a runtime infers
      them when it loads the model);
    - the zero point of a ``DequantizeLinear`` whose input is a constant (a quantized weight
      or bias) when that zero point is all zeros, as symmetric int8 weights and int32 biases
      always have: ONNX defines an absent zero point as 0 of the input's type, so the
      operator's output is unchanged; the initializers no longer read are removed.

    Zero points of activations (``QuantizeLinear``, whose zero point also gives its output
    type, and the ``DequantizeLinear`` paired with it) are kept: onnxruntime fuses a Q/DQ
    pair into an int8 operator only when both carry them. Nothing else changes: the node
    names, the ops, every other constant. onnxruntime's outputs are bit-for-bit those of the
    quantizer's file (asserted in ``tests/export/test_quantize_size.py`` and the detector
    export benchmark).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    graph = model.graph
    del graph.value_info[:]
    consts = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if (
            node.op_type == "DequantizeLinear"
            and node.domain in ("", "ai.onnx")
            and len(node.input) == 3
            and node.input[0] in consts
            and node.input[2] in consts
            and _is_zero_tensor(consts[node.input[2]])
        ):
            del node.input[2]
    read = {name for node in graph.node for name in node.input}
    read |= {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.save(model, str(path))
    return path


#: Roles of an initializer read by input ``i`` of these ops.
_WEIGHT_INPUTS = {"Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,), "ConvTranspose": (1, 2)}
_INT_OPS = {"ConvInteger": {1: "weight_int8", 3: "weight_zero_point"},
            "MatMulInteger": {1: "weight_int8", 3: "weight_zero_point"}}  # fmt: skip


def _initializer_role(t: Any, uses: list[tuple[Any, int]], consts: dict[str, Any]) -> str:
    """What an initializer is for, from the first node that reads it."""
    import onnx

    if not uses:
        return "unused"
    node, i = uses[0]
    dtype = onnx.TensorProto.DataType.Name(t.data_type).lower()
    if node.op_type in ("DequantizeLinear", "QuantizeLinear"):
        src = consts.get(node.input[0])
        owner = "activation"
        if src is not None:
            owner = "bias" if src.data_type == onnx.TensorProto.INT32 else "weight"
        if i == 0:
            return f"{owner}_{dtype}"
        return f"{owner}_{'scale' if i == 1 else 'zero_point'}"
    if node.op_type in _INT_OPS and i in _INT_OPS[node.op_type]:
        return _INT_OPS[node.op_type][i]
    if i in _WEIGHT_INPUTS.get(node.op_type, ()) and t.data_type == onnx.TensorProto.FLOAT:
        return "float_weight" if i == 1 else "float_bias"
    return f"other_{dtype}"


def onnx_size_breakdown(path: str | Path) -> dict[str, Any]:
    """Where the bytes of an ONNX file go (serialized protobuf sizes).

    Returns a dict: ``total`` (the file's bytes); ``initializers`` (bytes and count per
    role: ``weight_int8``, ``weight_scale``, ``weight_zero_point``, ``bias_int32``,
    ``bias_scale``, ``bias_zero_point``, ``activation_scale``, ``activation_zero_point``,
    ``float_weight``/``float_bias`` — float constants a compute op reads directly, i.e. not
    quantized —, ``other_<dtype>``); ``tensor_data`` (the tensors' payload bytes, without
    names and shapes); ``nodes`` (bytes, count, count per op type); ``name_strings`` (bytes
    of initializer names, node names and node input/output names, all counted inside
    ``initializers``/``nodes`` too); ``value_info`` (intermediate shape annotations);
    ``metadata`` (producer, doc strings, metadata properties, opset imports, the graph
    field's framing);
    ``float_compute_nodes`` (ops, per type, that run in float: neither an integer op nor,
    in QDQ form, an op between a ``DequantizeLinear`` and a ``QuantizeLinear``); ``other``
    (the rest of the protobuf framing).

    Raises
    ------
    SchemaError
        When ``path`` is not an ONNX model.

    Examples
    --------
    >>> import tempfile
    >>> import onnx
    >>> from onnx import helper, TensorProto
    >>> tmp = Path(tempfile.mkdtemp())
    >>> w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [2.0])
    >>> g = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "w"], ["y"])], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 2, 2])], [w])
    >>> onnx.save(helper.make_model(g), tmp / "m.onnx")
    >>> b = onnx_size_breakdown(tmp / "m.onnx")
    >>> b["initializers"]["float_weight"]["count"], b["float_compute_nodes"]
    (1, {'Conv': 1})
    """
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import numpy_helper

    from datacentric._io import os_errors_as
    from datacentric.exceptions import SchemaError

    path = Path(path)
    with os_errors_as(path, "read"):
        data = path.read_bytes()
    try:
        model = onnx.ModelProto.FromString(data)
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise SchemaError(
            f"onnx_size_breakdown: {str(path)!r} is not an ONNX model (protobuf: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}). Pass a .onnx "
            "file written by an ONNX exporter or quantizer."
        ) from None
    if not model.HasField("graph"):
        raise SchemaError(
            f"onnx_size_breakdown: {str(path)!r} is not an ONNX model (received a file "
            f"of {len(data)} bytes with no graph). Pass a .onnx file written by an ONNX "
            "exporter or quantizer."
        )
    graph = model.graph
    consts = {t.name: t for t in graph.initializer}
    uses: dict[str, list[tuple[Any, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, i))
    roles: dict[str, dict[str, int]] = {}
    for t in graph.initializer:
        role = _initializer_role(t, uses.get(t.name, []), consts)
        entry = roles.setdefault(role, {"bytes": 0, "count": 0})
        entry["bytes"] += t.ByteSize()
        entry["count"] += 1
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    plumbing = {"Constant", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
    float_nodes: dict[str, int] = {}
    ops: dict[str, int] = {}
    for node in graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
        # int8: an integer op, or (QDQ) one that reads a dequantized tensor and whose
        # output is quantized again
        qdq = any(s in dequantized for s in node.input) and any(
            user.op_type == "QuantizeLinear" for o in node.output for user, _ in uses.get(o, [])
        )
        integer = "Integer" in node.op_type or node.op_type.startswith("QLinear")
        if node.op_type not in plumbing and not (qdq or integer):
            float_nodes[node.op_type] = float_nodes.get(node.op_type, 0) + 1
    init_bytes = sum(t.ByteSize() for t in graph.initializer)
    node_bytes = sum(n.ByteSize() for n in graph.node)
    vi_bytes = sum(v.ByteSize() for v in graph.value_info)
    meta = model.ByteSize() - graph.ByteSize()  # with the graph field's own framing
    total = len(data)
    return {
        "total": total,
        "initializers": dict(sorted(roles.items())),
        "tensor_data": sum(int(numpy_helper.to_array(t).nbytes) for t in graph.initializer),
        "nodes": {"bytes": node_bytes, "count": len(graph.node), "ops": dict(sorted(ops.items()))},
        "name_strings": {
            "initializer_names": sum(len(t.name.encode()) for t in graph.initializer),
            "node_names": sum(len(n.name.encode()) for n in graph.node),
            "edge_names": sum(len(s.encode()) for n in graph.node for s in (*n.input, *n.output)),
        },
        "value_info": vi_bytes,
        "metadata": meta,
        "float_compute_nodes": dict(sorted(float_nodes.items())),
        "other": total - init_bytes - node_bytes - vi_bytes - meta,
    }
