"""ResNet-18 (basic blocks) and ResNet-50 (bottleneck blocks).

He et al. 2016, "Deep Residual Learning for Image Recognition", arXiv:1512.03385, Table 1:
18-layer 1.8x10^9 FLOPs and 50-layer 3.8x10^9 FLOPs at 224x224, FLOPs there being
multiply-adds. The paper gives no parameter counts; torchvision's model table does
(resnet18 11,689,512; resnet50 25,557,032), and those are compared. This is ResNet v1 as
in the paper and Keras: the bottleneck's stride sits on its first 1x1 convolution
(torchvision's "v1.5" moves it to the 3x3 and needs 4.1 G MACs). Projection shortcuts
(1x1 convolution + batch norm) where the shape changes. Convolutions carry biases, as in
Keras' ResNet50 (redundant before batch norm, and folded away when converted).
``width`` scales every stage's channels, rounded to multiples of 8.

Converted to full int8 at 8x8x1: CONV_2D (ReLU fused), MAX_POOL_2D, ADD, MEAN,
FULLY_CONNECTED. All are in the Edge TPU's op table: expected to map entirely. Shrinkable:
each block's inner convolutions freely; the convolutions whose outputs meet at an Add
shrink together. QAT-able.
"""

from __future__ import annotations

from edgeloop.models._blocks import FeatureSize, check_classes, classifier, conv_bn, image_input, make_divisible
from edgeloop.models.registry import Paper, Reference, register


def _basic(x, filters: int, stride: int, name: str):
    from edgeloop._tf import keras

    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, f"{name}_shortcut", stride=stride, act=None, use_bias=True)
    x = conv_bn(x, filters, 3, f"{name}_conv1", stride=stride, use_bias=True)
    x = conv_bn(x, filters, 3, f"{name}_conv2", act=None, use_bias=True)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def _bottleneck(x, filters: int, stride: int, name: str):
    from edgeloop._tf import keras

    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = conv_bn(x, 4 * filters, 1, f"{name}_shortcut", stride=stride, act=None, use_bias=True)
    x = conv_bn(x, filters, 1, f"{name}_conv1", stride=stride, use_bias=True)
    x = conv_bn(x, filters, 3, f"{name}_conv2", use_bias=True)
    x = conv_bn(x, 4 * filters, 1, f"{name}_conv3", act=None, use_bias=True)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def _resnet(model: str, block, repeats: tuple[int, ...], input_shape, classes, width: float):
    from edgeloop._tf import keras

    check_classes(model, classes)
    inputs, x = image_input(model, input_shape)
    size = FeatureSize(input_shape)
    x = conv_bn(x, make_divisible(64 * width), 7, "stem", stride=size.stride(7), use_bias=True)
    if size.stride(3) == 2:
        x = keras.layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    for stage, count in enumerate(repeats):
        filters = make_divisible(64 * 2**stage * width)
        for i in range(count):
            stride = size.stride(3) if stage > 0 and i == 0 else 1
            x = block(x, filters, stride, f"stage{stage + 1}_block{i + 1}")
    return keras.Model(inputs, classifier(x, classes), name=model)


# Op types of the full-int8 file at 8x8x1 (see the module docstring).
_OPS = ("CONV_2D", "MAX_POOL_2D", "ADD", "MEAN", "FULLY_CONNECTED")


@register(
    reference=Reference((224, 224, 3), 1000),
    paper=Paper(11_689_512, 1.8e9, "He et al. 2016 (arXiv:1512.03385), Table 1: 18-layer (1.8 G); "
                "torchvision resnet18 (11,689,512 parameters)"),
    int8_ops=_OPS,
)
def resnet18(input_shape, classes, width: float = 1.0):
    """ResNet-18: four stages of two basic blocks (two 3x3 convolutions each).

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits).
        width: multiplies every stage's channels (64, 128, 256, 512), rounded to multiples of 8.
    """
    return _resnet("resnet18", _basic, (2, 2, 2, 2), input_shape, classes, width)


@register(
    reference=Reference((224, 224, 3), 1000),
    paper=Paper(25_557_032, 3.8e9, "He et al. 2016 (arXiv:1512.03385), Table 1: 50-layer (3.8 G); "
                "torchvision resnet50 (25,557,032 parameters)", keras_application="ResNet50"),
    int8_ops=_OPS,
)
def resnet50(input_shape, classes, width: float = 1.0):
    """ResNet-50: four stages of 3, 4, 6 and 3 bottleneck blocks (1x1, 3x3, 1x1 x4).

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits).
        width: multiplies every stage's channels, rounded to multiples of 8.
    """
    return _resnet("resnet50", _bottleneck, (3, 4, 6, 3), input_shape, classes, width)
