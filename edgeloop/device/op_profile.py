"""Per-op latency: each op cut out into its own single-op model and timed alone.

LiteRT's Python ``Interpreter`` has no per-op profiler (the C++ ``benchmark_model`` tool
has ``--enable_op_profiling``; the Python API exposes nothing like it), so this module
measures ops the way NetAdapt builds its latency look-up tables: every op of the main
subgraph becomes a model of its own (the op, its weights, its input and output tensors
with their shapes and quantization, rebuilt with the schema's object API) and is timed
with the same runtime, threads and delegate as the whole model. The sum of the per-op
medians is reported next to the whole model's median: the gap is what fusion across ops
and the per-invoke cost add or save.

Each single-op model is fed the values its op sees inside the model (every tensor of the whole
model run on each of the benchmark's seeded random inputs, :func:`profile_ops`'s ``values``), not
random ones: some CPU kernels cost what their data makes them. LiteRT's int8 ``RELU`` (the builtin
kernel, where XNNPACK declines the op) branches per element: on a 16×16×48 map it takes 32 µs
on uniform random bytes, which its zero point mostly sends one way, and 42-48 µs on values
spread around the zero point as a convolution's are; timed on random input, NASNet-Mobile's
and Xception's stand-alone ReLUs summed to 20-45 % under their time inside the model.

Control-flow ops (``WHILE``, ``IF``, ``CALL_ONCE``) call other subgraphs and cannot stand
alone; they are listed with an error instead of a time.
"""

from __future__ import annotations

import copy
import time
from typing import Callable

import numpy as np

from edgeloop.errors import EdgeloopError

METHOD = "single-op models: each op cut out with its weights and timed alone (NetAdapt-style look-up table)"
_CALLS_SUBGRAPHS = {"WHILE", "IF", "CALL_ONCE"}


def _schema():
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise EdgeloopError("op profiling needs the TFLite schema from ai-edge-litert: pip install ai-edge-litert") from None
    return schema_py_generated


def _pack(schema, model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tiny_model(ops: int = 1) -> bytes:
    """A float ``ADD`` of two ``[1, 4]`` inputs: the smallest model a delegate can be tried on.

    With ``ops`` > 1, a chain of that many ``ADD`` s (each adds ``b`` to the previous sum):
    the difference between two chain lengths is what one more op costs, so the per-invoke
    cost can be told apart from the per-op one.
    """
    schema = _schema()
    names = ["a", "b"] + (["sum"] if ops == 1 else [f"sum{i}" for i in range(ops)])
    tensors = []
    for name in names:
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4], schema.TensorType.FLOAT32, 0, name.encode()
        tensors.append(t)
    operators = []
    for i in range(ops):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, [0 if i == 0 else i + 1, 1], [i + 2]
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
        operators.append(op)
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = schema.BuiltinOperator.ADD, schema.BuiltinOperator.ADD, 1
    graph = schema.SubGraphT()
    graph.tensors, graph.operators, graph.inputs, graph.outputs = tensors, operators, [0, 1], [ops + 1]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [graph], [schema.BufferT()]
    return _pack(schema, model)


def _op_name(schema, code) -> str:
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if names.get(builtin) == "CUSTOM" and code.customCode:
        return code.customCode.decode("utf-8", "replace")
    return names.get(builtin, str(builtin))


def single_op_models(raw: bytes) -> list[tuple[int, str, str, bytes | None]]:
    """Every op of subgraph 0 as a model of its own.

    Returns:
        ``(op index, op type, output tensor name, model bytes or None)``; ``None`` for ops
        that call other subgraphs. The model's inputs are the op's :func:`fed_tensors`, in order.
    """
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(raw, 0)
    graph = model.subgraphs[0]
    out = []
    for index, op in enumerate(graph.operators or []):
        name = _op_name(schema, model.operatorCodes[op.opcodeIndex])
        first_output = graph.tensors[op.outputs[0]].name if op.outputs is not None and len(op.outputs) else b""
        output = (first_output or b"").decode("utf-8", "replace")
        blob = None if name in _CALLS_SUBGRAPHS else _cut(schema, model, raw, op)
        out.append((index, name, output, blob))
    return out


