"""Read a ``.tflite`` flatbuffer: tensors (types, shapes, quantization, weights) and ops.

It reads the file with the schema module that ships in the ``ai-edge-litert`` wheel and
never imports TensorFlow, so it also runs on a device. Only the main subgraph (0) is read:
that is the model's graph; other subgraphs hold control flow bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeloop.errors import EdgeloopError

# Ops whose input 1 is the weight tensor whose zeros pruning makes.
_WEIGHT_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1, "CONV_3D": 1}
_NUMPY = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "uint8": np.uint8, "int64": np.int64,
          "int16": np.int16, "int8": np.int8, "float64": np.float64, "uint32": np.uint32, "uint16": np.uint16, "bool": np.bool_}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the graph.

    Attributes:
        index: position in the subgraph's tensor list.
        name: the tensor's name (the converter joins the Keras op names it fused).
        dtype: ``int8``, ``uint8``, ``int32``, ``float32`` …
        shape: static shape.
        shape_signature: shape with ``-1`` for dynamic dimensions (``shape`` if absent).
        is_constant: holds data in the file (weights, biases, shape constants).
        scales: quantization scales (empty for float tensors).
        zero_points: quantization zero points.
        data: the constant's values (``None`` for activations).
    """

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    is_constant: bool
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    data: np.ndarray | None = None


@dataclass(frozen=True)
class OpInfo:
    """One operator: its name (``CONV_2D``, or the custom code) and tensor indices."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`read_model` found: tensors, ops (in execution order), I/O tensor indices."""

    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    size_bytes: int

    def producer(self) -> dict[int, OpInfo]:
        """Tensor index -> the op that writes it."""
        return {t: op for op in self.ops for t in op.outputs}


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise EdgeloopError("reading .tflite files needs ai-edge-litert: pip install ai-edge-litert") from None
    return schema_py_generated


def _names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def read_model(model: str | Path | bytes) -> ModelInfo:
    """Parse a ``.tflite`` file (a path or its bytes).

    Raises:
        EdgeloopError: missing file, or bytes that are not a TFLite flatbuffer.
    """
    where = "the given bytes"
    if isinstance(model, (str, Path)):
        where = str(model)
        try:
            model = Path(model).read_bytes()
        except FileNotFoundError:
            raise EdgeloopError(f"model not found: {where}") from None
        except OSError as exc:
            raise EdgeloopError(f"cannot read {where}: {exc.strerror}") from None
    buf = bytes(model)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise EdgeloopError(f"not a TFLite model (no TFL3 identifier): {where}")
    schema = _schema()
    try:
        return _parse(schema, buf)
    except EdgeloopError:
        raise
    except Exception as exc:  # a truncated or corrupt flatbuffer fails anywhere inside
        raise EdgeloopError(f"corrupt TFLite model {where}: {type(exc).__name__}: {exc}") from None


