"""Latency benchmark with the TFLite interpreter (the "profiler"; stats parse it).

Timing: interpreter creation with ``allocate_tensors`` (init), the first ``invoke``
(one-off costs such as XNNPACK packing weights), untimed warm-up runs, then timed runs
with ``perf_counter_ns`` around ``invoke`` alone, each on the next of a few
seeded random inputs of the input's type (set before the run, outside its timing:
:class:`RotatingInputs`). Timed runs continue past the minimum (up to a limit) until the bootstrap 95 %
interval of the median is tight enough. Finally a bare ``invoke()`` loop, timed as a
whole, gives the cost of timing each run on its own: the report states it.

The same function runs in-process (``--device local``), in the agent's child process and
in its tests, so every way of reaching a device gives the same :class:`BenchmarkResult`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgeloop.device import delegates as _delegates
from edgeloop.device.interpreter import load_interpreter, runtime_name
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.sampling import StoppingRule, median_ci, noise_warnings
from edgeloop.device.stats import LatencyStats, summarize
from edgeloop.errors import EdgeloopError

_BARE_BATCH = 10
# Above 1 thread, a second interpreter's bare invoke() this many times slower or faster than the
# first's gets a warning (:func:`_second_interpreter`).
SECOND_INTERPRETER_WARNING = 1.25
# Input sets a model is timed on, in turn (:class:`RotatingInputs`): at least INPUT_SETS, and for
# small inputs more, up to MAX_INPUT_SETS, so that the sets hold about INPUT_SET_ELEMENTS in all.
INPUT_SETS = 4
MAX_INPUT_SETS = 64
INPUT_SET_ELEMENTS = 1 << 20


@dataclass
class BenchmarkResult:
    """What one benchmark measured, wherever it ran; ``stats`` summarizes ``times_ms``.

    The first ten fields are the local benchmark's original report; the rest were added
    for device measurements and default to "not measured". ``times_ms`` is empty when the
    tool does not print single runs (``benchmark_model``): ``stats`` then carries what it
    printed and ``None`` for the rest.
    """

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
    source: str = "local"
    device: str = "local"
    model_sha256: str | None = None
    delegate: str | None = None
    ci95_median_ms: list[float] | None = None
    ci_target: float | None = None
    stop_reason: str | None = None
    bare_invoke_ms: float | None = None
    timing_overhead_ms: float | None = None
    second_interpreter_bare_ms: float | None = None  # above 1 thread: see _second_interpreter
    peak_memory_mb: float | None = None
    op_profile: list[dict] = field(default_factory=list)
    op_profile_method: str | None = None
    versions: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None

    def to_dict(self) -> dict:
        """Plain data for reports and ``--json``."""
        out = asdict(self)
        out["stats"] = self.stats.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "BenchmarkResult":
        """The inverse of :meth:`to_dict` (keys it does not know are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["stats"] = LatencyStats.from_dict(data["stats"])
        return cls(**values)


def _random_inputs(interpreter, seed: int) -> list[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for detail in interpreter.get_input_details():
        dtype, shape = detail["dtype"], detail["shape"]
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            data = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
        elif dtype == np.bool_:
            data = rng.integers(0, 2, size=shape).astype(np.bool_)
        else:
            data = rng.random(shape, dtype=np.float32).astype(dtype)
        out.append((detail["index"], data))
    return out


def input_sets(elements: int) -> int:
    """How many input sets of ``elements`` elements in all a model is timed on, in turn."""
    return int(np.clip(INPUT_SET_ELEMENTS // max(elements, 1), INPUT_SETS, MAX_INPUT_SETS))


def random_input_sets(interpreter, seed: int = 0) -> list[list[tuple[int, np.ndarray]]]:
    """:func:`input_sets` seeded random input sets, as ``(input index, value)`` pairs (the first is
    :func:`fill_random_inputs`'s)."""
    elements = sum(int(np.prod(d["shape"])) for d in interpreter.get_input_details())
    return [_random_inputs(interpreter, seed + i) for i in range(input_sets(elements))]


def fill_random_inputs(interpreter, seed: int = 0) -> None:
    """Set every input to seeded random values covering its type's range."""
    for index, data in _random_inputs(interpreter, seed):
        interpreter.set_tensor(index, data)


class RotatingInputs:
    """Runs a model with its inputs set, before each run and outside its timing, to the next of a
    few input sets in turn.

    A model run again and again on one fixed input is faster than on changing ones wherever a
    kernel branches on its data: the CPU's branch predictor learns the input. LiteRT's int8
    ``RELU`` (the builtin kernel, where XNNPACK declines the op) took 48 µs on one 16×16×48
    array timed over and over, 72-82 µs on arrays that change from run to run; a deployed model
    sees a new input each time. Inside a large model the other kernels' branches wash that
    learning out, inside a small one they do not, so a fixed input would also make a kernel's
    cost depend on the size of the model around it. A few sets of a small input are learnt
    too, so a small input gets more of them (:func:`input_sets`).
    """

    def __init__(self, interpreter, sets: list[list[tuple[int, np.ndarray]]]):
        self.interpreter, self.sets, self.runs = interpreter, sets or [[]], 0

    @classmethod
    def random(cls, interpreter, seed: int = 0) -> "RotatingInputs":
        """Over :func:`random_input_sets`."""
        return cls(interpreter, random_input_sets(interpreter, seed))

    def invoke(self) -> int:
        """Set the next input set, then one timed ``invoke`` (ns)."""
        for index, data in self.sets[self.runs % len(self.sets)]:
            self.interpreter.set_tensor(index, data)
        self.runs += 1
        return invoke(self.interpreter)


def open_model(model: str | Path | bytes, options: BenchmarkOptions):
    """An interpreter for ``model`` with the options' threads and delegate, and random inputs set."""
    delegates, default = _delegates.open_delegate(options.delegate)
    interpreter = load_interpreter(model, num_threads=options.threads, delegates=delegates, default_delegates=default)
    fill_random_inputs(interpreter, options.seed)
    return interpreter


def invoke(interpreter) -> int:
    """One timed ``invoke``, in nanoseconds; a runtime failure becomes an :class:`EdgeloopError`."""
    started = time.perf_counter_ns()
    try:
        interpreter.invoke()
    except RuntimeError as exc:
        raise EdgeloopError(f"the model failed while running: {str(exc).strip().splitlines()[0]}") from None
    return time.perf_counter_ns() - started


def benchmark(
    model: str | Path | bytes,
    threads: int = 1,
    warmup: int = 5,
    runs: int = 50,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> BenchmarkResult:
    """Time ``model`` on this machine with exactly ``runs`` timed runs (see :func:`run_benchmark`).

    Raises:
        EdgeloopError: bad arguments, or a model that cannot be loaded.
    """
    if threads < 1 or runs < 1 or warmup < 0:
        raise EdgeloopError(f"threads and runs must be at least 1 and warmup at least 0 (got {threads}, {runs}, {warmup})")
    options = BenchmarkOptions(threads=threads, warmup=warmup, runs=runs, seed=seed, time_limit_s=1e9)
    return run_benchmark(model, options, progress=progress)


def run_benchmark(model: str | Path | bytes, options: BenchmarkOptions,
                  progress: Callable[[int, int], None] | None = None) -> BenchmarkResult:
    """Time ``model`` with ``options``: init, first inference, warm-up, timed runs, bare loop, op profile.

    Args:
        model: path of the ``.tflite`` file, or its bytes.
        options: what to run and for how long.
        progress: called as ``progress(done, total)`` after each warm-up and timed run.

    Raises:
        EdgeloopError: a model that cannot be loaded or fails while running, a delegate
            that does not load.
    """
    raw = model_bytes(model)
    rss_start = _rss_mb()
    started_at = time.time()
    deadline = time.monotonic() + options.time_limit_s
    t0 = time.perf_counter_ns()
    interpreter = open_model(raw, options)
    init_ms = (time.perf_counter_ns() - t0) / 1e6
    runner = RotatingInputs.random(interpreter, options.seed)
    first_ms = runner.invoke() / 1e6
    total = options.warmup + (options.max_runs if options.adaptive else options.runs)
    done = 0
    for _ in range(options.warmup):
        if time.monotonic() > deadline:
            break
        runner.invoke()
        done += 1
        if progress:
            progress(done, total)
    times, stop = _timed_runs(runner, options, deadline, progress, done, total)
    stats = summarize(times)
    bare = _bare_invoke_ms(interpreter, len(times))
    label = _delegates.LABELS.get(options.delegate, str(options.delegate).upper())
    get_ops = getattr(interpreter, "_get_ops_details", None)  # absent from old tflite_runtime
    counts = _delegates.delegated_nodes(get_ops(), label) if get_ops else {}
    ci = median_ci(times, seed=options.seed)
    warnings = noise_warnings(times, ci, options.ci_target, stats.tail_ratio)
    if stop == "time_limit" and len(times) < options.runs:
        warnings.append(f"only {len(times)} of {options.runs} timed runs fit in the {options.time_limit_s:g} s time limit")
    second = _second_interpreter(raw, options, len(times)) if options.threads > 1 else None
    if second is not None and max(second, bare) > SECOND_INTERPRETER_WARNING * min(second, bare):
        warnings.append(f"at {options.threads} threads a second interpreter of this model ran invoke() in "
                        f"{second:.4g} ms against {bare:.4g} ms ({max(second, bare) / min(second, bare):.1f}x): the "
                        "runtime's threads keep some interpreters in a slower state for their whole life, so one "
                        "measurement can be off by that much; compare files at 1 thread, or time each several "
                        "times and keep the fastest")
    if options.delegate not in (None, "none") and get_ops and not counts.get(label):
        warnings.append(f"the {options.delegate} delegate was asked for but took no node: everything ran on "
                        "the CPU kernels (silent fallback)")
    result = BenchmarkResult(
        f"<{len(model)} bytes>" if isinstance(model, bytes) else str(model), runtime_name(), options.threads,
        options.warmup, len(times), init_ms, first_ms, times, stats, counts,
        model_sha256=hashlib.sha256(raw).hexdigest(), delegate=options.delegate, ci95_median_ms=list(ci),
        ci_target=options.ci_target, stop_reason=stop, bare_invoke_ms=bare,
        timing_overhead_ms=stats.median_ms - bare, second_interpreter_bare_ms=second, peak_memory_mb=_peak_growth_mb(rss_start),
        versions=versions(options.delegate), warnings=warnings, options=options.to_dict(), started_at=started_at)
    del interpreter
    if options.op_profiling:
        from edgeloop.device.op_profile import METHOD, profile_ops

        result.op_profile = profile_ops(raw, lambda blob, inputs: _time_single_op(blob, options, inputs), deadline,
                                        values=model_values(raw, options.seed))
        result.op_profile_method = METHOD
    result.finished_at = time.time()
    return result


def _timed_runs(runner: RotatingInputs, options: BenchmarkOptions, deadline: float, progress, done: int, total: int):
    rule = StoppingRule(options.runs, options.max_runs if options.adaptive else options.runs, options.ci_target, options.seed)
    times: list[float] = []
    while True:
        times.append(runner.invoke() / 1e6)
        if progress:
            progress(done + len(times), total)
        reason = rule.done(times)
        if reason:
            return times, ("runs" if not options.adaptive else reason)
        if time.monotonic() > deadline:
            return times, "time_limit"


def _bare_invoke_ms(interpreter, runs: int) -> float:
    """Median per-inference time of batches of back-to-back ``invoke()`` calls, each batch timed whole.

    About a tenth as many calls as the timed runs (3 to 20 batches): the timing overhead is a
    side figure. As many as the timed runs doubled the time of a model timed over 200 runs,
    and was 40 % of the latency benchmark's measuring time.
    """
    batches = []
    for _ in range(_bare_batches(runs)):
        started = time.perf_counter_ns()
        for _ in range(_BARE_BATCH):
            interpreter.invoke()
        batches.append((time.perf_counter_ns() - started) / 1e6 / _BARE_BATCH)
    return float(np.median(batches))


def _second_interpreter(raw: bytes, options: BenchmarkOptions, runs: int) -> float:
    """Bare ``invoke()`` time of a second interpreter of the same model, opened after the first.

    Above 1 thread, LiteRT with XNNPACK runs some interpreters in a slow state for their whole
    life: on two 2-core machines, one squeezenet1_1 interpreter in two ran 2x as slow at 2
    threads (29.5 against 58 us), a ResNet-8 0.031 against 0.015 ms; the next one is fast again.
    One interpreter cannot see it; two disagreeing can.
    """
    interpreter = open_model(raw, options)
    runner = RotatingInputs.random(interpreter, options.seed)
    for _ in range(min(options.warmup, 20) + 1):
        runner.invoke()
    return _bare_invoke_ms(interpreter, runs)


def _bare_batches(runs: int) -> int:
    return max(3, min(20, runs // (10 * _BARE_BATCH)))


def model_values(raw: bytes, seed: int = 0) -> list[dict[int, np.ndarray]]:
    """Every tensor of ``raw``'s main subgraph (index -> value) as the model computes it on each of
    the input sets a benchmark times it on (:func:`random_input_sets`): what op profiling feeds
    each op, set by set, as the op sees them inside the model.

    Real values, not shuffled ones: a convolution's output keeps its channels' signs from one
    pixel to the next, which a branching kernel's predictor follows (NASNet-Mobile's ReLUs, fed
    their values with the elements shuffled, took 2.4 times their time inside the model).
    Run with the builtin kernels, every tensor kept (a delegate keeps its own): int8 kernels
    round alike. Empty where the model cannot run so (op profiling then feeds random input).
    """
    try:
        interpreter = load_interpreter(raw, num_threads=1, default_delegates=False, keep_all_tensors=True)
        out = []
        for inputs in random_input_sets(interpreter, seed):
            for index, data in inputs:
                interpreter.set_tensor(index, data)
            interpreter.invoke()
            values = {}
            for detail in interpreter.get_tensor_details():
                try:
                    values[detail["index"]] = interpreter.get_tensor(detail["index"])
                except ValueError:  # a tensor without data (an op's scratch space)
                    continue
            out.append(values)
        return out
    except (EdgeloopError, RuntimeError, ValueError):
        return []


def _time_single_op(blob: bytes, options: BenchmarkOptions, inputs: list[list[np.ndarray]] | None = None) -> list[float]:
    """Timings (ms) of a single-op model, fed ``inputs`` (per input set of the whole model, the
    values of the op's inputs there) in turn (:class:`RotatingInputs`); without them (or where
    they do not fit), random input sets.

    At more than one thread the runs are split between two interpreters and the faster one's
    timings are kept: an interpreter's thread pool now and then runs in a slow state for its
    whole life (measured on a 2-core VM at 2 threads: 2-3 times as slow on small ops, one
    interpreter in three to ten, the next one fast again), which would fall on random ops."""
    runs = max(10, min(options.runs, 100))
    if options.threads == 1:
        return _single_op_timings(blob, options, inputs, runs)
    tries = [_single_op_timings(blob, options, inputs, max(10, runs // 2)) for _ in range(2)]
    return min(tries, key=lambda times: float(np.median(times)))


def _single_op_timings(blob: bytes, options: BenchmarkOptions, inputs: list[list[np.ndarray]] | None,
                       runs: int) -> list[float]:
    runner = single_op_runner(blob, options, inputs)
    for _ in range(3):
        runner.invoke()
    return [runner.invoke() / 1e6 for _ in range(runs)]


def single_op_runner(blob: bytes, options: BenchmarkOptions, inputs: list[list[np.ndarray]] | None) -> RotatingInputs:
    """A single-op model opened with ``options``, fed ``inputs`` in turn (per input set of the
    whole model, the values of the op's inputs there) or, where they do not fit, random input sets."""
    interpreter = open_model(blob, options)
    details = interpreter.get_input_details()
    if inputs and all(len(values) == len(details) and all(tuple(v.shape) == tuple(d["shape"]) and v.dtype == d["dtype"]
                                                          for v, d in zip(values, details)) for values in inputs):
        return RotatingInputs(interpreter, [[(d["index"], v) for v, d in zip(values, details)] for values in inputs])
    return RotatingInputs.random(interpreter, options.seed)


def versions(delegate: str | None = None) -> dict:
    """Runtime, Python and kernel versions (and the Edge TPU runtime's when it is used)."""
    out = {"runtime": runtime_name(), "python": platform.python_version(), "kernel": platform.release(),
           "machine": platform.machine()}
    if delegate == "edgetpu":
        out["edgetpu_runtime"] = _delegates.edgetpu_info().get("version_string")
    return out


def model_bytes(model: str | Path | bytes) -> bytes:
    """The model's bytes, read from its path when given one.

    Raises:
        EdgeloopError: missing or unreadable file, not a regular file, larger than 2 GiB.
    """
    if isinstance(model, bytes):
        return model
    from edgeloop import _io
    from edgeloop.converters._limits import MAX_MODEL_BYTES

    return _io.read_file(model, MAX_MODEL_BYTES, "model")  # never a FIFO that blocks or a device that never ends


def _rss_mb() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    import resource

    return pages * resource.getpagesize() / 2**20


def _peak_growth_mb(rss_start: float | None) -> float | None:
    """Peak resident memory minus what the process held before the model was loaded."""
    if rss_start is None:
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return max(0.0, peak - rss_start)
