"""The look-up table files each fused conv + batch norm + activation op under the layer that
owns its weights, and anchors its sum on the per-invoke cost: on a tiny model with separate
BatchNormalization and ReLU layers, timed by the deterministic clock (tests/clock.py, a test
double for the device's timer), the table reproduces narrowed copies' latency."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow

from clock import INVOKE_MS, ClockMeter, model_ms


def _bn_cnn():
    from edgeloop._tf import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(16, 3, padding="same", use_bias=False, name="c1"), L.BatchNormalization(name="bn1"), L.ReLU(name="act1"),
        L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw"), L.BatchNormalization(name="bn2"),
        L.ReLU(6.0, name="act2"),
        L.Conv2D(32, 1, use_bias=False, name="c2"), L.BatchNormalization(name="bn3"), L.ReLU(name="act3"),
        L.GlobalAveragePooling2D(name="gap"), L.Dense(10, name="logits"),
    ], name="bn_cnn")


@pytest.fixture(scope="module")
def bn_cnn():
    return _bn_cnn()


def test_fused_ops_are_filed_under_the_layer_owning_their_weights(bn_cnn, digits):
    from edgeloop.converters import read_model
    from edgeloop.search.latency import timing_blob

    info = read_model(timing_blob(bn_cnn, digits))
    layers = {op.name: [] for op in info.ops}
    for op in info.ops:
        layers[op.name].append(op.layer)
    # The converter names these ops' tensors after act1 / act2 / act3 first; their kernels are c1, dw, c2's.
    assert layers["CONV_2D"] == ["c1", "c2"] and layers["DEPTHWISE_CONV_2D"] == ["dw"]
    assert layers["FULLY_CONNECTED"] == ["logits"]


def test_table_reproduces_narrowed_models_from_the_per_invoke_cost_up(bn_cnn, digits, tmp_path):
    from edgeloop.search.latency import invoke_ms, timing_blob
    from edgeloop.search.lut import LookupTable, build
    from edgeloop.search.proposals import narrowed

    meter = ClockMeter(runs=5, store=str(tmp_path / "latency.sqlite"))
    original_ms = meter.median_ms(timing_blob(bn_cnn, digits))
    # The per-invoke cost is measured (a one-op model less what a second op adds), not the original's leftover.
    assert invoke_ms(meter) == pytest.approx(INVOKE_MS)
    table = build(bn_cnn, original_ms, lambda m: meter.profile(timing_blob(m, digits)), (1.0, 0.5), invoke_ms(meter))
    # c2 is profiled at its input and output channels, every pair of the two groups' widths.
    assert {"c1", "dw", "c2", "logits"} <= set(table.entries) and not {"act1", "act2", "act3"} & set(table.entries)
    assert set(table.entries["c2"]) == {(16, 32), (16, 16), (8, 32), (8, 16)}
    assert table.estimate(bn_cnn) == pytest.approx(original_ms, rel=1e-6)
    # A narrower model is estimated at its own cost, not the original's minus a difference.
    rng = np.random.default_rng(0)
    for fractions in ([0.5, 0.5], list(rng.uniform(0.5, 1.0, 2))):
        variant = narrowed(bn_cnn, fractions)
        assert table.estimate(variant) == pytest.approx(model_ms(timing_blob(variant, digits)), rel=0.01)
    again = LookupTable.from_dict(table.to_dict())
    assert again.estimate(variant) == table.estimate(variant)
