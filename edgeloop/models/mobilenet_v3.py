"""MobileNetV3-Small and -Large: inverted residuals with squeeze-excite and hard-swish.

Howard et al. 2019, "Searching for MobileNetV3", arXiv:1905.02244, Table 3: V3-Large 1.0
has 5.4 M parameters and 219 M multiply-adds, V3-Small 1.0 2.5 M and 56 M (224x224). Block
tables are the paper's Tables 1 and 2; channels round to multiples of 8
(``make_divisible(c * α)``); the 16-channel stem and the last 1x1 layer (1280 / 1024) are
not scaled below α = 1, as in the paper's code and Keras. ``minimalistic=True`` is the
paper's "minimalistic" variant: 3x3 kernels, ReLU, no squeeze-excite.

Converted to full int8 at 8x8x1: CONV_2D, DEPTHWISE_CONV_2D, HARD_SWISH (the converter
fuses the Rescaling/ReLU6/Rescaling/Multiply pattern), ADD, MEAN (squeeze-excite and the
head's pooling), MUL (squeeze-excite's gate, whose hard-sigmoid folds into it) and
FULLY_CONNECTED. On the Edge TPU this model is not expected to map entirely: HARD_SWISH is
not among the operations of the op table Coral publishes (coral.ai, "TensorFlow models on
the Edge TPU") and the first one follows the stem, so the compiler would leave nearly the
whole network to the CPU. edgeloop's Edge TPU analyzer agrees (``edgetpu_maps=False``,
checked by the tests): the graph is cut at ``stem_hswish``, 1 % of the ops map.
Squeeze-excite's ops (MEAN, CONV_2D, MUL) are in the table, but its global pool serialises
every block that has one, which is why EfficientNet-Lite drops it ("SE are not well
supported for some mobile accelerators", tensorflow/tpu EfficientNet-Lite README).
``minimalistic=True`` leaves only Edge TPU ops (CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN,
FULLY_CONNECTED). The registered ops and Edge TPU verdict are those of the converter's
plain file (``hard_swish: int8``); edgeloop's ``convert`` step rewrites hard-swish by
default (:mod:`edgeloop.converters.hard_swish`): no ``HARD_SWISH`` is left, XNNPACK runs
every int8 op (MobileNetV3-Small at 224x224: from ~0.1x to ~1.2-1.4x the float32 speed at
1 thread here), and the analyzer predicts the whole graph maps on the Edge TPU. tfmot cannot QAT the hard-swish layers (no quantize config for
Rescaling); the minimalistic variant it can. Shrinkable.
"""

from __future__ import annotations

from edgeloop.models._blocks import (
    FeatureSize, activation, check_classes, check_fraction, conv_bn, image_input, inverted_residual, make_divisible,
)
from edgeloop.models.registry import Paper, Reference, register

# (expansion, output channels, kernel, stride, squeeze-excite, activation): Tables 1 and 2.
# "k" is the large kernel (5, or 3 when minimalistic), "hs" hard-swish (ReLU when minimalistic).
_LARGE = (
    (1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
    (3, 40, "k", 2, True, "relu"), (3, 40, "k", 1, True, "relu"), (3, 40, "k", 1, True, "relu"),
    (6, 80, 3, 2, False, "hs"), (2.5, 80, 3, 1, False, "hs"), (2.3, 80, 3, 1, False, "hs"),
    (2.3, 80, 3, 1, False, "hs"), (6, 112, 3, 1, True, "hs"), (6, 112, 3, 1, True, "hs"),
    (6, 160, "k", 2, True, "hs"), (6, 160, "k", 1, True, "hs"), (6, 160, "k", 1, True, "hs"),
)
_SMALL = (
    (1, 16, 3, 2, True, "relu"), (72 / 16, 24, 3, 2, False, "relu"), (88 / 24, 24, 3, 1, False, "relu"),
    (4, 40, "k", 2, True, "hs"), (6, 40, "k", 1, True, "hs"), (6, 40, "k", 1, True, "hs"),
    (3, 48, "k", 1, True, "hs"), (3, 48, "k", 1, True, "hs"), (6, 96, "k", 2, True, "hs"),
    (6, 96, "k", 1, True, "hs"), (6, 96, "k", 1, True, "hs"),
)


def _mobilenet_v3(variant: str, blocks, last_point: int, input_shape, classes, width, dropout, minimalistic):
    from edgeloop._tf import keras

    check_classes(variant, classes)
    dropout = check_fraction(variant, "dropout", dropout)
    act = "relu" if minimalistic else "hard_swish"
    inputs, x = image_input(variant, input_shape)
    size = FeatureSize(input_shape)
    x = conv_bn(x, 16, 3, "stem", stride=size.stride(3), act=act)
    for i, (expansion, channels, kernel, stride, se, block_act) in enumerate(blocks):
        kernel = 3 if kernel == "k" and minimalistic else 5 if kernel == "k" else kernel
        block_act = "relu" if minimalistic else {"hs": "hard_swish"}.get(block_act, block_act)
        stride = size.stride(kernel) if stride == 2 else 1
        x = inverted_residual(x, expansion, kernel, stride, make_divisible(channels * width), f"block{i}",
                              act=block_act, se=se and not minimalistic)
    x = conv_bn(x, make_divisible(x.shape[-1] * 6), 1, "head", act=act)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(make_divisible(last_point * width) if width > 1.0 else last_point, name="head_fc")(x)
    x = activation(x, act, "head_fc")
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="logits")(x), name=variant)


# Op types of the full-int8 file at 8x8x1 (see the module docstring).
_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "HARD_SWISH", "ADD", "MEAN", "MUL", "FULLY_CONNECTED")


def _registered(params: float, macs: float, row: str, application: str):
    """Registration at the paper's ImageNet configuration (Table 3's ``row``), compared with Keras' ``application``."""
    return register(
        reference=Reference((224, 224, 3), 1000),
        paper=Paper(params, macs, f"Howard et al. 2019 (arXiv:1905.02244), Table 3: {row}",
                    keras_application=application, application_options={"include_preprocessing": False}),
        int8_ops=_OPS,
        edgetpu_maps=False,
    )


@_registered(2.5e6, 56e6, "V3-Small 1.0", "MobileNetV3Small")
def mobilenet_v3_small(input_shape, classes, width: float = 1.0, dropout: float = 0.2, minimalistic: bool = False):
    """MobileNetV3-Small: 11 blocks with squeeze-excite and hard-swish (or minimalistic).

    Args:
        input_shape: image shape (height, width, channels); any size from 8x8 up.
        classes: output classes (logits).
        width: α, multiplies the block channels (rounded to multiples of 8).
        dropout: dropout before the classifier.
        minimalistic: 3x3 kernels, ReLU and no squeeze-excite (Edge TPU friendly).
    """
    return _mobilenet_v3("mobilenet_v3_small", _SMALL, 1024, input_shape, classes, width, dropout, minimalistic)


@_registered(5.4e6, 219e6, "V3-Large 1.0", "MobileNetV3Large")
def mobilenet_v3_large(input_shape, classes, width: float = 1.0, dropout: float = 0.2, minimalistic: bool = False):
    """MobileNetV3-Large: 15 blocks with squeeze-excite and hard-swish (or minimalistic).

    Takes the same arguments as :func:`mobilenet_v3_small`.
    """
    return _mobilenet_v3("mobilenet_v3_large", _LARGE, 1280, input_shape, classes, width, dropout, minimalistic)
