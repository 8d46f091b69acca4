"""The kernels a TFLite runtime executes, detected in a converted ``.tflite`` file.

A runtime does not run a graph op by op: the converter has already folded bias, batch norm
and clamp activations into each convolution, and XNNPACK (LiteRT's CPU delegate) fuses more
at load time — a static ``PAD`` into the convolution after it, a clamp activation op
(``RELU``, ``RELU6``, ``RELU_N1_TO_1``) into the op before it, the ``MUL`` of a swish
(``x · sigmoid(x)``) into its ``LOGISTIC`` — and turns reshapes into copies. Latency is a
sum over those *kernels*, not over ops, so the predictor learns one regressor per kind of
kernel (nn-Meter, MobiSys 2021, did the same for its devices).

Each kernel carries the ops it is made of (their indices, so op profiling rows can be summed
per kernel) and its features: shapes, channels, kernel size, stride, MACs, bytes read and
written, weight bytes, kernel taps, how the working set compares with a CPU cache, and
whether XNNPACK takes its op (``delegated``; where it declines one, LiteRT's builtin kernel runs
it, at another cost: an int8 ``RELU`` whose input and output scales differ, as NASNet's and
Xception's after an addition or a concatenation, runs 10-20 times slower than XNNPACK's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import log2, prod

# Kinds of kernel, and the ops of each. Ops not listed are "other".
CONV = "conv"
DEPTHWISE = "depthwise"
FULLY_CONNECTED = "fc"
POOL = "pool"
REDUCE = "reduce"
ELEMENTWISE = "elementwise"
ACTIVATION = "activation"
QUANTIZE = "quantize"
MEMORY = "memory"
OTHER = "other"
KINDS = (CONV, DEPTHWISE, FULLY_CONNECTED, POOL, REDUCE, ELEMENTWISE, ACTIVATION, QUANTIZE, MEMORY, OTHER)

_KIND_OF = {
    "CONV_2D": CONV, "TRANSPOSE_CONV": CONV, "CONV_3D": CONV,
    "DEPTHWISE_CONV_2D": DEPTHWISE,
    "FULLY_CONNECTED": FULLY_CONNECTED, "BATCH_MATMUL": FULLY_CONNECTED,
    "AVERAGE_POOL_2D": POOL, "MAX_POOL_2D": POOL, "L2_POOL_2D": POOL,
    "MEAN": REDUCE, "SUM": REDUCE, "REDUCE_MAX": REDUCE, "REDUCE_MIN": REDUCE,
    "ADD": ELEMENTWISE, "SUB": ELEMENTWISE, "MUL": ELEMENTWISE, "DIV": ELEMENTWISE, "MAXIMUM": ELEMENTWISE,
    "MINIMUM": ELEMENTWISE, "SQUARED_DIFFERENCE": ELEMENTWISE, "ADD_N": ELEMENTWISE,
    "RELU": ACTIVATION, "RELU6": ACTIVATION, "RELU_N1_TO_1": ACTIVATION, "RELU_0_TO_1": ACTIVATION,
    "LOGISTIC": ACTIVATION, "TANH": ACTIVATION, "HARD_SWISH": ACTIVATION, "LEAKY_RELU": ACTIVATION,
    "PRELU": ACTIVATION, "ELU": ACTIVATION, "GELU": ACTIVATION, "SOFTMAX": ACTIVATION, "LOG_SOFTMAX": ACTIVATION,
    "QUANTIZE": QUANTIZE, "DEQUANTIZE": QUANTIZE,
    "RESHAPE": MEMORY, "SQUEEZE": MEMORY, "EXPAND_DIMS": MEMORY, "CONCATENATION": MEMORY, "PAD": MEMORY,
    "PADV2": MEMORY, "TRANSPOSE": MEMORY, "SPLIT": MEMORY, "SPLIT_V": MEMORY, "STRIDED_SLICE": MEMORY,
    "SLICE": MEMORY, "GATHER": MEMORY, "DEPTH_TO_SPACE": MEMORY, "SPACE_TO_DEPTH": MEMORY, "PACK": MEMORY,
    "UNPACK": MEMORY, "TILE": MEMORY, "RESIZE_NEAREST_NEIGHBOR": MEMORY, "RESIZE_BILINEAR": MEMORY,
}
# Activations XNNPACK folds into the op that produces their input (its output clamp).
_CLAMPS = {"RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1"}
_FUSES_CLAMP = {CONV, DEPTHWISE, FULLY_CONNECTED, POOL, ELEMENTWISE}
# Ops that share a kind but not a cost get a feature of their own (an activation's cost per
# element differs tenfold between them; a max pool is not an average pool).
_OWN_FEATURE = ("HARD_SWISH", "LOGISTIC", "TANH", "SOFTMAX", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MUL", "ADD",
                "CONCATENATION", "QUANTIZE", "DEQUANTIZE", "RESHAPE", "PAD", "TRANSPOSE", "STRIDED_SLICE")
# The per-core cache a working set is compared with (a mid-size L2; trees find the real step).
CACHE_BYTES = 1 << 20
# Caches whose misses inside a model are simulated (feature name: size): a core's L2 and a
# share of a last-level cache. What a missed byte costs is fitted on whole models.
COLD_CACHES = {"cold_l2": 1 << 20, "cold_l3": 16 << 20}
_ITEMSIZE = {"float32": 4, "int32": 4, "float16": 2, "int16": 2, "int64": 8, "float64": 8}


@dataclass
class Kernel:
    """One kernel the runtime runs.

    Attributes:
        kind: one of :data:`KINDS`.
        ops: indices of the graph's ops it is made of (the first is its main op).
        op: the main op's name (``CONV_2D`` …).
        features: numbers describing it (see :func:`kernel_features`).
    """

    kind: str
    ops: list[int]
    op: str
    features: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data (the latency store keeps it with the model's features)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Kernel":
        """The inverse of :meth:`to_dict`."""
        return cls(d["kind"], list(d["ops"]), d["op"], dict(d["features"]))


def kind_of(op_name: str) -> str:
    """The kind of kernel an op's name makes."""
    return _KIND_OF.get(op_name, OTHER)


