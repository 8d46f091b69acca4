"""A full-integer conversion that fails still leaves a file to look at, and says which op and why."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.converters import read_model, verify
from edgeloop.converters.rejected import ConversionError, float_ops, keep, refused, rejected_path, rejection
from edgeloop.errors import VerificationError

REP = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")


def _with(layer):
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = layer(keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp))
    return keras.Model(inp, keras.layers.Dense(10, name="logits")(keras.layers.Flatten(name="flatten")(h)))


def test_a_float_op_is_named_with_its_layer_and_the_ways_out(tmp_path):
    from edgeloop._tf import keras
    from edgeloop.converters.tflite import convert

    blob = convert(_with(keras.layers.ELU(name="elu")), "int8", REP)
    info = read_model(blob)
    checks = verify(info, mode="int8", io_type="int8")
    assert [(op.name, op.layer) for op in float_ops(info)] == [("ELU", "elu")]
    assert {c.name for c in checks if not c.passed} == {"int8_compute"}  # what `inspect` shows of the file

    path = rejected_path(tmp_path / "m.tflite")
    assert path.name == "m.rejected.tflite"
    error = rejection(info, checks, "int8", keep(blob, path))
    assert isinstance(error, VerificationError) and path.read_bytes() == blob
    message = str(error)
    assert message.startswith("int8 conversion left 1 op(s) in float: ELU (op ") and "Keras layer elu" in message
    assert "keep_float" in message and "int16x8" in message and "replace the layer" in message

    path.write_bytes(b"kept")
    assert "left as it is" in keep(blob, path) and path.read_bytes() == b"kept"
    assert "kept as" in keep(blob, path, force=True) and path.read_bytes() == blob


def test_an_op_tflite_lacks_leaves_a_float_file_with_it_as_a_tensorflow_op(tmp_path):
    from edgeloop._tf import keras, tf
    from edgeloop.converters.tflite import convert

    with pytest.raises(ConversionError) as caught:
        convert(_with(keras.layers.Lambda(tf.math.erf, name="erf")), "int8", REP)
    assert caught.value.rejected is not None
    ops = [(op.name, op.layer) for op in read_model(caught.value.rejected).ops]
    assert ("FlexErf", "erf") in ops
    message = str(refused(caught.value, "int8", keep(caught.value.rejected, tmp_path / "m.rejected.tflite")))
    assert "TFLite has no op for Erf (op " in message and "Keras layer erf" in message
    assert (tmp_path / "m.rejected.tflite").exists()


def test_the_convert_step_keeps_the_rejected_file_in_the_run_folder(ctx):
    from edgeloop._tf import keras
    from edgeloop.pipeline import build_step

    step = build_step("convert", {"calibration_samples": 20, "baseline": False}, "test")
    with pytest.raises(VerificationError, match=r"ELU \(op .*Keras layer elu.*model\.rejected\.tflite"):
        step.apply(_with(keras.layers.ELU(name="elu")), ctx)
    assert (ctx.run_dir / "model.rejected.tflite").exists() and not (ctx.run_dir / "model.tflite").exists()
    assert ctx.result["rejected_file"] == "model.rejected.tflite"
