"""DenseNet-121: dense blocks whose layers see every earlier layer's features.

Huang et al. 2017, "Densely Connected Convolutional Networks", arXiv:1608.06993, Table 1
(growth rate k = 32, blocks of 6, 12, 24 and 16 BN-ReLU-1x1-BN-ReLU-3x3 layers, compression
0.5 in the transitions). The paper plots but does not tabulate its cost; torchvision's
model table gives 7,978,856 parameters and 2.83 G multiply-adds ("GFLOPS") at 224x224,
which are compared. ``width`` scales the growth rate and the stem (rounded to integers):
``width=0.25`` is a small DenseNet (k = 8, about 0.5 M parameters).

Converted to full int8 at 8x8x1: CONV_2D, CONCATENATION, MUL and ADD (the pre-activation
batch norms have no convolution before them to fold into; ReLU fuses into the ADD),
MAX_POOL_2D, MEAN, FULLY_CONNECTED (AVERAGE_POOL_2D in the transitions from 16x16 up; the
stride rule leaves them out at 8x8). All are in the Edge TPU's op table; the many
CONCATENATIONs cost on-chip memory, so large inputs may spill. Shrinkable (``shrink``
follows the Concatenate chains, each input keeping its own selection). Not QAT-able with
tfmot: it has no quantize config for a BatchNormalization that follows no convolution.
"""

from __future__ import annotations

from edgeloop.models._blocks import (
    FeatureSize, activation, batch_norm, check_classes, classifier, conv_bn, image_input, scaled,
)
from edgeloop.models.registry import Paper, Reference, register


def _bn_relu(x, name: str):
    return activation(batch_norm(x, f"{name}_bn"), "relu", name)


def _dense_layer(x, growth: int, name: str):
    from edgeloop._tf import keras

    y = _bn_relu(x, f"{name}_pre")
    y = conv_bn(y, 4 * growth, 1, f"{name}_conv1")
    y = keras.layers.Conv2D(growth, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def _transition(x, size: FeatureSize, name: str):
    from edgeloop._tf import keras

    x = _bn_relu(x, f"{name}_pre")
    x = keras.layers.Conv2D(int(x.shape[-1] * 0.5), 1, use_bias=False, name=f"{name}_conv")(x)
    if size.stride(2, "valid") == 2:
        x = keras.layers.AveragePooling2D(2, 2, name=f"{name}_pool")(x)
    return x


@register(
    reference=Reference((224, 224, 3), 1000),
    paper=Paper(7_978_856, 2.83e9, "Huang et al. 2017 (arXiv:1608.06993), Table 1 (architecture); "
                "torchvision densenet121 (7,978,856 parameters, 2.83 GFLOPS)", keras_application="DenseNet121"),
    int8_ops=("CONV_2D", "MAX_POOL_2D", "MUL", "ADD", "CONCATENATION", "MEAN", "FULLY_CONNECTED"),
)
def densenet121(input_shape, classes, width: float = 1.0):
    """DenseNet-121: four dense blocks (6, 12, 24, 16 layers, growth rate 32) and transitions.

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits).
        width: multiplies the growth rate (32) and the stem (64); 0.25 gives a small DenseNet.
    """
    from edgeloop._tf import keras

    check_classes("densenet121", classes)
    inputs, x = image_input("densenet121", input_shape)
    size = FeatureSize(input_shape)
    x = conv_bn(x, scaled(64, width), 7, "stem", stride=size.stride(7))
    if size.stride(3) == 2:
        x = keras.layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    growth = scaled(32, width)
    for b, layers in enumerate((6, 12, 24, 16), 1):
        for i in range(1, layers + 1):
            x = _dense_layer(x, growth, f"block{b}_layer{i}")
        if b < 4:
            x = _transition(x, size, f"transition{b}")
    x = _bn_relu(x, "final")
    return keras.Model(inputs, classifier(x, classes), name="densenet121")