def detect(info, delegated: set[int] | None = None) -> list[Kernel]:
    """The kernels of a model read with :func:`edgeloop.converters.read_model`, in execution order.

    Args:
        info: a :class:`~edgeloop.converters.inspect.ModelInfo`.
        delegated: indices of the ops XNNPACK takes (:func:`delegated_ops`); ``None``: all.
    """
    consumers: dict[int, list[int]] = {}
    for op in info.ops:
        for t in op.inputs:
            if t >= 0:
                consumers.setdefault(t, []).append(op.index)
    graph_outputs = set(info.outputs)
    absorbed: dict[int, int] = {}  # op index -> the op whose kernel it joins
    for op in info.ops:
        if op.name in ("PAD", "PADV2"):  # a static pad folds into the convolution it feeds
            users = consumers.get(op.outputs[0], [])
            if len(users) == 1 and kind_of(info.ops[users[0]].name) in (CONV, DEPTHWISE):
                absorbed[op.index] = users[0]
        if op.name == "MUL" and _is_swish(info, op, consumers):  # x · sigmoid(x) runs as one kernel
            absorbed[op.index] = next(p.index for p in info.ops if p.name == "LOGISTIC" and set(p.outputs) & set(op.inputs))
        if op.name in _CLAMPS and op.inputs and op.inputs[0] >= 0:
            producer = next((p for p in info.ops if op.inputs[0] in p.outputs), None)
            if (producer is not None and kind_of(producer.name) in _FUSES_CLAMP
                    and consumers.get(op.inputs[0]) == [op.index] and op.inputs[0] not in graph_outputs):
                absorbed[op.index] = producer.index
    members: dict[int, list[int]] = {}
    for op in info.ops:
        if op.index not in absorbed:
            members.setdefault(op.index, []).append(op.index)
    for extra, main in absorbed.items():
        while main in absorbed:
            main = absorbed[main]
        members.setdefault(main, [main]).append(extra)
    kernels = []
    for main in sorted(members):
        op = info.ops[main]
        ops = sorted(members[main], key=lambda i: (i != main, i))
        kernels.append(Kernel(kind_of(op.name), ops, op.name, kernel_features(info, op, ops)))
    for kernel in kernels:
        kernel.features["delegated"] = float(delegated is None or kernel.ops[0] in delegated)
    touches = [_touches(info, k) for k in kernels]
    for name, size in COLD_CACHES.items():
        for kernel, cold in zip(kernels, _cold_bytes(touches, size)):
            kernel.features[name] = float(cold)
    return kernels


