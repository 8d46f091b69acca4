"""Local latency benchmark with the TFLite interpreter (the "profiler"; stats parse it).

Timing: interpreter creation with ``allocate_tensors`` (init), the first ``invoke``
(one-off costs such as XNNPACK packing weights), untimed warm-up runs, then N timed runs
with ``perf_counter_ns`` around ``invoke`` alone, on seeded random input of the input's type.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgeloop.device.interpreter import load_interpreter, runtime_name
from edgeloop.device.stats import LatencyStats, summarize
from edgeloop.errors import EdgeloopError

# LiteRT applies XNNPACK to every CPU interpreter unless told otherwise; its partitions
# appear in the node list as ops named DELEGATE.
DEFAULT_DELEGATE = "XNNPACK"


@dataclass
class BenchmarkResult:
    """What one benchmark measured; ``stats`` summarizes ``times_ms``."""

    model: str
    runtime: str
    threads: int
    warmup: int
    runs: int
    init_ms: float
    first_inference_ms: float
    times_ms: list[float]
    stats: LatencyStats
    delegates: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data for reports and ``--json``."""
        return asdict(self)


def delegated_nodes(ops: list[dict]) -> dict[str, int]:
    """How many of the model's nodes each delegate partition took, and how many stayed on CPU kernels.

    ``ops`` is the interpreter's node list (``_get_ops_details()``): the model's own nodes,
    then one ``DELEGATE`` node per partition a delegate claimed. A partition's nodes are
    found by walking back from the ``DELEGATE`` node's outputs through the nodes that
    produce them until its inputs are reached.

    Returns:
        ``{"XNNPACK": n_delegated, "cpu": n_left}``; ``{"cpu": n}`` when nothing was delegated.
    """
    own = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): i for i, op in enumerate(own) for t in op["outputs"]}
    taken: set[int] = set()
    for partition in (op for op in ops if op["op_name"] == "DELEGATE"):
        boundary = {int(t) for t in partition["inputs"]}
        stack = [int(t) for t in partition["outputs"]]
        while stack:
            tensor = stack.pop()
            node = producer.get(tensor)
            if tensor in boundary or node is None or node in taken:
                continue
            taken.add(node)
            stack.extend(int(t) for t in own[node]["inputs"] if t >= 0)
    counts = {DEFAULT_DELEGATE: len(taken)} if taken else {}
    counts["cpu"] = len(own) - len(taken)
    return counts


def _input_data(detail: dict, rng: np.random.Generator) -> np.ndarray:
    dtype = detail["dtype"]
    shape = detail["shape"]
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.random(shape, dtype=np.float32).astype(dtype)


def benchmark(
    model: str | Path | bytes,
    threads: int = 1,
    warmup: int = 5,
    runs: int = 50,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> BenchmarkResult:
    """Time ``model`` on this machine.

    Args:
        model: path of the ``.tflite`` file, or its bytes.
        threads: interpreter threads.
        warmup: untimed runs after the first one.
        runs: timed runs.
        progress: called as ``progress(done, total)`` after each warm-up and timed run.
        seed: seed of the random input.

    Raises:
        EdgeloopError: bad arguments, or a model that cannot be loaded.
    """
    if threads < 1 or runs < 1 or warmup < 0:
        raise EdgeloopError(f"threads and runs must be at least 1 and warmup at least 0 (got {threads}, {runs}, {warmup})")
    started = time.perf_counter_ns()
    interpreter = load_interpreter(model, num_threads=threads)
    init_ms = (time.perf_counter_ns() - started) / 1e6
    rng = np.random.default_rng(seed)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], _input_data(detail, rng))
    started = time.perf_counter_ns()
    interpreter.invoke()
    first_ms = (time.perf_counter_ns() - started) / 1e6
    total = warmup + runs
    for i in range(warmup):
        interpreter.invoke()
        if progress:
            progress(i + 1, total)
    times = []
    for i in range(runs):
        started = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - started) / 1e6)
        if progress:
            progress(warmup + i + 1, total)
    get_ops = getattr(interpreter, "_get_ops_details", None)  # absent from old tflite_runtime
    delegates = delegated_nodes(get_ops()) if get_ops else {}
    label = f"<{len(model)} bytes>" if isinstance(model, bytes) else str(model)
    return BenchmarkResult(label, runtime_name(), threads, warmup, runs, init_ms, first_ms, times, summarize(times), delegates)
