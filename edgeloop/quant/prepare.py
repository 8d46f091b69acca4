"""A float ``.tflite`` made ready for the LiteRT quantizer: dense float32 constants, a signature.

Files from model hubs often store weights as float16 (a ``DEQUANTIZE`` op turns them into
float32 when the model loads) or in TFLite's sparse format (a ``DENSIFY`` op expands them),
and older converters wrote no SignatureDef. The quantizer wants float32 constants feeding
the ops it quantizes and calibrates through a signature, so each such chain is folded
into a plain float32 constant (values unchanged: float16 -> float32 is exact) and a
``serving_default`` signature is added when there is none.

The model is edited through the schema's object API (``ai_edge_litert.tools.flatbuffer_utils``):
no TensorFlow needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.quant.sparse import densify, levels_of

SIGNATURE_KEY = "serving_default"
_NUMPY = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 9: np.int8, 7: np.int16, 4: np.int64}


@dataclass
class Prepared:
    """The prepared model and what was done to it.

    Attributes:
        model: the ``.tflite`` bytes to quantize.
        folded: ``{op: count}`` of the ops folded into constants (``DEQUANTIZE``, ``DENSIFY``).
        sparse_weights: ``{tensor: fraction of zeros}`` of every sparse-stored constant.
        signature_added: the file had no signature; ``serving_default`` was added.
    """

    model: bytes
    folded: dict[str, int] = field(default_factory=dict)
    sparse_weights: dict[str, float] = field(default_factory=dict)
    signature_added: bool = False


def flatbuffer_utils():
    """LiteRT's flatbuffer tools (object API of the schema)."""
    from ai_edge_litert.tools import flatbuffer_utils as fb

    return fb


def opcode_names(model) -> list[str]:
    """The builtin name of each operator code of a ``ModelT``."""
    fb = flatbuffer_utils()
    names = {v: k for k, v in vars(fb.schema_fb.BuiltinOperator).items() if not k.startswith("_")}
    return [names.get(fb.get_builtin_code_from_operator_code(code), "CUSTOM") for code in model.operatorCodes]


def constant_array(model, tensor) -> np.ndarray | None:
    """A constant tensor's values (dense; ``None`` for activations), sparse storage expanded."""
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    raw = None if buffer is None or buffer.data is None else np.asarray(buffer.data, dtype=np.uint8).tobytes()
    if not raw:
        return None
    dtype = _NUMPY.get(tensor.type)
    if dtype is None:
        return None
    values = np.frombuffer(raw, dtype=dtype)
    shape = tuple(int(d) for d in tensor.shape)
    if tensor.sparsity is not None:
        order, block_map, levels = levels_of(tensor.sparsity)
        return densify(values, shape, order, block_map, levels)
    return values.reshape(shape)


def prepare(data: bytes) -> Prepared:
    """Fold ``DEQUANTIZE`` / ``DENSIFY`` of constants into float32 constants; add a signature.

    Raises:
        EdgeloopError: the file is not a float model (already quantized ops), or its
            sparse metadata does not fit.
    """
    fb = flatbuffer_utils()
    try:
        model = fb.convert_bytearray_to_object(bytearray(data))
    except Exception as exc:  # a corrupt flatbuffer fails anywhere inside
        raise EdgeloopError(f"cannot read the model: {type(exc).__name__}: {exc}") from None
    for code in model.operatorCodes:
        # Files from older converters name their ops in the deprecated byte field only; the
        # quantizer reads the new field, where such a CONV_2D reads as code 0 (ADD).
        code.builtinCode = max(int(code.builtinCode or 0), int(code.deprecatedBuiltinCode or 0))
    names = opcode_names(model)
    graph = model.subgraphs[0]
    out = Prepared(model=b"")
    constants: dict[int, np.ndarray] = {}
    for tensor_index, tensor in enumerate(graph.tensors):
        if tensor.sparsity is not None:
            dense = constant_array(model, tensor)
            if dense is not None:
                constants[tensor_index] = dense
                out.sparse_weights[_name(tensor)] = float(np.mean(dense == 0))
    kept = []
    for op in graph.operators:
        name = names[op.opcodeIndex]
        src = int(op.inputs[0]) if len(op.inputs) else -1
        if name in ("DEQUANTIZE", "DENSIFY") and src >= 0:
            value = constants[src] if src in constants else constant_array(model, graph.tensors[src])
            # DEQUANTIZE of int8 weights belongs to an already quantized model: left alone.
            if value is not None and (name == "DENSIFY" or value.dtype == np.float16):
                constants[int(op.outputs[0])] = value.astype(np.float32) if name == "DEQUANTIZE" else value
                out.folded[name] = out.folded.get(name, 0) + 1
                continue
        kept.append(op)
    graph.operators = kept
    out.folded.update(_fuse_activations(graph, names))
    kept = graph.operators
    used = {int(i) for op in kept for i in (*op.inputs, *op.outputs) if i >= 0} | set(graph.inputs) | set(graph.outputs)
    for tensor_index, value in constants.items():
        if tensor_index not in used:
            continue
        tensor = graph.tensors[tensor_index]
        values = np.ascontiguousarray(value.astype(np.float32) if value.dtype == np.float16 else value)
        buffer = fb.BufferT()
        buffer.data = np.frombuffer(values.tobytes(), dtype=np.uint8)
        model.buffers.append(buffer)
        tensor.buffer = len(model.buffers) - 1
        tensor.type = 0 if values.dtype == np.float32 else tensor.type
        tensor.sparsity = None
    _drop_unused_buffers(model, used)
    if out.folded:
        _compact(model, used)
    if not model.signatureDefs:
        model.signatureDefs = [_signature(fb, graph)]
        out.signature_added = True
    out.model = bytes(fb.convert_object_to_bytearray(model))
    return out


