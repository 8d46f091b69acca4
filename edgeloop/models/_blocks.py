"""Building blocks the zoo's architectures share: layers with readable names, width rounding,
and the stride rule that lets ImageNet networks run on 8x8 inputs.

Stride rule (``FeatureSize``): a layer that halves the feature map keeps its stride of 2
only while its output stays at least ``MIN_FEATURE_SIZE`` (2) pixels on each side;
otherwise it runs at stride 1 (a pooling layer that would halve it is left out). At the
papers' input sizes (224x224, 96x96, 32x32 for ResNet-8 …) no layer is affected, so the
reference configurations are exactly the published networks; on digits' 8x8 a MobileNet
keeps two halvings (8 -> 4 -> 2) and runs its later stages at 2x2.
"""

from __future__ import annotations

import math

from edgeloop.errors import EdgeloopError

MIN_FEATURE_SIZE = 2


class FeatureSize:
    """The feature map's height and width as the network is built, deciding each stride.

    Args:
        input_shape: the sample shape ``(height, width, channels)``.
        min_size: the smallest side a halving may leave.
    """

    def __init__(self, input_shape: tuple[int, ...], min_size: int = MIN_FEATURE_SIZE) -> None:
        self.h, self.w = int(input_shape[0]), int(input_shape[1])
        self.min_size = min_size

    def stride(self, kernel: int = 1, padding: str = "same") -> int:
        """2 if a stride-2 layer may halve the map here (then the size is updated), else 1.

        Args:
            kernel: the layer's kernel (or pool) size.
            padding: ``same``; ``valid``; or ``ceil`` (valid, rounding up like Caffe's
                pooling, which SqueezeNet was defined with).
        """
        h, w = (_out(n, kernel, padding) for n in (self.h, self.w))
        if min(h, w) < self.min_size:
            return 1
        self.h, self.w = h, w
        return 2


