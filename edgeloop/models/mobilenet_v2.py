"""MobileNetV2: inverted residual blocks with linear bottlenecks.

Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
arXiv:1801.04381. Table 4 gives 3.4 M parameters and 300 M multiply-adds for 1.0-224; the
authors' checkpoint table (tensorflow/models ``research/slim/nets/mobilenet/README.md``,
``mobilenet_v2_1.0_224``: 300 MACs, 3.47 M parameters) gives the unrounded count, which is
the figure compared here (the paper's 3.4 M is it rounded down; against 3.4 M the count
is 3.1 % over). Width rounds as the paper's code does: ``make_divisible(int(c * α), 8)``;
the last 1x1 convolution keeps 1280 channels for α <= 1.

Converted to full int8 at 8x8x1: CONV_2D, DEPTHWISE_CONV_2D, ADD (residuals), MEAN and
FULLY_CONNECTED, ReLU6 fused. All are in the Edge TPU's op table: expected to map entirely.
Shrinkable (expansion convolutions freely, projections as residual groups); QAT-able.
"""

from __future__ import annotations

from edgeloop.models._blocks import (
    FeatureSize, check_classes, check_fraction, classifier, conv_bn, image_input, inverted_residual, make_divisible,
)
from edgeloop.models.registry import Paper, Reference, register

# (expansion t, output channels c, repeats n, first stride s): the paper's Table 2.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


@register(
    reference=Reference((224, 224, 3), 1000),
    paper=Paper(3.47e6, 300e6, "Sandler et al. 2018 (arXiv:1801.04381), Table 4 (3.4 M, 300 M); "
                "tensorflow/models slim mobilenet README, mobilenet_v2_1.0_224 (3.47 M)",
                keras_application="MobileNetV2", application_options={"alpha": 1.0}),
    int8_ops=("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"),
)
def mobilenet_v2(input_shape, classes, width: float = 1.0, dropout: float = 0.0):
    """MobileNetV2: 17 inverted residual blocks (ReLU6, linear bottlenecks); width multiplier α.

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits).
        width: α, multiplies the channels (rounded to multiples of 8).
        dropout: dropout before the classifier (the paper uses none).
    """
    from edgeloop._tf import keras

    check_classes("mobilenet_v2", classes)
    inputs, x = image_input("mobilenet_v2", input_shape)
    size = FeatureSize(input_shape)
    x = conv_bn(x, make_divisible(32 * width), 3, "stem", stride=size.stride(3), act="relu6")
    block = 0
    for expansion, channels, repeats, first_stride in _STAGES:
        filters = make_divisible(int(channels * width))
        for r in range(repeats):
            stride = size.stride(3) if first_stride == 2 and r == 0 else 1
            x = inverted_residual(x, expansion, 3, stride, filters, f"block{block}")
            block += 1
    x = conv_bn(x, make_divisible(1280 * width) if width > 1.0 else 1280, 1, "head", act="relu6")
    x = classifier(x, classes, check_fraction("mobilenet_v2", "dropout", dropout))
    return keras.Model(inputs, x, name="mobilenet_v2")
