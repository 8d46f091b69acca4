"""ResNet-8: MLPerf Tiny's image classification reference (CIFAR-10, 32x32).

Banbury et al. 2021, "MLPerf Tiny Benchmark", arXiv:2106.07597; the reference model is
``resnet_v1_eembc`` in mlcommons/tiny ``benchmark/training/image_classification/keras_model.py``
(16 filters, as at commit bceb91c; later versions default to 26): a 3x3 stem and three
stacks of one residual block (16, 32, 64 filters; strides 1, 2, 2; 1x1 projection
shortcuts where the stride is 2), average pooling and a Dense classifier. Convolutions have
biases and batch norm, as in the reference. Parameters: 78,186 trainable (78,666 with
batch-norm statistics) counted from that definition; MACs: 12.502 M, the reference model's
in siliconlabs/mltk ``mltk/models/tinyml/image_classification.py`` ("Total MACs: 12.502 M").
``width`` scales the filters (rounded to integers: ``width=1.625`` is the 26-filter model).

Converted to full int8 at 8x8x1: CONV_2D (ReLU fused), ADD, AVERAGE_POOL_2D,
FULLY_CONNECTED: all in the Edge TPU's op table, expected to map entirely. Shrinkable: the
blocks' first convolutions freely, the residual groups together; QAT-able.
"""

from __future__ import annotations

from edgeloop.models._blocks import (
    FeatureSize, activation, check_classes, conv_bn, image_input, pooled_classifier, scaled,
)
from edgeloop.models.registry import Paper, Reference, register


@register(
    reference=Reference((32, 32, 3), 10),
    paper=Paper(78_186, 12.502e6, "MLPerf Tiny (Banbury et al. 2021) image classification reference: "
                "mlcommons/tiny keras_model.py resnet_v1_eembc (parameters), "
                "siliconlabs/mltk image_classification.py (MACs)"),
    int8_ops=("CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED"),
)
def resnet8(input_shape, classes, width: float = 1.0):
    """ResNet-8 (MLPerf Tiny image classification): stem, three residual stacks, pooled Dense head.

    Args:
        input_shape: image shape (height, width, channels); 32x32x3 in the benchmark.
        classes: output classes (logits).
        width: multiplies the filters (16, 32, 64).
    """
    from edgeloop._tf import keras

    check_classes("resnet8", classes)
    inputs, x = image_input("resnet8", input_shape)
    size = FeatureSize(input_shape)
    x = conv_bn(x, scaled(16, width), 3, "stem", use_bias=True)
    for stack, (filters, first_stride) in enumerate(((16, 1), (32, 2), (64, 2)), 1):
        filters = scaled(filters, width)
        stride = size.stride(3) if first_stride == 2 else 1
        shortcut = x
        y = conv_bn(x, filters, 3, f"stack{stack}_conv1", stride=stride, use_bias=True)
        y = conv_bn(y, filters, 3, f"stack{stack}_conv2", act=None, use_bias=True)
        if stride != 1 or x.shape[-1] != filters:
            shortcut = keras.layers.Conv2D(filters, 1, strides=stride, name=f"stack{stack}_shortcut")(x)
        x = keras.layers.Add(name=f"stack{stack}_add")([shortcut, y])
        x = activation(x, "relu", f"stack{stack}_out")
    return keras.Model(inputs, pooled_classifier(x, size, classes), name="resnet8")