def _cut(schema, model, raw: bytes, op) -> bytes:
    graph = model.subgraphs[0]
    listed = [int(t) for group in (op.inputs, op.outputs, op.intermediates) if group is not None for t in group]
    remap = {old: new for new, old in enumerate(dict.fromkeys(t for t in listed if t >= 0))}
    buffers, tensors, constant = [schema.BufferT()], [], set()
    for old in remap:
        tensor = copy.copy(graph.tensors[old])
        data = _buffer_bytes(model.buffers[tensor.buffer], raw) if tensor.buffer else None
        if data:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(data, dtype=np.uint8)
            buffers.append(buffer)
            tensor.buffer = len(buffers) - 1
            constant.add(old)
        else:
            tensor.buffer = 0
        tensors.append(tensor)
    new_op = copy.copy(op)
    new_op.opcodeIndex = 0
    new_op.inputs = [remap[int(t)] if t >= 0 else -1 for t in op.inputs]
    new_op.outputs = [remap[int(t)] for t in op.outputs]
    if op.intermediates is not None:
        new_op.intermediates = [remap[int(t)] for t in op.intermediates]
    sub = schema.SubGraphT()
    sub.tensors, sub.operators = tensors, [new_op]
    sub.inputs = [remap[t] for t in _fed(graph, op, constant)]
    sub.outputs = list(new_op.outputs)
    cut = schema.ModelT()
    cut.version, cut.operatorCodes, cut.subgraphs, cut.buffers = 3, [model.operatorCodes[op.opcodeIndex]], [sub], buffers
    return _pack(schema, cut)


def _fed(graph, op, constant: set[int]) -> list[int]:
    return [int(t) for t in op.inputs if t >= 0 and int(t) not in constant and not graph.tensors[int(t)].isVariable]


def fed_tensors(raw: bytes) -> list[list[int]]:
    """Per op of subgraph 0, the tensors (indices in the whole model) its single-op model takes as
    inputs: the op's inputs that hold no constant data and are not variables, in order."""
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(raw, 0)
    graph = model.subgraphs[0]
    constant = {i for i, t in enumerate(graph.tensors or [])
                if t.buffer and _buffer_bytes(model.buffers[t.buffer], raw)}
    return [_fed(graph, op, constant) for op in graph.operators or []]


def _buffer_bytes(buffer, raw: bytes) -> bytes | None:
    if buffer is None:
        return None
    if buffer.data is not None and len(buffer.data):
        return bytes(np.asarray(buffer.data, dtype=np.uint8))
    if buffer.offset and buffer.offset > 1:  # large models keep buffers after the flatbuffer
        return raw[buffer.offset: buffer.offset + buffer.size]
    return None


def profile_ops(raw: bytes, time_op: Callable[[bytes, list | None], list[float]], deadline: float | None = None,
                values: list[dict[int, np.ndarray]] | None = None) -> list[dict]:
    """Time every op of ``raw`` alone with ``time_op`` (single-op model bytes and, per input set,
    the values of its inputs, or ``None`` where they are not known -> timings in ms).

    Args:
        values: per input set of the whole model, tensor index -> value inside it; each op is
            fed those of its :func:`fed_tensors` (an op missing one gets ``None``: its timer's
            own input).
        deadline: a ``time.monotonic()`` value; ops left when it has passed are listed with an
            error, so a slow device still answers within its time limit.
    """
    rows = []
    fed = fed_tensors(raw) if values else []
    for index, name, output, blob in single_op_models(raw):
        inputs = [[one.get(t) for t in fed[index]] for one in values] if values else None
        if inputs is not None and any(v is None for one in inputs for v in one):
            inputs = None
        row = {"index": index, "op": name, "output": output, "median_ms": None, "mean_ms": None, "runs": 0, "error": None}
        if blob is None:
            row["error"] = "calls other subgraphs: timed only as part of the whole model"
        elif deadline is not None and time.monotonic() > deadline:
            row["error"] = "not timed: the benchmark's time limit was reached"
        else:
            try:
                times = time_op(blob, inputs)
                row.update(median_ms=float(np.median(times)), mean_ms=float(np.mean(times)), runs=len(times))
            except EdgeloopError as exc:
                row["error"] = str(exc)
        rows.append(row)
    return rows
