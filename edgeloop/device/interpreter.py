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
                     default_delegates: bool = True, keep_all_tensors: bool = False):
    """An interpreter for ``model`` (a path or bytes) with its tensors allocated.

    Args:
        model: path or bytes of the ``.tflite`` model.
        num_threads: interpreter threads.
        delegates: delegates from ``load_delegate`` to apply.
        default_delegates: let the runtime apply its default CPU delegate (XNNPACK);
            ``False`` runs the plain builtin kernels.
        keep_all_tensors: keep every intermediate tensor readable after ``invoke`` (no arena
            reuse; with the builtin kernels, as a delegate's tensors stay its own).

    Raises:
        EdgeloopError: missing file, or a file the interpreter cannot load.
    """
    module = interpreter_module()
    cls = module.Interpreter
    kwargs: dict = {"num_threads": num_threads} if num_threads else {}
    if delegates:
        kwargs["experimental_delegates"] = delegates
    if keep_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
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
    """A ``.tflite`` model run like a Keras model on float data.

    Inputs are quantized with the model's own input scale and zero point when the input
    is integer; outputs are dequantized with the output's. Samples run one at a time: the
    models edgeloop makes have batch dimension 1. A model with several inputs takes a dict
    by input name (the names of the file's signature, which are the Keras model's).

    Args:
        model: path or bytes of the ``.tflite`` model.
        num_threads: interpreter threads.
    """

    def __init__(self, model: str | Path | bytes, num_threads: int | None = None) -> None:
        self.interpreter = load_interpreter(model, num_threads)
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()
        self.input_names = _signature_names(self.interpreter, self.input_details, "inputs")
        self.output_names = _signature_names(self.interpreter, self.output_details, "outputs")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The (first) input tensor's shape, batch dimension included."""
        return tuple(int(d) for d in self.input_details[0]["shape"])

    def output_position(self, output: str | None) -> int:
        """Position of the output named ``output`` (0, the first, when ``None``)."""
        if output is None:
            return 0
        if output not in self.output_names:
            raise EdgeloopError(f"the .tflite model has no output {output!r}; its outputs: {', '.join(self.output_names)}")
        return self.output_names.index(output)

    def predict(self, x, progress: Callable[[int, int], None] | None = None, output: str | None = None) -> np.ndarray:
        """Run every sample of ``x`` (shape ``(N, *sample_shape)``, or a dict by input name for a
        model with several inputs); return one output as floats ``(N, …)``.

        Args:
            x: the samples.
            progress: called as ``progress(done, total)`` after each sample.
            output: the output's name (the first when ``None``).

        Raises:
            EdgeloopError: samples whose shape is not the model's input shape, or a missing input.
        """
        feeds = self._feeds(x)
        out = self.output_details[self.output_position(output)]
        total = len(feeds[0][1]) if feeds else 0
        results = []
        for i in range(total):
            for detail, array in feeds:
                self.interpreter.set_tensor(detail["index"], quantize(array[i][None, ...], detail))
            self.interpreter.invoke()
            results.append(dequantize(self.interpreter.get_tensor(out["index"]), out)[0])
            if progress:
                progress(i + 1, total)
        return np.stack(results) if results else np.zeros((0, *out["shape"][1:]), np.float32)

    def _feeds(self, x) -> list[tuple[dict, np.ndarray]]:
        """(input detail, samples) for every input, checked."""
        if not isinstance(x, dict):
            if len(self.input_details) != 1:
                raise EdgeloopError(f"the model takes {len(self.input_details)} inputs ({', '.join(self.input_names)}): "
                                    "give the samples as a dict by input name")
            x = {self.input_names[0]: x}
        missing = [n for n in self.input_names if n not in x]
        if missing:
            raise EdgeloopError(f"no samples for input(s) {', '.join(missing)} of the model")
        feeds = []
        for name, detail in zip(self.input_names, self.input_details):
            array, want = x[name], tuple(int(d) for d in detail["shape"][1:])
            if tuple(array.shape[1:]) != want:
                where = "" if len(self.input_details) == 1 else f" of input {name}"
                raise EdgeloopError(f"data samples{where} have shape {tuple(array.shape[1:])} but the model takes {want}")
            feeds.append((detail, array))
        return feeds


def _signature_names(interpreter, details: list[dict], kind: str) -> list[str]:
    """The signature's name of every input (or output) tensor, in the graph's order; the tensor's
    own name for a file without a signature."""
    by_index = {}
    try:
        signatures = interpreter.get_signature_list()
        if len(signatures) == 1:
            runner = interpreter.get_signature_runner()
            found = runner.get_input_details() if kind == "inputs" else runner.get_output_details()
            by_index = {d["index"]: name for name, d in found.items()}
    except (ValueError, RuntimeError, AttributeError):  # an old tflite_runtime, or a file it cannot map
        by_index = {}
    return [by_index.get(d["index"], d["name"]) for d in details]


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
