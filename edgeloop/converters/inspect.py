"""Read a ``.tflite`` flatbuffer: subgraphs, tensors (types, shapes, quantization, weights), ops.

It reads the file with the schema module that ships in the ``ai-edge-litert`` wheel and
never imports TensorFlow, so it also runs on a device. Every subgraph is read; subgraph 0
is the model's graph (``ModelInfo.tensors`` / ``.ops`` are its), the others hold control
flow bodies. Each op carries its version, builtin options, estimated MACs and the Keras
layer it came from where the tensor names tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from pathlib import Path

import numpy as np

from edgeloop import _io
from edgeloop.converters import _limits
from edgeloop.converters._macs import op_macs
from edgeloop.converters._options import builtin_options
from edgeloop.errors import EdgeloopError
from edgeloop.layer_table import WEIGHT_INPUT, layer_kind

# Ops holding the weight tensor whose zeros pruning makes, and the input it is at.
_WEIGHT_INPUT = WEIGHT_INPUT
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
        quantized_dimension: the axis the scales run along when there is one per channel.
        buffer_bytes: bytes of constant data the file holds for it (0 for activations).
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
    quantized_dimension: int = 0
    buffer_bytes: int = 0

    @property
    def is_dynamic(self) -> bool:
        """A dimension is only known at run time (``-1`` in the signature)."""
        return -1 in self.shape_signature


@dataclass(frozen=True)
class OpInfo:
    """One operator: its name (``CONV_2D``, or the custom code) and tensor indices.

    Attributes:
        version: the op's version in the file (kernels and delegates support up to one).
        options: builtin options, e.g. ``{"padding": "SAME", "stride_w": 1, …}``.
        macs: estimated multiply-accumulates (0 for ops that do none worth counting).
        layer: the Keras layer the op came from, when the tensor names tell.
    """

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    version: int = 1
    options: dict = field(default_factory=dict, hash=False, compare=False)
    macs: int = 0
    layer: str | None = None


@dataclass(frozen=True)
class SubgraphInfo:
    """One subgraph: its tensors, ops in execution order and I/O tensor indices."""

    index: int
    name: str
    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`read_model` found: the main graph's tensors, ops (in execution order)
    and I/O tensor indices, the file size, and every subgraph."""

    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    size_bytes: int
    subgraphs: tuple[SubgraphInfo, ...] = ()
    version: int = 3

    def producer(self) -> dict[int, OpInfo]:
        """Tensor index -> the op that writes it."""
        return {t: op for op in self.ops for t in op.outputs}

    @property
    def macs(self) -> int:
        """Estimated MACs of one inference of the main graph."""
        return sum(op.macs for op in self.ops)

    @property
    def constant_bytes(self) -> int:
        """Bytes of constant data (weights, biases, shape operands) of the main graph."""
        return sum(t.buffer_bytes for t in self.tensors)


