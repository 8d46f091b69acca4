"""``benchmark``: latency of the converted model and of the float baseline, on any device.

``device`` takes the same strings as ``edgeloop bench --device``: ``local`` (this
machine, in this process), ``http://HOST:PORT`` (an edgeloop agent) or ``adb:SERIAL``.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.base import Context, Step, register_step


@dataclass
class BenchmarkOptions:
    """Options of ``benchmark``.

    Attributes:
        threads: interpreter threads.
        warmup: untimed runs first.
        runs: timed runs.
        baseline: also time the float32 baseline, right after, on the same device.
        device: ``local``, ``http://HOST:PORT`` or ``adb:SERIAL`` (default: the recipe
            target's device, else ``local``).
        delegate: ``None`` (the runtime's default), ``xnnpack``, ``none``, ``edgetpu``, ``gpu``,
            ``nnapi`` or ``hexagon``.
        op_profiling: also measure each op's latency; with an int8 model and its float
            baseline, the report compares them op by op and names the ops that make int8
            slower (:mod:`edgeloop.host.op_compare`).
        fresh: measure now even when the latency store holds this model, device and
            options (``false``: the store answers); either way the measurement is in the
            store (:mod:`edgeloop.pipeline.latency`).
        token_file: the agent's token (``http://`` devices).
        benchmark_model: the phone's ``benchmark_model`` binary (``adb:`` devices).
    """

    threads: int = 1
    warmup: int = 10
    runs: int = 100
    baseline: bool = True
    device: str | None = None
    delegate: str | None = None
    op_profiling: bool = False
    fresh: bool = True
    token_file: str | None = None
    benchmark_model: str | None = None

    def __post_init__(self) -> None:
        if self.threads < 1 or self.runs < 1 or self.warmup < 0:
            raise ValueError("threads and runs must be at least 1, warmup at least 0")


@register_step("benchmark", BenchmarkOptions, takes_any_model=True, needs_labels=False)
class Benchmark(Step):
    """Time the model on a device (min / median / p90 / p99, confidence interval, delegate nodes …)."""

    def apply(self, model, ctx: Context):
        from edgeloop.device.agent import read_token
        from edgeloop.host.devices import open_device
        from edgeloop.device.options import BenchmarkOptions as DeviceOptions
        from edgeloop.pipeline.latency import measure_through_store

        tflite = ctx.state.tflite
        if not tflite:
            raise EdgeloopError("benchmark needs a converted model: put a convert step before it")
        o = self.options
        where = o.device or (ctx.target.device if ctx.target else None) or "local"
        options = DeviceOptions(threads=o.threads, warmup=o.warmup, runs=o.runs, delegate=o.delegate,
                                op_profiling=o.op_profiling, time_limit_s=1e6 if where == "local" else 600.0)
        token = read_token(o.token_file) if o.token_file else None
        device = open_device(where, token=token, benchmark_model=o.benchmark_model)
        files = {"model": tflite["file"]}
        if o.baseline and ctx.state.baseline_tflite:
            files["baseline_float32"] = ctx.state.baseline_tflite
        results = {}
        for key, name in files.items():
            with ctx.progress(f"benchmark {name} on {device.name}", o.warmup + o.runs) as advance:
                m = measure_through_store(ctx, ctx.path(name), device, options, fresh=o.fresh,
                                          progress=lambda done, total: advance(1))
            if device.kind == "agent":
                ctx.state.device_info = m.fingerprint  # a later compile step takes -m from its Edge TPU runtime
            results[key] = {**m.result.to_dict(), "stored_id": m.stored_id, "cached": m.cached}
            if o.op_profiling:
                results.setdefault("_raw", {})[key] = m.result
        profiled = results.pop("_raw", {})
        if len(profiled) == 2 and tflite.get("mode") in ("int8", "int16x8"):
            from edgeloop.host.op_compare import compare, file_ops

            files_ops = {key: file_ops(ctx.path(files[key]).read_bytes(), profiled[key], options) for key in profiled}
            results["int8_vs_float32"] = compare(files_ops["model"], files_ops["baseline_float32"])
        ctx.record(**results)
        return model
