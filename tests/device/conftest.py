"""Real .tflite fixtures for the device tests, made once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trained_model_and_files(tmp_path_factory, digits):
    from helpers import tiny_cnn
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    keras.utils.set_random_seed(0)
    model = tiny_cnn()
    model.compile(keras.optimizers.Adam(0.005), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, epochs=3, batch_size=32, verbose=0)
    d = tmp_path_factory.mktemp("tflite")
    files = {}
    for name, mode, io_type in (("int8", "int8", "int8"), ("uint8", "int8", "uint8"), ("float32", "float32", "float32")):
        files[name] = d / f"{name}.tflite"
        files[name].write_bytes(convert(model, mode, digits.representative(100), io_type=io_type))
    return model, files
