"""Sensitivity analysis: real per-layer curves, chosen targets that meet the budget, and the
two rule-based pruners (level: per-layer targets; sensitivity: lambda = s * sigma)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.pipeline import build_step
from edgeloop.pipeline.prune import std_threshold_sparsity
from edgeloop.pipeline.sensitivity import choose_sparsities, magnitude_mask


def apply(name, model, ctx, **options):
    ctx.result = {}
    return build_step(name, options, "t").apply(model, ctx)


@pytest.fixture
def trained(make_tiny_cnn, ctx):
    return apply("train", make_tiny_cnn(), ctx, epochs=4, learning_rate=0.005)


def test_magnitude_mask_zeroes_the_smallest():
    k = np.array([[0.1, -0.5], [0.3, -0.05]])
    np.testing.assert_array_equal(magnitude_mask(k, 0.5), [[0, -0.5], [0.3, 0]])


def test_choose_sparsities_keeps_within_the_budget():
    curves = {"a": {0.5: 0.95, 0.7: 0.945, 0.9: 0.90}, "b": {0.5: 0.80, 0.7: 0.5}}
    assert choose_sparsities(curves, 0.955, 1.0) == {"a": 0.7}


def test_sensitivity_curves_are_measured_and_feed_prune(trained, ctx):
    before = [w.copy() for w in trained.get_weights()]
    apply("sensitivity", trained, ctx, sparsities=[0.5, 0.9, 0.99], budget=2.0)
    r = ctx.result
    assert set(r["curves"]) == {"conv", "fc", "out"}
    for curve in r["curves"].values():
        accs = [curve[k] for k in ("0.5", "0.9", "0.99")]
        assert accs[2] < r["baseline_accuracy"]  # pruning 99 % of any layer hurts
    assert all(np.array_equal(a, b) for a, b in zip(before, trained.get_weights()))  # weights restored
    assert (ctx.run_dir / "sensitivity.svg").read_text().startswith("<svg")
    for layer, s in r["chosen"].items():
        assert (r["baseline_accuracy"] - r["curves"][layer][str(s)]) * 100 <= 2.0
    pruned = apply("prune", trained, ctx, from_sensitivity=True, epochs=1)
    assert ctx.result["targets"] == r["chosen"]
    for layer, target in r["chosen"].items():
        assert ctx.result["kernel_sparsity"][layer] >= target - 0.01
    assert pruned is not None


def test_std_threshold_rule_sets_each_layers_target(trained, ctx):
    expected = {layer.name: std_threshold_sparsity(layer.get_weights()[0], 0.5) for layer in trained.layers if hasattr(layer, "kernel")}
    apply("prune", trained, ctx, std_threshold=0.5, epochs=1)
    assert ctx.result["targets"] == pytest.approx(expected)
    assert all(0.1 < t < 0.7 for t in expected.values())  # 38 % for normal weights, 29 % for uniform
    for layer, target in expected.items():
        assert ctx.result["kernel_sparsity"][layer] >= target - 0.01
