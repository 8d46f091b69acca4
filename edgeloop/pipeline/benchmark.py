"""``benchmark``: local latency of the converted model and of the float baseline."""

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
        baseline: also time the float32 baseline, in the same process, right after.
    """

    threads: int = 1
    warmup: int = 10
    runs: int = 100
    baseline: bool = True

    def __post_init__(self) -> None:
        if self.threads < 1 or self.runs < 1 or self.warmup < 0:
            raise ValueError("threads and runs must be at least 1, warmup at least 0")


@register_step
class Benchmark(Step):
    """Time the LiteRT interpreter on this machine (min / median / p90 / p99 …)."""

    name = "benchmark"
    Options = BenchmarkOptions

    def apply(self, model, ctx: Context):
        from edgeloop.device.benchmark import benchmark

        tflite = ctx.state.get("tflite")
        if not tflite:
            raise EdgeloopError("benchmark needs a converted model: put a convert step before it")
        o = self.options
        files = {"model": tflite["file"]}
        if o.baseline and ctx.state.get("baseline_tflite"):
            files["baseline_float32"] = ctx.state["baseline_tflite"]
        results = {}
        for key, name in files.items():
            with ctx.progress(f"benchmark {name}", o.warmup + o.runs) as advance:
                result = benchmark(ctx.path(name), threads=o.threads, warmup=o.warmup, runs=o.runs,
                                   progress=lambda done, total: advance(1))
            results[key] = result.to_dict()
        ctx.record(**results)
        return model
