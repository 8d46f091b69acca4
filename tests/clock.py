"""A deterministic device clock: a test double for the time a device takes to run a model.

Wall-clock latency on a shared machine moves with its load (on a busy CI runner a tiny
model's median came out three times the quiet machine's), so a test whose verdict reads it
passes or fails with the machine. Where a test needs latencies, it measures them with
:class:`ClockDevice` instead: a device (the protocol of :mod:`edgeloop.device.devices`)
that answers every benchmark with a latency *computed from the .tflite file itself* — a
fixed cost per invoke, a cost per op, per multiply-accumulate and per byte of activations
the op writes — and, when op profiling is asked, every op's cost alone the way real op
profiling reports it (each single-op model pays the per-invoke cost once). Everything else
is real: the converted file, the latency store (SQLite), the search and the look-up table.

How fast models really run, and how well the look-up table and the predictor predict it,
is measured by ``scripts/bench`` (sections ``search`` and ``latency_prediction``), never
asserted by a test.
"""

from __future__ import annotations

from math import prod

import numpy as np

from edgeloop.device.benchmark import BenchmarkResult
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.stats import summarize
from edgeloop.search.latency import Meter

INVOKE_MS = 0.004  # the interpreter's own cost per invoke
OP_MS = 0.001  # dispatch of one op
MAC_MS = 2e-8  # 50 GMAC/s
BYTE_MS = 1e-7  # 10 GB/s of activations written


def op_cost_ms(op, tensors) -> float:
    """The clock's cost of one op: dispatch, arithmetic and the activations it writes."""
    written = sum(prod(tensors[k].shape) * _itemsize(tensors[k].dtype) for k in op.outputs)
    return OP_MS + MAC_MS * op.macs + BYTE_MS * written


def model_ms(raw: bytes) -> float:
    """The clock's latency of a whole ``.tflite`` model: one invoke and every op of its main graph."""
    from edgeloop.converters import read_model

    info = read_model(raw)
    return INVOKE_MS + sum(op_cost_ms(op, info.tensors) for op in info.ops)


def _itemsize(dtype: str) -> int:
    return {"float32": 4, "int32": 4, "float16": 2, "int16": 2, "int64": 8, "float64": 8}.get(dtype, 1)


class ClockDevice:
    """A device whose every measurement is :func:`model_ms` of the file, the same each time."""

    name = "clock"
    kind = "clock"

    def info(self) -> dict:
        """A fixed fingerprint (the store keeps its measurements apart from this machine's)."""
        return {"id": "deterministicclk", "cores": 1, "delegates": {}, "interpreter": "clock"}

    def benchmark(self, model: bytes, options: BenchmarkOptions) -> BenchmarkResult:
        """``options.runs`` identical runs of the computed latency (and each op alone if asked)."""
        from edgeloop.converters import read_model

        ms = model_ms(model)
        times = [ms] * options.runs
        result = BenchmarkResult(f"<{len(model)} bytes>", "clock", options.threads, options.warmup, options.runs,
                                 0.0, ms, times, summarize(times), source="clock", device=self.name,
                                 ci95_median_ms=[ms, ms], bare_invoke_ms=ms, timing_overhead_ms=0.0,
                                 options=options.to_dict())
        if options.op_profiling:
            info = read_model(model)
            result.op_profile = [
                {"index": op.index, "op": op.name, "output": info.tensors[op.outputs[0]].name,
                 "median_ms": INVOKE_MS + op_cost_ms(op, info.tensors), "mean_ms": INVOKE_MS + op_cost_ms(op, info.tensors),
                 "runs": options.runs, "error": None} for op in info.ops]
            result.op_profile_method = "deterministic clock (test double)"
        return result

    def compare(self, old: bytes, new: bytes, options: BenchmarkOptions) -> dict:
        """Interleaved timings as :func:`edgeloop.device.gate.run_interleaved` reports them: each
        model's computed latency with a seeded run-to-run spread (the gate's statistics need one)."""
        rng = np.random.default_rng(options.seed)
        out = {}
        for key, blob in (("old", old), ("new", new)):
            times = list(model_ms(blob) * (1.0 + rng.gamma(2.0, 0.02, size=options.runs)))
            out[key] = {"times_ms": times, "stats": summarize(times).to_dict()}
        return {**out, "rounds": options.runs, "stop_reason": "runs"}


class ClockMeter(Meter):
    """The search's :class:`~edgeloop.search.latency.Meter` with the clock as its device: the
    latency store, the records and the conversion are real; only the timer is not."""

    def __init__(self, device: str = "local", *args, **kwargs) -> None:
        super().__init__("local", *args, **kwargs)
        self.spec = device
        self.device = ClockDevice()


def install() -> None:
    """Time everything in this process by the clock: ``local`` opens a :class:`ClockDevice` and
    the search measures with :class:`ClockMeter` (for a CLI run in a subprocess)."""
    import edgeloop.device.devices as devices
    import edgeloop.search.run as run

    real = devices.open_device
    devices.open_device = lambda spec, *args, **kwargs: ClockDevice() if spec == "local" else real(spec, *args, **kwargs)
    run.Meter = ClockMeter
