"""Fold a model's preprocessing into the model, so it takes raw 0–255 camera pixels.

:func:`fold_preprocessing` puts one layer before the model's first: ``FoldedPreprocessing``
holds the :class:`~edgeloop.preprocess.Preprocess` as a constant 1x1 convolution
(``pixel * scale + offset - mean) / std`` per channel, and the RGB -> BGR swap when asked)
behind a fake quantization of the input to 0–255 in 256 steps. In the int8 file the fake
quantization becomes the input's quantization, scale 1 and zero point 0 (uint8) or -128
(int8): the file takes the camera's uint8 pixels as they are, and a delegate or an Edge
TPU runs the normalization as one more CONV_2D. A Keras ``Rescaling`` or ``Normalization``
layer would do the arithmetic too, but the converter then calibrates the input range from
whatever pixels the samples hold (scale 200/255 for dim images, not 1) and tfmot's QAT
refuses both layers; the fake-quantized convolution has neither problem.
"""

from __future__ import annotations

import numpy as np

from edgeloop.errors import EdgeloopError
from edgeloop.preprocess import Preprocess

LAYER_NAME = "folded_preprocessing"
_CLASSES: dict[str, type] = {}


def folded_layer_class() -> type:
    """The ``FoldedPreprocessing`` class, defined and registered with Keras once per process."""
    if not _CLASSES:
        _CLASSES["FoldedPreprocessing"] = _define()
    return _CLASSES["FoldedPreprocessing"]


def fold_weights(preprocess: Preprocess, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kernel, bias)`` with ``x[..., j] = Σ_i pixel[..., i] * kernel[i, j] + bias[j]``.

    The pixels come in camera order (RGB or grey); for ``bgr`` output channel ``j`` reads
    input channel ``channels - 1 - j``.
    """
    a, b = preprocess.channel_affine(channels)
    kernel = np.zeros((channels, channels), np.float32)
    for j in range(channels):
        source = channels - 1 - j if preprocess.color == "bgr" else j
        kernel[source, j] = a[j]
    return kernel, b.astype(np.float32)


def folding_layer(preprocess: Preprocess, channels: int):
    """The ``FoldedPreprocessing`` layer for ``channels`` input channels.

    :func:`edgeloop.converters.convert` takes it as ``prefix``: applied before the model,
    outside it, so the model's layers keep their names in the file.

    Raises:
        EdgeloopError: ``preprocess`` asks for a colour layout the channels do not fit.
    """
    if preprocess.color == "grayscale" and channels != 1 or preprocess.color in ("rgb", "bgr") and channels != 3:
        raise EdgeloopError(f"preprocess color {preprocess.color} does not fit the model's {channels} input channel(s)")
    kernel, bias = fold_weights(preprocess, channels)
    return folded_layer_class()(kernel.tolist(), bias.tolist(), name=LAYER_NAME)


def fold_preprocessing(model, preprocess: Preprocess):
    """A Keras model taking raw 0–255 pixels: ``preprocess`` as a layer in front of ``model``.

    Works for plain and QAT (tfmot-wrapped) models alike: ``model`` is called as a layer,
    its weights shared, nothing retrained.

    Raises:
        EdgeloopError: a model with several inputs, or a colour layout its channels do not fit.
    """
    from edgeloop._tf import keras

    if len(model.inputs) != 1:
        raise EdgeloopError(f"fold_preprocessing needs a single-input model; this one has {len(model.inputs)}")
    shape = tuple(model.inputs[0].shape[1:])
    layer = folding_layer(preprocess, int(shape[-1]))
    pixels = keras.Input(shape=shape, name="pixels")
    return keras.Model(pixels, model(layer(pixels)), name=f"{model.name}_raw_pixels")


def _define() -> type:
    from edgeloop._tf import keras, tf

    @keras.utils.register_keras_serializable(package="edgeloop")
    class FoldedPreprocessing(keras.layers.Layer):
        """Raw pixels (fake-quantized to 0–255) times a constant channel matrix plus a bias.

        Args:
            kernel: ``[channels_in][channels_out]`` matrix.
            bias: ``[channels_out]``.
        """

        def __init__(self, kernel, bias, **kwargs) -> None:
            kwargs.setdefault("trainable", False)
            super().__init__(**kwargs)
            self.kernel_values = [list(map(float, row)) for row in kernel]
            self.bias_values = list(map(float, bias))

        def call(self, inputs):
            x = tf.quantization.fake_quant_with_min_max_args(inputs, min=0.0, max=255.0, num_bits=8)
            kernel = tf.constant(self.kernel_values, dtype=x.dtype)
            bias = tf.constant(self.bias_values, dtype=x.dtype)
            if x.shape.rank == 4:  # one CONV_2D in the file: every delegate and the Edge TPU run it
                return tf.nn.conv2d(x, kernel[None, None], strides=1, padding="VALID") + bias
            return tf.tensordot(x, kernel, axes=[[x.shape.rank - 1], [0]]) + bias

        def get_config(self) -> dict:
            return {**super().get_config(), "kernel": self.kernel_values, "bias": self.bias_values}

    return FoldedPreprocessing