def tflite_schema():
    """LiteRT's generated flatbuffer schema module (``schema_py_generated``)."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise EdgeloopError("reading .tflite files needs ai-edge-litert: pip install ai-edge-litert") from None
    return schema_py_generated


def _names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def read_model(model: str | Path | bytes, name: str | None = None) -> ModelInfo:
    """Parse a ``.tflite`` file (a path or its bytes; ``name`` names the bytes in messages).

    Only a regular file of at most 2 GiB is read (never a FIFO or a device); every index
    and constant's length is checked against what it points into, and the work is bounded
    before the walk starts (see :mod:`edgeloop.converters._limits`).

    Raises:
        EdgeloopError: missing or unreadable file, or bytes that are not a TFLite
            flatbuffer (truncated, corrupt, crafted): one line naming the file.
    """
    where = name or "the given bytes"
    if isinstance(model, (str, Path)):
        where = str(model)
        model = _io.read_file(model, _limits.MAX_MODEL_BYTES, "model", head_check=lambda head: _check_head(head, where))
    buf = bytes(model)
    _check_head(buf[:8], where)
    if len(buf) > _limits.MAX_MODEL_BYTES:
        raise EdgeloopError(f"{where} is {len(buf):,} bytes, more than the {_limits.MAX_MODEL_BYTES:,} a model may have")
    schema = tflite_schema()
    try:
        return _Reader(schema, buf).parse()
    except EdgeloopError as exc:
        raise EdgeloopError(f"corrupt TFLite model {where}: {exc}") from None
    except Exception as exc:  # a truncated or corrupt flatbuffer fails anywhere inside
        raise EdgeloopError(f"corrupt TFLite model {where}: {type(exc).__name__}: {exc}") from None


def _check_head(head: bytes, where: str) -> None:
    if len(head) < 8 or head[4:8] != b"TFL3":
        raise EdgeloopError(f"not a TFLite model (no TFL3 identifier): {where}")


def _count(n: int, buf: bytes, what: str) -> int:
    # A flipped byte can turn a vector length into billions: refuse what cannot fit the file.
    if n < 0 or n * 4 > len(buf):
        raise EdgeloopError(f"{what} count {n} does not fit in {len(buf)} bytes")
    return n


class _Reader:
    """One parse of one file: the schema, the bytes, the work budget, the buffers read once."""

    def __init__(self, schema, buf: bytes) -> None:
        self.schema, self.buf = schema, buf
        self.budget = _limits.Budget(len(buf))
        self.buffers: dict[int, bytes | None] = {}
        self.claimed = 0  # constant bytes the tensors claim, shared buffers counted each time
        self.type_names, self.op_names = _names(schema.TensorType), _names(schema.BuiltinOperator)

    def ints(self, table, name: str) -> tuple[int, ...]:
        n = _count(getattr(table, f"{name}Length")(), self.buf, name.lower())
        self.budget.take(n, name.lower())
        return tuple(int(x) for x in getattr(table, f"{name}AsNumpy")()) if n else ()

    def text(self, value: bytes | None, default: str, what: str) -> str:
        if not value:
            return default
        self.budget.take(len(value) // 4 + 1, "names")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:  # the schema's strings are UTF-8; the interpreter's Python API fails on others
            raise EdgeloopError(f"{what} is not UTF-8 text") from None

    def parse(self) -> ModelInfo:
        root = self.schema.Model.GetRootAs(self.buf, 0)
        n_graphs = _count(root.SubgraphsLength(), self.buf, "subgraph")
        if n_graphs < 1:
            raise EdgeloopError("the TFLite model has no subgraph")
        _limits.check_counts(n_graphs, 0, 0)
        graphs = [root.Subgraphs(i) for i in range(n_graphs)]
        n_codes = _count(root.OperatorCodesLength(), self.buf, "operator code")
        _limits.check_counts(n_graphs, sum(_count(g.TensorsLength(), self.buf, "tensor") for g in graphs),
                             max(n_codes, sum(_count(g.OperatorsLength(), self.buf, "operator") for g in graphs)))
        self.root, self.n_buffers = root, _count(root.BuffersLength(), self.buf, "buffer")
        self.codes = [self.op_code(root.OperatorCodes(i)) for i in range(n_codes)]
        infos = tuple(self.subgraph(g, i) for i, g in enumerate(graphs))
        self.signatures(root, infos)
        _limits.check_shared_constants(self.claimed, len(self.buf))
        main = infos[0]
        return ModelInfo(main.tensors, main.ops, main.inputs, main.outputs, len(self.buf), infos, int(root.Version()))

    def signatures(self, root, graphs: tuple[SubgraphInfo, ...]) -> None:
        """Every signature's subgraph, names and tensor indices checked (what names a model's I/O)."""
        for k in range(_count(root.SignatureDefsLength(), self.buf, "signature")):
            sig = root.SignatureDefs(k)
            at = f"signature {k}"
            graph = graphs[_limits.check_index(sig.SubgraphIndex(), len(graphs), f"{at}: its subgraph")]
            self.text(sig.SignatureKey(), "", f"{at}: its key")
            for kind in ("Inputs", "Outputs"):
                n = _count(getattr(sig, f"{kind}Length")(), self.buf, f"signature {kind.lower()}")
                self.budget.take(n, "signature tensors")
                for i in range(n):
                    entry = getattr(sig, kind)(i)
                    self.text(entry.Name(), "", f"{at}: an {kind[:-1].lower()}'s name")
                    _limits.check_index(entry.TensorIndex(), len(graph.tensors), f"{at}: an {kind[:-1].lower()} tensor")

    def op_code(self, code) -> tuple[str, int]:
        # Old files carry the code in the deprecated byte field; new ones in BuiltinCode.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = self.op_names.get(builtin, str(builtin))
        if name == "CUSTOM" and code.CustomCode():
            name = self.text(code.CustomCode(), "CUSTOM", "a custom operator's name")
        return name, int(code.Version())

    def buffer(self, index: int) -> bytes | None:
        """The bytes of buffer ``index``, read once however many tensors share it."""
        if index not in self.buffers:
            self.buffers[index] = _buffer_bytes(self.root.Buffers(index), self.buf)
        return self.buffers[index]

    def subgraph(self, graph, index: int) -> SubgraphInfo:
        where = f"subgraph {index}"
        tensors = []
        n_tensors = graph.TensorsLength()
        for i in range(n_tensors):
            tensors.append(self.tensor(graph.Tensors(i), i, where))
        ops = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            at = f"{where}, operator {i}"
            name, version = self.codes[_limits.check_index(op.OpcodeIndex(), len(self.codes), f"{at}: its operator code")]
            inputs = tuple(_limits.check_index(k, n_tensors, f"{at}: an input tensor", optional=True)
                           for k in self.ints(op, "Inputs"))
            outputs = tuple(_limits.check_index(k, n_tensors, f"{at}: an output tensor") for k in self.ints(op, "Outputs"))
            shapes = [tensors[k].shape if k >= 0 else None for k in inputs]
            out_shapes = [tensors[k].shape for k in outputs]
            ops.append(OpInfo(i, name, inputs, outputs, version, builtin_options(self.schema, op, self.budget),
                              op_macs(name, shapes, out_shapes), op_layer(tensors, inputs, outputs, name)))
        io = [tuple(_limits.check_index(k, n_tensors, f"{where}: an {kind[:-1].lower()} tensor") for k in self.ints(graph, kind))
              for kind in ("Inputs", "Outputs")]
        return SubgraphInfo(index, self.text(graph.Name(), f"subgraph_{index}", f"{where}: its name"), tuple(tensors),
                            tuple(ops), *io)

    def tensor(self, t, i: int, where: str) -> TensorInfo:
        dtype = self.type_names.get(t.Type(), str(t.Type())).lower()
        shape = self.ints(t, "Shape")
        _limits.check_shape(i, shape, where)
        signature = self.ints(t, "ShapeSignature") or shape
        _limits.check_shape(i, tuple(max(d, 1) for d in signature), where)  # -1: a dimension known at run time
        buffer_index = _limits.check_index(t.Buffer(), self.n_buffers, f"{where}, tensor {i}: its buffer")
        raw = self.buffer(buffer_index) if buffer_index > 0 else None
        q = t.Quantization()
        scales = ()
        if q is not None and q.ScaleLength():
            self.budget.take(_count(q.ScaleLength(), self.buf, "scale"), "scales")
            scales = tuple(float(s) for s in q.ScaleAsNumpy())
        zero_points = self.ints(q, "ZeroPoint") if q is not None else ()
        axis = int(q.QuantizedDimension()) if q is not None else 0
        name = self.text(t.Name(), f"tensor_{i}", f"{where}, tensor {i}: its name")
        data = None
        if raw:
            np_type = _NUMPY.get(dtype)
            sparse = t.Sparsity() is not None  # the buffer holds only the non-zeros
            _limits.check_constant(i, name, dtype, shape, None if np_type is None or sparse else np.dtype(np_type).itemsize,
                                   len(raw))
            self.claimed += len(raw)
            data = _as_array(raw, dtype, shape)
        return TensorInfo(i, name, dtype, shape, signature, data is not None, scales, zero_points, data,
                          axis, len(raw) if raw else 0)


def _buffer_bytes(buffer, buf: bytes) -> bytes | None:
    if buffer is None:
        return None
    if buffer.DataLength():
        _count(buffer.DataLength() // 4, buf, "buffer byte")
        return buffer.DataAsNumpy().tobytes()
    if buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
        end = buffer.Offset() + buffer.Size()
        if end > len(buf):
            raise EdgeloopError(f"a buffer runs past the end of the file ({end} > {len(buf)} bytes)")
        return buf[buffer.Offset(): end]
    return None


def _as_array(raw: bytes, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    np_type = _NUMPY.get(dtype)
    if np_type is None:
        return np.frombuffer(raw, dtype=np.uint8)
    itemsize = np.dtype(np_type).itemsize
    size = prod(shape)
    if shape and size * itemsize <= len(raw):
        # The interpreter reads the first bytes its shape needs; a longer buffer's rest is never read.
        return np.frombuffer(raw, dtype=np_type, count=size).reshape(shape)
    if len(raw) % itemsize:
        return np.frombuffer(raw, dtype=np.uint8)
    return np.frombuffer(raw, dtype=np_type)  # a scalar, or a sparse tensor's non-zeros


# The TensorFlow ops a layer holding weights is converted from. The converter names a fused
# op's tensors after every Keras op it folded in, outermost first
# (``m/act/Relu6;m/bn/FusedBatchNormV3;m/dw/depthwise``): the layer that owns the weights is
# the one whose part ends in one of these, not the activation named first.
_WEIGHT_OPS = frozenset({"Conv2D", "depthwise", "MatMul", "BiasAdd", "conv1d", "Conv1D", "Conv2DBackpropInput",
                         "conv2d_transpose", "Conv3D", "Tensordot"})


def op_layer(tensors, inputs: tuple[int, ...], outputs: tuple[int, ...], op: str | None = None) -> str | None:
    """The Keras layer an op came from: by its weights' owner, else its output's name, else its weights' name.

    An op holding weights (``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``FULLY_CONNECTED`` …) is filed
    under the layer whose kernel it holds, even when the converter fused a batch norm and an
    activation layer into it and named its tensors after the activation first. Other ops:
    the converter names an op's output after the Keras ops it fused
    (``model/conv/Relu;model/conv/BiasAdd``); the model's last op is renamed after the
    signature (``StatefulPartitionedCall:0``), so its constant inputs are asked next.
    """
    constants = [tensors[k] for k in inputs if k >= 0 and tensors[k].is_constant]
    if op in WEIGHT_INPUT:
        for t in constants + [tensors[k] for k in outputs]:
            owner = _weight_owner(t.name)
            if owner is not None:
                return owner
    for t in [tensors[k] for k in outputs] + constants:
        if len(t.name.split(";")[0].split("/")) > 2:
            return layer_name(t.name)
    return None


def _is_weight_part(part: str) -> bool:
    """Whether one ``;``-joined part of a tensor name is a layer's weight op (``m/dw/depthwise``)."""
    pieces = part.split("/")
    return len(pieces) > 2 and pieces[-1].rstrip("0123456789") in _WEIGHT_OPS