def _touches(info, kernel: Kernel) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """``(reads, writes)`` of a kernel: ``(tensor index, bytes)`` its main op reads (weights
    included) and its last op writes."""
    reads = [(t, _size(info.tensors[t])) for t in info.ops[kernel.ops[0]].inputs if t >= 0]
    writes = [(t, _size(info.tensors[t])) for t in info.ops[max(kernel.ops)].outputs]
    return reads, writes


def _cold_bytes(touches: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]], cache: int) -> list[int]:
    """Per kernel (its :func:`_touches`, in execution order), the bytes it reads that a
    least-recently-used cache of ``cache`` bytes no longer holds when the model runs in order,
    beyond what it misses timed alone (where everything it touches stays cached between runs as
    far as it fits).

    Timed alone, an op finds its weights and input where the last run left them; inside a model
    the other ops' weights and activations have passed through the cache in between. The
    simulation is of one level, with whole tensors as lines: coarse, but it tells a model whose
    tensors stay cached from one whose weights evict everything.
    """
    from collections import OrderedDict

    held: OrderedDict[int, int] = OrderedDict()
    total = 0
    for _ in range(2):  # the second run is the one measured: the first warms the cache
        out = []
        for reads, writes in touches:
            missed = sum(size for t, size in reads if t not in held)
            alone = max(sum(size for _, size in reads + writes) - cache, 0)
            for t, size in reads + writes:
                if t in held:
                    held.move_to_end(t)
                else:
                    held[t] = size
                    total += size
                while total > cache and held:
                    _, dropped = held.popitem(last=False)
                    total -= dropped
            out.append(max(missed - alone, 0))
    return out


def _size(tensor) -> int:
    return tensor.buffer_bytes if tensor.is_constant else _bytes(tensor)


def _is_swish(info, op, consumers: dict[int, list[int]]) -> bool:
    """``op`` (a ``MUL``) multiplies a tensor by its own ``LOGISTIC`` and is that one's only user.

    Measured in LiteRT's XNNPACK path (EfficientNet-B0, int8: each op's cost inside the model from
    the growth of the model's latency op by op): the pair costs what the ``LOGISTIC`` alone does,
    the ``MUL`` next to nothing, where timed alone it costs as much as the ``LOGISTIC``.
    """
    inputs = [t for t in op.inputs if t >= 0]
    if len(inputs) != 2:
        return False
    for gate, x in (inputs, inputs[::-1]):
        producer = next((p for p in info.ops if gate in p.outputs), None)
        if (producer is not None and producer.name == "LOGISTIC" and producer.inputs and producer.inputs[0] == x
                and consumers.get(gate) == [op.index]):
            return True
    return False


def _bytes(tensor) -> int:
    return prod(tensor.shape) * _ITEMSIZE.get(tensor.dtype, 1)


