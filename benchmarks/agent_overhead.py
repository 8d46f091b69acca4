"""What the device agent costs and how repeatable it is.

1. **Overhead**: the median latency the agent reports over loopback (upload, child
   process, timed ``invoke()`` runs) against a bare in-process ``invoke()`` loop (batches of
   ten back-to-back calls, each batch timed whole; the median of the batches) on the same
   model, alternating the two round by round so drift hits both. Target: ratio <= 1.02.
   A batch's time is a mean of ten calls, which a slow call pulls up, while the agent's
   median is of single calls; so the ratio of means (agent mean / bare loop mean, where
   the agent's per-call timer is the only difference) is reported next to it.
2. **Repeatability**: the coefficient of variation of the median over five repeated agent
   benchmarks of that model. Target: CV <= 3 %.

The model is a small int8 CNN (three 3x3 convolutions, 32-64 channels, on a 96x96x3
input), about 0.2 ms per inference on one x86 core: long enough that the per-call timer
(~0.1 us) does not dominate, short enough to run many times. It is built in a child
process, so the process that runs the bare loop never imports TensorFlow, like the agent.

Run: ``python -m benchmarks.agent_overhead [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_RATIO = 1.02
TARGET_CV = 0.03


def _model() -> bytes:
    """The model's bytes, built and converted in a child process: TensorFlow's threads and
    memory stay out of the process that runs the bare loop."""
    code = "import sys; from benchmarks.agent_overhead import _build; sys.stdout.buffer.write(_build())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode()[-2000:])
    return proc.stdout


def _build() -> bytes:
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(96, 96, 3)),
        keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ], name="bench_cnn")
    samples = np.random.default_rng(0).random((32, 96, 96, 3), dtype=np.float32)
    return convert(model, "int8", samples)


def _start_agent(folder: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "edgeloop.cli", "agent", "serve", "--no-auth", "--port", "0",
                             "--cache-dir", str(folder / "cache")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError("the agent did not start")
    return proc, line.split("listening on ")[1].split()[0]


def _bare_loop_ms(interpreter, invokes: int, batch: int = 10) -> tuple[float, float]:
    """(median over batches, overall mean) of the per-inference time of back-to-back calls."""
    batches = []
    for _ in range(invokes // batch):
        started = time.perf_counter_ns()
        for _ in range(batch):
            interpreter.invoke()
        batches.append((time.perf_counter_ns() - started) / 1e6 / batch)
    return float(np.median(batches)), float(np.mean(batches))


def run(quick: bool = False, progress=None) -> dict:
    """Measure the agent's overhead ratio and its run-to-run spread; return the raw figures."""
    from edgeloop.device.benchmark import fill_random_inputs
    from edgeloop.host.client import AgentClient
    from edgeloop.device.interpreter import load_interpreter, runtime_name
    from edgeloop.device.options import BenchmarkOptions

    if progress:
        progress("agent: overhead against a bare invoke() loop, and repeatability")
    blob = _model()
    rounds, runs = (3, 200) if quick else (5, 1000)
    interpreter = load_interpreter(blob, num_threads=1)
    fill_random_inputs(interpreter)
    for _ in range(50):
        interpreter.invoke()
    options = BenchmarkOptions(threads=1, warmup=50, runs=runs)
    with tempfile.TemporaryDirectory() as folder:
        proc, url = _start_agent(Path(folder))
        try:
            client = AgentClient(url)
            client.benchmark(blob, BenchmarkOptions(threads=1, warmup=10, runs=20))  # upload, first child start
            bare, bare_mean, agent, agent_mean, overhead = [], [], [], [], []
            for _ in range(rounds):
                median, mean = _bare_loop_ms(interpreter, runs)
                bare.append(median)
                bare_mean.append(mean)
                report = client.benchmark(blob, options)
                agent.append(report.stats.median_ms)
                agent_mean.append(report.stats.mean_ms)
                overhead.append(report.timing_overhead_ms)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    agent_median, bare_median = float(np.median(agent)), float(np.median(bare))
    return {
        "model": {"name": "bench_cnn int8 (3 conv, 96x96x3 input)", "bytes": len(blob)},
        "runtime": runtime_name(), "threads": 1, "rounds": rounds, "runs_per_round": runs, "quick": quick,
        "bare_median_ms": bare, "agent_median_ms": agent, "bare_mean_ms": bare_mean, "agent_mean_ms": agent_mean,
        "agent_timing_overhead_ms": overhead,
        "ratio": agent_median / bare_median,
        "ratio_of_means": float(np.mean(agent_mean) / np.mean(bare_mean)),
        "cv_of_agent_median": float(np.std(agent) / np.mean(agent)),
        "targets": {"ratio": TARGET_RATIO, "cv": TARGET_CV},
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "load_average": list(os.getloadavg()), "python": platform.python_version()},
    }


def render(figures: dict) -> str:
    """A Markdown section with both figures, each against its target, and the conditions."""
    ratio, cv = figures["ratio"], figures["cv_of_agent_median"]
    verdict = lambda ok: "meets" if ok else "misses"  # noqa: E731
    load = ", ".join(f"{x:.2f}" for x in figures["machine"]["load_average"])
    rows = "\n".join(f"| {i + 1} | {b:.4f} | {a:.4f} | {a / b:.3f} |"
                     for i, (b, a) in enumerate(zip(figures["bare_median_ms"], figures["agent_median_ms"])))
    return f"""Model: {figures["model"]["name"]}, {figures["model"]["bytes"]} bytes; {figures["runtime"]}, {figures["threads"]} thread;
{figures["rounds"]} rounds of {figures["runs_per_round"]} runs, bare loop and agent alternating.
Machine: {figures["machine"]["cpu"]}, {figures["machine"]["cores"]} cores, load average {load} at the end
(a shared machine: other work was running).

| round | bare invoke() loop, median ms | agent over loopback, median ms | ratio |
|---|---|---|---|
{rows}

- **Overhead**: agent median / bare loop median = **{ratio:.3f}** (target <= {figures["targets"]["ratio"]}: {verdict(ratio <= figures["targets"]["ratio"])}); agent mean / bare loop mean = {figures["ratio_of_means"]:.3f}.
- **Repeatability**: CV of the agent's median over {figures["rounds"]} benchmarks = **{cv:.1%}** (target <= {figures["targets"]["cv"]:.0%}: {verdict(cv <= figures["targets"]["cv"])}).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 200 runs instead of 5 of 1000")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args()
    figures = run(quick=args.quick)
    print(json.dumps(figures, indent=2) if args.json else render(figures))


if __name__ == "__main__":
    main()
