"""A parsed ``.tflite`` as plain data and as lines: what ``edgeloop inspect`` shows."""

from __future__ import annotations

from edgeloop.converters.inspect import ModelInfo, SubgraphInfo, TensorInfo


def tensor_dict(t: TensorInfo) -> dict:
    """One tensor: type, shape and signature, quantization (per-channel axis), constant bytes."""
    return {
        "index": t.index,
        "name": t.name,
        "dtype": t.dtype,
        "shape": list(t.shape),
        "shape_signature": list(t.shape_signature),
        "constant_bytes": t.buffer_bytes,
        "quantization": _quantization(t),
    }


def _quantization(t: TensorInfo) -> dict | None:
    if not t.scales:
        return None
    per_channel = len(t.scales) > 1
    return {
        "scale": t.scales[0] if not per_channel else list(t.scales),
        "zero_point": (t.zero_points[0] if t.zero_points else 0) if not per_channel else list(t.zero_points),
        "axis": t.quantized_dimension if per_channel else None,
    }


def subgraph_dict(g: SubgraphInfo) -> dict:
    """One subgraph: I/O, ops (version, options, MACs, Keras layer) and tensors."""
    return {
        "index": g.index,
        "name": g.name,
        "inputs": list(g.inputs),
        "outputs": list(g.outputs),
        "ops": [
            {"index": op.index, "op": op.name, "version": op.version, "layer": op.layer, "macs": op.macs,
             "inputs": list(op.inputs), "outputs": list(op.outputs), "options": op.options}
            for op in g.ops
        ],
        "tensors": [tensor_dict(t) for t in g.tensors],
    }


def describe(info: ModelInfo) -> dict:
    """The whole file: totals and every subgraph."""
    return {
        "schema_version": info.version,
        "macs": info.macs,
        "constant_bytes": info.constant_bytes,
        "subgraphs": [subgraph_dict(g) for g in info.subgraphs],
    }


def op_lines(info: ModelInfo) -> list[str]:
    """One line per op of every subgraph: index, op and version, Keras layer, MACs, output."""
    lines = []
    for g in info.subgraphs:
        if len(info.subgraphs) > 1:
            lines.append(f"  subgraph {g.index} ({g.name}): {len(g.ops)} ops, {len(g.tensors)} tensors")
        for op in g.ops:
            out = g.tensors[op.outputs[0]] if op.outputs else None
            shape = f"{out.dtype}{list(out.shape)}" if out is not None else "-"
            options = _short_options(op.options)
            lines.append(f"    {op.index:>3} {op.name + ' v' + str(op.version):<26} {op.layer or '-':<18} "
                         f"{op.macs:>12,} MACs  -> {shape}{options}")
    return lines


def tensor_lines(info: ModelInfo) -> list[str]:
    """One line per tensor of the main graph."""
    lines = []
    for t in info.tensors:
        q = _quantization(t)
        if q is None:
            quant = "float" if t.dtype.startswith("float") else "-"
        elif q["axis"] is None:
            quant = f"scale {q['scale']:.6g} zp {q['zero_point']}"
        else:
            quant = f"{len(q['scale'])} scales on axis {q['axis']}"
        const = f"  const {t.buffer_bytes} B" if t.buffer_bytes else ""
        lines.append(f"    {t.index:>3} {t.dtype:<8} {str(list(t.shape_signature)):<18} {quant}{const}  {t.name}")
    return lines


_SHOWN = ("padding", "stride_h", "stride_w", "dilation_hfactor", "dilation_wfactor", "fused_activation_function",
          "axis", "keep_dims", "align_corners", "half_pixel_centers", "alpha")


def _short_options(options: dict) -> str:
    # Strides and dilations of 1 are the default and say nothing.
    shown = {k: v for k, v in options.items()
             if k in _SHOWN and v not in (None, "NONE", False) and not (k.startswith(("stride", "dilation")) and v == 1)}
    return "  " + " ".join(f"{k}={v}" for k, v in shown.items()) if shown else ""
