"""Which weights of each Keras layer type pruning, clustering and shrinking act on, and
which TFLite op holds them once converted: one table, read by every step and check.

A layer's variables are named by the last part of their Keras name (``kernel``,
``pointwise_kernel``, ``recurrent_kernel`` …). The prunable and clusterable variables are
tfmot's own choice, mirrored from its registries (``PruneRegistry._LAYERS_WEIGHTS_MAP``,
``ClusteringRegistry._LAYERS_WEIGHTS_MAP`` in tensorflow/model-optimization): a
``SeparableConv2D`` is pruned in its pointwise kernel only, a ``DepthwiseConv2D`` not at
all, an ``LSTM`` in its kernel and its recurrent kernel. What TFLite makes of a layer is
the converter's choice: a ``Conv1D`` becomes a ``CONV_2D``, a ``SeparableConv2D`` a
``DEPTHWISE_CONV_2D`` then a ``CONV_2D`` holding the pointwise kernel.

The table is plain data (no TensorFlow), so the ``.tflite`` side can use it too::

    >>> from edgeloop.layer_table import layer_kind
    >>> layer_kind("SeparableConv2D").prunable, layer_kind("SeparableConv2D").tflite_op
    (('pointwise_kernel',), 'CONV_2D')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerKind:
    """What edgeloop knows about one Keras layer class.

    Attributes:
        prunable: variables tfmot's magnitude pruning zeroes (the layer's "kernels" for
            sparsity figures and checks).
        clusterable: variables tfmot's clustering shares values in.
        tflite_op: the TFLite op whose weight input holds the prunable kernel after
            conversion (``None`` when the converter spreads it over several tensors whose
            names do not tell the layer, as for recurrent layers).
        width: the config key of the layer's output channels when :func:`shrink
            <edgeloop.models.shrink>` may narrow it (``filters``, ``units``).
        kernel_axes: (input-channel axis, output-channel axis) of the kernel shrink cuts.
        channelwise: weights that run along the channel axis (BatchNormalization's four,
            PReLU's alpha): shrink keeps the surviving channels' entries.
    """

    prunable: tuple[str, ...] = ()
    clusterable: tuple[str, ...] = ()
    tflite_op: str | None = None
    width: str | None = None
    kernel_axes: tuple[int, int] = (-2, -1)
    channelwise: bool = False


_KERNEL = ("kernel",)
_RECURRENT = ("kernel", "recurrent_kernel")

TABLE: dict[str, LayerKind] = {
    "Conv1D": LayerKind(_KERNEL, _KERNEL, "CONV_2D", "filters"),
    "Conv2D": LayerKind(_KERNEL, _KERNEL, "CONV_2D", "filters"),
    "Conv3D": LayerKind(_KERNEL, _KERNEL, "CONV_3D", "filters"),
    # A transposed kernel is (..., output channels, input channels).
    "Conv1DTranspose": LayerKind(_KERNEL, _KERNEL, "TRANSPOSE_CONV"),
    "Conv2DTranspose": LayerKind(_KERNEL, _KERNEL, "TRANSPOSE_CONV", "filters", kernel_axes=(-1, -2)),
    "Conv3DTranspose": LayerKind(_KERNEL, _KERNEL, "CONV_3D_TRANSPOSE"),
    "DepthwiseConv1D": LayerKind(tflite_op="DEPTHWISE_CONV_2D"),
    "DepthwiseConv2D": LayerKind(tflite_op="DEPTHWISE_CONV_2D"),
    "SeparableConv1D": LayerKind(("pointwise_kernel",), ("pointwise_kernel",), "CONV_2D", "filters"),
    "SeparableConv2D": LayerKind(("pointwise_kernel",), ("pointwise_kernel",), "CONV_2D", "filters"),
    "Dense": LayerKind(_KERNEL, _KERNEL, "FULLY_CONNECTED", "units"),
    "Embedding": LayerKind(("embeddings",), ("embeddings",), "GATHER"),
    "LocallyConnected1D": LayerKind(_KERNEL, _KERNEL),
    "LocallyConnected2D": LayerKind(_KERNEL, _KERNEL),
    "LSTM": LayerKind(_RECURRENT, _RECURRENT),
    "GRU": LayerKind(_RECURRENT, _RECURRENT),
    "SimpleRNN": LayerKind(_RECURRENT, _RECURRENT),
    "BatchNormalization": LayerKind(channelwise=True),
    "LayerNormalization": LayerKind(channelwise=True),
    "PReLU": LayerKind(channelwise=True),
}

NO_WEIGHTS = LayerKind()

# The TFLite ops holding a layer's weights, and the input each takes them at: GATHER
# reads its table at input 0, the others their filter at input 1.
WEIGHT_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1, "CONV_3D": 1,
                "CONV_3D_TRANSPOSE": 1, "GATHER": 0}


def layer_kind(class_name: str) -> LayerKind:
    """The table's row for a Keras layer class name (a row without weights if unknown)."""
    return TABLE.get(class_name, NO_WEIGHTS)


def variable_name(name: str) -> str:
    """``conv/kernel:0`` or ``lstm/lstm_cell/recurrent_kernel:0`` -> ``kernel`` / ``recurrent_kernel``."""
    return name.split("/")[-1].split(":")[0]
