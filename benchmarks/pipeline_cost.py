"""Section 4: what edgeloop's own machinery costs.

- Conversion: ``edgeloop.converters.tflite.convert`` (static batch, int8 I/O) plus
  ``verify`` against a bare ``TFLiteConverter.from_keras_model`` doing the same full-int8
  conversion with the same calibration samples, on the same trained model, interleaved
  A B A B; the figure is the ratio of the medians (target <= 1.10).
- The demo recipe end to end (``recipes/digits_int8.yaml`` through the real command, in a
  child process): wall time and the child's peak resident memory.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import Progress, table

_DEMO = """
import json, resource, sys, time
from edgeloop.cli import main
started = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"exit": code, "seconds": time.perf_counter() - started,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _bare(model, samples):
    from edgeloop._tf import tf

    def gen():
        for s in samples:
            yield [s[None, ...]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def _edgeloop(model, samples):
    from edgeloop.converters import enforce, read_model, verify
    from edgeloop.converters.tflite import convert

    blob = convert(model, "int8", samples)
    enforce(verify(read_model(blob), mode="int8", io_type="int8"))
    return blob


def run(quick: bool, progress: Progress) -> dict:
    """Interleaved conversion timings, then the demo in a child process."""
    from edgeloop._quiet import native_stderr_silenced
    from edgeloop._tf import keras
    from edgeloop.data import load_data
    from edgeloop.models import create
    from edgeloop.pipeline._training import compile_classifier

    progress("pipeline cost: conversion, edgeloop vs bare converter")
    data = load_data("digits")
    keras.utils.set_random_seed(0)
    model = create("digits_cnn", input_shape=data.sample_shape, classes=data.classes)
    compile_classifier(model, 1e-3)
    model.fit(data.x_train, data.y_train, epochs=2, batch_size=32, verbose=0)
    samples = data.representative(200)
    rounds = 3 if quick else 10
    times = {"bare": [], "edgeloop": []}
    for _ in range(rounds):
        for key, fn in (("bare", _bare), ("edgeloop", _edgeloop)):
            started = time.perf_counter()
            with native_stderr_silenced():
                fn(model, samples)
            times[key].append(time.perf_counter() - started)
    figures = {"conversion": {"rounds": rounds, "calibration_samples": len(samples), "seconds": times,
                              "ratio": statistics.median(times["edgeloop"]) / statistics.median(times["bare"])}}
    if quick:  # the demo takes about a minute: the smoke run only checks the section works
        return figures
    progress("pipeline cost: the demo recipe end to end")
    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-") as tmp:
        proc = subprocess.run([sys.executable, "-c", _DEMO, "optimize", "recipes/digits_int8.yaml", "--out", tmp, "-q"],
                              capture_output=True, text=True, timeout=1800, cwd=Path(__file__).resolve().parents[1])
    demo = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["demo"] = demo
    return figures


def render(f: dict) -> str:
    """The conversion ratio and the demo's cost."""
    c = f["conversion"]
    rows = [[key, f"{statistics.median(v):.3f}", f"{min(v):.3f}-{max(v):.3f}"] for key, v in c["seconds"].items()]
    out = [f"Full-int8 conversion of the trained digits CNN ({c['calibration_samples']} calibration samples), "
           f"{c['rounds']} interleaved rounds, seconds:", "",
           table(["conversion", "median s", "range s"], rows), "",
           f"edgeloop (static batch + verification) / bare converter: **{c['ratio']:.2f}x** (target <= 1.10)."]
    if "demo" in f:
        d = f["demo"]
        out += ["", f"`scripts/demo` end to end (recipes/digits_int8.yaml through `edgeloop optimize`, one run): "
                    f"{d['seconds']:.0f} s wall, peak resident memory {d['peak_rss_mib']:.0f} MiB, exit status {d['exit']}."]
    return "\n".join(out)
