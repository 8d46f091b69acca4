"""Every Keras layer type's weights are read as the layer table says: the kernels pruning
zeroes, in Keras and in the converted file; and prune / cluster work on the layers tfmot
handles while leaving the others alone."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.layer_table import layer_kind
from edgeloop.pipeline._sparsity import kernel_sparsity, kernel_unique_values, prunable_kernels


def _model(make, shape, int_input=False):
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape, dtype="int32" if int_input else "float32")
    x = keras.layers.Flatten()(make(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def _layers():
    from edgeloop._tf import keras

    L = keras.layers
    return {
        "Conv1D": (lambda x: L.Conv1D(4, 3, name="l")(x), (8, 2)),
        "Conv2D": (lambda x: L.Conv2D(4, 3, name="l")(x), (6, 6, 2)),
        "Conv3D": (lambda x: L.Conv3D(4, 2, name="l")(x), (4, 4, 4, 2)),
        "Conv2DTranspose": (lambda x: L.Conv2DTranspose(4, 3, strides=2, name="l")(x), (4, 4, 2)),
        "DepthwiseConv2D": (lambda x: L.DepthwiseConv2D(3, name="l")(x), (6, 6, 2)),
        "SeparableConv1D": (lambda x: L.SeparableConv1D(4, 3, name="l")(x), (8, 2)),
        "SeparableConv2D": (lambda x: L.SeparableConv2D(4, 3, name="l")(x), (6, 6, 2)),
        "Dense": (lambda x: L.Dense(4, name="l")(x), (6,)),
        "Embedding": (lambda x: L.Embedding(20, 4, name="l")(x), (5,)),
        "BatchNormalization": (lambda x: L.BatchNormalization(name="l")(x), (6,)),
        "LayerNormalization": (lambda x: L.LayerNormalization(name="l")(x), (6,)),
        "PReLU": (lambda x: L.PReLU(name="l")(x), (6,)),
        "LSTM": (lambda x: L.LSTM(4, name="l")(x), (5, 3)),
        "GRU": (lambda x: L.GRU(4, name="l")(x), (5, 3)),
    }


@pytest.mark.parametrize("kind", ["Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv1D",
                                  "SeparableConv2D", "Dense", "Embedding", "BatchNormalization", "LayerNormalization",
                                  "PReLU", "LSTM", "GRU"])
def test_sparsity_is_read_from_the_kernels_tfmot_prunes_and_only_those(kind):
    make, shape = _layers()[kind]
    model = _model(make, shape, int_input=kind == "Embedding")
    layer = model.get_layer("l")
    wanted = layer_kind(kind).prunable
    # Zero half of every prunable kernel and all of every other weight: only the first may count.
    values = []
    for variable, value in zip(layer.weights, layer.get_weights()):
        short = variable.name.split("/")[-1].split(":")[0]
        flat = value.copy().reshape(-1)
        if short in wanted:
            flat[: flat.size // 2] = 0.0
        else:
            flat[:] = 0.0
        values.append(flat.reshape(value.shape))
    layer.set_weights(values)
    assert sorted(prunable_kernels(layer)) == sorted(wanted)
    measured = kernel_sparsity(model)
    if wanted:
        sizes = [v.size for var, v in zip(layer.weights, values) if var.name.split("/")[-1].split(":")[0] in wanted]
        assert measured["l"] == pytest.approx(sum(s // 2 for s in sizes) / sum(sizes))
    else:
        assert "l" not in measured


def test_recurrent_layers_count_kernel_and_recurrent_kernel():
    from edgeloop._tf import keras

    model = _model(lambda x: keras.layers.LSTM(4, name="l")(x), (5, 3))
    assert sorted(prunable_kernels(model.get_layer("l"))) == ["kernel", "recurrent_kernel"]
    assert kernel_unique_values(model)["l"] > 1


@pytest.mark.parametrize("kind, op", [("SeparableConv2D", "CONV_2D"), ("Conv1D", "CONV_2D"),
                                      ("Conv2DTranspose", "TRANSPOSE_CONV"), ("Dense", "FULLY_CONNECTED")])
def test_the_converted_file_is_matched_to_the_op_holding_the_prunable_kernel(kind, op):
    # A SeparableConv2D becomes DEPTHWISE_CONV_2D + CONV_2D, both named after the layer: the
    # pointwise CONV_2D holds what pruning zeroed; the depthwise half is keyed apart.
    from edgeloop.converters import read_model, weight_sparsity
    from edgeloop.converters.tflite import convert
    from edgeloop.pipeline._sparsity import layer_kinds

    make, shape = _layers()[kind]
    model = _model(make, shape)
    layer = model.get_layer("l")
    weights = layer.get_weights()
    index = 1 if kind == "SeparableConv2D" else 0
    rng = np.random.default_rng(0)
    # Kept weights well away from zero, so that int8 rounding makes no zeros of its own.
    kept = rng.choice([-1.0, 1.0], weights[index].shape) * (0.5 + 0.5 * rng.random(weights[index].shape))
    weights[index] = np.where(rng.random(weights[index].shape) < 0.6, 0.0, kept).astype(np.float32)
    layer.set_weights(weights)
    keras_sparsity = kernel_sparsity(model)["l"]
    info = read_model(convert(model, "int8", rng.random((4, *shape), dtype=np.float32)))
    in_file = weight_sparsity(info, layer_kinds(model))
    assert in_file["l"] == pytest.approx(keras_sparsity, abs=1e-6)
    if kind == "SeparableConv2D":
        assert "l/depthwise_conv_2d" in in_file and in_file["l/depthwise_conv_2d"] < 0.1


@pytest.mark.slow
def test_prune_reaches_its_target_on_separable_convs_and_the_file_shows_it(ctx):
    # The reported bug: the depthwise kernel was read, so every separable layer measured 0 %.
    from edgeloop._tf import keras
    from edgeloop.pipeline import build_step

    keras.utils.set_random_seed(0)
    i = keras.Input((8, 8, 1))
    x = keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep1")(i)
    x = keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(i, keras.layers.Dense(10, name="out")(x))
    ctx.result = {}
    pruned = build_step("prune", {"target_sparsity": 0.5, "epochs": 1}, "t").apply(model, ctx)
    assert ctx.result["kernel_sparsity"]["sep1"] >= 0.49 and ctx.result["kernel_sparsity"]["sep2"] >= 0.49
    ctx.result = {}
    build_step("convert", {"baseline": False}, "t").apply(pruned, ctx)
    checks = {c["name"]: c for c in ctx.result["checks"]}
    assert checks["sparsity_survived"]["passed"], checks["sparsity_survived"]
    assert ctx.result["weight_sparsity"]["sep2"] >= 0.49


def test_cluster_leaves_a_layer_tfmot_cannot_cluster_alone(ctx):
    # tfmot's whole-model cluster_weights refuses any model holding a PReLU.
    from edgeloop._tf import keras
    from edgeloop.pipeline import build_step

    keras.utils.set_random_seed(0)
    i = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, name="conv")(i)
    x = keras.layers.PReLU(name="prelu")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(i, keras.layers.Dense(10, name="out")(x))
    alpha = model.get_layer("prelu").get_weights()[0]
    model.get_layer("prelu").set_weights([np.random.default_rng(0).random(alpha.shape).astype(np.float32)])
    ctx.result = {}
    clustered = build_step("cluster", {"clusters": 4, "epochs": 1}, "t").apply(model, ctx)
    assert set(ctx.result["kernel_unique_values"]) == {"conv", "out"}
    assert max(ctx.result["kernel_unique_values"].values()) <= 4
    assert np.unique(clustered.get_layer("prelu").get_weights()[0]).size > 4  # not clustered
