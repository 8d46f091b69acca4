"""The zoo's one custom layer, ``ChannelSlice`` (ShuffleNetV2's channel split).

Keras has no layer that selects channels; a ``Lambda`` does not load back from ``.keras``
files and an operator lambda (``x[..., :c]``) gets a counter for a name that changes from
one build to the next. The class is defined (and registered under ``edgeloop>``) the first
time it is needed, so importing :mod:`edgeloop.models` does not import TensorFlow;
:func:`edgeloop.models.load_model` registers it before reading a file.
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
