"""A float ``.tflite`` file as a recipe's ``model:``: post-training steps only.

``edgeloop optimize --model x.tflite`` quantizes the file itself (the LiteRT quantizer),
then verifies, evaluates against the float file, checks and benchmarks it like any other
conversion. Steps that train or change weights need the Keras model and are refused
before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeloop.errors import EdgeloopError

PTQ_STEPS = ("convert", "evaluate", "benchmark", "compile")


class _Tensor:
    """A tensor's shape and type, as Keras tensors answer them."""

    def __init__(self, shape: tuple, dtype: str) -> None:
        from types import SimpleNamespace

        self.shape = shape
        self.dtype = SimpleNamespace(name=dtype)


class FloatTFLiteModel:
    """A float ``.tflite`` that answers what the pipeline asks a model (shape, predict, size).

    Args:
        path: the file.

    Attributes:
        data: the file's bytes, as given.
        prepared: the same model with float16 / sparse weights folded (what runs and is quantized).
    """

    is_tflite = True

    def __init__(self, path: str | Path) -> None:
        from edgeloop.converters import read_model
        from edgeloop.quant.litert import signature_input
        from edgeloop.quant.prepare import prepare

        self.path = Path(path)
        info = read_model(self.path)
        if any(info.tensors[i].dtype not in ("float32",) for i in (*info.inputs, *info.outputs)):
            raise EdgeloopError(f"{self.path} is not a float model (its I/O is quantized): give the float file")
        self.data = self.path.read_bytes()
        self.prepared = prepare(self.data).model
        shape = signature_input(self.prepared)[2]
        self.input_shape = (None, *shape[1:])
        out = info.tensors[info.outputs[0]].shape
        self.output_shape = (None, *out[1:])
        self.name = self.path.stem
        # What edgeloop.models.io reads of a model's I/O: names, and tensors with a shape and a dtype.
        self.input_names = [t.name for t in (info.tensors[i] for i in info.inputs)]
        self.output_names = [t.name for t in (info.tensors[i] for i in info.outputs)]
        self.inputs = [_Tensor((None, *info.tensors[i].shape[1:]), info.tensors[i].dtype) for i in info.inputs]
        self.outputs = [_Tensor((None, *info.tensors[i].shape[1:]), info.tensors[i].dtype) for i in info.outputs]
        self._params = sum(int(np.prod(t.shape)) for t in read_model(self.prepared).tensors
                           if t.is_constant and t.dtype == "float32")

    def count_params(self) -> int:
        """Float constants in the file (weights and biases)."""
        return self._params

    def predict(self, x: np.ndarray, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """The file's first output on ``x``, like ``keras.Model.predict``."""
        from edgeloop.device.interpreter import TFLiteModel

        del batch_size, verbose
        return TFLiteModel(self.prepared).predict(x)


def load_float_tflite(path: str | Path, steps: list[str], sample_shape: tuple[int, ...] | None) -> FloatTFLiteModel:
    """The recipe's ``.tflite`` model, after checking the recipe only asks for post-training steps.

    Raises:
        EdgeloopError: a training step, or data that does not fit the model's input.
    """
    wrong = [s for s in steps if s not in PTQ_STEPS]
    if wrong:
        raise EdgeloopError(f"a .tflite model takes post-training steps only ({', '.join(PTQ_STEPS)}); "
                            f"{', '.join(wrong)} needs the Keras model")
    model = FloatTFLiteModel(path)
    if sample_shape is not None and tuple(sample_shape) != tuple(model.input_shape[1:]):
        raise EdgeloopError(f"data samples have shape {tuple(sample_shape)}, {Path(path).name} takes "
                            f"{tuple(model.input_shape[1:])}")
    return model
