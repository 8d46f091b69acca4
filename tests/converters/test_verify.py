"""Verification catches, on purpose-built bad models, exactly what it is there to catch."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import tiny_cnn
from edgeloop.converters import enforce, read_model, verify
from edgeloop.converters.tflite import convert
from edgeloop.errors import EdgeloopError, VerificationError

REP = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")


def by_name(checks):
    return {c.name: c for c in checks}


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


def test_a_float_op_is_caught_and_named(model):
    # Dynamic-range keeps float activations: every op computes in float.
    checks = by_name(verify(convert(model, "dynamic"), mode="int8", io_type="float32"))
    assert not checks["int8_compute"].passed
    assert "CONV_2D (op 0) uses float32 tensor" in checks["int8_compute"].detail


def test_float_io_is_caught(model):
    checks = by_name(verify(convert(model, "int8", REP, io_type="float32"), mode="int8", io_type="int8"))
    assert not checks["io_types"].passed
    assert "expected int8 I/O: input" in checks["io_types"].detail and "is float32" in checks["io_types"].detail
    assert checks["int8_compute"].passed  # QUANTIZE / DEQUANTIZE at the edges are allowed


def test_a_dynamic_batch_dimension_is_caught(model):
    from edgeloop._tf import tf

    checks = by_name(verify(tf.lite.TFLiteConverter.from_keras_model(model).convert(), mode="float32", io_type="float32"))
    assert not checks["static_shapes"].passed
    assert "dynamic dimension (-1) in" in checks["static_shapes"].detail and "[-1, 8, 8, 1]" in checks["static_shapes"].detail


def test_enforce_names_every_failed_check(model):
    checks = verify(convert(model, "float32"), mode="int8", io_type="int8")
    with pytest.raises(VerificationError) as exc:
        enforce(checks)
    assert "io_types:" in str(exc.value) and "int8_compute:" in str(exc.value)
    enforce(verify(convert(model, "int8", REP)))  # a good model passes


def test_garbage_is_not_a_model(tmp_path):
    with pytest.raises(EdgeloopError, match="not a TFLite model"):
        read_model(b"\x00" * 100)
    with pytest.raises(EdgeloopError, match="model not found"):
        read_model(tmp_path / "missing.tflite")
    good = convert(tiny_cnn(), "float32")
    with pytest.raises(EdgeloopError, match="corrupt TFLite model"):
        read_model(good[:200])
