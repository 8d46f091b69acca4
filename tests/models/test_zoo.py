"""Every zoo architecture, parametrized over the registry (a model added is a model tested):
built on digits through the recipe path, one distillation training step, converted to full
int8 and verified, run by the interpreter; counted at its reference configuration against
its paper; equal to tf_keras.applications where that has the network."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.models import create, get_spec, list_models, load_model
from edgeloop.models.macs import model_macs
from edgeloop.models.table import trainable_params

# Widths that keep each architecture small on digits (depth is what costs time, not width).
SMALL_WIDTH = {"mobilenet_v2": 0.35, "mobilenet_v3_small": 0.5, "mobilenet_v3_large": 0.5, "efficientnet_lite0": 0.5,
               "shufflenet_v2": 0.5, "squeezenet1_1": 0.5, "fc_autoencoder": 0.5}
# Converting takes 1-2 s for these and 3-25 s for the deeper graphs on a loaded 2-core
# machine; the rest are marked slow, so an architecture added is tested with the slow tests
# until listed here.
QUICK_TO_CONVERT = {"digits_cnn", "ds_cnn", "fc_autoencoder", "resnet8", "squeezenet1_1"}
WITH_PAPER = [n for n in list_models() if get_spec(n).paper is not None]
APPLICATIONS = [n for n in WITH_PAPER if get_spec(n).paper.keras_application]
BIG_REFERENCE = {"densenet121", "resnet50", "resnet18"}  # over 1 s each to build at 224x224


def _marked(names, slow):
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


@pytest.mark.parametrize("name", _marked(list_models(), set(list_models()) - QUICK_TO_CONVERT))
def test_builds_on_digits_trains_as_a_student_and_converts_to_verified_int8(name, digits):
    from edgeloop._tf import keras
    from edgeloop.converters import op_counts, read_model, verify
    from edgeloop.converters.edgetpu.analyzer import analyze
    from edgeloop.converters.tflite import convert
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.pipeline.distill import distillation_loss

    keras.utils.set_random_seed(0)
    width = SMALL_WIDTH.get(name, 0.25)
    model = load_model(f"zoo:{name}?width={width}", input_shape=digits.sample_shape, classes=digits.classes)
    assert model.output_shape == (None, 10) and model.input_shape == (None, 8, 8, 1)
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names) and not any(n.startswith("tf.") for n in names)
    assert model.layers[-1].name == "logits"

    # One optimizer step with the distillation loss the ``distill`` step trains students with.
    x, y = digits.x_train[:16], digits.y_train[:16]
    teacher = np.random.default_rng(0).normal(size=(16, 10)).astype(np.float32)
    model.compile(keras.optimizers.Adam(1e-3), loss=distillation_loss(4.0, 0.5), run_eagerly=True)
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, np.concatenate([y[:, None].astype(np.float32), teacher], axis=1))
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))

    blob = convert(model, "int8", digits.representative(8))
    info = read_model(blob)
    failed = [c for c in verify(info, "int8", "int8") if not c.passed]
    assert not failed, failed
    assert set(op_counts(info)) == get_spec(name).int8_ops  # the op list the module documents
    edgetpu = analyze(info)
    assert edgetpu.fully_mapped == get_spec(name).edgetpu_maps, edgetpu.first_unmapped
    assert list(info.tensors[info.outputs[0]].shape) == [1, 10]
    assert TFLiteModel(blob).predict(digits.x_val[:3]).shape == (3, 10)


@pytest.mark.parametrize("name", _marked(WITH_PAPER, BIG_REFERENCE))
def test_reference_configuration_matches_the_paper_within_2_percent(name):
    spec = get_spec(name)
    model = create(name)  # the reference configuration
    assert model.input_shape[1:] == spec.reference.input_shape
    params, macs = trainable_params(model), model_macs(model)["total"]
    assert abs(params / spec.paper.params - 1) <= 0.02, (params, spec.paper.params)
    assert abs(macs / spec.paper.macs - 1) <= 0.02, (macs, spec.paper.macs)


def _weighted_layers(model) -> collections.Counter:
    """(kind, weight shapes) of every layer with weights; a 1x1 convolution on a 1x1 map is a Dense layer."""
    out = collections.Counter()
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kind, shapes = type(layer).__name__, tuple(w.shape for w in weights)
        if kind == "Conv2D" and layer.output_shape[1:3] == (1, 1) and weights[0].shape[:2] == (1, 1):
            kind, shapes = "Dense", (weights[0].shape[2:], *shapes[1:])
        out[(kind, shapes)] += 1
    return out


@pytest.mark.parametrize("name", _marked(APPLICATIONS, BIG_REFERENCE))
def test_equals_keras_applications_at_the_reference_configuration(name):
    from edgeloop._tf import keras

    spec = get_spec(name)
    ours = create(name)
    app = getattr(keras.applications, spec.paper.keras_application)(
        weights=None, input_shape=spec.reference.input_shape, classes=spec.reference.classes,
        classifier_activation=None, **spec.paper.application_options)
    assert ours.count_params() == app.count_params()
    assert trainable_params(ours) == trainable_params(app)
    assert model_macs(ours)["total"] == model_macs(app)["total"]
    assert _weighted_layers(ours) == _weighted_layers(app)


@pytest.mark.parametrize("size, stages", [
    ((8, 8, 1), (4, 2, 2, 2, 2)), ((32, 32, 3), (16, 8, 4, 2, 2)), ((224, 224, 3), (112, 56, 28, 14, 7)),
])
def test_stride_rule_stops_halving_at_two_pixels(size, stages):
    model = create("mobilenet_v1", input_shape=size, classes=3, width=0.25)
    sides = [model.get_layer(n).output_shape[1] for n in ("stem", "block2_dw", "block4_dw", "block6_dw", "block12_dw")]
    assert tuple(sides) == stages


def test_options_are_checked_and_listed():
    listed = r"model mobilenet_v2 has no option depth; its options: width \(default 1.0\), dropout"
    with pytest.raises(EdgeloopError, match=listed):
        create("mobilenet_v2", input_shape=(8, 8, 1), classes=10, depth=2)
    with pytest.raises(EdgeloopError, match="width must be a positive number"):
        create("resnet18", input_shape=(8, 8, 1), classes=10, width=0)
    with pytest.raises(EdgeloopError, match="takes images"):
        create("mobilenet_v1", input_shape=(64,), classes=10)
    with pytest.raises(EdgeloopError, match="positive class count"):
        create("resnet8", input_shape=(8, 8, 1), classes=0)
    with pytest.raises(EdgeloopError, match="dropout must be in"):
        load_model("zoo:squeezenet1_1?dropout=1.5", input_shape=(8, 8, 1), classes=10)
    with pytest.raises(EdgeloopError, match="key=value"):
        load_model("zoo:resnet8?width", input_shape=(8, 8, 1), classes=10)


def test_width_multiplier_baselines_shrink_in_order():
    counts = [create("mobilenet_v2", input_shape=(8, 8, 1), classes=10, width=w).count_params()
              for w in (1.0, 0.5, 0.35)]
    assert counts == sorted(counts, reverse=True) and counts[-1] < counts[0] / 2


def test_minimalistic_mobilenet_v3_has_no_hard_swish_or_squeeze_excite():
    full = create("mobilenet_v3_small", input_shape=(8, 8, 1), classes=10)
    minimal = load_model("zoo:mobilenet_v3_small?minimalistic=true", input_shape=(8, 8, 1), classes=10)
    assert any("hswish" in layer.name for layer in full.layers) and any("_se_" in layer.name for layer in full.layers)
    assert not any("hswish" in layer.name or "_se_" in layer.name for layer in minimal.layers)


def test_minimalistic_mobilenet_v3_maps_entirely_on_the_edge_tpu(digits):
    from edgeloop.converters import read_model
    from edgeloop.converters.edgetpu.analyzer import analyze
    from edgeloop.converters.tflite import convert

    minimal = load_model("zoo:mobilenet_v3_small?minimalistic=true&width=0.25", input_shape=(8, 8, 1), classes=10)
    assert analyze(read_model(convert(minimal, "int8", digits.representative(8)))).fully_mapped


def test_autoencoder_reconstructs_by_default_and_classifies_when_given_classes():
    recon = create("fc_autoencoder")
    assert recon.input_shape == recon.output_shape == (None, 640)
    image = create("fc_autoencoder", input_shape=(8, 8, 1), classes=None)
    assert image.output_shape == (None, 8, 8, 1)
    classifier = create("fc_autoencoder", input_shape=(8, 8, 1), classes=10)
    assert classifier.output_shape == (None, 10)
    # the classifier keeps the whole reference body: its cost is the autoencoder's plus the head
    body = model_macs(create("fc_autoencoder", input_shape=(64,), classes=None))["total"]
    assert model_macs(classifier)["total"] == body + 64 * 10


def test_a_two_dimensional_sample_gets_a_channel():
    model = create("ds_cnn", input_shape=(49, 10), classes=12)
    assert model.input_shape == (None, 49, 10) and model.get_layer("conv1").input_shape == (None, 49, 10, 1)


@pytest.mark.parametrize("name", ["shufflenet_v2", "mobilenet_v3_small"])
def test_custom_and_rescaling_layers_save_and_load_back(name, tmp_path):
    from edgeloop.models import save_model

    model = create(name, input_shape=(8, 8, 1), classes=10, width=0.5)
    path = save_model(model, tmp_path / f"{name}.keras")
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(load_model(path)(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
