"""edgeloop's own layer classes, in one place: what a saved model of edgeloop's may hold.

* ``ChannelSlice``, ShuffleNetV2's channel split: Keras has no layer that selects channels;
  a ``Lambda`` does not load back from ``.keras`` files and an operator lambda
  (``x[..., :c]``) gets a counter for a name that changes from one build to the next.
* ``FoldedPreprocessing`` (:mod:`edgeloop.models.fold`): models that take raw pixels.
* ``BinaryDense`` and ``BinaryConv2D``, the ``binarize`` step's layers
  (:mod:`edgeloop.pipeline.binarize`).

Each class is defined (and registered under ``edgeloop>``) the first time it is needed,
so importing :mod:`edgeloop.models` does not import TensorFlow;
:func:`edgeloop.models.load_model` registers them all before reading a file.
"""

from __future__ import annotations

_CLASSES: dict[str, type] = {}


def custom_layers() -> dict[str, type]:
    """``{"ChannelSlice": ChannelSlice, "FoldedPreprocessing": …}``, defined and registered once per process."""
    if not _CLASSES:
        from edgeloop.models.fold import folded_layer_class

        _CLASSES["ChannelSlice"] = _define()
        _CLASSES["FoldedPreprocessing"] = folded_layer_class()  # models that take raw pixels
    return _CLASSES


def register_all() -> None:
    """Define and register every class here (before a model holding them is loaded or rebuilt)."""
    custom_layers()
    binary_classes()


def _define() -> type:
    from edgeloop._tf import keras

    @keras.utils.register_keras_serializable(package="edgeloop")
    class ChannelSlice(keras.layers.Layer):
        """Channels ``start`` to ``start + size`` of the last axis (a STRIDED_SLICE in TFLite).

        Args:
            start: first channel kept.
            size: number of channels kept.
        """

        def __init__(self, start: int, size: int, **kwargs) -> None:
            super().__init__(**kwargs)
            self.start, self.size = int(start), int(size)

        def call(self, inputs):
            return inputs[..., self.start:self.start + self.size]

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], self.size)

        def get_config(self) -> dict:
            return {**super().get_config(), "start": self.start, "size": self.size}

    return ChannelSlice


def ste_sign(x):
    """±1 forward; gradient 1 inside [-1, 1] and 0 outside (straight-through, hard-tanh)."""
    from edgeloop._tf import tf

    clipped = tf.clip_by_value(x, -1.0, 1.0)
    return clipped + tf.stop_gradient(tf.where(x >= 0, 1.0, -1.0) - clipped)


def _binary_layers():
    """The binary layer classes (built lazily: defining them needs tf_keras)."""
    from edgeloop._tf import keras, tf

    def binary_kernel(kernel):
        axes = list(range(len(kernel.shape) - 1))
        alpha = tf.stop_gradient(tf.reduce_mean(tf.abs(kernel), axis=axes))
        return ste_sign(kernel) * alpha

    class _Binary:
        def __init__(self, *args, binary_activations: bool = True, **kwargs):
            super().__init__(*args, **kwargs)
            self.binary_activations = binary_activations

        def get_config(self):
            return {**super().get_config(), "binary_activations": self.binary_activations}

    @keras.utils.register_keras_serializable(package="edgeloop")
    class BinaryDense(_Binary, keras.layers.Dense):
        """Dense with α·sign(W) weights and, optionally, sign(x) inputs."""

        def call(self, inputs):
            x = ste_sign(inputs) if self.binary_activations else inputs
            y = tf.matmul(x, binary_kernel(self.kernel))
            if self.use_bias:
                y = y + self.bias
            return self.activation(y)

    @keras.utils.register_keras_serializable(package="edgeloop")
    class BinaryConv2D(_Binary, keras.layers.Conv2D):
        """Conv2D with α·sign(W) weights and, optionally, sign(x) inputs."""

        def call(self, inputs):
            x = ste_sign(inputs) if self.binary_activations else inputs
            y = tf.nn.conv2d(x, binary_kernel(self.kernel), strides=self.strides, padding=self.padding.upper(),
                             dilations=self.dilation_rate)
            if self.use_bias:
                y = tf.nn.bias_add(y, self.bias)
            return self.activation(y)

    return BinaryDense, BinaryConv2D


_BINARY: dict = {}


def binary_classes():
    """``{"Dense": BinaryDense, "Conv2D": BinaryConv2D}``, defined once per process."""
    if not _BINARY:
        dense, conv = _binary_layers()
        _BINARY.update(Dense=dense, Conv2D=conv)
    return _BINARY
