"""Tiny models with hard-swish in the spellings edgeloop rewrites (shared by the converter and device tests)."""

from __future__ import annotations

from edgeloop._tf import keras
from edgeloop.models._blocks import activation


def zoo_spelling():
    """Conv -> hard-swish (edgeloop's layers) -> pool -> Dense -> hard-swish on a 2-D tensor -> logits."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    x = activation(x, "hard_swish", "conv")
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(16, name="fc")(x)
    x = activation(x, "hard_swish", "fc")
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))


def applications_spelling():
    """``tf_keras.applications``' MobileNetV3 spelling: x + 3.0, ReLU(6), * (1/6), Multiply."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    gate = keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    x = keras.layers.Multiply()([x, gate])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4)(x))
