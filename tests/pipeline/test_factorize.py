"""Low-rank factorization: exact at full rank, smaller below it, and converts to int8."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.errors import EdgeloopError
from edgeloop.pipeline import build_step
from edgeloop.pipeline.factorize import choose_rank


def _functional():
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    i = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv")(i)
    x = keras.layers.Conv2D(12, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(24, activation="relu", name="fc")(x)
    return keras.Model(i, keras.layers.Dense(10, name="out")(x))


def _apply(model, ctx, **options):
    ctx.result = {}
    return build_step("factorize", options, "t").apply(model, ctx)


def test_choose_rank_by_energy():
    s = np.array([3.0, 2.0, 1.0, 0.0])  # squares 9, 4, 1: 9/14, 13/14, 14/14
    assert [choose_rank(s, e) for e in (0.5, 9 / 14, 0.9, 0.95, 1.0)] == [1, 1, 2, 3, 3]


@pytest.mark.parametrize("build", ["sequential", "functional"])
def test_full_rank_reproduces_the_layer_outputs(make_tiny_cnn, ctx, build):
    model = make_tiny_cnn() if build == "sequential" else _functional()
    names = ["conv", "fc"] if build == "sequential" else ["conv", "conv2", "fc"]
    new = _apply(model, ctx, layers=names, energy=1.0, only_if_smaller=False, epochs=0)
    assert all(ctx.result["layers"][n]["factorized"] for n in names)
    assert [f"{n}_lowrank" in [layer.name for layer in new.layers] for n in names] == [True] * len(names)
    x = ctx.data.x_val[:16]
    np.testing.assert_allclose(new.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


def test_low_rank_cuts_parameters_and_macs_and_converts_to_int8(make_tiny_cnn, ctx):
    trained = build_step("train", {"epochs": 4, "learning_rate": 0.005}, "t").apply(make_tiny_cnn(), ctx)
    new = _apply(trained, ctx, layers=["fc"], rank=8, epochs=2, learning_rate=0.002)
    r = ctx.result
    fc = r["layers"]["fc"]
    assert fc["rank"] == 8 and fc["factorized_params"] == 128 * 8 + 8 * 32
    assert r["params_after"] == r["params_before"] - 128 * 32 + 128 * 8 + 8 * 32
    assert r["macs_after"] < r["macs_before"] and fc["factorized_macs"] == fc["factorized_params"]
    assert r["val_accuracy"] > 0.8
    _ = build_step("convert", {}, "t").apply(new, ctx)
    assert all(c["passed"] for c in ctx.result["checks"])


def test_a_factorization_that_would_grow_the_layer_is_skipped(make_tiny_cnn, ctx):
    new = _apply(make_tiny_cnn(), ctx, layers=["conv"], energy=1.0, epochs=0)
    assert not ctx.result["layers"]["conv"]["factorized"] and new.count_params() == ctx.result["params_before"]
    with pytest.raises(EdgeloopError, match="no layer matches 'nope'"):
        _apply(make_tiny_cnn(), ctx, layers=["nope"])


def test_by_default_every_dense_and_conv_but_the_last_layer_is_considered(ctx):
    """Layers without weights (Flatten, pooling) are passed over, not an error."""
    model = _functional()
    new = _apply(model, ctx, energy=0.5, only_if_smaller=False, epochs=0)
    assert set(ctx.result["layers"]) == {"conv", "conv2", "fc"}
    assert "out_lowrank" not in [layer.name for layer in new.layers]
