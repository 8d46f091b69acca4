"""A training that diverges is stopped with the layer named, not carried into later checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgeloop.errors import VerificationError


def test_a_training_that_turns_weights_nan_is_refused_in_one_line(ctx, make_tiny_cnn):
    from edgeloop.pipeline import build_step

    # Inputs on a scale float32 cannot hold once multiplied: the first step's loss is not
    # finite and every weight it touches becomes NaN.
    ctx.data = dataclasses.replace(ctx.data, x_train=(ctx.data.x_train * np.float32(1e38)).astype(np.float32))
    with pytest.raises(VerificationError) as err:
        build_step("train", {"epochs": 1}, "test").apply(make_tiny_cnn(), ctx)
    message = str(err.value)
    assert message.startswith("train diverged: the weights of") and "became NaN or infinite" in message
    assert "\n" not in message and "learning_rate" in message


def test_a_finite_training_passes_the_check(ctx, make_tiny_cnn):
    from edgeloop.pipeline import build_step

    model = build_step("train", {"epochs": 1}, "test").apply(make_tiny_cnn(), ctx)
    assert all(np.isfinite(w).all() for w in model.get_weights())
