"""QAT where plain tfmot fails: the mis-wired separable split, layers tfmot has no config
for, slices, skipped layers, and a layer that still fails named in one line."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline.qat_plan import EDGELOOP, FLOAT, PASS_THROUGH, plan, quantize
from helpers import mini_xception


def _int8_ok(qmodel, shape):
    from edgeloop.converters import read_model, verify
    from edgeloop.converters.tflite import convert

    info = read_model(convert(qmodel, "int8", np.random.default_rng(0).random((4, *shape), dtype=np.float32)))
    return [c for c in verify(info, "int8", "int8") if not c.passed]


def test_the_residual_mini_xception_that_breaks_plain_tfmot_quantizes(tmp_path):
    # Loaded in a fresh name scope (as from a file in a new process), the model's layer
    # names are the ones tfmot's separable split gives its new layers: plain tfmot mis-wires it.
    from edgeloop._tf import keras, tfmot
    from edgeloop.models import load_model

    mini_xception().save(tmp_path / "x.h5")
    keras.backend.clear_session()
    model = load_model(tmp_path / "x.h5")
    # Plain tfmot mis-wires it when its split's names come from a fresh name counter; after
    # other tests in the same process the counter may have moved on and it may not fail here,
    # so its failure is checked only where it happens (the point is edgeloop's own path below).
    try:
        tfmot.quantization.keras.quantize_model(model)
    except ValueError as exc:
        assert "incompatible shapes" in str(exc)
    qmodel, decisions = quantize(model)
    names = {layer.name for layer in qmodel.layers}
    assert {"quant_separable_conv2d", "quant_separable_conv2d_depthwise"} <= names
    assert not _int8_ok(qmodel, (16, 16, 3))


def _model(make, shape):
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    i = keras.Input(shape)
    return keras.Model(i, keras.layers.Dense(3, name="head")(keras.layers.Flatten()(make(i))))


def _cases():
    from edgeloop._tf import keras

    L = keras.layers
    return {
        "Conv1D": (lambda x: L.Conv1D(4, 3, activation="relu", name="l")(x), (8, 2), EDGELOOP),
        "SeparableConv1D": (lambda x: L.SeparableConv1D(4, 3, name="l")(x), (8, 2), EDGELOOP),
        "LayerNormalization": (lambda x: L.LayerNormalization(name="l")(L.Dense(4)(x)), (6,), EDGELOOP),
        "PReLU": (lambda x: L.PReLU(name="l")(L.Conv2D(4, 3)(x)), (6, 6, 2), EDGELOOP),
        "slice": (lambda x: L.Conv2D(6, 1)(x)[..., :3], (6, 6, 2), PASS_THROUGH),
        # Batch norm tfmot cannot fold: after a conv with its own activation, or a conv read twice (DenseNet).
        "BN after ReLU conv": (lambda x: L.BatchNormalization(name="l")(L.Conv2D(4, 3, activation="relu")(x)),
                               (6, 6, 2), EDGELOOP),
        "BN after shared conv": (lambda x: (lambda c: L.Concatenate()([c, L.BatchNormalization(name="l")(c)]))(
            L.Conv2D(4, 3)(x)), (6, 6, 2), EDGELOOP),
    }


@pytest.mark.parametrize("case, scheme", [
    # The sparsity-preserving registry is the stricter one (it claims, then fails on, what it lacks).
    *[(case, "prune_preserve") for case in ("Conv1D", "SeparableConv1D", "LayerNormalization", "PReLU", "slice",
                                            "BN after ReLU conv", "BN after shared conv")],
    ("Conv1D", "default"), ("slice", "default"),
])
def test_layers_tfmot_refuses_get_edgeloop_configs_and_convert_to_full_int8(case, scheme):
    make, shape, how = _cases()[case]
    model = _model(make, shape)
    target = "l" if case != "slice" else next(layer.name for layer in model.layers if "getitem" in layer.name)
    assert {d.layer: d.how for d in plan(model, scheme=scheme)}[target] == how
    qmodel, _ = quantize(model, scheme=scheme, pruned={"l"})
    assert not _int8_ok(qmodel, shape)


def test_a_layer_without_any_config_is_named_and_skip_leaves_it_float():
    from edgeloop._tf import keras

    model = _model(lambda x: keras.layers.LSTM(4, name="lstm")(x), (5, 3))
    with pytest.raises(EdgeloopError, match=r"layer lstm \(LSTM\).*qat: \{skip: \[lstm\]\}"):
        quantize(model)
    qmodel, decisions = quantize(model, skip=["lstm"])
    assert {d.layer: d.how for d in decisions}["lstm"] == FLOAT
    assert "lstm" in {layer.name for layer in qmodel.layers}  # unwrapped
    assert not _int8_ok(qmodel, (5, 3))


def _scale_layer():
    from edgeloop._tf import keras

    @keras.utils.register_keras_serializable(package="edgeloop_tests")
    class Scale(keras.layers.Layer):
        """Multiplies by a factor given at call time (a keyword argument)."""

        def call(self, inputs, factor=None):
            return inputs * factor

    return Scale


def test_a_layer_that_breaks_inside_tfmot_is_found_by_bisection():
    # A weightless layer gets an output-only config; tfmot's wrapper then calls it without
    # its keyword argument, and quantize_apply fails deep inside, naming no layer.
    from edgeloop._tf import keras

    i = keras.Input((6,))
    x = keras.layers.Dense(4, name="d1")(i)
    x = _scale_layer()(name="scale")(x, factor=2.0)
    model = keras.Model(i, keras.layers.Dense(3, name="d2")(keras.layers.Dense(4, name="d3")(x)))
    with pytest.raises(EdgeloopError, match=r"cannot quantize layer scale \(Scale\).*skip: \[scale\]"):
        quantize(model)


def test_a_custom_layer_keras_cannot_rebuild_is_named():
    from edgeloop._tf import keras

    class Unregistered(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    i = keras.Input((6,))
    model = keras.Model(i, keras.layers.Dense(3)(Unregistered(name="double")(keras.layers.Dense(4)(i))))
    with pytest.raises(EdgeloopError, match=r"custom layers: double \(Unregistered\).*register"):
        quantize(model)


def test_a_conv_read_by_a_relu_layer_keeps_its_quantized_weights_and_its_zeros():
    # tfmot's Add -> ReLU transform also matched Conv2D -> ReLU and dropped the conv's config:
    # no fake-quantized weights, no sparsity mask (a MobileNetV3 squeeze-excite conv lost its zeros).
    from edgeloop._tf import keras
    from edgeloop.pipeline._sparsity import kernel_sparsity

    keras.utils.set_random_seed(0)
    i = keras.Input((4, 4, 8))
    x = keras.layers.ReLU(name="relu")(keras.layers.Conv2D(8, 1, name="conv")(i))
    model = keras.Model(i, keras.layers.Dense(3, name="out")(keras.layers.Flatten()(x)))
    kernel, bias = model.get_layer("conv").get_weights()
    kernel.reshape(-1)[: kernel.size // 2] = 0.0
    model.get_layer("conv").set_weights([kernel, bias])
    qmodel, _ = quantize(model, scheme="prune_preserve", pruned={"conv"})
    config = qmodel.get_layer("quant_conv").quantize_config
    assert type(config.weight_quantizer).__name__ == "PrunePreserveDefault8BitConvWeightsQuantizer"
    qmodel.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    qmodel.fit(rng.random((64, 4, 4, 8)), rng.integers(0, 3, 64), epochs=2, verbose=0)
    assert kernel_sparsity(qmodel)["conv"] == 0.5
    assert not _int8_ok(qmodel, (4, 4, 8))
