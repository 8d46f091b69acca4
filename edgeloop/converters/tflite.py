"""Keras -> TFLite in every post-training mode, with the batch dimension fixed to 1.

``TFLiteConverter.from_keras_model`` keeps Keras' dynamic batch (``shape_signature``
``[-1, …]``), which the Edge TPU compiler and many delegates refuse. Converting from a
concrete function traced with a static ``[1, …]`` input spec fixes it for every model,
QAT models included.
"""

from __future__ import annotations

import warnings
from typing import Callable, Iterator

import numpy as np

from edgeloop._quiet import native_stderr_silenced
from edgeloop._tf import require_legacy_keras, tf
from edgeloop.converters.io_functions import as_named, named_representative, traced_function
from edgeloop.converters.io_functions import variables_holder as function_holder
from edgeloop.converters.io_order import order_io
from edgeloop.converters.modes import FULL_INTEGER, MODES, io_types_for
from edgeloop.data import n_samples
from edgeloop.errors import EdgeloopError
from edgeloop.models.io import is_signature_model, model_inputs, model_outputs

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


def static_batch_converter(model, prefix=None):
    """A fresh ``TFLiteConverter`` for a one-input ``model`` at batch 1 (:func:`static_batch_function`
    through :func:`variables_holder`), not yet configured; a converter converts once."""
    return tf.lite.TFLiteConverter.from_concrete_functions([static_batch_function(model, prefix)], variables_holder(model))


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
    hard_swish: str = "int8",
) -> bytes:
    """Convert a tf_keras model, or a signature model, to a TFLite flatbuffer.

    Every input gets batch 1. A model with several inputs or outputs (or a
    :class:`~edgeloop.models.signature.SignatureModel`) keeps them in its own order, by
    name, in the file's signature and graph.

    Args:
        model: a tf_keras model (a Keras 3 model object is refused with the fix) or a
            :class:`~edgeloop.models.signature.SignatureModel`.
        mode: ``int8`` (full integer, calibrated on ``representative``), ``int16x8``
            (int16 activations, int8 weights, calibrated: more accurate, fewer delegates),
            ``dynamic`` (int8 weights, float activations), ``float16`` (float16 weights)
            or ``float32``.
        representative: float32 samples shaped like one model input each, without the
            batch dimension, i.e. ``(N, *input_shape[1:])``; a dict by input name for a
            model with several inputs; required for ``int8``.
        io_type: input / output type: for ``int8`` ``int8`` (default), ``uint8`` or
            ``float32`` (int8 inside, float at the edges); for ``int16x8`` ``int16``
            (default) or ``float32``. Other modes have float32 I/O.
        per_channel: one weight scale per output channel (per tensor when false).
        progress: called as ``progress(done, total)`` after each calibration sample.
        prefix: a layer applied to the input before the model (folded preprocessing,
            :mod:`edgeloop.models.fold`); ``representative`` then holds its inputs.
        hard_swish: ``rewrite`` writes every hard-swish as ops XNNPACK runs in int8
            (:mod:`edgeloop.converters.hard_swish`; full-integer modes only); ``int8``
            (default) leaves the converter's ``HARD_SWISH`` op.

    Returns:
        The ``.tflite`` bytes (verify them with :func:`edgeloop.converters.verify`).

    Raises:
        EdgeloopError: bad arguments.
        ConversionError: the converter refused the model (with a rejected file to look
            at when one could be made; see :mod:`edgeloop.converters.rejected`).
    """
    from edgeloop.converters.rejected import ConversionError
    from edgeloop.converters.crashes import crash_check
    from edgeloop.models.flatten import flatten_nested
    from edgeloop.models.io import single_io

    if not is_signature_model(model):
        require_legacy_keras(model)
        model, _ = flatten_nested(model)  # a nested base converts, and its ops keep their own layer names
        if hard_swish == "rewrite" and mode in FULL_INTEGER:
            from edgeloop.converters.hard_swish import rewrite_hard_swish

            samples = representative if isinstance(representative, np.ndarray) and prefix is None else None
            model, _ = rewrite_hard_swish(model, samples)
        crash_check(model, mode)
    if mode not in MODES:
        raise EdgeloopError(f"unknown conversion mode {mode!r}; modes: {', '.join(MODES)}")
    allowed = io_types_for(mode)
    if io_type is None:
        io_type = allowed[0]
    if io_type not in allowed:
        raise EdgeloopError(f"{mode} models take {' or '.join(allowed)} input/output, not {io_type!r}")
    single = single_io(model)
    if prefix is not None and not single:
        raise EdgeloopError("folded preprocessing takes a model with one input and one output")
    if mode in FULL_INTEGER:
        if representative is None or n_samples(representative) == 0:
            raise EdgeloopError(f"{mode} conversion needs representative samples for calibration")
        if single:
            want = tuple(model.inputs[0].shape[1:])
            if isinstance(representative, dict) or tuple(representative.shape[1:]) != want:
                got = "a dict of arrays" if isinstance(representative, dict) else tuple(representative.shape[1:])
                raise EdgeloopError(f"calibration samples have shape {got}, the model takes {want}")
        else:
            representative = as_named(model, representative)

    def build(permissive: bool = False):
        if single:
            converter = static_batch_converter(model, prefix)
        else:
            function = traced_function(model)
            converter = tf.lite.TFLiteConverter.from_concrete_functions([function], function_holder(function))
        if permissive:
            # Only for a rejected file to look at: float32 with TensorFlow (Flex) ops allowed. Calibration
            # cannot run it (the interpreter here has no Flex delegate), so nothing is quantized.
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        elif mode != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16" and not permissive:
            converter.target_spec.supported_types = [tf.float16]
        if mode in FULL_INTEGER and not permissive:
            converter.representative_dataset = (_representative(representative, progress) if single else
                                                named_representative(model, representative, progress))
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8
                if mode == "int8"
                else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
            converter.inference_input_type = IO_TYPES[io_type]
            converter.inference_output_type = IO_TYPES[io_type]
        if not per_channel:
            converter._experimental_disable_per_channel = True  # the converter's only switch for it
        # The converter prints its settings from C++; calibrating by signature name uses TensorFlow's
        # deprecated interpreter inside, whose warning is not the user's business.
        with native_stderr_silenced(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = bytes(converter.convert())
        if single:
            return data
        return order_io(data, [s.name for s in model_inputs(model)], [s.name for s in model_outputs(model)])

    try:
        return build()
    except EdgeloopError:
        raise
    except Exception as exc:  # ConverterError and friends: the model uses something TFLite lacks
        lines = [line.strip() for line in str(exc).splitlines() if "error" in line.lower()]
        message = f"conversion to {mode} failed: {(lines or [str(exc)])[0][:300]}"
    rejected = None
    if mode in FULL_INTEGER:
        try:
            rejected = build(permissive=True)
        except Exception:  # noqa: BLE001 - no file to look at either; the first error is the one to report
            rejected = None
    raise ConversionError(message, rejected)
