"""The device side: interpreter loading, benchmarking, the agent, Android, the latency store.

Nothing here imports TensorFlow: it runs on a Coral Dev Board, a Raspberry Pi or a Jetson
with only numpy and a TFLite interpreter (``ai_edge_litert``, else ``tflite_runtime``).

A device is named by a string (``local``, ``http://HOST:PORT``, ``adb:SERIAL``)::

    from edgeloop.device import BenchmarkOptions, open_device

    device = open_device("local")
    report = device.benchmark("model.tflite", BenchmarkOptions(runs=50, op_profiling=True))
    report.stats.median_ms, report.ci95_median_ms, report.op_profile
"""

from edgeloop.device.benchmark import BenchmarkResult, benchmark, run_benchmark
from edgeloop.device.delegates import delegated_nodes
from edgeloop.device.devices import open_device
from edgeloop.device.interpreter import TFLiteModel, dequantize, load_interpreter, quantize, runtime_name
from edgeloop.device.options import BenchmarkOptions
from edgeloop.device.stats import LatencyStats, summarize

__all__ = [
    "BenchmarkOptions", "BenchmarkResult", "LatencyStats", "TFLiteModel",
    "benchmark", "delegated_nodes", "dequantize", "load_interpreter", "open_device", "quantize", "run_benchmark",
    "runtime_name", "summarize",
]
