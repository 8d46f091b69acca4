"""A float stem: the first convolution of a 1-3 channel input kept in float, the rest int8.

XNNPACK's int8 convolutions with very few input channels can be slower than its float
ones on a CPU (ds_cnn's first convolution, 1 input channel: 109 µs int8 against 20 µs
float on an AVX2 CPU without VNNI). Keeping that one op float costs a ``QUANTIZE`` after it
and float input; whether it pays depends on the CPU, so :mod:`edgeloop.converters.fastest`
measures it as one candidate among others. The op is kept float with TensorFlow's
``QuantizationDebugger`` denylist (:mod:`edgeloop.converters.selective`), the converter's
own switch for per-op float.
"""

from __future__ import annotations

import numpy as np

from edgeloop.errors import EdgeloopError

MAX_CHANNELS = 3
_STEM_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def stem_tensor(model) -> str | None:
    """The output tensor name of the convolution reading ``model``'s 1-3 channel input, or ``None``."""
    from edgeloop.converters import read_model
    from edgeloop.converters.tflite import convert

    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4 or (model.inputs[0].shape[-1] or 0) > MAX_CHANNELS:
        return None
    info = read_model(convert(model, "float32"))
    readers = [op for op in info.ops if info.inputs[0] in op.inputs]
    if len(readers) != 1 or readers[0].name not in _STEM_OPS:
        return None
    return info.tensors[readers[0].outputs[0]].name


def convert_float_stem(model, representative: np.ndarray, hard_swish: str = "rewrite") -> bytes:
    """Full-integer conversion except the stem convolution (float input, int8 output).

    Args:
        model: a single-input tf_keras model whose input has 1-3 channels.
        representative: calibration samples, batch first.
        hard_swish: ``rewrite`` or ``int8``, as for :func:`edgeloop.converters.tflite.convert`.

    Raises:
        EdgeloopError: no convolution reads a 1-3 channel input directly.
    """
    from edgeloop.converters.selective import convert_selective

    if hard_swish == "rewrite":
        from edgeloop.converters.hard_swish import rewrite_hard_swish

        model, _ = rewrite_hard_swish(model, representative)
    name = stem_tensor(model)
    if name is None:
        raise EdgeloopError("float_stem needs a model whose 1-3 channel input goes straight into one convolution")
    return convert_selective(model, representative, [name])
