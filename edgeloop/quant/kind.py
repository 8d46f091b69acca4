"""What kind of ``.tflite`` a file is: float32, float16 weights, dynamic range, weight-only,
full int8, int16x8 or mixed (naming the ops off int8), and how sparse its sparse-stored weights are."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeloop.converters.inspect import ModelInfo

_EDGE = ("QUANTIZE", "DEQUANTIZE", "DENSIFY")
_INT = ("int8", "uint8")


def file_kind(info: ModelInfo) -> dict:
    """``{"kind", "detail", "off_int8": [{"op", "layer", "dtype"}]}`` of a parsed file."""
    producer = info.producer()
    dequantized = {}
    for op in info.ops:
        if op.name == "DEQUANTIZE" and op.inputs and info.tensors[op.inputs[0]].is_constant:
            dequantized[op.outputs[0]] = info.tensors[op.inputs[0]].dtype
        if op.name == "DENSIFY" and op.inputs and info.tensors[op.inputs[0]].is_constant:
            dequantized[op.outputs[0]] = info.tensors[op.inputs[0]].dtype
    # A DEQUANTIZE of a DENSIFY's output: the stored type is the DENSIFY's input's.
    for op in info.ops:
        if op.name == "DEQUANTIZE" and op.inputs and op.inputs[0] in dequantized:
            dequantized[op.outputs[0]] = dequantized[op.inputs[0]]
    compute = [op for op in info.ops if op.name not in _EDGE and op.outputs]
    if not compute:
        return {"kind": "empty", "detail": "no compute ops", "off_int8": []}
    out_types = {op.index: info.tensors[op.outputs[0]].dtype for op in compute}
    weight_types = set()
    for op in compute:
        for i in op.inputs[1:]:
            if i < 0:
                continue
            t = info.tensors[i]
            if i in dequantized:
                weight_types.add(("dequantized", dequantized[i]))
            elif t.is_constant and t.dtype != "int32" and i not in producer:
                weight_types.add(("stored", t.dtype))
    floats = [op for op in compute if out_types[op.index].startswith("float")]
    ints = [op for op in compute if out_types[op.index] in _INT]
    int16 = [op for op in compute if out_types[op.index] == "int16"]
    off = [{"op": op.name, "layer": op.layer or info.tensors[op.outputs[0]].name, "dtype": out_types[op.index]}
           for op in compute if out_types[op.index] not in _INT and out_types[op.index] not in ("int32", "int64", "bool")]
    if not floats and not int16:
        return {"kind": "full int8", "detail": f"all {len(compute)} compute ops in int8", "off_int8": []}
    if int16 and not floats and not ints:
        return {"kind": "int16x8", "detail": f"int16 activations, int8 weights in all {len(compute)} ops", "off_int8": off}
    if ints:
        return {"kind": "mixed", "detail": f"{len(ints)} ops int8, {len(int16)} int16, {len(floats)} float", "off_int8": off}
    if ("dequantized", "float16") in weight_types:
        return {"kind": "float16 weights", "detail": "float16 constants dequantized to float32 at load", "off_int8": off}
    if ("dequantized", "int8") in weight_types:
        return {"kind": "weight-only int8", "detail": "int8 weights dequantized into float ops", "off_int8": off}
    if ("stored", "int8") in weight_types:
        return {"kind": "dynamic range", "detail": "int8 weights, float activations quantized on the fly", "off_int8": off}
    return {"kind": "float32", "detail": f"all {len(compute)} compute ops in float32", "off_int8": off}


def sparse_weights(model: bytes | str | Path) -> dict[str, dict]:
    """``{tensor: {"sparsity", "shape", "stored_values"}}`` of every constant stored in TFLite's sparse format."""
    from edgeloop.errors import EdgeloopError
    from edgeloop.quant.prepare import constant_array, flatbuffer_utils

    data = Path(model).read_bytes() if isinstance(model, (str, Path)) else bytes(model)
    try:
        obj = flatbuffer_utils().convert_bytearray_to_object(bytearray(data))
    except Exception as exc:  # a corrupt flatbuffer fails anywhere inside
        raise EdgeloopError(f"cannot read the sparse tensors: {type(exc).__name__}") from None
    out = {}
    for tensor in obj.subgraphs[0].tensors:
        if tensor.sparsity is None:
            continue
        dense = constant_array(obj, tensor)
        if dense is None:
            continue
        name = tensor.name.decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name)
        stored = int(np.count_nonzero(dense)) if dense.size else 0
        out[name] = {"sparsity": float(np.mean(dense == 0)), "shape": list(dense.shape), "stored_values": stored}
    return out
