"""Kernel detection on a real converted model: the runtime's fusions, and each kernel's features."""

from __future__ import annotations

import pytest

from edgeloop.latency.kernels import CONV, DEPTHWISE, ELEMENTWISE, FULLY_CONNECTED, REDUCE, detect


@pytest.fixture(scope="module")
def info():
    """8x8x1 -> pad 2 -> stride-2 conv 8 (+BN, ReLU) -> depthwise (+BN, ReLU6) -> residual add + ReLU
    -> pool -> dense, int8."""
    import numpy as np

    from edgeloop._tf import keras
    from edgeloop.converters import read_model
    from edgeloop.converters.tflite import convert

    keras.utils.set_random_seed(0)
    L = keras.layers
    x = inputs = keras.Input((8, 8, 1))
    x = L.ZeroPadding2D(2, name="pad")(x)  # more than a SAME conv pads: the converter keeps the PAD op
    x = L.Conv2D(8, 3, strides=2, use_bias=False, name="c1")(x)
    x = L.ReLU(name="act1")(L.BatchNormalization(name="bn1")(x))
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = L.ReLU(6.0, name="act2")(L.BatchNormalization(name="bn2")(y))
    x = L.ReLU(name="act3")(L.Add(name="add")([x, y]))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs, name="k")
    blob = convert(model, "int8", np.random.default_rng(0).random((8, 8, 8, 1), dtype=np.float32))
    return read_model(blob)


def test_kernels_follow_the_runtimes_fusions(info):
    kernels = detect(info)
    kinds = [k.kind for k in kernels]
    assert kinds.count(CONV) == 1 and kinds.count(DEPTHWISE) == 1 and kinds.count(FULLY_CONNECTED) == 1
    assert REDUCE in kinds and ELEMENTWISE in kinds  # the global average pool is a MEAN
    # Every op is in exactly one kernel.
    assert sorted(i for k in kernels for i in k.ops) == list(range(len(info.ops)))
    # The converter keeps this pad as an op; XNNPACK folds it into the convolution it feeds.
    conv = next(k for k in kernels if k.kind == CONV)
    assert [info.ops[i].name for i in conv.ops] == ["CONV_2D", "PAD"] and conv.op == "CONV_2D"
    # The ReLU after the add is the add's fused activation already: one op, one kernel.
    add = next(k for k in kernels if k.kind == ELEMENTWISE)
    assert [info.ops[i].name for i in add.ops] == ["ADD"]


def test_kernel_features_are_the_files_shapes_and_macs(info):
    kernels = {k.kind: k for k in detect(info)}
    conv = kernels[CONV].features
    assert (conv["h_out"], conv["w_out"], conv["c_in"], conv["c_out"], conv["kernel"], conv["stride"]) == (5, 5, 1, 8, 9, 2)
    assert conv["h_in"] == 12 and conv["macs"] == 5 * 5 * 8 * 9 and conv["int8"] == 1.0  # its input: the padded 12x12
    assert conv["bytes_out"] == 5 * 5 * 8 and conv["bytes_weights"] >= 8 * 9  # int8 weights (and an int32 bias)
    dw = kernels[DEPTHWISE].features
    assert dw["macs"] == 5 * 5 * 8 * 9 and dw["c_in"] == dw["c_out"] == 8
    fc = kernels[FULLY_CONNECTED].features
    assert fc["macs"] == 8 * 10 and fc["c_out"] == 10
    assert sum(k.features["macs"] for k in detect(info)) == info.macs
    assert conv["cache_fit"] < 0  # a few hundred bytes: far inside any cache