def _out(n: int, kernel: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(n / 2)
    if padding == "valid":
        return (n - kernel) // 2 + 1
    return math.ceil((n - kernel) / 2) + 1


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10 %.

    The rounding MobileNetV2/V3 and EfficientNet use for their width multiplier.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded to the nearest integer, at least 1 (no divisor rule)."""
    return max(1, int(round(channels * width)))


def check_classes(model: str, classes) -> int:
    """The class count a classifier needs: a positive integer."""
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise EdgeloopError(f"model {model} needs a positive class count, got {classes!r}")
    return classes


def image_input(model: str, input_shape: tuple[int, ...]):
    """The model input and the image tensor built on it (a 2-D sample gets one channel).

    Raises:
        EdgeloopError: the sample is not an image (height, width[, channels]).
    """
    from edgeloop._tf import keras

    if len(input_shape) not in (2, 3) or any(not isinstance(d, int) or d < 1 for d in input_shape):
        raise EdgeloopError(
            f"model {model} takes images (height, width, channels); got sample shape {tuple(input_shape)}")
    inputs = keras.Input(shape=input_shape, name="input")
    if len(input_shape) == 2:
        return inputs, keras.layers.Reshape((*input_shape, 1), name="add_channel")(inputs)
    return inputs, inputs


def activation(x, kind: str | None, name: str):
    """Apply ``relu``, ``relu6``, ``sigmoid``, ``swish``, ``hard_swish`` or ``hard_sigmoid`` as named layers.

    Hard-swish is x · relu6(x + 3) / 6 written with Rescaling, ReLU(6) and Multiply, the
    pattern the TFLite converter fuses into one ``HARD_SWISH`` op; unlike Keras
    applications' operator lambdas, its layers keep the same names on every build.
    """
    from edgeloop._tf import keras

    layers = keras.layers
    if kind is None:
        return x
    if kind == "relu":
        return layers.ReLU(name=f"{name}_relu")(x)
    if kind == "relu6":
        return layers.ReLU(6.0, name=f"{name}_relu6")(x)
    if kind == "sigmoid":
        return layers.Activation("sigmoid", name=f"{name}_sigmoid")(x)
    if kind == "swish":  # x · sigmoid(x): LOGISTIC and MUL once converted
        return layers.Multiply(name=f"{name}_swish")([x, layers.Activation("sigmoid", name=f"{name}_sigmoid")(x)])
    gate = layers.Rescaling(1.0, offset=3.0, name=f"{name}_plus3")(x)
    gate = layers.ReLU(6.0, name=f"{name}_relu6")(gate)
    gate = layers.Rescaling(1.0 / 6.0, name=f"{name}_div6")(gate)
    if kind == "hard_sigmoid":
        return gate
    if kind == "hard_swish":
        return layers.Multiply(name=f"{name}_hswish")([x, gate])
    raise ValueError(f"unknown activation {kind!r}")


def batch_norm(x, name: str):
    """BatchNormalization with momentum 0.9.

    The papers' 0.99-0.999 suit ImageNet's hundreds of thousands of steps; on the small data
    sets edgeloop trains on (digits: 45 steps an epoch) the moving statistics would still
    be near their initial values after a few epochs, and the model would score at chance in
    inference mode while training well. Counts and structure do not depend on it.
    """
    from edgeloop._tf import keras

    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3, name=name)(x)


def conv_bn(x, filters: int, kernel, name: str, stride: int = 1, act: str | None = "relu",
            use_bias: bool = False, padding: str = "same"):
    """Conv2D -> BatchNormalization -> activation, named ``{name}``, ``{name}_bn``, ``{name}_<act>``."""
    from edgeloop._tf import keras

    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=use_bias, name=name)(x)
    return activation(batch_norm(x, f"{name}_bn"), act, name)


def dw_bn(x, kernel, name: str, stride: int = 1, act: str | None = "relu", use_bias: bool = False):
    """DepthwiseConv2D -> BatchNormalization -> activation, named ``{name}``, ``{name}_bn``, ``{name}_<act>``."""
    from edgeloop._tf import keras

    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=use_bias, name=name)(x)
    return activation(batch_norm(x, f"{name}_bn"), act, name)


def classifier(x, classes: int, dropout: float = 0.0, name: str = "logits"):
    """Global average pooling, optional dropout, and a Dense layer of logits."""
    from edgeloop._tf import keras

    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(classes, name=name)(x)


def pooled_classifier(x, size: FeatureSize, classes: int):
    """The MLPerf Tiny references' head: average pooling over the whole map, Flatten, Dense logits."""
    from edgeloop._tf import keras

    x = keras.layers.AveragePooling2D((size.h, size.w), name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.layers.Dense(classes, name="logits")(x)


def squeeze_excite(x, channels: int, name: str):
    """Squeeze-excite (MobileNetV3's): global pool, 1x1 reduce to a quarter (ReLU), 1x1 expand,
    hard-sigmoid, and the input scaled by it channel by channel."""
    from edgeloop._tf import keras

    layers = keras.layers
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    s = layers.Conv2D(make_divisible(channels * 0.25), 1, name=f"{name}_se_reduce")(s)
    s = layers.ReLU(name=f"{name}_se_relu")(s)
    s = layers.Conv2D(channels, 1, name=f"{name}_se_expand")(s)
    s = activation(s, "hard_sigmoid", f"{name}_se")
    return layers.Multiply(name=f"{name}_se_scale")([x, s])


def inverted_residual(x, expansion: float, kernel: int, stride: int, filters: int, name: str, act: str = "relu6",
                      se: bool = False):
    """MobileNetV2's inverted residual; EfficientNet's MBConv; with ``se``, MobileNetV3's block.

    1x1 expansion (left out when ``expansion`` is 1), depthwise ``kernel``, squeeze-excite
    on the expanded channels when ``se``, linear 1x1 projection, and a residual Add when
    the shape allows.
    """
    from edgeloop._tf import keras

    shortcut, channels = x, x.shape[-1]
    expanded = make_divisible(channels * expansion)
    if expansion != 1:
        x = conv_bn(x, expanded, 1, f"{name}_expand", act=act)
    x = dw_bn(x, kernel, f"{name}_dw", stride=stride, act=act)
    if se:
        x = squeeze_excite(x, expanded, name)
    x = conv_bn(x, filters, 1, f"{name}_project", act=None)
    if stride == 1 and channels == filters:
        x = keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def check_fraction(model: str, option: str, value) -> float:
    """A dropout-like option: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise EdgeloopError(f"model {model}: {option} must be in [0, 1), got {value!r}")
    return float(value)
