"""Models with several inputs and outputs, and models known only by a signature, through every PTQ mode."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.converters import enforce, verify
from edgeloop.errors import EdgeloopError


@pytest.fixture(scope="module")
def multi(anywhere):
    """The two-input, two-output model and its data bound by x0 / x1."""
    from edgeloop.data import load_data
    from edgeloop.models import load_model
    from edgeloop.models.io import check_model_data

    model = load_model(anywhere / "multi.keras")
    data = load_data(anywhere / "multi_x0x1.npz")
    check_model_data(data, model)
    return model, data


def test_x0_x1_bind_to_the_models_inputs_by_position(multi):
    model, data = multi
    assert data.input_names == ["image", "meta"]
    assert data.x_train["image"].shape[1:] == (8, 8, 1) and data.x_train["meta"].shape[1:] == (4,)
    assert data.split_info()["inputs"] == {"x0": [8, 8, 1], "x1": [4]}  # the file's names: a resume compares them


def test_int8_keeps_inputs_and_outputs_in_the_models_order_and_scores_each_output(multi):
    from edgeloop.converters.tflite import convert
    from edgeloop.device.interpreter import TFLiteModel

    model, data = multi
    blob = convert(model, "int8", data.representative(100))
    enforce(verify(blob, mode="int8", io_type="int8"))
    tfl = TFLiteModel(blob)
    assert tfl.input_names == ["image", "meta"] and tfl.output_names == ["cls", "reg"]
    assert [tuple(d["shape"]) for d in tfl.input_details] == [(1, 8, 8, 1), (1, 4)]
    keras_cls, keras_reg = model.predict(data.x_val, verbose=0)
    int8_cls = tfl.predict(data.x_val)  # the first output
    keras_acc = np.mean(keras_cls.argmax(-1) == data.y_val)
    assert keras_acc > 0.8 and np.mean(int8_cls.argmax(-1) == data.y_val) >= keras_acc - 0.02
    np.testing.assert_allclose(tfl.predict(data.x_val, output="reg"), keras_reg, atol=0.1)
    with pytest.raises(EdgeloopError, match="no output 'nope'; its outputs: cls, reg"):
        tfl.predict(data.x_val, output="nope")


def test_calibration_samples_are_checked_per_input(multi):
    from edgeloop.converters.tflite import convert

    model, data = multi
    rep = data.representative(10)
    with pytest.raises(EdgeloopError, match="no array for input.*meta"):
        convert(model, "int8", {"image": rep["image"]})
    with pytest.raises(EdgeloopError, match="input meta have shape \\(5,\\), the model takes \\(4,\\)"):
        convert(model, "int8", {"image": rep["image"], "meta": np.zeros((10, 5), np.float32)})


def test_named_arrays_bind_by_name_and_wrong_names_are_one_line(anywhere):
    from edgeloop.data import load_data
    from edgeloop.models import load_model
    from edgeloop.models.io import check_model_data

    model = load_model(anywhere / "multi.keras")
    data = load_data(anywhere / "multi.npz")
    check_model_data(data, model)
    assert data.input_names == ["image", "meta"]
    with pytest.raises(EdgeloopError, match=r"no array for input\(s\) image \(it has picture\)"):
        check_model_data(load_data(anywhere / "multi_wrong_names.npz"), model)
    with pytest.raises(EdgeloopError, match="no output 'nope'"):
        check_model_data(load_data(anywhere / "multi.npz"), model, output="nope")


@pytest.mark.parametrize("mode, io_type", [("int16x8", "int16"), ("dynamic", "float32"), ("float16", "float32")])
def test_a_signature_model_takes_every_ptq_mode(anywhere, digits, mode, io_type):
    from edgeloop.converters.tflite import convert
    from edgeloop.models.loading import load_any_model

    model = load_any_model(anywhere / "subclassed")
    blob = convert(model, mode, digits.representative(20) if mode == "int16x8" else None)
    enforce(verify(blob, mode=mode, io_type=io_type))
