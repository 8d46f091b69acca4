"""The board side: what ``edgeloop agent serve`` runs on a device.

Interpreter loading, the benchmark, the child process each benchmark runs in, upload
validation, the device's fingerprint, delegates, the agent's HTTP server. Nothing here
imports TensorFlow, rich, SQLite or the host side (:mod:`edgeloop.host`): it runs on a
Coral Dev Board, a Raspberry Pi or a Jetson with only numpy and a TFLite interpreter
(``ai_edge_litert``, else ``tflite_runtime``); ``tests/device/test_board_side.py`` holds
it to that. A benchmark in this process::

    from edgeloop.device import BenchmarkOptions, run_benchmark

    report = run_benchmark("model.tflite", BenchmarkOptions(runs=50, op_profiling=True))
    report.stats.median_ms, report.ci95_median_ms, report.op_profile

A device named by a string (``local``, ``http://HOST:PORT``, ``adb:SERIAL``) is the host
side's :func:`edgeloop.host.open_device`.
"""

from edgeloop.device.benchmark import BenchmarkResult, benchmark, run_benchmark
from edgeloop.device.delegates import delegated_nodes
from edgeloop.device.interpreter import TFLiteModel, dequantize, load_interpreter, quantize, runtime_name
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.stats import LatencyStats, summarize

__all__ = [
    "BenchmarkOptions", "BenchmarkResult", "LatencyStats", "TFLiteModel",
    "benchmark", "delegated_nodes", "dequantize", "load_interpreter", "quantize", "run_benchmark",
    "runtime_name", "summarize",
]
