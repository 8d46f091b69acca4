"""Models from anywhere, loaded in this process: subclassed, Keras 3, any SavedModel, custom layers."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.models import load_model
from edgeloop.models.loading import load_any_model
from edgeloop.models.signature import SignatureModel


def _int8_accuracy(model, digits) -> tuple[float, float]:
    """(float accuracy, accuracy of the verified int8 file) on the validation split."""
    from edgeloop.converters import enforce, verify
    from edgeloop.converters.tflite import convert
    from edgeloop.device.interpreter import TFLiteModel

    blob = convert(model, "int8", digits.representative(100))
    enforce(verify(blob, mode="int8", io_type="int8"))
    float_acc = float(np.mean(model.predict(digits.x_val).argmax(-1) == digits.y_val))
    int8_acc = float(np.mean(TFLiteModel(blob).predict(digits.x_val).argmax(-1) == digits.y_val))
    return float_acc, int8_acc


def test_subclassed_savedmodel_converts_from_its_serving_signature(anywhere, digits):
    model = load_any_model(anywhere / "subclassed")
    assert isinstance(model, SignatureModel) and model.kind == "subclassed"
    assert model.input_shape == (None, 8, 8, 1) and model.count_params() > 0
    float_acc, int8_acc = _int8_accuracy(model, digits)
    assert float_acc > 0.8 and int8_acc >= float_acc - 0.02


@pytest.mark.slow
def test_keras3_h5_goes_through_a_keras3_child_and_equals_its_own_export(anywhere, digits):
    model = load_any_model(anywhere / "k3.h5")
    assert isinstance(model, SignatureModel) and model.kind == "keras3"
    assert model.input_names == ["image"] and model.output_names == ["logits"]
    exported = load_any_model(anywhere / "k3_export")  # Keras 3's own model.export(), no child
    assert isinstance(exported, SignatureModel) and exported.kind == "savedmodel"
    x = digits.x_val[:50]
    np.testing.assert_allclose(model.predict(x), exported.predict(x), rtol=1e-5, atol=1e-5)
    float_acc, int8_acc = _int8_accuracy(model, digits)
    assert float_acc > 0.8 and int8_acc >= float_acc - 0.02


def test_the_keras_only_loader_refuses_what_has_no_layers_with_the_way_out(anywhere):
    with pytest.raises(EdgeloopError, match="Keras 3 model.*import tf_keras as keras"):
        load_model(anywhere / "k3.h5")
    with pytest.raises(EdgeloopError, match="subclassed Keras model: pruning, clustering, QAT"):
        load_model(anywhere / "subclassed")
    with pytest.raises(EdgeloopError, match="SavedModel without a Keras graph"):
        load_model(anywhere / "k3_export")


def test_a_savedmodel_without_a_serving_signature_is_one_clear_error(anywhere):
    with pytest.raises(EdgeloopError, match="has no serving_default signature"):
        load_any_model(anywhere / "no_signature")


def test_custom_layers_register_from_the_users_file(anywhere, tmp_path):
    from edgeloop._tf import keras
    from edgeloop.models.custom_objects import register

    with pytest.raises(EdgeloopError, match="Keras does not know the layer class.*Scale.*--custom-objects"):
        load_model(anywhere / "custom.keras")
    saved = dict(keras.utils.get_custom_objects())
    try:
        assert register(anywhere / "my_layers.py") == ["Scale"]
        model = load_model(anywhere / "custom.keras")
        assert type(model.get_layer("scale")).__name__ == "Scale"
    finally:
        keras.utils.get_custom_objects().clear()
        keras.utils.get_custom_objects().update(saved)


@pytest.mark.slow
def test_a_keras3_custom_layer_without_its_file_is_named_by_the_child(anywhere):
    with pytest.raises(EdgeloopError, match=r"Keras 3 does not know the layer class\(es\) Scale: .*--custom-objects"):
        load_any_model(anywhere / "k3_custom.keras")


@pytest.mark.parametrize("source, fragment", [
    ("x = 1\n", "defines no Keras layer class"),
    ("raise RuntimeError('broken on import')\n", "cannot import custom objects .*RuntimeError: broken on import"),
    ("custom_objects = [1]\n", "must be a dict"),
])
def test_bad_custom_objects_files_are_one_clear_error(tmp_path, source, fragment):
    from edgeloop.models.custom_objects import register

    (tmp_path / "layers.py").write_text(source)
    with pytest.raises(EdgeloopError, match=fragment):
        register(tmp_path / "layers.py")
    with pytest.raises(EdgeloopError, match="custom objects file not found"):
        register(tmp_path / "nope.py")