def _weight_owner(tensor_name: str) -> str | None:
    """The layer whose weight op a (possibly fused) tensor name holds, or None: in
    ``m/act/Relu6;m/bn/FusedBatchNormV3;m/dw/depthwise`` the depthwise layer ``dw``."""
    return next((layer_name(part) for part in tensor_name.split(";") if _is_weight_part(part)), None)


def _known_layer(tensor_name: str, kinds: dict[str, str]) -> str | None:
    """The longest layer name of ``kinds`` a tensor's name path spells: Keras applications name
    layers with a slash (``expanded_conv/project``), which the converter's path splits."""
    parts = sorted(tensor_name.split(";"), key=lambda p: not _is_weight_part(p))
    for part in parts:
        pieces = part.split("/")
        for end in range(len(pieces) - 1, 1, -1):
            name = "/".join(pieces[1:end]).removeprefix("quant_")
            if name in kinds:
                return name
    return None


def _weight_tensors(info: ModelInfo, kinds: dict[str, str] | None = None):
    """(key, tensor, values as [output channel, -1]) for each conv / FC / embedding weight tensor.

    The key is the Keras layer's name. Given ``kinds`` (``{Keras layer: class name}``), a
    layer whose weights land in several ops keys only the op the layer table names as
    holding its prunable kernel by its plain name, the others as ``layer/op`` (a
    ``SeparableConv2D``'s depthwise half is ``sep/depthwise_conv_2d``).
    """
    seen: set[int] = set()
    for op in info.ops:
        position = _WEIGHT_INPUT.get(op.name)
        if position is None or len(op.inputs) <= position or op.inputs[position] < 0:
            continue
        t = info.tensors[op.inputs[position]]
        if t.data is None or t.data.shape != t.shape or not t.data.size or op.inputs[position] in seen:
            continue  # sparse (only the non-zeros stored), empty, or already seen through another op
        seen.add(op.inputs[position])
        values = t.data.reshape(t.shape[0], -1) if t.shape else t.data.reshape(1, -1)
        # A fused depthwise kernel is named after the activation first: key it by its own layer.
        name = _weight_owner(t.name) or layer_name(t.name)
        if kinds and name not in kinds:
            name = _known_layer(t.name, kinds) or name
        if kinds and name in kinds:
            holder = layer_kind(kinds[name]).tflite_op
            if holder and holder != op.name:
                name = f"{name}/{op.name.lower()}"
        yield name, t, values


