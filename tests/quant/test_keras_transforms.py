"""Float-model transforms: folding, equalization, bias correction, AdaRound kept by the converters."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.converters import read_model
from edgeloop.quant.equalize import _in_ranges, _out_ranges, equalize
from edgeloop.quant.fold import fold_batch_norms
from edgeloop.quant.rounding import adaround, bias_correct, grid_scale, nearest


@pytest.fixture(scope="module")
def bn_model():
    """Conv -> BN -> ReLU -> depthwise -> BN -> ReLU -> 1x1 conv -> pool -> Dense, with real BN statistics."""
    from edgeloop._tf import keras

    keras.utils.set_random_seed(1)
    x = inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(x)
    x = keras.layers.BatchNormalization(name="c1_bn")(x)
    x = keras.layers.ReLU(name="c1_relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    x = keras.layers.BatchNormalization(name="dw_bn")(x)
    x = keras.layers.ReLU(name="dw_relu")(x)
    x = keras.layers.Conv2D(8, 1, name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inp, keras.layers.Dense(10, name="out")(x))
    rng = np.random.default_rng(0)
    for bn in ("c1_bn", "dw_bn"):
        layer = model.get_layer(bn)
        n = layer.weights[0].shape[0]
        layer.set_weights([rng.uniform(0.2, 3, n), rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), rng.uniform(0.1, 4, n)])
    return model


def test_fold_keeps_the_function(bn_model, digits):
    folded, names = fold_batch_norms(bn_model)
    assert names == ["c1_bn", "dw_bn"]
    assert not any(type(layer).__name__ == "BatchNormalization" for layer in folded.layers)
    x = digits.x_val[:32]
    np.testing.assert_allclose(folded.predict(x, verbose=0), bn_model.predict(x, verbose=0), atol=1e-4)


def test_equalization_keeps_the_function_and_evens_the_ranges(bn_model, digits):
    folded, _ = fold_batch_norms(bn_model)
    before = _out_ranges("Conv2D", folded.get_layer("c1").get_weights()[0])
    x = digits.x_val[:32]
    ref = folded.predict(x, verbose=0)
    _, pairs = equalize(folded)
    assert ("c1", "dw") in pairs and ("dw", "c2") in pairs
    np.testing.assert_allclose(folded.predict(x, verbose=0), ref, atol=1e-4)
    after = _out_ranges("Conv2D", folded.get_layer("c1").get_weights()[0])
    dw = _in_ranges("DepthwiseConv2D", folded.get_layer("dw").get_weights()[0])
    assert after.max() / after.min() < before.max() / before.min()
    np.testing.assert_allclose(after, dw * (after / dw).mean(), rtol=0.2)  # both sides of the pair, one range


def test_bias_correction_removes_the_mean_shift(bn_model, digits):
    folded, _ = fold_batch_norms(bn_model)
    x = digits.x_train[:64]
    layer = folded.get_layer("c2")
    from edgeloop.quant.rounding import layer_inputs

    inputs = layer_inputs(folded, [layer], x)[0]
    float_mean = np.asarray(layer(inputs)).reshape(-1, 8).mean(axis=0)
    bias_correct(folded, x)
    w = layer.get_weights()
    layer.set_weights([nearest("Conv2D", w[0]), w[1]])
    np.testing.assert_allclose(np.asarray(layer(inputs)).reshape(-1, 8).mean(axis=0), float_mean, atol=1e-5)


@pytest.mark.slow
def test_adaround_weights_survive_both_converters(bn_model, digits):
    from edgeloop.converters.tflite import convert
    from edgeloop.quant.litert import quantize_tflite

    folded, _ = fold_batch_norms(bn_model)
    original = {n: folded.get_layer(n).get_weights()[0].copy() for n in ("c1", "dw", "c2", "out")}
    adaround(folded, digits.x_train[:32], iterations=60)
    calib = digits.x_train[:50]
    flips = []
    files = {"converter": convert(folded, "int8", calib), "litert": quantize_tflite(convert(folded, "float32"), calib).model}
    for name, w0 in original.items():
        layer = folded.get_layer(name)
        kind = type(layer).__name__
        w = layer.get_weights()[0]
        k = np.round(w / grid_scale(kind, w)).astype(np.int64)
        assert np.abs(w / grid_scale(kind, w) - k).max() < 1e-3  # on the grid
        flipped = np.mean(k != np.round(w0 / grid_scale(kind, w0)))
        flips.append(flipped)
        assert flipped < 0.5
        # TFLite stores kernels output channel first: conv (out, kh, kw, in), depthwise (1, kh, kw, out), FC (out, in).
        stored = {"Conv2D": np.moveaxis(k, -1, 0), "DepthwiseConv2D": k.reshape(1, *k.shape[:2], -1),
                  "Dense": k.T}[kind]
        for label, blob in files.items():
            info = read_model(blob)
            found = [t for t in info.tensors if t.is_constant and t.dtype == "int8" and t.shape == stored.shape
                     and f"/{name}/" in t.name]
            assert found, (label, name)
            np.testing.assert_array_equal(found[0].data.astype(np.int64), stored, err_msg=f"{label} {name}")
    assert max(flips) > 0  # learned, not round-to-nearest


@pytest.mark.slow
def test_convert_step_runs_the_transforms_on_a_copy(ctx, make_tiny_cnn):
    from edgeloop._tf import keras
    from edgeloop.pipeline import build_step

    model = make_tiny_cnn()
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ctx.data.x_train, ctx.data.y_train, epochs=2, verbose=0)
    before = [w.copy() for w in model.get_weights()]
    step = build_step("convert", {"mode": "int8", "bias_correction": True, "adaround": True, "adaround_iterations": 20,
                                  "calibration_samples": 50, "baseline": False}, "step 1 (convert)")
    assert step.apply(model, ctx) is model
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the user's model is untouched
    record = ctx.result["float_transforms"]
    assert record["bias_corrected"] == ["conv", "fc", "out"] and record["adarounded"] == ["conv", "fc", "out"]
    assert record["transformed_float_accuracy"] > 0.8
    assert all(c["passed"] for c in ctx.result["checks"])
