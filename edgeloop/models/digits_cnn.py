"""A small CNN sized for 8x8 digits: the built-in default's model."""

from __future__ import annotations

from edgeloop.errors import EdgeloopError
from edgeloop.models._blocks import check_classes, scaled
from edgeloop.models.registry import Reference, register


@register(reference=Reference((8, 8, 1), 10), int8_ops=("CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED"))
def digits_cnn(input_shape: tuple[int, ...] = (8, 8, 1), classes: int = 10, width: float = 1.0):
    """Two 3x3 convolutions, a max-pool and two dense layers (~285 k parameters at width 1).

    The dense layer holds most of the weights on purpose: it is what pruning and int8
    shrink, so the size figures are about weights rather than flatbuffer overhead.
    edgeloop's own demo model: it has no paper, so ``edgeloop models list`` counts it
    without a comparison.

    Args:
        input_shape: one sample's shape (height, width, channels).
        classes: number of output classes (the output is logits).
        width: multiplier on every layer's channel / unit count.
    """
    from edgeloop._tf import keras

    check_classes("digits_cnn", classes)
    if len(input_shape) != 3:  # a Sequential of Conv2D: anything else fails deep inside Keras
        raise EdgeloopError(f"model digits_cnn takes images (height, width, channels); got sample shape {tuple(input_shape)}")
    c = lambda n: scaled(n, width)  # noqa: E731
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(c(32), 3, padding="same", activation="relu", name="conv1"),
            layers.Conv2D(c(64), 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(c(256), activation="relu", name="fc1"),
            layers.Dense(classes, name="logits"),
        ],
        name="digits_cnn",
    )