def layer_name(tensor_name: str) -> str:
    """The Keras layer a converted weight tensor came from, by the converter's naming.

    ``digits_cnn/quant_fc1/MatMul;digits_cnn/quant_fc1/LastValueQuant/...`` -> ``fc1``:
    the converter joins the names of the ops it fused with ``;``, the first is
    ``<model>/<layer>/<op>``, and QAT prefixes layers with ``quant_``.
    """
    parts = tensor_name.split(";")[0].split("/")
    layer = parts[1] if len(parts) > 2 else parts[0]
    return layer.removeprefix("quant_")


def weight_sparsity(info: ModelInfo, kinds: dict[str, str] | None = None) -> dict[str, float]:
    """Fraction of zero weights in each conv / fully-connected weight tensor, by Keras layer.

    A weight counts as zero when it equals its zero point (0 for int8 weights, which are
    quantized symmetrically) or is exactly 0.0 for float weights. ``kinds``
    (``{Keras layer: class name}``) tells which of a layer's tensors is its prunable
    kernel when it has several (see :func:`_weight_tensors`).
    """
    out: dict[str, float] = {}
    for name, t, values in _weight_tensors(info, kinds):
        zp = np.asarray(t.zero_points, dtype=np.float64) if t.zero_points else np.zeros(1)
        # Per-channel zero points run along the quantized dimension, the output channels for these ops.
        zero = zp[:, None] if zp.size == values.shape[0] else zp.reshape(1, -1)[:, :1]
        out[name] = float(np.mean(values.astype(np.float64) == zero))
    return out


def weight_unique_values(info: ModelInfo, kinds: dict[str, str] | None = None) -> dict[str, int]:
    """Distinct stored values in each conv / fully-connected weight tensor of the file.

    With one scale per output channel the same centroid is stored as a different integer
    in each channel, so the count is then the largest over the channels: that is what a
    clustering to k values bounds by k.
    """
    out: dict[str, int] = {}
    for name, t, values in _weight_tensors(info, kinds):
        if len(t.scales) > 1 and values.size:
            # Distinct values per row, all rows at once (a row at a time is slow for many channels).
            ordered = np.sort(values, axis=1)
            out[name] = int(1 + np.count_nonzero(np.diff(ordered, axis=1), axis=1).max())
        else:
            out[name] = int(np.unique(values).size)
    return out


def max_nonzero_per_group(info: ModelInfo, n: int, kinds: dict[str, str] | None = None) -> dict[str, int]:
    """Most non-zeros in any ``n`` consecutive input-channel weights, per layer (M:N sparsity).

    TFLite stores conv and FC weights with the input channels last, so groups run along
    the last axis; layers whose input channels are not a multiple of ``n`` are left out.
    """
    out: dict[str, int] = {}
    for name, t, _ in _weight_tensors(info, kinds):
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
