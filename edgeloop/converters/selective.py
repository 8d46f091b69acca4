"""Selective quantization: rank layers by int8 error, and keep the worst ones in float.

TensorFlow's ``QuantizationDebugger`` runs the float and the quantized model side by side
on calibration samples and reports, per quantized op output, the error the quantization
adds; ``RMSE / scale`` (the error in units of one quantization step) ranks them. Keeping
the worst N ops in float ("denylisting" them) often buys back accuracy for a little size,
but every float op is one the Edge TPU cannot run: it falls back to the CPU and splits the
graph there.
"""

from __future__ import annotations

import csv
import io
import warnings

import numpy as np

from edgeloop._quiet import native_stderr_silenced
from edgeloop._tf import tf
from edgeloop.converters.inspect import ModelInfo
from edgeloop.converters.tflite import _representative, static_batch_converter
from edgeloop.converters.verify import Check
from edgeloop.errors import EdgeloopError


def _converter(model, representative: np.ndarray):
    # A converter cannot be used twice: every debugger run gets a fresh one.
    converter = static_batch_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(representative, None)
    return converter


def rank_layers(model, representative: np.ndarray) -> list[dict]:
    """Quantized op outputs ranked by ``RMSE / scale``, worst first.

    Returns:
        ``[{"op", "tensor", "rmse_over_scale", "mean_squared_error", "scale"}, …]``.
    """
    # The debugger runs TensorFlow's own (deprecated) interpreter inside; its warning is not ours.
    with native_stderr_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=_converter(model, representative), debug_dataset=_representative(representative, None)
        )
        debugger.run()
    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    rows = []
    for row in csv.DictReader(io.StringIO(buf.getvalue())):
        scale = float(row["scale"])
        mse = float(row["mean_squared_error"])
        rows.append({
            "op": row["op_name"],
            "tensor": row["tensor_name"],
            "rmse_over_scale": float(np.sqrt(mse) / scale) if scale else float("inf"),
            "mean_squared_error": mse,
            "scale": scale,
        })
    return sorted(rows, key=lambda r: -r["rmse_over_scale"])


def convert_selective(model, representative: np.ndarray, keep_float: list[str]) -> bytes:
    """Full-integer conversion except the ops writing ``keep_float`` tensors (float I/O)."""
    if not keep_float:
        raise EdgeloopError("selective quantization needs at least one op to keep in float")
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(keep_float))
    with native_stderr_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=_converter(model, representative),
            debug_dataset=_representative(representative, None),
            debug_options=options,
        )
        return bytes(debugger.get_nondebug_quantized_model())


def float_ops_check(info: ModelInfo, keep_float: list[str]) -> Check:
    """Passes when the ops computing in float are exactly the ones asked to stay float."""
    float_ops = {}
    for op in info.ops:
        if op.name in ("QUANTIZE", "DEQUANTIZE"):
            continue
        if any(i >= 0 and info.tensors[i].dtype in ("float32", "float16") for i in (*op.inputs, *op.outputs)):
            float_ops[info.tensors[op.outputs[0]].name] = op.name
    wanted = set(keep_float)
    if set(float_ops) != wanted:
        extra = sorted(set(float_ops) - wanted)
        missing = sorted(wanted - set(float_ops))
        return Check("selective_float", False, f"float ops not asked for: {extra}; asked but quantized: {missing}")
    return Check("selective_float", True, f"exactly the {len(wanted)} op(s) asked for run in float: "
                 + ", ".join(f"{float_ops[t]} {t}" for t in sorted(wanted)))
