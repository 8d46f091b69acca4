"""The accuracy-aware path of the ``convert`` step: through the LiteRT quantizer.

``convert`` takes it when an option asks for what TensorFlow's converter cannot do:
a calibration method other than min/max, MSE / GPTQ weights, ``mode: auto`` (per-op
precisions under an accuracy budget) or ``quantizer: litert``. The Keras model is
converted to float32 by TensorFlow's converter first (the same file as the float
baseline), then quantized op by op.
"""

from __future__ import annotations

import numpy as np

from edgeloop import _io
from edgeloop.converters import Check

REPORT_PNG = "quant_report.png"


def uses_litert(o) -> bool:
    """Whether the ``convert`` options need the LiteRT quantizer."""
    return (o.mode == "auto" or o.quantizer == "litert" or o.calibration != "minmax" or o.weights != "minmax"
            or bool(getattr(o, "precisions", None)))


def mixed_check(info, precisions: dict[str, str]) -> Check:
    """Passes when the ops off int8 are exactly the ones the search moved."""
    off = {}
    for op in info.ops:
        if op.name in ("QUANTIZE", "DEQUANTIZE") or not op.outputs:
            continue
        t = info.tensors[op.outputs[0]]
        if t.dtype not in ("int8", "uint8", "int32", "int64", "bool"):
            off[t.name] = "int16" if t.dtype == "int16" else "float"
    moved = {t: p for t, p in precisions.items() if p != "int8"}
    if set(off) != set(moved):
        extra, missing = sorted(set(off) - set(moved)), sorted(set(moved) - set(off))
        return Check("mixed_precision", False, f"ops off int8 not chosen: {extra}; chosen but int8: {missing}")
    return Check("mixed_precision", True, f"{len(off)} op(s) off int8, exactly the ones chosen"
                 + (": " + ", ".join(f"{t.split(';')[0]} {p}" for t, p in off.items()) if off else ""))


def convert_litert(model, ctx, o) -> tuple[bytes, list[Check], dict]:
    """Convert ``model`` through the LiteRT quantizer as the options ask; return bytes, checks, report."""
    from edgeloop.converters import read_model, verify
    from edgeloop.converters.tflite import convert
    from edgeloop.quant.litert import quantize_tflite

    samples = ctx.data.representative(o.calibration_samples)
    if getattr(model, "is_tflite", False):
        from edgeloop.errors import EdgeloopError

        if o.mode not in ("int8", "int16x8", "auto") or o.debug or o.keep_float or o.equalize or o.bias_correction \
                or o.adaround:
            raise EdgeloopError("a .tflite model converts with mode int8, int16x8 or auto; debug, keep_float, "
                                "equalize, bias_correction and adaround need the Keras model")
        float_blob = model.data
    else:
        float_blob = convert(model, mode="float32")
    ranges = {"calibration": o.calibration, "percentile": o.percentile}
    extra: dict = {"quantizer": "litert-quantizer", "calibration": o.calibration, "weights": o.weights}
    if o.mode == "auto":
        from edgeloop.quant.mixed import auto_mixed

        # The budget is the one `evaluate` checks, on the held-out split: measured there, like an
        # accuracy-aware loop on a validation set (NNCF's, AIMET's). Its figure is then no
        # independent test estimate; a user with a separate test set scores the file on it.
        x_sel, y_sel = ctx.data.x_val, ctx.data.y_val
        with ctx.progress(f"mixed precision (budget {o.max_drop} points)", 1) as advance:
            result = auto_mixed(float_blob, samples, x_sel, y_sel, o.max_drop, io_type=o.io_type,
                                edgetpu=bool(o.edgetpu), weights=o.weights, **ranges)
            advance(1)
        data = result.model
        info = read_model(data)
        checks = [c for c in verify(info, mode="int8", io_type=o.io_type) if c.name != "int8_compute"]
        checks.append(mixed_check(info, result.precisions))
        extra["auto"] = {
            "max_drop": o.max_drop,
            "measured_on": f"the {len(y_sel)} held-out samples evaluate scores",
            "float_accuracy": result.float_accuracy,
            "accuracy": result.accuracy,
            "met_budget": result.met_budget,
            "start": result.start,
            "candidates_tried": result.tried,
            "moves": [m.__dict__ for m in result.moves],
            "ops": result.op_precisions(),
        }
    elif getattr(o, "precisions", None):
        data, info, checks, extra["precisions"] = _with_precisions(float_blob, samples, o, ranges)
    else:
        q = quantize_tflite(float_blob, samples, o.mode, o.io_type, weights=o.weights, per_channel=o.per_channel,
                            **ranges)
        data, info = q.model, read_model(q.model)
        checks = verify(info, mode=o.mode, io_type=o.io_type)
    if o.report:
        extra["quant_report"] = write_report(float_blob, data, samples, ctx, o)
    return data, checks, extra


