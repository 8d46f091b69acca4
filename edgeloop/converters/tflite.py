"""Keras -> TFLite in every post-training mode, with the batch dimension fixed to 1.

``TFLiteConverter.from_keras_model`` keeps Keras' dynamic batch (``shape_signature``
``[-1, …]``), which the Edge TPU compiler and many delegates refuse. Converting from a
concrete function traced with a static ``[1, …]`` input spec fixes it for every model,
QAT models included.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from edgeloop._quiet import native_stderr_silenced
from edgeloop._tf import require_legacy_keras, tf
from edgeloop.converters.modes import FULL_INTEGER, MODES, io_types_for
from edgeloop.errors import EdgeloopError

IO_TYPES = {"int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16, "float32": tf.float32}


def static_batch_function(model, prefix=None):
    """A concrete function of ``model`` whose input has batch dimension 1.

    ``prefix`` (a layer or function, e.g. folded preprocessing) is applied to the input
    first, outside the model, so the model's tensors keep their layer names.
    """
    if len(model.inputs) != 1:
        raise EdgeloopError(f"only single-input models are supported for now; this one has {len(model.inputs)} inputs")
    shape = model.inputs[0].shape
    if any(d is None for d in shape[1:]):
        raise EdgeloopError(f"the model's input shape {tuple(shape)} has unknown dimensions besides the batch")
    spec = tf.TensorSpec([1, *shape[1:]], model.inputs[0].dtype, name="input")
    if prefix is not None:
        return tf.function(lambda x: model(prefix(x), training=False)).get_concrete_function(spec)
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)


def variables_holder(model):
    """What the converter keeps the model's variables through: a bare ``tf.Module``.

    Given the Keras model itself, the converter saves it as a SavedModel, and Keras traces
    every layer's call for that first (most of a conversion's time: MobileNetV2 at 8x8 took
    ~22 s with the traces, ~3 s without). The converter only needs the variables the
    concrete function captures; the files come out byte for byte the same.
    """
    holder = tf.Module()
    holder.variables_ = list(model.variables)
    return holder


def _representative(samples: np.ndarray, progress: Callable[[int, int], None] | None) -> Callable[[], Iterator[list[np.ndarray]]]:
    def gen() -> Iterator[list[np.ndarray]]:
        for i, sample in enumerate(samples, 1):
            yield [sample[None, ...].astype(np.float32)]
            if progress:
                progress(i, len(samples))

    return gen


def convert(
    model,
    mode: str = "int8",
    representative: np.ndarray | None = None,
    io_type: str | None = None,
    per_channel: bool = True,
    progress: Callable[[int, int], None] | None = None,
    prefix=None,
) -> bytes:
    """Convert a tf_keras model to a TFLite flatbuffer.

    Args:
        model: a tf_keras model (a Keras 3 model is refused with the fix).
        mode: ``int8`` (full integer, calibrated on ``representative``), ``int16x8``
            (int16 activations, int8 weights, calibrated: more accurate, fewer delegates),
            ``dynamic`` (int8 weights, float activations), ``float16`` (float16 weights)
            or ``float32``.
        representative: float32 samples shaped like one model input each, without the
            batch dimension, i.e. ``(N, *input_shape[1:])``; required for ``int8``.
        io_type: input / output type: for ``int8`` ``int8`` (default), ``uint8`` or
            ``float32`` (int8 inside, float at the edges); for ``int16x8`` ``int16``
            (default) or ``float32``. Other modes have float32 I/O.
        per_channel: one weight scale per output channel (per tensor when false).
        progress: called as ``progress(done, total)`` after each calibration sample.
        prefix: a layer applied to the input before the model (folded preprocessing,
            :mod:`edgeloop.models.fold`); ``representative`` then holds its inputs.

    Returns:
        The ``.tflite`` bytes (verify them with :func:`edgeloop.converters.verify`).

    Raises:
        EdgeloopError: bad arguments, or the converter refused the model.
    """
    require_legacy_keras(model)
    if mode not in MODES:
        raise EdgeloopError(f"unknown conversion mode {mode!r}; modes: {', '.join(MODES)}")
    allowed = io_types_for(mode)
    if io_type is None:
        io_type = allowed[0]
    if io_type not in allowed:
        raise EdgeloopError(f"{mode} models take {' or '.join(allowed)} input/output, not {io_type!r}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([static_batch_function(model, prefix)],
                                                                variables_holder(model))
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode in FULL_INTEGER:
        if representative is None or len(representative) == 0:
            raise EdgeloopError(f"{mode} conversion needs representative samples for calibration")
        want = tuple(model.inputs[0].shape[1:])
        if tuple(representative.shape[1:]) != want:
            raise EdgeloopError(f"calibration samples have shape {tuple(representative.shape[1:])}, the model takes {want}")
        converter.representative_dataset = _representative(representative, progress)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
            if mode == "int8"
            else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        converter.inference_input_type = IO_TYPES[io_type]
        converter.inference_output_type = IO_TYPES[io_type]
    if not per_channel:
        converter._experimental_disable_per_channel = True  # the converter's only switch for it
    try:
        with native_stderr_silenced():  # the converter prints its settings from C++
            return bytes(converter.convert())
    except Exception as exc:  # ConverterError and friends: the model uses something TFLite lacks
        lines = [line.strip() for line in str(exc).splitlines() if "error" in line.lower()]
        raise EdgeloopError(f"conversion to {mode} failed: {(lines or [str(exc)])[0][:300]}") from None