_FUSABLE = ("ADD", "SUB", "MUL", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_ACTIVATIONS = {"RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


def _fuse_activations(graph, names: list[str]) -> dict[str, int]:
    """Standalone RELU / RELU6 after an op that can carry it fused, folded into that op.

    MediaPipe's files keep ``ADD`` then ``RELU`` apart. TensorFlow's converter fuses the
    pair; the quantizer does not, and LiteRT's XNNPACK delegate takes no int8 ``RELU``:
    each one left the quantized face detector split at 17 places and ~15x slower than the
    float file. Fused, the ops and the function are the same as the converter's.
    """
    readers: dict[int, int] = {}
    for op in graph.operators:
        for i in op.inputs:
            readers[int(i)] = readers.get(int(i), 0) + 1
    producer = {int(o): op for op in graph.operators for o in op.outputs}
    outputs = {int(i) for i in graph.outputs}
    kept, fused = [], 0
    for op in graph.operators:
        act = _ACTIVATIONS.get(names[op.opcodeIndex])
        src = int(op.inputs[0]) if act and len(op.inputs) else -1
        prev = producer.get(src)
        options = getattr(prev, "builtinOptions", None) if prev is not None else None
        if (act and prev is not None and names[prev.opcodeIndex] in _FUSABLE and readers.get(src) == 1
                and src not in outputs and options is not None and hasattr(options, "fusedActivationFunction")
                and not options.fusedActivationFunction):
            options.fusedActivationFunction = act
            prev.outputs = list(op.outputs)
            fused += 1
            continue
        kept.append(op)
    graph.operators = kept
    return {"activation fused": fused} if fused else {}


def _name(tensor) -> str:
    return tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name)


def _drop_unused_buffers(model, used: set[int]) -> None:
    # The float16 / sparse originals stay referenced by now-unused tensors: empty their
    # buffers so the file does not carry the weights twice.
    graph = model.subgraphs[0]
    live = {graph.tensors[i].buffer for i in used}
    for g in model.subgraphs[1:]:
        live |= {t.buffer for t in g.tensors}
    for i, tensor in enumerate(graph.tensors):
        if i not in used and tensor.buffer and tensor.buffer not in live:
            model.buffers[tensor.buffer].data = None


def _compact(model, used: set[int]) -> None:
    # Tensors nothing reads any more are removed (an interpreter asked for every tensor,
    # as calibration does, fails on a constant whose data was dropped).
    graph = model.subgraphs[0]
    keep = sorted(used)
    new = {old: i for i, old in enumerate(keep)}
    graph.tensors = [graph.tensors[i] for i in keep]
    for op in graph.operators:
        op.inputs = [new[int(i)] if i >= 0 else -1 for i in op.inputs]
        op.outputs = [new[int(i)] for i in op.outputs]
        if op.intermediates is not None and len(op.intermediates):
            op.intermediates = [new[int(i)] for i in op.intermediates if int(i) in new]
    graph.inputs = [new[int(i)] for i in graph.inputs]
    graph.outputs = [new[int(i)] for i in graph.outputs]
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == 0:
            for m in (*(sig.inputs or []), *(sig.outputs or [])):
                m.tensorIndex = new[int(m.tensorIndex)]


def _signature(fb, graph):
    sig = fb.schema_fb.SignatureDefT()
    sig.signatureKey = SIGNATURE_KEY
    sig.subgraphIndex = 0

    def maps(indices, prefix):
        out = []
        for n, i in enumerate(indices):
            m = fb.schema_fb.TensorMapT()
            name = _name(graph.tensors[i]).split(":")[0] or f"{prefix}_{n}"
            m.name = name
            m.tensorIndex = int(i)
            out.append(m)
        return out

    sig.inputs = maps(graph.inputs, "input")
    sig.outputs = maps(graph.outputs, "output")
    return sig
