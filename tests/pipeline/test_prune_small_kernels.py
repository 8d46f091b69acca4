"""A kernel of n weights holds sparsities in steps of 1/n: prune asks no more of it, and
convert checks the zeros it really holds."""

from __future__ import annotations

import pytest


def test_a_45_weight_kernel_pruned_to_30_percent_keeps_13_zeros_through_conversion(ctx):
    from edgeloop._tf import keras
    from edgeloop.pipeline import build_step

    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(5, 3, name="small"), L.Flatten(name="flatten"),
                              L.Dense(10, name="logits")])
    ctx.result = {}
    pruned = build_step("prune", {"layers": {"small": 0.3}, "skip": ["logits"], "target_sparsity": 0.3,
                                  "epochs": 1}, "test").apply(model, ctx)
    assert ctx.state.pruned["layers"]["small"] == pytest.approx(13 / 45)  # 13.5 zeros asked, 13 kept
    ctx.result = {}
    build_step("convert", {"calibration_samples": 20, "baseline": False}, "test").apply(pruned, ctx)
    checks = {c["name"]: c for c in ctx.result["checks"]}
    assert checks["sparsity_survived"]["passed"], checks["sparsity_survived"]
    assert ctx.result["weight_sparsity"]["small"] == pytest.approx(13 / 45)
