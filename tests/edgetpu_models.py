"""Purpose-built tiny Keras models for the Edge TPU analyzer, compiler and fix-it tests."""

from __future__ import annotations

import numpy as np

# Calibration samples for the 8x8x1 models (random, seeded: calibration only needs ranges).
REP = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")


def leaky_cnn(seed: int = 0):
    """conv -> LeakyReLU (no Edge TPU kernel) -> conv -> flatten -> dense: the cut is at `leaky`."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, padding="same", name="conv"),
        keras.layers.LeakyReLU(0.2, name="leaky"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, name="out"),
    ], name="leaky_cnn")


def wide_mlp(seed: int = 0):
    """64 -> 3000 -> 3000 -> 10: about 8.8 MiB of int8 weights, over the 8 MiB cache."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(3000, activation="relu", name="wide"),
        keras.layers.Dense(3000, activation="relu", name="wide2"),
        keras.layers.Dense(10, name="out"),
    ], name="wide_mlp")


def dynamic_batch_int8(model) -> bytes:
    """Full int8 the plain way (``from_keras_model``), which keeps Keras' dynamic batch (-1)."""
    import warnings

    from edgeloop._quiet import native_stderr_silenced
    from edgeloop._tf import tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in REP)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with native_stderr_silenced(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Statistics for quantized inputs were expected": not needed here
        return bytes(converter.convert())