def _spatial(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(height, width, channels)`` of an NHWC (or NC, NWC) shape."""
    if len(shape) >= 4:
        return shape[-3], shape[-2], shape[-1]
    if len(shape) == 3:
        return 1, shape[-2], shape[-1]
    return 1, 1, shape[-1] if shape else 1


def _ceil(n: int, step: int) -> int:
    return -(-max(int(n), 1) // step) * step


def _padding(op_name: str, c_in: int, c_out: int) -> float:
    """How many more MACs a kernel computes once its channels fill whole vector tiles."""
    if op_name == "DEPTHWISE_CONV_2D":
        return _ceil(c_out, 16) / max(c_out, 1)
    return _ceil(c_in, 8) / max(c_in, 1) * _ceil(c_out, 16) / max(c_out, 1)


def kernel_features(info, op, ops: list[int]) -> dict[str, float]:
    """What a regressor sees of one kernel: sizes, MACs, bytes moved and the cache fit.

    Activations are the main op's non-constant inputs and its outputs; weights its constant
    inputs (weights, bias). ``cache_fit`` is the working set (activations read and written
    plus weights) over :data:`CACHE_BYTES`, on a log scale.
    """
    tensors = info.tensors
    inputs = [tensors[k] for k in op.inputs if k >= 0]
    activations_in = [t for t in inputs if not t.is_constant]
    weights = [t for t in inputs if t.is_constant]
    last = info.ops[max(ops)] if len(ops) > 1 and info.ops[max(ops)].name in _CLAMPS else op
    outputs = [tensors[k] for k in last.outputs]
    in_shape = activations_in[0].shape if activations_in else ()
    out_shape = outputs[0].shape if outputs else ()
    h_in, w_in, c_in = _spatial(in_shape)
    h_out, w_out, c_out = _spatial(out_shape)
    kh = kw = 1
    if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D") and weights and len(weights[0].shape) == 4:
        kh, kw = weights[0].shape[1], weights[0].shape[2]
    elif op.name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        kh, kw = op.options.get("filter_height", 1), op.options.get("filter_width", 1)
    bytes_in = sum(_bytes(t) for t in activations_in)
    bytes_out = sum(_bytes(t) for t in outputs)
    # A transpose's permutation or a reshape's shape is a constant input, not weights to stream;
    # an element-wise op's constant (a batch norm's per-channel scale, a scalar) is read once
    # per channel, not streamed: its size is a feature of its own, not weight bytes.
    kind = kind_of(op.name)
    bytes_w = 0 if kind in (MEMORY, OTHER, ELEMENTWISE) else sum(t.buffer_bytes for t in weights)
    constant = sum(prod(t.shape) for t in weights) if kind == ELEMENTWISE else 0
    dtype = (activations_in[0] if activations_in else outputs[0] if outputs else None)
    macs = float(sum(info.ops[i].macs for i in ops))
    groups = 1
    if op.name == "CONV_2D" and weights and len(weights[0].shape) == 4 and weights[0].shape[-1]:
        groups = max(c_in // weights[0].shape[-1], 1)
    features = {
        "macs": macs,
        "h_in": float(h_in), "w_in": float(w_in), "c_in": float(c_in),
        "h_out": float(h_out), "w_out": float(w_out), "c_out": float(c_out),
        "kernel": float(kh * kw), "stride": float(op.options.get("stride_h", 1) or 1),
        "bytes_in": float(bytes_in), "bytes_out": float(bytes_out), "bytes_weights": float(bytes_w),
        "elements_out": float(prod(out_shape)) if out_shape else 0.0,
        # Kernel taps visited (output positions x window): a convolution's indirection walk, a
        # pool's reads (no other op has taps). An int8 convolution over one or two input
        # channels costs per tap.
        "taps": float(h_out * w_out * kh * kw) if kind in (CONV, DEPTHWISE, POOL) else 0.0,
        # MACs as the CPU's vector tiles compute them: input channels in steps of 8 and output
        # channels in steps of 16 (a narrowed layer of 37 channels costs as one of 48), per
        # group for a grouped convolution (a group of 8 output channels fills half a tile).
        "macs_padded": macs * _padding(op.name, c_in // groups, c_out // groups),
        "cache_fit": log2(max(bytes_in + bytes_out + bytes_w, 1) / CACHE_BYTES),
        "int8": float(dtype is not None and dtype.dtype in ("int8", "uint8")),
        "inputs": float(len(activations_in)),
        "broadcast": float(len({prod(t.shape) for t in activations_in}) > 1),
        "fused_ops": float(len(ops) - 1),
        # A grouped convolution (RegNet, ResNeXt) runs as one op whose filter sees a
        # group's channels; a transpose's or a reshape's cost follows its rank.
        "groups": float(groups),
        "constant_elements": float(constant),
        "rank": float(len(in_shape)),
    }
    for name in _OWN_FEATURE:
        features[f"is_{name.lower()}"] = float(op.name == name)
    return features


def delegated_ops(model: bytes) -> set[int] | None:
    """Indices of the ops of a ``.tflite`` file's bytes that LiteRT's CPU delegate (XNNPACK) takes
    here; ``None`` where the runtime cannot load the file."""
    from edgeloop.device.delegates import delegated_indices
    from edgeloop.device.interpreter import load_interpreter
    from edgeloop.errors import EdgeloopError

    try:
        return delegated_indices(load_interpreter(model)._get_ops_details())
    except (EdgeloopError, RuntimeError, ValueError, AttributeError):
        return None


def kernels_of(model: bytes) -> list[Kernel]:
    """The kernels of a ``.tflite`` file's bytes (with which of them XNNPACK takes here)."""
    from edgeloop.converters import read_model

    return detect(read_model(model), delegated_ops(model))
