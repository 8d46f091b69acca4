"""ShuffleNetV2: channel split, two branches, concatenation and channel shuffle.

Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
arXiv:1807.11164, Table 5: the 1x network has 146 M FLOPs (multiply-adds, as the paper
counts them) and 2.3 M weights at 224x224. Widths 0.5, 1, 1.5 and 2 take Table 5's
channels (stages 48/96/192, 116/232/464, 176/352/704, 244/488/976; last convolution 1024,
2048 at 2x); any other width scales the 1x row, rounded to multiples of 8.

The shuffle (2 groups) is Reshape to (H·W, 2, C/2), Permute, Reshape back: the tensors
never have more than three non-batch dimensions, which the Edge TPU requires; the split is
two ``ChannelSlice`` layers (see ``edgeloop.models.layers``).

Converted to full int8 at 8x8x1: CONV_2D, DEPTHWISE_CONV_2D, STRIDED_SLICE (split),
CONCATENATION, RESHAPE and TRANSPOSE (shuffle), MAX_POOL_2D, MEAN, FULLY_CONNECTED.
TRANSPOSE and STRIDED_SLICE come with shape limits on the Edge TPU (Coral's op table), so
the first shuffle is where mapping may stop; the analyzer run on the converted file is the
judge. Not shrinkable (the split and the reshapes fix the channel counts) and not
QAT-able with tfmot (it has no quantize config for ``ChannelSlice``).
"""

from __future__ import annotations

from edgeloop.models._blocks import FeatureSize, check_classes, classifier, conv_bn, dw_bn, image_input, make_divisible
from edgeloop.models.layers import custom_layers
from edgeloop.models.registry import Paper, Reference, register

_TABLE = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024), 1.5: (176, 352, 704, 1024), 2.0: (244, 488, 976, 2048)}
_REPEATS = (4, 8, 4)


def _shuffle(x, name: str):
    from edgeloop._tf import keras

    h, w, c = x.shape[1:]
    x = keras.layers.Reshape((h * w, 2, c // 2), name=f"{name}_group")(x)
    x = keras.layers.Permute((1, 3, 2), name=f"{name}_transpose")(x)
    return keras.layers.Reshape((h, w, c), name=f"{name}_shuffle")(x)


def _unit(x, out_channels: int, stride: int, name: str):
    from edgeloop._tf import keras

    half = out_channels // 2
    if stride == 1 and x.shape[-1] == out_channels:
        slice_ = custom_layers()["ChannelSlice"]
        left = slice_(0, half, name=f"{name}_left")(x)
        right = slice_(half, half, name=f"{name}_right")(x)
    else:  # downsampling unit: both branches see the whole input
        left = dw_bn(x, 3, f"{name}_left_dw", stride=stride, act=None)
        left = conv_bn(left, half, 1, f"{name}_left_pw")
        right = x
    right = conv_bn(right, half, 1, f"{name}_pw1")
    right = dw_bn(right, 3, f"{name}_dw", stride=stride, act=None)
    right = conv_bn(right, half, 1, f"{name}_pw2")
    x = keras.layers.Concatenate(name=f"{name}_concat")([left, right])
    return _shuffle(x, name)


@register(
    reference=Reference((224, 224, 3), 1000),
    paper=Paper(2.3e6, 146e6, "Ma et al. 2018 (arXiv:1807.11164), Table 5: ShuffleNet v2 1x"),
    int8_ops=("CONV_2D", "MAX_POOL_2D", "DEPTHWISE_CONV_2D", "CONCATENATION", "RESHAPE", "TRANSPOSE", "STRIDED_SLICE",
              "MEAN", "FULLY_CONNECTED"),
)
def shufflenet_v2(input_shape, classes, width: float = 1.0):
    """ShuffleNetV2: stem, three stages of shuffle units (4, 8, 4), 1x1 convolution, classifier.

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits).
        width: the paper's multiplier (0.5, 1, 1.5, 2 use Table 5's channels).
    """
    from edgeloop._tf import keras

    check_classes("shufflenet_v2", classes)
    if width in _TABLE:
        *stages, last = _TABLE[width]
    else:
        stages, last = [make_divisible(c * width) for c in _TABLE[1.0][:3]], 1024
    inputs, x = image_input("shufflenet_v2", input_shape)
    size = FeatureSize(input_shape)
    x = conv_bn(x, 24, 3, "stem", stride=size.stride(3))
    if size.stride(3) == 2:
        x = keras.layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    for s, (channels, repeats) in enumerate(zip(stages, _REPEATS), 2):
        for i in range(repeats):
            x = _unit(x, channels, size.stride(3) if i == 0 else 1, f"stage{s}_unit{i + 1}")
    x = conv_bn(x, last, 1, "head")
    return keras.Model(inputs, classifier(x, classes), name="shufflenet_v2")
