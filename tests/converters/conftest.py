"""Converted ``.tflite`` files of purpose-built tiny models, made once per test session."""

from __future__ import annotations

import numpy as np
import pytest

from edgetpu_models import REP, dynamic_batch_int8, leaky_cnn, wide_mlp
from helpers import tiny_cnn


@pytest.fixture(scope="session")
def tflite_files(tmp_path_factory):
    """name -> path of a converted file: the models the Edge TPU tests read."""
    from edgeloop.converters.tflite import convert

    folder = tmp_path_factory.mktemp("edgetpu_models")
    tiny, leaky = tiny_cnn(), leaky_cnn()
    blobs = {
        "mappable": convert(tiny, "int8", REP),                      # every op maps
        "leaky": convert(leaky, "int8", REP),                        # LEAKY_RELU in the middle
        "float": convert(tiny, "float32"),                           # not quantized
        "float_io": convert(tiny, "int8", REP, io_type="float32"),   # int8 inside, float at the edges
        "dynamic": dynamic_batch_int8(tiny),                         # batch -1
        "wide": convert(wide_mlp(), "int8", np.random.default_rng(0).random((4, 64)).astype("float32")),
    }
    paths = {}
    for name, blob in blobs.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(blob)
    return paths
