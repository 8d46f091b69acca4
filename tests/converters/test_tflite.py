"""Conversion in every mode, read back from the file it produced."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import tiny_cnn
from edgeloop.converters import read_model, verify, weight_sparsity
from edgeloop.converters.tflite import convert
from edgeloop.errors import EdgeloopError

REP = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")


def weights(info):
    """The conv / FC weight tensors of a parsed model, in op order."""
    return [info.tensors[op.inputs[1]] for op in info.ops if op.name in ("CONV_2D", "FULLY_CONNECTED")]


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


@pytest.mark.parametrize("io_type", ["int8", "uint8"])
def test_full_int8_has_integer_io_and_compute_and_batch_one(model, io_type):
    info = read_model(convert(model, "int8", REP, io_type=io_type))
    assert {info.tensors[i].dtype for i in (*info.inputs, *info.outputs)} == {io_type}
    assert info.tensors[info.inputs[0]].shape_signature == (1, 8, 8, 1)
    assert all(c.passed for c in verify(info, "int8", io_type)), verify(info, "int8", io_type)
    assert {t.dtype for t in weights(info)} == {"int8"}


def test_the_batch_fix_matters(model):
    from edgeloop._tf import tf

    plain = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    assert read_model(plain).tensors[read_model(plain).inputs[0]].shape_signature[0] == -1
    fixed = read_model(convert(model, "float32"))
    assert all(-1 not in t.shape_signature for t in fixed.tensors)


def test_float_io_int8_inside(model):
    info = read_model(convert(model, "int8", REP, io_type="float32"))
    assert info.tensors[info.inputs[0]].dtype == "float32"
    assert [op.name for op in info.ops][0] == "QUANTIZE" and [op.name for op in info.ops][-1] == "DEQUANTIZE"
    assert all(c.passed for c in verify(info, "int8", "float32"))


@pytest.mark.parametrize("mode, weight_dtype", [("dynamic", "int8"), ("float16", "float16"), ("float32", "float32")])
def test_other_modes_store_weights_as_expected(model, mode, weight_dtype):
    info = read_model(convert(model, mode))
    stored = {t.dtype for t in info.tensors if t.is_constant and len(t.shape) >= 2}
    assert weight_dtype in stored
    assert info.tensors[info.inputs[0]].dtype == "float32"
    assert all(c.passed for c in verify(info, mode, "float32"))


def test_per_channel_flag_changes_the_weight_scales(model):
    per_channel = weights(read_model(convert(model, "int8", REP)))[0]
    per_tensor = weights(read_model(convert(model, "int8", REP, per_channel=False)))[0]
    assert len(per_channel.scales) == 8 and len(per_tensor.scales) == 1


def test_qat_model_converts_to_full_int8():
    from edgeloop._tf import tfmot

    qmodel = tfmot.quantization.keras.quantize_model(tiny_cnn())
    info = read_model(convert(qmodel, "int8", REP))
    assert all(c.passed for c in verify(info, "int8", "int8"))


def test_zeroed_weights_are_read_back_as_sparsity(model):
    from edgeloop._tf import keras

    keras.utils.set_random_seed(1)
    pruned = tiny_cnn()
    rng = np.random.default_rng(1)
    new = []
    for w in model.get_weights():
        w = w.copy()
        if w.ndim >= 2:
            w[rng.random(w.shape) < 0.7] = 0.0
        new.append(w)
    pruned.set_weights(new)
    expected = [float(np.mean(w == 0)) for w in new if w.ndim >= 2]
    as_float = list(weight_sparsity(read_model(convert(pruned, "float32"))).values())
    np.testing.assert_allclose(as_float, expected, rtol=0, atol=1e-12)
    # int8 also rounds weights smaller than half a quantization step to zero: never fewer zeros.
    as_int8 = np.array(list(weight_sparsity(read_model(convert(pruned, "int8", REP))).values()))
    assert len(as_int8) == 3
    assert np.all(as_int8 >= np.array(expected)) and np.all(as_int8 - expected < 0.02)


def test_bad_arguments_are_clear_errors(model):
    with pytest.raises(EdgeloopError, match="needs representative samples"):
        convert(model, "int8")
    with pytest.raises(EdgeloopError, match="unknown conversion mode"):
        convert(model, "int4")
    with pytest.raises(EdgeloopError, match="float16 models take float32 input/output, not .uint8."):
        convert(model, "float16", io_type="uint8")
    with pytest.raises(EdgeloopError, match=r"calibration samples have shape \(4, 4, 1\)"):
        convert(model, "int8", np.zeros((2, 4, 4, 1), "float32"))


def test_calibration_reports_progress_per_sample(model):
    seen = []
    convert(model, "int8", REP, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (1, len(REP)) and seen[-1] == (len(REP), len(REP))


def test_int16x8_has_int16_activations_and_int8_weights(model):
    info = read_model(convert(model, "int16x8", REP))
    assert info.tensors[info.inputs[0]].dtype == "int16" and info.tensors[info.outputs[0]].dtype == "int16"
    assert {t.dtype for t in weights(info)} == {"int8"}
    activations = {info.tensors[o].dtype for op in info.ops for o in op.outputs}
    assert activations == {"int16"}
    checks = {c.name: c.passed for c in verify(info, "int16x8", "int16")}
    assert checks == {"static_shapes": True, "io_types": True, "int16x8_compute": True, "op_list": True}


@pytest.mark.parametrize("kind", ["tiny", "qat", "squeezenet1_1"])
def test_converting_through_the_variables_alone_gives_the_same_file(kind, digits, monkeypatch):
    """The converter gets a bare holder of the model's variables, not the Keras model (whose
    SavedModel export traces every layer first): the bytes must be exactly what the Keras
    model itself gives."""
    from edgeloop._tf import tfmot
    from edgeloop.converters import tflite
    from edgeloop.models import create

    if kind == "tiny":
        model = tiny_cnn()
    elif kind == "qat":
        model = tfmot.quantization.keras.quantize_model(tiny_cnn())
    else:
        model = create(kind, input_shape=(8, 8, 1), classes=10, width=0.5)
    fast = tflite.convert(model, "int8", digits.representative(4))
    monkeypatch.setattr(tflite, "variables_holder", lambda m: m)
    assert fast == tflite.convert(model, "int8", digits.representative(4))
