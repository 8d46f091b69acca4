"""SqueezeNet 1.1: fire modules (1x1 squeeze, then 1x1 and 3x3 expand, concatenated).

Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and
<0.5MB model size", arXiv:1602.07360; version 1.1 is defined in forresti/SqueezeNet
(``SqueezeNet_v1.1/train_val.prototxt``: 3x3/2 conv1 with 64 filters, pools after conv1,
fire3 and fire5). The figures compared are torchvision's squeezenet1_1 (1,235,496
parameters, 0.35 G multiply-adds, "GFLOPS" in its table, at 224x224, the paper's Table 1
input). The repository's README gives "0.72 GFLOPS/image" for v1.1 (at Caffe's 227x227);
that is not twice the MACs (387.7 M at 227x227 here, as Caffe pools) but equals v1.0's
1.72 GFLOPS divided by the "2.4x less computation" the README quotes, so it is not used. Pools
round up as Caffe's do (a zero row / column is padded where needed; inputs are post-ReLU,
so zeros never win a max). ``width`` scales every convolution's filters (rounded).

Converted to full int8 at 8x8x1: CONV_2D (ReLU fused), CONCATENATION and MEAN (MAX_POOL_2D
and, at 227x227, PAD from 16x16 up; the stride rule leaves the pools out at 8x8). All are
in the Edge TPU's op table: expected to map entirely. The classifier is the paper's:
dropout, a 1x1 convolution with ReLU, global average pooling; its outputs are logits
(non-negative). Shrinkable except conv10 (its channels are the output); QAT-able.
"""

from __future__ import annotations

from edgeloop.models._blocks import FeatureSize, check_classes, check_fraction, image_input, scaled
from edgeloop.models.registry import Paper, Reference, register

# (squeeze, expand) filters of fire2 … fire9; a pool follows conv1, fire3 and fire5.
_FIRES = ((16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256))
_POOL_AFTER = ("fire3", "fire5")


def _fire(x, squeeze: int, expand: int, name: str):
    from edgeloop._tf import keras

    layers = keras.layers
    s = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze")(x)
    e1 = layers.Conv2D(expand, 1, activation="relu", name=f"{name}_expand1x1")(s)
    e3 = layers.Conv2D(expand, 3, padding="same", activation="relu", name=f"{name}_expand3x3")(s)
    return layers.Concatenate(name=f"{name}_concat")([e1, e3])


def _pool(x, size: FeatureSize, name: str):
    from edgeloop._tf import keras

    h, w = size.h, size.w
    if size.stride(3, "ceil") == 1:
        return x
    pad_h, pad_w = (h - 3) % 2, (w - 3) % 2  # Caffe rounds the output up: pad the missing row / column
    if pad_h or pad_w:
        x = keras.layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), name=f"{name}_pad")(x)
    return keras.layers.MaxPooling2D(3, 2, name=name)(x)


@register(
    reference=Reference((224, 224, 3), 1000),
    paper=Paper(1_235_496, 0.35e9, "forresti/SqueezeNet SqueezeNet_v1.1 (architecture); "
                "torchvision squeezenet1_1 (1,235,496 parameters, 0.35 GFLOPS)"),
    int8_ops=("CONV_2D", "CONCATENATION", "MEAN"),
)
def squeezenet1_1(input_shape, classes, width: float = 1.0, dropout: float = 0.5):
    """SqueezeNet 1.1: 3x3/2 conv1, eight fire modules, a 1x1 convolution classifier.

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits, non-negative: the paper's classifier ends in ReLU).
        width: multiplies every convolution's filters.
        dropout: dropout before the classifier convolution (the paper's 0.5).
    """
    from edgeloop._tf import keras

    check_classes("squeezenet1_1", classes)
    dropout = check_fraction("squeezenet1_1", "dropout", dropout)
    inputs, x = image_input("squeezenet1_1", input_shape)
    size = FeatureSize(input_shape)
    stride = size.stride(3, "valid")
    x = keras.layers.Conv2D(scaled(64, width), 3, strides=stride, padding="valid" if stride == 2 else "same",
                            activation="relu", name="conv1")(x)
    x = _pool(x, size, "conv1_pool")
    for i, (squeeze, expand) in enumerate(_FIRES, 2):
        x = _fire(x, scaled(squeeze, width), scaled(expand, width), f"fire{i}")
        if f"fire{i}" in _POOL_AFTER:
            x = _pool(x, size, f"fire{i}_pool")
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Conv2D(classes, 1, activation="relu", name="conv10")(x)
    x = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, x, name="squeezenet1_1")
