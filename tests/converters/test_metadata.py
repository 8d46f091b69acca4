"""What a converted model expects, in the file: written without changing what it computes,
read back, replaced rather than repeated, buffers still 16-byte aligned."""

from __future__ import annotations

import numpy as np

from edgeloop.converters.metadata import NAME, add_metadata, expects, read_metadata


def test_metadata_round_trip_keeps_the_model(digits, make_tiny_cnn):
    from edgeloop.converters import read_model
    from edgeloop.converters.inspect import tflite_schema
    from edgeloop.converters.tflite import convert
    from edgeloop.device.interpreter import TFLiteModel

    blob = convert(make_tiny_cnn(), "int8", digits.representative(20))
    payload = {"preprocess": {"range": [-1.0, 1.0]}, "folded": False, "class_names": ["a", "b"]}
    tagged = add_metadata(blob, payload)
    assert read_metadata(blob) is None and read_metadata(tagged) == payload
    np.testing.assert_array_equal(TFLiteModel(tagged).predict(digits.x_val[:20]), TFLiteModel(blob).predict(digits.x_val[:20]))
    again = add_metadata(tagged, {**payload, "folded": True})
    root = tflite_schema().Model.GetRootAs(again, 0)
    assert [root.Metadata(i).Name().decode() for i in range(root.MetadataLength())].count(NAME) == 1
    assert read_metadata(again)["folded"] is True and len(read_model(again).ops) == len(read_model(blob).ops)
    for i in range(root.BuffersLength()):
        buffer = root.Buffers(i)
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))  # where the bytes start in the file
            assert start % 16 == 0


def test_expects_says_what_to_feed():
    folded = expects({"preprocess": {"range": [-1, 1]}, "folded": True}, "uint8", 1.0, 0)
    assert folded.startswith("raw 0–255 pixels as uint8 (scale 1, zero point 0)")
    assert "pixel - 128" in expects({"preprocess": {"range": [-1, 1]}, "folded": True}, "int8", 1.0, -128)
    plain = expects({"preprocess": {"range": [-1, 1]}, "folded": False}, "int8", 0.00784, -1)
    assert plain == "inputs preprocessed as: pixels 0–255 mapped to [-1, 1], quantized: q = round(x / 0.00784) - 1 (int8)"
    assert expects(None, "float32", None, None) == "float32 the model's inputs"
