"""prune -> QAT -> int8 on the two kinds of model users bring that broke: a transfer model
with a nested base (a small one here; ``benchmarks/compat.py`` trains the nested
MobileNetV2 one), and a residual Xception-style model loaded from a file."""

from __future__ import annotations

import numpy as np
import pytest

from edgeloop.pipeline import build_step
from helpers import mini_xception, nested_transfer

pytestmark = pytest.mark.slow


def _digits(side: int):
    """scikit-learn's digits, 8x8 grey upsampled to side x side RGB (a small camera model's input)."""
    from edgeloop.data import Dataset, load_data

    d = load_data("digits", val_fraction=0.2, seed=0)

    def up(x):
        return np.repeat(np.kron(x, np.ones((1, side // 8, side // 8, 1), np.float32)), 3, axis=-1)

    return Dataset(up(d.x_train[:192]), d.y_train[:192], up(d.x_val[:64]), d.y_val[:64], 10, f"digits{side}", 0, 0.2)


def _mini_xception_from_file(tmp_path):
    from edgeloop._tf import keras
    from edgeloop.models import load_model

    mini_xception((32, 32, 3)).save(tmp_path / "x.h5")
    keras.backend.clear_session()  # as a fresh process loading the file: its names collide with new ones
    return load_model(tmp_path / "x.h5")


@pytest.mark.parametrize("make", ["nested", "mini_xception"])
def test_prune_qat_int8_keeps_the_zeros_in_a_verified_file(make, ctx, tmp_path):
    model = nested_transfer() if make == "nested" else _mini_xception_from_file(tmp_path)
    ctx.data = _digits(8 if make == "nested" else 32)
    for name, options in (("prune", {"target_sparsity": 0.5, "epochs": 1}), ("qat", {"epochs": 1}),
                          ("convert", {"calibration_samples": 16})):
        ctx.result = {}
        model = build_step(name, options, "t").apply(model, ctx)
    checks = {c["name"]: c for c in ctx.result["checks"]}
    assert all(c["passed"] for c in checks.values()), checks
    pruned = ctx.state["pruned"]["layers"]
    assert min(ctx.result["weight_sparsity"][n] for n in pruned) >= 0.49
    if make == "nested":  # the base's layers, under their own names
        assert {"base_conv", "sep", "conv"} <= set(pruned) and "base" not in ctx.result["weight_sparsity"]
    else:
        assert len(pruned) == 9 and "separable_conv2d" in pruned
        assert "separable_conv2d/depthwise_conv_2d" not in ctx.result["weight_sparsity"]  # split for QAT
