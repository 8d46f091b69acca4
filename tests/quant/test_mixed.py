"""Per-op precisions through the LiteRT quantizer, activation ranges, the error report."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.converters import read_model
from edgeloop.quant.mixed import convert_with_precisions
from edgeloop.quant.ranges import mse_range, percentile_range
from edgeloop.quant.report import quant_report, report_lines
from edgeloop.quant.step import mixed_check


def _op_outputs(blob):
    info = read_model(blob)
    return info, [info.tensors[op.outputs[0]] for op in info.ops if op.name not in ("QUANTIZE", "DEQUANTIZE")]


def test_per_op_precisions_reach_the_file(trained_float, digits):
    _, outs = _op_outputs(trained_float)
    conv, fc = outs[0].name, outs[-2].name
    blob = convert_with_precisions(trained_float, digits.x_train[:50], {conv: "int16", fc: "float"})
    info, q_outs = _op_outputs(blob)
    dtypes = {t.name: t.dtype for t in q_outs}
    assert dtypes[conv] == "int16" and dtypes[fc] == "float32"
    assert all(d == "int8" for n, d in dtypes.items() if n not in (conv, fc))
    assert mixed_check(info, {conv: "int16", fc: "float"}).passed
    assert not mixed_check(info, {conv: "int16"}).passed


def test_clipping_ranges_cut_a_lone_outlier():
    hist = np.zeros(2048, np.int64)
    hist[:200] = 100_000  # the bulk in the first tenth of [0, 100]
    hist[-1] = 1  # one outlier at 100
    lo, hi = percentile_range(hist, 0.0, 100.0, 99.99)
    assert lo == 0.0 and hi < 15.0
    assert mse_range(hist, 0.0, 100.0)[1] < 50.0


def test_report_ranks_ops_and_names_layers(trained_float, digits):
    blob = convert_with_precisions(trained_float, digits.x_train[:50], {})
    report = quant_report(trained_float, blob, digits.x_train[:16], digits.x_val[:60],
                          quantize=lambda p: convert_with_precisions(trained_float, digits.x_train[:50], p), worst=1)
    layers = {r["layer"] for r in report["ops"]}
    assert {"conv", "fc", "out"} <= layers
    assert all(r["snr_db"] > 0 for r in report["ops"])
    assert report["output_fidelity"]["top1_agreement"] > 0.9
    assert len(report["sensitivity"]) == 1 and report["sensitivity"][0]["top1_agreement"] > 0.9
    assert "single-layer sensitivity" in "\n".join(report_lines(report))


@pytest.mark.slow
def test_convert_step_auto_and_report(ctx, make_tiny_cnn):
    from edgeloop._tf import keras
    from edgeloop.pipeline import build_step

    model = make_tiny_cnn()
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ctx.data.x_train, ctx.data.y_train, epochs=2, verbose=0)
    step = build_step("convert", {"mode": "auto", "max_drop": 0.0, "report": True, "calibration": "percentile",
                                  "calibration_samples": 50, "baseline": False}, "step 1 (convert)")
    step.apply(model, ctx)
    auto = ctx.result["auto"]
    assert auto["ops"] and {o["precision"] for o in auto["ops"]} <= {"int8", "int16", "float"}
    moved = {m["tensor"] for m in auto["moves"]}
    assert {o["tensor"] for o in auto["ops"] if o["precision"] != "int8"} == moved
    assert all(c["passed"] for c in ctx.result["checks"])
    assert (ctx.run_dir / "quant_report.png").stat().st_size > 1000
    assert ctx.state["tflite"]["mode"] == "auto"


def test_an_op_off_int8_costs_edgetpu_ops(trained_float, digits):
    from edgeloop.quant.mixed import ops_off_edgetpu

    calib = digits.x_train[:50]
    full = convert_with_precisions(trained_float, calib, {}, io_type="int8")
    info = read_model(trained_float)
    middle = info.tensors[info.ops[2].outputs[0]].name  # an op in the middle of the graph
    mixed = convert_with_precisions(trained_float, calib, {middle: "float"}, io_type="int8")
    assert ops_off_edgetpu(full) == 0
    assert ops_off_edgetpu(mixed) >= 2  # the float op and everything after the cut it makes