def op_layers(float_blob: bytes) -> tuple[bytes, list[tuple[str, str, str]]]:
    """The prepared float file and, per op in execution order, ``(Keras layer, op, output tensor)``.

    The layer is the one the converter named the op after (a convolution fused with its
    batch norm and activation is named after the last of them).
    """
    from edgeloop.converters import read_model
    from edgeloop.quant.prepare import prepare
    from edgeloop.quant.report import _layer

    plain = prepare(float_blob).model
    info = read_model(plain)
    rows = []
    for op in info.ops:
        if op.name in ("QUANTIZE", "DEQUANTIZE") or not op.outputs:
            continue
        tensor = info.tensors[op.outputs[0]].name
        rows.append((op.layer or _layer(tensor), op.name, tensor))
    return plain, rows


def layer_precisions(float_blob: bytes, by_layer: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The prepared float file and ``{op output tensor: precision}`` for ops of the layers
    ``by_layer`` names (names or glob patterns; the first that matches an op's layer wins).

    Raises:
        EdgeloopError: a name or pattern that matches no op's layer (the layers are listed).
    """
    import fnmatch

    from edgeloop.errors import EdgeloopError

    plain, rows = op_layers(float_blob)
    out, used = {}, set()
    for layer, _, tensor in rows:
        for pattern, precision in by_layer.items():
            if fnmatch.fnmatchcase(layer, pattern):
                used.add(pattern)
                if precision != "int8":
                    out[tensor] = precision
                break
    unused = [p for p in by_layer if p not in used]
    if unused:
        raise EdgeloopError(f"convert: precisions name no layer of the converted model: {', '.join(unused)}; "
                            f"layers: {', '.join(dict.fromkeys(layer for layer, _, _ in rows))}")
    return plain, out


def _with_precisions(float_blob: bytes, samples: np.ndarray, o, ranges: dict):
    """Full int8 but the layers ``o.precisions`` keeps at int16 activations or float."""
    from edgeloop.converters import read_model, verify
    from edgeloop.quant.mixed import convert_with_precisions

    plain, tensors = layer_precisions(float_blob, o.precisions)
    data = convert_with_precisions(plain, samples, tensors, o.io_type, weights=o.weights, per_channel=o.per_channel,
                                   **ranges)
    info = read_model(data)
    checks = [c for c in verify(info, mode="int8", io_type=o.io_type) if c.name != "int8_compute"]
    checks.append(mixed_check(info, tensors))
    return data, info, checks, {"by_layer": dict(o.precisions), "ops": tensors}


def write_report(float_blob: bytes, quantized: bytes, samples: np.ndarray, ctx, o) -> dict:
    """The per-op error report of ``quantized`` (ranked, plotted into the run folder)."""
    from edgeloop.quant.litert import quantize_tflite
    from edgeloop.quant.prepare import prepare
    from edgeloop.quant.report import plot, quant_report

    plain = prepare(float_blob).model
    mode = "int8" if o.mode == "auto" else o.mode
    report = quant_report(plain, quantized, samples[:32], ctx.data.x_val,
                          quantize=lambda p: quantize_tflite(plain, samples, mode, "float32", p).model)
    png = plot(report["ops"], ctx.path(REPORT_PNG), f"{o.mode}: accumulated SNR per op")
    _io.write_json(ctx.path("quant_report.json"), report)
    report["plot"] = png.name
    return report
