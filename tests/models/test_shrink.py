"""shrink(): exact channel counts, same outputs where the removed channels carried nothing,
residual ties respected, and the result converts to full int8."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.models import shrink
from edgeloop.models.shrink import channel_groups


def residual_net():
    """stem -> BN -> ReLU -> (depthwise -> pointwise) + skip -> concat(side) -> conv -> flatten -> fc -> out."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    i = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(i)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = keras.layers.Conv2D(8, 1, name="pw")(y)
    x = keras.layers.Add(name="add")([x, y])
    z = keras.layers.Conv2D(4, 1, activation="relu", name="side")(x)
    x = keras.layers.Concatenate(name="cat")([x, z])
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(16, activation="relu", name="fc")(x)
    return keras.Model(i, keras.layers.Dense(5, name="out")(x))


def widths(model):
    return {layer.name: layer.get_weights()[0].shape[-1] for layer in model.layers if type(layer).__name__ in ("Conv2D", "Dense")}


def test_exact_channel_counts_and_same_output_shape():
    model = residual_net()
    small = shrink(model, {"stem": 5, "side": 2, "c2": 3, "fc": 7})
    assert widths(small) == {"stem": 5, "pw": 5, "side": 2, "c2": 3, "fc": 7, "out": 5}
    assert small.get_layer("dw").get_weights()[0].shape == (3, 3, 5, 1)
    assert small.get_layer("c2").get_weights()[0].shape == (3, 3, 7, 3)  # 5 residual + 2 side channels in
    assert small.get_layer("fc").get_weights()[0].shape == (4 * 4 * 3, 7)  # across Flatten
    assert small.output_shape == model.output_shape
    assert small.count_params() < model.count_params()


def test_residual_ties_are_one_group():
    model = residual_net()
    assert sorted(channel_groups(model)["stem"]) == ["pw", "stem"]
    small = shrink(model, {"pw": 4})  # naming either member shrinks both
    assert widths(small)["stem"] == widths(small)["pw"] == 4
    with pytest.raises(EdgeloopError, match="share channels"):
        shrink(model, {"stem": 4, "pw": 5})


def test_removing_channels_that_carry_nothing_changes_nothing():
    model = residual_net()
    drop = {"stem": [1, 6], "side": [0], "c2": [2, 4], "fc": [3, 8, 15]}
    weights = {layer.name: layer.get_weights() for layer in model.layers}
    for name, idx in drop.items():  # zero the filters (they then have the smallest L1 norm)
        weights[name][0][..., idx] = 0
        weights[name][1][idx] = 0
    weights["pw"][0][..., drop["stem"]] = 0  # tied to stem through the Add
    weights["pw"][1][drop["stem"]] = 0
    for k in (0, 1):  # BN gamma and beta: a zero channel stays zero
        weights["bn"][k][drop["stem"]] = 0
    weights["dw"][1][drop["stem"]] = 0
    for name, w in weights.items():
        if w:
            model.get_layer(name).set_weights(w)
    small = shrink(model, {name: widths(model)[name] - len(idx) for name, idx in drop.items()})
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def _zero_filters(model, name, idx):
    """Make filters ``idx`` of ``name`` output exactly zero (kernel that makes them and bias)."""
    weights = model.get_layer(name).get_weights()
    kernel = 1 if type(model.get_layer(name)).__name__.startswith("Separable") else 0
    axis = -2 if type(model.get_layer(name)).__name__ == "Conv2DTranspose" else -1
    np.moveaxis(weights[kernel], axis, -1)[..., idx] = 0
    weights[-1][idx] = 0
    model.get_layer(name).set_weights(weights)


@pytest.mark.parametrize("rank", [1, 2])
def test_separable_conv1d_conv2d_and_transposed_convs_shrink_with_both_kernels_cut(rank):
    # A separable conv's filters are its pointwise kernel's; the next separable conv loses the
    # matching depthwise channels (each repeated depth_multiplier times in its pointwise input).
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    i = keras.Input((8, 3) if rank == 1 else (8, 8, 3))
    conv, sep = (layers.Conv1D, layers.SeparableConv1D) if rank == 1 else (layers.Conv2D, layers.SeparableConv2D)
    x = conv(6, 3, padding="same", activation="relu", name="c")(i)
    x = sep(8, 3, padding="same", activation="relu", name="s1")(x)
    x = sep(5, 3, padding="same", depth_multiplier=2, activation="relu", name="s2")(x)
    if rank == 2:
        x = layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", name="t")(x)
    x = layers.GlobalAveragePooling1D()(x) if rank == 1 else layers.GlobalAveragePooling2D()(x)
    model = keras.Model(i, layers.Dense(3, name="out")(x))
    drop = {"c": [0, 4], "s1": [1, 2, 7], "s2": [3]} | ({"t": [1]} if rank == 2 else {})
    for name, idx in drop.items():
        _zero_filters(model, name, idx)
    small = shrink(model, {name: model.get_layer(name).get_config()["filters"] - len(idx) for name, idx in drop.items()})
    assert small.get_layer("s2").get_weights()[0].shape[-2:] == (5, 2)  # depthwise: 5 channels in, multiplier 2
    assert small.get_layer("s2").get_weights()[1].shape[-2:] == (10, 4)  # pointwise: 5 x 2 in, 4 out
    x = np.random.default_rng(0).random((4, *model.input_shape[1:])).astype("float32")
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_the_shrunk_model_converts_to_full_int8():
    from edgeloop.converters import read_model, verify
    from edgeloop.converters.tflite import convert

    small = shrink(residual_net(), {"stem": 4, "side": 2, "c2": 3, "fc": 8})
    rep = np.random.default_rng(0).random((8, 8, 8, 3)).astype("float32")
    info = read_model(convert(small, "int8", rep))
    assert all(c.passed for c in verify(info, "int8", "int8"))