def test_a_swish_is_one_kernel_and_a_grouped_convolution_pads_per_group():
    """``x · sigmoid(x)`` runs as one kernel (its MUL joins the LOGISTIC); a MUL of two other
    tensors does not. A grouped convolution's MACs are its groups', and its tile padding is
    counted per group; a batch norm's per-channel constant is not streamed weight bytes."""
    import numpy as np

    from edgeloop._tf import keras
    from edgeloop.converters import read_model
    from edgeloop.converters.tflite import convert
    from edgeloop.latency.kernels import ACTIVATION

    keras.utils.set_random_seed(0)
    L = keras.layers
    x = inputs = keras.Input((8, 8, 16))
    x = L.Conv2D(16, 3, padding="same", groups=2, name="grouped")(x)
    x = L.Multiply(name="swish")([x, L.Activation("sigmoid", name="gate")(x)])
    y = L.Conv2D(16, 1, name="other")(x)
    x = L.Multiply(name="product")([x, y])  # two different tensors: a MUL of its own
    x = L.BatchNormalization(name="bn")(L.Concatenate(name="cat")([x, y]))  # a MUL by a per-channel constant
    model = keras.Model(inputs, L.Dense(10, name="logits")(L.GlobalAveragePooling2D()(x)))
    model.get_layer("bn").set_weights([np.random.default_rng(0).uniform(0.5, 2.0, 32).astype("float32")] * 4)
    info = read_model(convert(model, "int8", np.random.default_rng(0).random((8, 8, 8, 16), dtype=np.float32)))
    kernels = detect(info)
    assert sorted(i for k in kernels for i in k.ops) == list(range(len(info.ops)))
    swish = next(k for k in kernels if k.op == "LOGISTIC")
    assert swish.kind == ACTIVATION and [info.ops[i].name for i in swish.ops] == ["LOGISTIC", "MUL"]
    muls = [k for k in kernels if k.op == "MUL"]
    assert any(k.features["inputs"] == 2 for k in muls)  # the product of two tensors stays a kernel
    constant = [k for k in muls if k.features["inputs"] == 1]
    assert constant and all(k.features["bytes_weights"] == 0 and k.features["constant_elements"] == 32 for k in constant)
    grouped = next(k for k in kernels if k.op == "CONV_2D" and k.features["kernel"] == 9).features
    assert grouped["groups"] == 2 and grouped["macs"] == 8 * 8 * 16 * 9 * 8
    # 8 input and 8 output channels a group: the output tile of 16 is half empty (ungrouped it would be full).
    assert grouped["macs_padded"] == pytest.approx(grouped["macs"] * 2)


def test_weights_that_outgrow_the_cache_are_cold_inside_the_model(info):
    """A small model's tensors all stay cached from one run to the next: nothing is cold. Four
    1x1 convolutions of 1024 channels (1 MB of weights each) on a 1x1 map: inside the model each
    finds its weights evicted by the others', though timed alone they would stay cached."""
    import numpy as np

    from edgeloop._tf import keras
    from edgeloop.converters import read_model
    from edgeloop.converters.tflite import convert
    from edgeloop.latency.kernels import COLD_CACHES

    assert all(k.features["cold_l2"] == 0.0 for k in detect(info))
    keras.utils.set_random_seed(0)
    x = inputs = keras.Input((1, 1, 1024))
    for i in range(4):
        x = keras.layers.Conv2D(1000, 1, name=f"c{i}")(x)
    model = keras.Model(inputs, x)
    kernels = detect(read_model(convert(model, "int8", np.random.default_rng(0).random((4, 1, 1, 1024), dtype=np.float32))))
    convs = [k for k in kernels if k.kind == CONV]
    assert len(convs) == 4
    assert all(k.features["cold_l2"] > 0.9 * k.features["bytes_weights"] for k in convs)  # 1 MB cache: evicted
    assert all(k.features["cold_l3"] == 0.0 for k in convs) and COLD_CACHES["cold_l3"] > 4 * 1024 * 1000  # 16 MB: kept


def test_kernels_say_which_ops_xnnpack_declines():
    """A concatenation of six tensors: XNNPACK concatenates at most five, so LiteRT's builtin
    kernel runs it. The runtime, asked here, says so; the other kernels are XNNPACK's."""
    import numpy as np

    from edgeloop._tf import keras
    from edgeloop.converters import read_model
    from edgeloop.converters.tflite import convert
    from edgeloop.latency.kernels import delegated_ops, kernels_of

    keras.utils.set_random_seed(0)
    L = keras.layers
    x = inputs = keras.Input((8, 8, 3))
    x = L.Concatenate(name="six")([L.Conv2D(4, 1, name=f"b{i}")(x) for i in range(6)])
    outputs = L.Dense(10, name="logits")(L.GlobalAveragePooling2D(name="gap")(x))
    blob = convert(keras.Model(inputs, outputs), "int8", np.random.default_rng(0).random((8, 8, 8, 3), dtype=np.float32))
    kernels = kernels_of(blob)
    flags = {k.op: k.features["delegated"] for k in kernels}
    assert flags["CONCATENATION"] == 0.0 and flags["CONV_2D"] == 1.0 and flags["FULLY_CONNECTED"] == 1.0
    taken = delegated_ops(blob)
    assert all(k.features["delegated"] == float(k.ops[0] in taken) for k in kernels)
    # Without the runtime's word every kernel counts as XNNPACK's; a file it cannot load has none.
    assert all(k.features["delegated"] == 1.0 for k in detect(read_model(blob)))
    assert delegated_ops(b"not a model") is None