def _parse(schema, buf: bytes) -> ModelInfo:
    root = schema.Model.GetRootAs(buf, 0)
    if root.SubgraphsLength() < 1:
        raise EdgeloopError("the TFLite model has no subgraph")
    graph = root.Subgraphs(0)
    type_names = _names(schema.TensorType)
    op_names = _names(schema.BuiltinOperator)
    tensors = []
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        dtype = type_names.get(t.Type(), str(t.Type())).lower()
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        signature = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
        data = _buffer_data(root.Buffers(t.Buffer()), buf, dtype, shape) if t.Buffer() > 0 else None
        q = t.Quantization()
        scales = tuple(float(s) for s in q.ScaleAsNumpy()) if q is not None and q.ScaleLength() else ()
        zero_points = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q is not None and q.ZeroPointLength() else ()
        name = t.Name().decode("utf-8", "replace") if t.Name() else f"tensor_{i}"
        tensors.append(TensorInfo(i, name, dtype, shape, signature, data is not None, scales, zero_points, data))
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = root.OperatorCodes(op.OpcodeIndex())
        # Old files carry the code in the deprecated byte field; new ones in BuiltinCode.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(builtin, str(builtin))
        if name == "CUSTOM" and code.CustomCode():
            name = code.CustomCode().decode("utf-8", "replace")
        inputs = tuple(int(x) for x in op.InputsAsNumpy()) if op.InputsLength() else ()
        outputs = tuple(int(x) for x in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        ops.append(OpInfo(i, name, inputs, outputs))
    inputs = tuple(int(x) for x in graph.InputsAsNumpy()) if graph.InputsLength() else ()
    outputs = tuple(int(x) for x in graph.OutputsAsNumpy()) if graph.OutputsLength() else ()
    return ModelInfo(tuple(tensors), tuple(ops), inputs, outputs, len(buf))


def _buffer_data(buffer, buf: bytes, dtype: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if buffer is None:
        return None
    if buffer.DataLength():
        raw = buffer.DataAsNumpy().tobytes()
    elif buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
        raw = buf[buffer.Offset(): buffer.Offset() + buffer.Size()]
    else:
        return None
    np_type = _NUMPY.get(dtype)
    if np_type is None:
        return np.frombuffer(raw, dtype=np.uint8)
    values = np.frombuffer(raw, dtype=np_type)
    return values.reshape(shape) if shape and values.size == int(np.prod(shape)) else values


def _weight_tensors(info: ModelInfo):
    """(Keras layer name, tensor, values as [output channel, -1]) for each conv / FC weight tensor."""
    for op in info.ops:
        position = _WEIGHT_INPUT.get(op.name)
        if position is None or len(op.inputs) <= position or op.inputs[position] < 0:
            continue
        t = info.tensors[op.inputs[position]]
        if t.data is None:
            continue
        values = t.data.reshape(t.shape[0], -1) if t.shape else t.data.reshape(1, -1)
        yield layer_name(t.name), t, values


def layer_name(tensor_name: str) -> str:
    """The Keras layer a converted weight tensor came from, by the converter's naming.

    ``digits_cnn/quant_fc1/MatMul;digits_cnn/quant_fc1/LastValueQuant/...`` -> ``fc1``:
    the converter joins the names of the ops it fused with ``;``, the first is
    ``<model>/<layer>/<op>``, and QAT prefixes layers with ``quant_``.
    """
    parts = tensor_name.split(";")[0].split("/")
    layer = parts[1] if len(parts) > 2 else parts[0]
    return layer.removeprefix("quant_")


def weight_sparsity(info: ModelInfo) -> dict[str, float]:
    """Fraction of zero weights in each conv / fully-connected weight tensor, by Keras layer.

    A weight counts as zero when it equals its zero point (0 for int8 weights, which are
    quantized symmetrically) or is exactly 0.0 for float weights.
    """
    out: dict[str, float] = {}
    for name, t, values in _weight_tensors(info):
        zp = np.asarray(t.zero_points, dtype=np.float64) if t.zero_points else np.zeros(1)
        # Per-channel zero points run along the quantized dimension, the output channels for these ops.
        zero = zp[:, None] if zp.size == values.shape[0] else zp.reshape(1, -1)[:, :1]
        out[name] = float(np.mean(values.astype(np.float64) == zero))
    return out


def weight_unique_values(info: ModelInfo) -> dict[str, int]:
    """Distinct stored values in each conv / fully-connected weight tensor of the file.

    With one scale per output channel the same centroid is stored as a different integer
    in each channel, so the count is then the largest over the channels: that is what a
    clustering to k values bounds by k.
    """
    out: dict[str, int] = {}
    for name, t, values in _weight_tensors(info):
        if len(t.scales) > 1:
            out[name] = max(int(np.unique(row).size) for row in values)
        else:
            out[name] = int(np.unique(values).size)
    return out


def max_nonzero_per_group(info: ModelInfo, n: int) -> dict[str, int]:
    """Most non-zeros in any ``n`` consecutive input-channel weights, per layer (M:N sparsity).

    TFLite stores conv and FC weights with the input channels last, so groups run along
    the last axis; layers whose input channels are not a multiple of ``n`` are left out.
    """
    out: dict[str, int] = {}
    for name, t, _ in _weight_tensors(info):
        zp = np.asarray(t.zero_points[:1] or (0,), dtype=np.float64)[0]
        if t.shape and t.shape[-1] % n == 0:
            groups = (t.data.astype(np.float64) != zp).reshape(-1, n)
            out[name] = int(groups.sum(axis=1).max())
    return out


def op_counts(info: ModelInfo) -> dict[str, int]:
    """How many times each op occurs, in order of first appearance."""
    counts: dict[str, int] = {}
    for op in info.ops:
        counts[op.name] = counts.get(op.name, 0) + 1
    return counts
