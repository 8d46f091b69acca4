"""What a model costs and scores once converted: measured after every step that changes it.

Each step's model is converted to full int8 (calibrated on training samples), and the
converted file is read, scored on the validation split and timed, so the report can show
what each step bought in the units that matter on a device. The latency goes through the
run's latency store (:mod:`edgeloop.pipeline.latency`), timed in this process.
"""

from __future__ import annotations

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.base import Context

CALIBRATION_SAMPLES = 100
TIMED_RUNS = 30


def measure(model, ctx: Context) -> dict:
    """Parameters, MACs, int8 size (raw, gzipped), sparsity and distinct values per layer,
    int8 accuracy and median latency of ``model``; ``{"error": …}`` if it does not convert."""
    from edgeloop.converters import read_model, weight_sparsity, weight_unique_values
    from edgeloop.converters.tflite import convert
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.device.options import BenchmarkOptions
    from edgeloop.models.macs import model_macs
    from edgeloop.pipeline._sparsity import layer_kinds
    from edgeloop.pipeline.convert import file_sizes
    from edgeloop.pipeline.latency import InProcessDevice, measure_through_store

    out: dict = {"params": int(model.count_params()), "macs": model_macs(model)["total"]}
    try:
        blob = convert(model, "int8", ctx.data.representative(min(CALIBRATION_SAMPLES, len(ctx.data.y_train))))
    except EdgeloopError as exc:
        out["error"] = str(exc)
        return out
    info = read_model(blob)
    several = len(model.outputs) > 1  # the converted file names its outputs after the model's
    pred = TFLiteModel(blob).predict(ctx.data.x_val, output=ctx.output if several else None)
    out.update(
        int8_sizes=file_sizes(blob),
        weight_sparsity=weight_sparsity(info, layer_kinds(model)),
        weight_unique_values=weight_unique_values(info, layer_kinds(model)),
        int8_accuracy=float(np.mean(np.argmax(pred, axis=-1) == ctx.data.y_val)),
    )
    timed = measure_through_store(ctx, blob, InProcessDevice(), BenchmarkOptions(warmup=3, runs=TIMED_RUNS, time_limit_s=1e9))
    out.update(int8_latency_median_ms=timed.result.stats.median_ms, int8_sha256=timed.result.model_sha256)
    return out
