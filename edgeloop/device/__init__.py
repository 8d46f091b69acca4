"""The device side: interpreter loading, running, benchmarking.

Nothing here imports TensorFlow: it runs on a Coral Dev Board, a Raspberry Pi or a Jetson
with only numpy and a TFLite interpreter (``ai_edge_litert``, else ``tflite_runtime``).
"""

from edgeloop.device.benchmark import BenchmarkResult, benchmark, delegated_nodes
from edgeloop.device.interpreter import TFLiteModel, dequantize, load_interpreter, quantize, runtime_name
from edgeloop.device.stats import LatencyStats, summarize

__all__ = [
    "BenchmarkResult", "LatencyStats", "TFLiteModel",
    "benchmark", "delegated_nodes", "dequantize", "load_interpreter", "quantize", "runtime_name", "summarize",
]
