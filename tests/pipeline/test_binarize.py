"""Binarization: the straight-through estimator, ±1 weights in the converted file, and a
binary-activation model that trains, saves, loads and runs in LiteRT."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.pipeline import build_step
from edgeloop.models.layers import ste_sign
from edgeloop.pipeline.binarize import binarized_kernel


def apply(name, model, ctx, **options):
    ctx.result = {}
    return build_step(name, options, "t").apply(model, ctx)


@pytest.fixture
def trained(ctx):
    from edgeloop.models import create

    return apply("train", create("digits_cnn", input_shape=(8, 8, 1), classes=10, width=0.25), ctx, epochs=5, learning_rate=0.003)


def test_straight_through_estimator():
    from edgeloop._tf import tf

    x = tf.constant([-2.0, -0.5, 0.0, 0.3, 1.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = ste_sign(x)
    np.testing.assert_array_equal(y.numpy(), [-1, -1, 1, 1, 1])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0, 1, 1, 1, 0])


def test_binarized_kernel_is_plus_minus_alpha_per_channel():
    k = np.array([[0.5, -1.0], [-0.1, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(binarized_kernel(k), [[0.3, -2.0], [-0.3, 2.0]])


def test_weight_only_binarization_leaves_two_values_per_channel_in_the_int8_file(trained, ctx):
    model = apply("binarize", trained, ctx, activations=False, epochs=3)
    r = ctx.result
    assert r["binarized_layers"] == ["conv2", "fc1"] and r["val_accuracy"] > 0.85
    assert r["storage_bits_float32"] == 32 * r["binary_weights"] and r["storage_ratio"] > 25
    assert all(type(layer).__name__ in ("Conv2D", "Dense", "MaxPooling2D", "Flatten") for layer in model.layers)
    apply("convert", model, ctx)
    unique = ctx.result["weight_unique_values"]
    assert unique["conv2"] <= 2 and unique["fc1"] <= 2 and unique["conv1"] > 2
    assert all(c["passed"] for c in ctx.result["checks"])


def test_binary_activations_train_save_load_and_run_in_litert(trained, ctx, tmp_path):
    from edgeloop.device.interpreter import TFLiteModel
    from edgeloop.models import load_model, model_suffix, save_model

    model = apply("binarize", trained, ctx, activations=True, epochs=3)
    assert ctx.result["val_accuracy"] > 0.8 and ctx.result["activation_removed"] == ["conv1", "conv2"]
    path = save_model(model, tmp_path / f"b{model_suffix(model)}")
    x = ctx.data.x_val[:32]
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    apply("convert", model, ctx, mode="float32", baseline=False)
    got = TFLiteModel(ctx.run_dir / "model.tflite").predict(x)
    assert np.mean(got.argmax(1) == model.predict(x, verbose=0).argmax(1)) >= 0.95