@pytest.mark.parametrize(
    "channels, fragment",
    [
        ({"bn": 2}, "not a layer that makes channels"),
        ({"out": 3}, "output layer"),
        ({"fc": 0}, "keep between 1 and 16"),
        ({"fc": 17}, "keep between 1 and 16"),
    ],
)
def test_bad_requests_are_clear_errors(channels, fragment):
    with pytest.raises(EdgeloopError, match=fragment):
        shrink(residual_net(), channels)


@pytest.mark.parametrize("name", [
    "resnet8",
    pytest.param("mobilenet_v1", marks=pytest.mark.slow),
    pytest.param("mobilenet_v2", marks=pytest.mark.slow),
    pytest.param("resnet18", marks=pytest.mark.slow),
    pytest.param("resnet50", marks=pytest.mark.slow),
])
def test_zoo_models_shrink_by_half_and_convert_to_full_int8(name, digits):
    from edgeloop.converters import read_model, verify
    from edgeloop.converters.tflite import convert
    from edgeloop.models import create
    from edgeloop.models.shrink import shrinkable

    model = create(name, input_shape=(8, 8, 1), classes=10, width=0.25 if name != "resnet8" else 1.0)
    groups = shrinkable(model)
    assert "logits" not in groups and len(groups) >= 3
    small = shrink(model, {layer: n // 2 for layer, n in groups.items()})
    assert {layer: widths(small)[layer] for layer in groups} == {layer: n // 2 for layer, n in groups.items()}
    assert small.output_shape == model.output_shape and small.count_params() < 0.5 * model.count_params()
    info = read_model(convert(small, "int8", digits.representative(8)))
    failed = [c for c in verify(info, "int8", "int8") if not c.passed]
    assert not failed, failed


def test_channels_that_reach_the_output_through_pooling_are_not_shrinkable():
    from edgeloop.models import create
    from edgeloop.models.shrink import shrinkable

    model = create("squeezenet1_1", input_shape=(8, 8, 1), classes=10, width=0.25)  # conv10 -> ReLU -> pool = output
    assert "conv10" not in shrinkable(model) and "fire9_squeeze" in shrinkable(model)
    with pytest.raises(EdgeloopError, match="conv10's channels are tied to the model's input or output"):
        shrink(model, {"conv10": 5})


def test_weightless_layers_that_keep_the_channel_axis_pass_channels_through():
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    i = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(i)
    x = keras.layers.ReLU(6.0, name="relu6")(x)
    x = keras.layers.Reshape((16, 8), name="rows")(x)  # (H·W, C): channels stay last
    x = keras.layers.Rescaling(0.5, name="half")(x)
    x = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(i, keras.layers.Dense(3, name="out")(x))
    small = shrink(model, {"conv": 5})
    assert small.get_layer("rows").output_shape == (None, 16, 5) and small.get_layer("out").get_weights()[0].shape == (80, 3)

    y = keras.layers.Permute((2, 1), name="swap")(model.get_layer("rows").output)  # channels moved off the last axis
    moved = keras.Model(i, keras.layers.Dense(3, name="out2")(keras.layers.Flatten(name="flat2")(y)))
    with pytest.raises(EdgeloopError, match="changes the channel count|moves the channel axis"):
        shrink(moved, {"conv": 5})


def test_operator_joins_and_a_normalization_layer_are_followed():
    # RegNet and EfficientNet write residuals as `x + y` (TFOpLambda) and start with Normalization.
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    i = keras.Input((6, 6, 3))
    norm = keras.layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).random((8, 6, 6, 3)).astype("float32"))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="a")(norm(i))
    y = keras.layers.Conv2D(8, 1, name="b")(x)
    z = keras.layers.Conv2D(8, 1, name="c")(x + y)
    model = keras.Model(i, keras.layers.Dense(3, name="out")(keras.layers.GlobalAveragePooling2D()(z * y)))
    tied = next(group for group in channel_groups(model).values() if "a" in group)
    assert sorted(tied) == ["a", "b", "c"]  # x + y and z * y tie all three
    for name in ("a", "b", "c"):
        _zero_filters(model, name, [2, 5])
    small = shrink(model, {"a": 6})
    x = np.random.default_rng(1).random((4, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
