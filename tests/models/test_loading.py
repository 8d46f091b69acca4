"""Models in: .keras, .h5, SavedModel, zoo names; Keras 3 refused with the fix."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.models import create, list_models, load_model, save_model


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel"])
def test_round_trip_keeps_weights(tmp_path, make_tiny_cnn, fmt):
    model = make_tiny_cnn()
    path = tmp_path / ("m.keras" if fmt == "keras" else "m.h5" if fmt == "h5" else "sm")
    save_model(model, path)
    loaded = load_model(path)
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_keras3_model_is_refused_with_the_fix(tmp_path):
    import os

    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import keras  # Keras 3, as a user's own code would import it

    k3 = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    k3.save(tmp_path / "k3.keras")
    with pytest.raises(EdgeloopError, match="Keras 3 model.*tf_keras"):
        load_model(tmp_path / "k3.keras")

    from edgeloop._tf import require_legacy_keras

    with pytest.raises(EdgeloopError, match="import tf_keras as keras"):
        require_legacy_keras(k3)


def test_zoo_names_and_options():
    assert "digits_cnn" in list_models()
    full = create("digits_cnn", input_shape=(8, 8, 1), classes=10)
    half = load_model("zoo:digits_cnn?width=0.5", input_shape=(8, 8, 1), classes=4)
    assert half.output_shape == (None, 4)
    assert half.count_params() < full.count_params() / 2
    with pytest.raises(EdgeloopError, match="unknown model 'nope'; the zoo has: .*digits_cnn"):
        create("nope", input_shape=(8, 8, 1), classes=10)
    with pytest.raises(EdgeloopError, match=r"model digits_cnn has no option depth; its options: width \(default 1.0\)"):
        load_model("zoo:digits_cnn?depth=3", input_shape=(8, 8, 1), classes=10)


def test_missing_corrupt_and_unsupported_files(tmp_path):
    with pytest.raises(EdgeloopError, match="model not found"):
        load_model(tmp_path / "nope.keras")
    (tmp_path / "bad.keras").write_bytes(b"garbage")
    with pytest.raises(EdgeloopError, match="cannot read model"):
        load_model(tmp_path / "bad.keras")
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(EdgeloopError, match="unsupported model file"):
        load_model(tmp_path / "m.onnx")
    (tmp_path / "folder").mkdir()
    with pytest.raises(EdgeloopError, match="not a SavedModel"):
        load_model(tmp_path / "folder")


@pytest.mark.parametrize("scheme", ["default", "prune_preserve", "cluster_preserve", "prune_cluster_preserve"])
def test_qat_models_of_every_scheme_save_and_load_back(tmp_path, make_tiny_cnn, scheme):
    from edgeloop._tf import tfmot
    from edgeloop.models import model_suffix

    model = make_tiny_cnn()
    model.set_weights([w * (np.arange(w.size).reshape(w.shape) % 2) if w.ndim >= 2 else w for w in model.get_weights()])
    clustering = tfmot.clustering.keras
    model = clustering.strip_clustering(clustering.cluster_weights(model, number_of_clusters=4, preserve_sparsity=True))
    combine, quantize = tfmot.experimental.combine, tfmot.quantization.keras
    schemes = {
        "default": quantize.default_8bit.Default8BitQuantizeScheme,
        "prune_preserve": combine.Default8BitPrunePreserveQuantizeScheme,
        "cluster_preserve": lambda: combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=False),
        "prune_cluster_preserve": lambda: combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True),
    }
    qmodel = quantize.quantize_apply(quantize.quantize_annotate_model(model), schemes[scheme]())
    path = save_model(qmodel, tmp_path / f"q{model_suffix(qmodel)}")
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), qmodel.predict(x, verbose=0), atol=1e-6)
