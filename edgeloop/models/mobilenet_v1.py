"""MobileNetV1 (depthwise separable convolutions) and the MLPerf Tiny visual-wake-words model.

Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", arXiv:1704.04861. Table 8: 1.0 MobileNet-224 has 4.2 million parameters
and 569 million mult-adds. The width multiplier α scales every layer's channels
(``int(channels * α)``, as the paper and Keras do, no divisor rule); the resolution
multiplier is the input shape.

``vww_mobilenet_v1`` is MLPerf Tiny's visual-wake-words reference (Banbury et al. 2021,
"MLPerf Tiny Benchmark", arXiv:2106.07597; mlcommons/tiny
``benchmark/training/visual_wake_words/vww_model.py``): MobileNetV1 with α = 0.25 at
96x96x3 and 2 classes, with biases on every convolution, ReLU instead of ReLU6, and an
average pool + Flatten + Dense head. Its MACs, 7.490 M, are the MLPerf reference model's
as summarised in siliconlabs/mltk ``mltk/models/tinyml/visual_wake_words.py``; its
parameter count, 216,322 trainable (221,794 with batch-norm statistics), is that of the
reference Keras definition.

Converted to full int8 at 8x8x1 the ops are CONV_2D, DEPTHWISE_CONV_2D, MEAN (global
pooling; AVERAGE_POOL_2D in the VWW model) and FULLY_CONNECTED; ReLU6 / ReLU fuse into the
convolutions. Every one is in the Edge TPU's op table (coral.ai, "TensorFlow models on
the Edge TPU"), so both are expected to map entirely. Shrinkable: every pointwise Conv2D
can lose filters (``edgeloop.models.shrink``); QAT-able with tfmot.
"""

from __future__ import annotations

from edgeloop.models._blocks import (
    FeatureSize, check_classes, check_fraction, classifier, conv_bn, dw_bn, image_input, pooled_classifier,
)
from edgeloop.models.registry import Paper, Reference, register

# (pointwise filters, stride of the depthwise convolution), after a 32-filter stride-2 stem.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _features(x, size: FeatureSize, width: float, act: str, use_bias: bool):
    x = conv_bn(x, max(1, int(32 * width)), 3, "stem", stride=size.stride(3), act=act, use_bias=use_bias)
    for i, (filters, stride) in enumerate(_BLOCKS, 1):
        x = dw_bn(x, 3, f"block{i}_dw", stride=size.stride(3) if stride == 2 else 1, act=act, use_bias=use_bias)
        x = conv_bn(x, max(1, int(filters * width)), 1, f"block{i}_pw", act=act, use_bias=use_bias)
    return x


@register(
    reference=Reference((224, 224, 3), 1000),
    paper=Paper(4.2e6, 569e6, "Howard et al. 2017 (arXiv:1704.04861), Table 8: 1.0 MobileNet-224",
                keras_application="MobileNet", application_options={"alpha": 1.0}),
    int8_ops=("CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED"),
)
def mobilenet_v1(input_shape, classes, width: float = 1.0, dropout: float = 0.001):
    """MobileNetV1: a stride-2 stem and 13 depthwise separable blocks; width multiplier α.

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits).
        width: α, multiplies every layer's channels.
        dropout: dropout before the classifier (Keras' default, 0.001).
    """
    from edgeloop._tf import keras

    check_classes("mobilenet_v1", classes)
    inputs, x = image_input("mobilenet_v1", input_shape)
    x = _features(x, FeatureSize(input_shape), width, "relu6", use_bias=False)
    x = classifier(x, classes, check_fraction("mobilenet_v1", "dropout", dropout))
    return keras.Model(inputs, x, name="mobilenet_v1")


@register(
    reference=Reference((96, 96, 3), 2),
    paper=Paper(216_322, 7.490e6, "MLPerf Tiny (Banbury et al. 2021) visual wake words reference: "
                "mlcommons/tiny vww_model.py (parameters), siliconlabs/mltk visual_wake_words.py (7.490 M MACs)"),
    int8_ops=("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED"),
)
def vww_mobilenet_v1(input_shape, classes, width: float = 0.25):
    """MLPerf Tiny visual wake words: MobileNetV1 α=0.25 at 96x96, biases, ReLU, pooled Dense head.

    Args:
        input_shape: image shape (height, width, channels).
        classes: output classes (2 in the benchmark: person / no person).
        width: α (the benchmark's is 0.25).
    """
    from edgeloop._tf import keras

    check_classes("vww_mobilenet_v1", classes)
    inputs, x = image_input("vww_mobilenet_v1", input_shape)
    size = FeatureSize(input_shape)
    x = _features(x, size, width, "relu", use_bias=True)
    return keras.Model(inputs, pooled_classifier(x, size, classes), name="vww_mobilenet_v1")
