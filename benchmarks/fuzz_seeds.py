"""The fuzz harness's seed models: tiny real Keras models converted by edgeloop.

    python -m benchmarks.fuzz_seeds FOLDER

Writes ``int8.tflite`` (conv, pool, dense; int8 I/O), ``float32.tflite`` (the same,
float), ``float_io.tflite`` (int8 inside, float I/O), ``leaky.tflite`` (LEAKY_RELU),
``resize.tflite`` (UpSampling2D: RESIZE_NEAREST_NEIGHBOR) and ``while.tflite`` (a WHILE
loop: three subgraphs). Run in its own process: it imports TensorFlow.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def _tiny(layers, name):
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8, 8, 1)), *layers], name=name)


def build(folder: Path) -> list[Path]:
    """Convert the seed models into ``folder``; their paths."""
    from edgeloop._tf import keras, tf
    from edgeloop.converters.tflite import convert

    rep = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")
    L = keras.layers
    cnn = _tiny([L.Conv2D(4, 3, padding="same", activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(10)], "cnn")
    leaky = _tiny([L.Conv2D(4, 3, padding="same"), L.LeakyReLU(0.2), L.Flatten(), L.Dense(10)], "leaky")
    resize = _tiny([L.Conv2D(4, 3, padding="same"), L.UpSampling2D(2), L.Conv2D(2, 3), L.Flatten(), L.Dense(3)], "resize")
    blobs = {
        "int8": convert(cnn, "int8", rep),
        "float32": convert(cnn, "float32"),
        "float_io": convert(cnn, "int8", rep, io_type="float32"),
        "leaky": convert(leaky, "int8", rep),
        "resize": convert(resize, "int8", rep),
    }

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def loop(x):
        return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), [tf.constant(0), x])[1]

    blobs["while"] = tf.lite.TFLiteConverter.from_concrete_functions([loop.get_concrete_function()], loop).convert()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, blob in blobs.items():
        paths.append(folder / f"{name}.tflite")
        paths[-1].write_bytes(blob)
    return paths


if __name__ == "__main__":
    for path in build(Path(sys.argv[1])):
        print(path)
