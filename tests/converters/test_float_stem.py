"""A float stem: the convolution reading a 1-3 channel input stays float, everything after it int8."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.converters import read_model
from edgeloop.converters.float_stem import convert_float_stem, stem_tensor
from edgeloop.converters.selective import float_ops_check
from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.convert import ConvertOptions
from edgeloop.pipeline.options import parse_options


def test_stem_convolution_is_float_and_the_rest_int8(make_tiny_cnn):
    model = make_tiny_cnn()
    samples = np.random.default_rng(0).random((8, *model.inputs[0].shape[1:]), dtype=np.float32)
    stem = stem_tensor(model)
    assert stem is not None
    info = read_model(convert_float_stem(model, samples))
    first, after = info.ops[0], info.ops[1]
    assert first.name == "CONV_2D" and info.tensors[first.outputs[0]].dtype == "float32"
    assert after.name == "QUANTIZE" and info.tensors[after.outputs[0]].dtype == "int8"
    assert float_ops_check(info, [stem]).passed


def test_a_many_channel_input_has_no_float_stem():
    from edgeloop._tf import keras

    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    assert stem_tensor(model) is None
    with pytest.raises(EdgeloopError, match="float_stem needs"):
        convert_float_stem(model, np.zeros((2, 8, 8, 4), np.float32))


def test_float_stem_option_needs_int8_with_float_io():
    assert parse_options(ConvertOptions, {"float_stem": True}, "convert").io_type == "float32"
    with pytest.raises(EdgeloopError, match="float_stem needs"):
        parse_options(ConvertOptions, {"float_stem": True, "io_type": "int8"}, "convert")
    with pytest.raises(EdgeloopError, match="float_stem needs"):
        parse_options(ConvertOptions, {"float_stem": True, "mode": "dynamic"}, "convert")
