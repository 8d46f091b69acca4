"""Load a ``.tflite`` model into a TFLite interpreter and run it on float data.

The interpreter is LiteRT's (``ai_edge_litert``), else ``tflite_runtime`` as found on
Coral and Raspberry Pi images. Never ``tf.lite.Interpreter`` (deprecated, and this side
must not import TensorFlow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from edgeloop._quiet import native_stderr_silenced
from edgeloop.errors import EdgeloopError


def interpreter_module():
    """The module holding ``Interpreter``, ``load_delegate`` and ``OpResolverType``.

    Raises:
        EdgeloopError: neither ``ai_edge_litert`` nor ``tflite_runtime`` is installed.
    """
    try:
        from ai_edge_litert import interpreter as module
    except ImportError:
        try:
            from tflite_runtime import interpreter as module
        except ImportError:
            raise EdgeloopError("no TFLite interpreter installed: pip install ai-edge-litert") from None
    return module


def runtime_name() -> str:
    """Which interpreter runs models here, with its version (e.g. ``ai-edge-litert 2.3.0``)."""
    from importlib import metadata

    module = interpreter_module()
    package = "ai-edge-litert" if module.__name__.startswith("ai_edge_litert") else "tflite-runtime"
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return package


def load_interpreter(model: str | Path | bytes, num_threads: int | None = None, delegates: list | None = None,
                     default_delegates: bool = True):
    """An interpreter for ``model`` (a path or bytes) with its tensors allocated.

    Args:
        model: path or bytes of the ``.tflite`` model.
        num_threads: interpreter threads.
        delegates: delegates from ``load_delegate`` to apply.
        default_delegates: let the runtime apply its default CPU delegate (XNNPACK);
            ``False`` runs the plain builtin kernels.

    Raises:
        EdgeloopError: missing file, or a file the interpreter cannot load.
    """
    module = interpreter_module()
    cls = module.Interpreter
    kwargs: dict = {"num_threads": num_threads} if num_threads else {}
    if delegates:
        kwargs["experimental_delegates"] = delegates
    if not default_delegates:
        kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    where = "from bytes" if isinstance(model, bytes) else str(model)
    if isinstance(model, bytes):
        kwargs["model_content"] = model
    else:
        if not Path(model).is_file():
            raise EdgeloopError(f"model not found: {where}")
        kwargs["model_path"] = str(model)
    try:
        with native_stderr_silenced():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = cls(**kwargs)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgeloopError(f"cannot load TFLite model {where}: {first}") from None
    return interpreter


class TFLiteModel:
    """A single-input ``.tflite`` model run like a Keras model on float data.

    Inputs are quantized with the model's own input scale and zero point when the input
    is integer; outputs are dequantized with the output's. Samples run one at a time: the
    models edgeloop makes have batch dimension 1.

    Args:
        model: path or bytes of the ``.tflite`` model.
        num_threads: interpreter threads.
    """

    def __init__(self, model: str | Path | bytes, num_threads: int | None = None) -> None:
        self.interpreter = load_interpreter(model, num_threads)
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()
        if len(self.input_details) != 1:
            raise EdgeloopError(f"only single-input models are supported, this one has {len(self.input_details)}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The input tensor's shape, batch dimension included."""
        return tuple(int(d) for d in self.input_details[0]["shape"])

    def predict(self, x: np.ndarray, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Run every sample of ``x`` (shape ``(N, *sample_shape)``); return float outputs ``(N, …)``.

        Raises:
            EdgeloopError: samples whose shape is not the model's input shape.
        """
        inp, out = self.input_details[0], self.output_details[0]
        want = self.input_shape[1:]
        if tuple(x.shape[1:]) != want:
            raise EdgeloopError(f"data samples have shape {tuple(x.shape[1:])} but the model takes {want}")
        results = []
        for i, sample in enumerate(x):
            self.interpreter.set_tensor(inp["index"], quantize(sample[None, ...], inp))
            self.interpreter.invoke()
            results.append(dequantize(self.interpreter.get_tensor(out["index"]), out)[0])
            if progress:
                progress(i + 1, len(x))
        return np.stack(results) if results else np.zeros((0, *out["shape"][1:]), np.float32)


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float -> the tensor's type, with its own scale and zero point (unchanged for float)."""
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    """The tensor's values as float: ``(q - zero_point) * scale`` for integer tensors."""
    if not np.issubdtype(detail["dtype"], np.integer):
        return q.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)
